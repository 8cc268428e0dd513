#!/usr/bin/env python3
"""Record the software environment (versions, ORT providers, CANN/driver/chip) to JSON; fail early,
with the fixing command, when a package the chosen step needs is missing."""
from __future__ import annotations

import argparse
from typing import Sequence

from semask.backends import envcheck
from semask.core.cli import run
from semask.spec import ENV_NEEDS, RESOLVED_BACKENDS


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--out", required=True, help="environment JSON (written atomically)")
    p.add_argument("--backend", default="ort", choices=RESOLVED_BACKENDS)
    p.add_argument("--need", default="all", choices=ENV_NEEDS)
    args = p.parse_args(argv)
    envcheck.write_environment(args.out, args.backend, args.need)
    return 0


if __name__ == "__main__":
    run(main)
