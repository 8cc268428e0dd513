#!/usr/bin/env python3
"""Simplify a raw export of tools/export_onnx.py with onnxsim (plus ONNX Runtime's fusions for an
--target ort export, read from its sidecar) and verify the result against PyTorch on one batch."""
import argparse
from pathlib import Path

from semask.core.cli import run
from semask.model.onnx_steps import simplify


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--onnx", type=Path, required=True, help="raw export (its .json sidecar beside it)")
    p.add_argument("--out", type=Path, required=True, help="the simplified .onnx to write (+ .json sidecar)")
    p.add_argument("--no-verify", action="store_true", help="skip the ONNX Runtime vs PyTorch check")
    p.add_argument("--threads", type=int, default=0, help="ORT intra-op threads for verification (0 = all)")
    a = p.parse_args(argv)
    print(simplify(a.onnx, a.out, verify=not a.no_verify, threads=a.threads)["summary_line"])
    return 0


if __name__ == "__main__":
    run(main)
