#!/usr/bin/env python3
"""Make the ATC-friendly copy of a simplified ONNX: Resize half_pixel -> pytorch_half_pixel, int32 Gather
indices, then verify it against PyTorch like the export does (semask.backends.ascend.graph says why).

  atc_graph.py --onnx X_sim.onnx --out X_sim_atc.onnx     (the graph `make om` / `make atc-check` give atc)
"""
import argparse
from pathlib import Path

from semask.core.cli import run


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--onnx", type=Path, required=True, help="simplified ONNX (with its .json sidecar)")
    p.add_argument("--out", type=Path, required=True, help="the ATC graph to write (+ .json sidecar)")
    p.add_argument("--no-verify", action="store_true", help="skip the ONNX Runtime vs PyTorch check")
    p.add_argument("--threads", type=int, default=0, help="ORT intra-op threads for verification (0 = all)")
    a = p.parse_args(argv)
    from semask.backends.ascend.graph import write_atc_graph

    side = write_atc_graph(a.onnx, a.out, verify=not a.no_verify, threads=a.threads)
    rs, gi = side["ascend_graph"]["resize_half_pixel_to_pytorch_half_pixel"], side["ascend_graph"]["gather_indices_int32"]
    print(f"{a.out.name}: {rs['rewritten']} Resize half_pixel -> pytorch_half_pixel ({len(rs['kept'])} kept), "
          f"{gi['converted']} Gather indices -> int32 ({len(gi['kept'])} kept) | verify: {side['verification']}")
    return 0


if __name__ == "__main__":
    run(main)
