#!/usr/bin/env python3
"""Clone (or reuse) the upstream SeMask-Segmentation repo at the pinned commit; stamp when verified."""
from __future__ import annotations

import argparse
from typing import Sequence

from semask.spec import UPSTREAM_COMMIT, UPSTREAM_REPO_URL
from semask.model import weights as fetch
from semask.core.cli import run


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--dest", required=True, help="clone folder, e.g. data/upstream/SeMask-Segmentation")
    p.add_argument("--repo", default=UPSTREAM_REPO_URL, help="URL or local path/mirror (UPSTREAM_REPO)")
    p.add_argument("--commit", default=UPSTREAM_COMMIT, help="pinned full commit hash")
    args = p.parse_args(argv)
    info = fetch.fetch_upstream(args.dest, args.repo, args.commit)
    print(f"upstream {info['dest']} at {info['head']} (stamp {info['dest']}.stamp)")
    return 0


if __name__ == "__main__":
    run(main)
