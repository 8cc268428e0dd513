#!/usr/bin/env python3
"""PRECISION=int8: quantise the kit's ORT graph with NNCF (calibration: the first CALIB bins of the run)
into an OpenVINO IR beside it, verify its logit SQNR against fp32, and write its sidecar (make's target)."""
import argparse
from pathlib import Path

from semask.core.cli import positive_int, run
from semask.spec import DEFAULT_CALIB


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--onnx", type=Path, required=True, help="the kit's fp32 graph (*_ort.onnx)")
    p.add_argument("--input", type=Path, required=True, help="the run's bins folder (with its manifest.json)")
    p.add_argument("--batch-size", type=positive_int("BS"), required=True)
    p.add_argument("--calib", type=positive_int("CALIB"), default=DEFAULT_CALIB, help="calibration frames (CALIB)")
    p.add_argument("--cpuinfo", default="/proc/cpuinfo", help="CPUINFO: the CPU must have VNNI units")
    p.add_argument("--out", type=Path, required=True, help="the IR's sidecar .json to write (the IR goes beside it)")
    a = p.parse_args(argv)
    from semask.backends.openvino.quantize import QuantSpec, build

    build(QuantSpec(a.onnx, a.input, a.batch_size, a.calib, a.out), a.cpuinfo)
    return 0


if __name__ == "__main__":
    run(main)
