#!/usr/bin/env python3
"""`make reproduce`: sweep BS_LIST x PRECISIONS through make's own targets and print the published
table's rows, measured, beside the published figures (Markdown + JSON with provenance)."""
import argparse
from pathlib import Path

from semask.core.cli import positive_int, run
from semask.core.errors import KitError
from semask.core.progress import loop_arg
from semask.evaluate import reproduce


def _ints(text: str) -> list:
    words = text.split()
    if not words:
        raise KitError("BS_LIST is empty; give batch sizes, e.g. BS_LIST=\"1 4 8\"")
    return [positive_int("BS_LIST")(w) for w in words]


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--make", required=True, help="the make command to run targets with")
    p.add_argument("--artifacts", required=True, type=Path, help="ARTIFACTS")
    p.add_argument("--out-dir", required=True, type=Path, help="reports/reproduce_<...> folder")
    p.add_argument("--backend", required=True, choices=["ascend", "ort", "openvino"], help="resolved BACKEND")
    p.add_argument("--bs-list", required=True, type=_ints, help="BS_LIST")
    p.add_argument("--precisions", default="force_fp16", help="PRECISIONS (atc --precision_mode values; OpenVINO: fp32 bf16)")
    p.add_argument("--accuracy-each-bs", action="store_true", help="ACCURACY_EACH_BS=1: score every row")
    p.add_argument("--model", default="small")
    p.add_argument("--height", type=positive_int("HEIGHT"), default=1024)
    p.add_argument("--width", type=positive_int("WIDTH"), default=2048)
    p.add_argument("--limit", type=positive_int("LIMIT"), default=None)
    p.add_argument("--data-root", type=Path, default=None)
    p.add_argument("--provider", default="cpu", help="ORT_PROVIDER")
    p.add_argument("--loop", type=loop_arg, default=None, help="LOOP (auto: fit PERF_SECONDS)")
    p.add_argument("--perf-seconds", type=float, default=60.0, help="PERF_SECONDS")
    p.add_argument("--force", action="store_true", help="FORCE=1: run even when the CPU estimate is many hours")
    p.add_argument("--command", default="make reproduce")
    p.add_argument("--var", action="append", default=[], help="NAME=VALUE recorded in the provenance")
    a = p.parse_args(argv)
    precisions = a.precisions.split()
    if not precisions:
        raise KitError("PRECISIONS is empty; give atc precision modes, e.g. PRECISIONS=\"force_fp16\"")
    plan = reproduce.Plan(make=a.make, artifacts=a.artifacts, out_dir=a.out_dir, backend=a.backend, bs_list=a.bs_list,
                          precisions=precisions, accuracy_each_bs=a.accuracy_each_bs, model=a.model, height=a.height,
                          width=a.width, limit=a.limit, data_root=a.data_root, provider=a.provider, loop=a.loop,
                          perf_seconds=a.perf_seconds, force=a.force, command=a.command,
                          variables=dict(v.split("=", 1) for v in a.var if "=" in v))
    return reproduce.run(plan)


if __name__ == "__main__":
    run(main)
