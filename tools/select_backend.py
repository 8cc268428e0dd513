#!/usr/bin/env python3
"""Print the inference backend to use (`ascend`, `ort` or `openvino`) on stdout, and why on stderr."""
from __future__ import annotations

import argparse
import sys
from typing import Sequence

from semask.backends.registry import BACKENDS, default_set_env, select_backend
from semask.core.cli import run


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--backend", default="auto", help=f"one of {', '.join(BACKENDS)}")
    p.add_argument("--set-env", default=None, help=f"CANN set_env.sh (default $ASCEND_SET_ENV or {default_set_env()})")
    args = p.parse_args(argv)
    backend, reason = select_backend(args.backend, args.set_env)
    print(reason, file=sys.stderr)
    print(backend)
    return 0


if __name__ == "__main__":
    run(main)
