#!/usr/bin/env python3
"""Record the software environment (versions, ORT providers, CANN/driver/chip) to JSON; fail early,
with the fixing command, when a package the chosen step needs is missing."""
from __future__ import annotations

import argparse
import sys
from typing import Sequence

from semask.backends import envcheck
from semask.core.cli import run
from semask.core.fsio import atomic_write_json
from semask.spec import ENV_NEEDS, RESOLVED_BACKENDS


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--out", required=True, help="environment JSON (written atomically)")
    p.add_argument("--backend", default="ort", choices=RESOLVED_BACKENDS)
    p.add_argument("--need", default="all", choices=ENV_NEEDS)
    args = p.parse_args(argv)
    record = envcheck.check_environment(args.backend, args.need)
    atomic_write_json(args.out, record)
    for line in record["pin_mismatches"]:
        print(f"warning: {line} differs from env/requirements.txt", file=sys.stderr)
    pk = record["packages"]
    print(f"env ok ({args.backend}, {args.need}): python {record['python']['version']}, torch {pk['torch']['version']}, "
          f"onnxruntime {pk['onnxruntime']['version']} {record['onnxruntime_providers']}, "
          f"CANN {record['ascend']['cann_version']} -> {args.out}")
    return 0


if __name__ == "__main__":
    run(main)
