#!/usr/bin/env python3
"""make fp16-check: predict the 310P's force_fp16 on the CPU (a fp16 round trip after every op output of the
ATC graph, run with ONNX Runtime on the run's frames): SQNR and label agreement vs fp32, the ops whose rounding
costs most, and an atc --keep_dtype cfg that brings the SQNR within 1 dB of fp32-only rounding."""
import argparse
from pathlib import Path

from semask.core.cli import positive_int, run
from semask.spec import FP16_CHECK_FRAMES


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--onnx", type=Path, required=True, help="the kit's ATC graph (*_sim_atc.onnx)")
    p.add_argument("--input", type=Path, required=True, help="the run's bins folder")
    p.add_argument("--batch-size", type=positive_int("BS"), required=True)
    p.add_argument("--frames", type=positive_int("frames"), default=FP16_CHECK_FRAMES, help="the first N bins")
    p.add_argument("--threads", type=positive_int("threads"), default=None)
    p.add_argument("--out-dir", type=Path, required=True, help="writes fp16_check.json/.md and keep_dtype.cfg there")
    a = p.parse_args(argv)
    from semask.evaluate.fp16_check import Fp16Spec, check

    result = check(Fp16Spec(a.onnx, a.input, a.batch_size, a.out_dir, a.frames, a.threads))
    print((a.out_dir / "fp16_check.md").read_text(), end="")
    print(f"fp16-check: {a.out_dir / 'fp16_check.md'}, keep_dtype cfg {result['keep_dtype']['cfg']}")
    return 0


if __name__ == "__main__":
    run(main)
