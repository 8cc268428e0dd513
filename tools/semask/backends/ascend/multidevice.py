"""ais_bench's own multi-device mode (`--device 0,1`): which era does what, and its outputs made one run.

Why: an Atlas 300I Duo card carries two chips and a server up to 8 cards; ais_bench runs one process per
device itself (`multidevice_run` in the ais_bench sources, Ascend/tools ais-bench_workload/tool/ais_bench). The eras differ:
  2022-11 (ais_infer's `python -m ais_bench`): `--device` is one int, no multi-device mode;
  2023-06 (Ascend/tools ais_bench 0.0.2): always splits the --input files over the devices, each device
          writing `<output>/<dirname>/device<id>/` + `device<id>_summary.json`;
  2024-06 (ait) and 2025-12 (gitee !1523): split only with `--divide_input 1` (otherwise every device infers
          every file), into `device<id>_<k>/` + `device<id>_<k>_summary.json`.
The kit asks the installed tool which it is (argparse takes `--device 0,1` before `--help`, and lists
`--divide_input` where it exists), then merges the per-device folders into one predictions folder and one
summary, checking that every input frame was predicted exactly once.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any, Sequence

from semask.core.errors import KitError
from semask.spec import DEFAULT_SET_ENV

SPLIT, DIVIDE = "split", "divide"  # 2023-06: always splits; 2024+: splits with --divide_input 1
PADDING_MARKER = "padding_infer_fake_file"
_DEVICE_LINE = re.compile(r"\bi:(\d+)\s+device_(\d+)\s+throughput:(\S+)")
_SUMMARY_LINE = re.compile(r"summary throughput:\s*(\S+)")


def multi_device_mode(cmd: Sequence[str], devices: Sequence[int], timeout: float = 120) -> str:
    """SPLIT or DIVIDE for the ais_bench `cmd`; KitError naming its version when it has no multi-device mode."""
    listed = ",".join(str(d) for d in devices)
    try:
        proc = subprocess.run([*cmd, "--device", listed, "--help"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              universal_newlines=True, timeout=timeout)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise KitError(f"cannot run `{' '.join(cmd)} --help` to learn its multi-device mode ({exc}); "
                       "check AIS_BENCH") from None
    if proc.returncode == 0:
        return DIVIDE if "--divide_input" in proc.stdout else SPLIT
    from semask.backends.ascend.probe import probe

    found = probe(os.environ.get("ASCEND_SET_ENV") or DEFAULT_SET_ENV, list(cmd))
    raise KitError(f"DEVICE={listed}: this ais_bench ({found.version_line()}, in {found.python}) has no multi-device "
                   f"mode (`--device {listed}` is refused: the 2022-11 ais_infer generation takes one id); run one "
                   "device, e.g. DEVICE=0, or install the current ais_bench with `bash env/install_ascend_extras.sh`")


def empty_devices_problem(frames: int, devices: Sequence[int], mode: str | None) -> str | None:
    """The 2023-06 splitter gives each device ceil(n/d) files in turn, so the last devices can get none and
    ais_bench fails (10 frames on 8 chips: 2 each, 3 chips idle); one line with a DEVICE list that works."""
    if mode != SPLIT or not devices or frames < len(devices):
        return None
    per = -(-frames // len(devices))
    used = -(-frames // per)
    if used == len(devices):
        return None
    idle = list(devices[used:])
    return (f"{frames} frame(s) on {len(devices)} devices: this ais_bench (2023-06) gives each device ceil({frames}/"
            f"{len(devices)}) = {per} frames in turn, so device(s) {','.join(map(str, idle))} would get none and the "
            f"run fails; use DEVICE={','.join(map(str, devices[:used]))}, or more frames (LIMIT)")


def device_flags(devices: Sequence[int], mode: str | None, with_input: bool) -> list[str]:
    """`--device 0,1` (+ `--divide_input 1` on the eras that only split with it)."""
    flags = ["--device", ",".join(str(d) for d in devices)]
    if len(devices) > 1 and with_input and mode == DIVIDE:
        flags += ["--divide_input", "1"]
    return flags


def device_throughputs(text: str) -> list[dict[str, Any]]:
    """The `i:<k> device_<id> throughput:<x>` lines, in index order."""
    found = {}
    for m in _DEVICE_LINE.finditer(text):
        found[int(m.group(1))] = {"index": int(m.group(1)), "device": int(m.group(2)), "throughput": float(m.group(3))}
    return [found[k] for k in sorted(found)]


def summary_throughput(text: str) -> float:
    """ais_bench's `summary throughput:<sum>` (the sum of the per-device throughputs)."""
    found = _SUMMARY_LINE.findall(text)
    if not found:
        raise KitError("no `summary throughput:` line in ais_bench's multi-device output; the run did not finish "
                       "(see its log above)")
    return float(found[-1])


def check_all_devices_reported(text: str, devices: Sequence[int]) -> list[dict[str, Any]]:
    """Every listed device printed its throughput line (ais_bench exits 0 only then, but say which is missing)."""
    lines = device_throughputs(text)
    got = [(row["index"], row["device"]) for row in lines]
    want = list(enumerate(devices))
    if got != want:
        missing = [f"{d} (i:{k})" for k, d in want if (k, d) not in got]
        raise KitError(f"ais_bench did not report every device: missing {', '.join(missing) or '?'}; "
                       "see its log above (a device that cannot be opened fails alone)")
    return lines


def device_folder(run_dir: Path, device: int, index: int) -> tuple[Path, Path]:
    """(`device<id>_<k>` or `device<id>` folder, its sibling summary) under the run folder."""
    found = [(run_dir / name, run_dir / f"{name}_summary.json")
             for name in (f"device{device}_{index}", f"device{device}")
             if (run_dir / name).is_dir() and (run_dir / f"{name}_summary.json").is_file()]
    if len(found) != 1:
        why = "none" if not found else "both device<id>/ and device<id>_<k>/"
        raise KitError(f"ais_bench's output for device {device} (index {index}) under {run_dir}: found {why} of "
                       f"device{device}_{index}/ and device{device}/ with a summary; rerun inference into an empty folder")
    return found[0]


def merge_device_runs(run_dir: Path, devices: Sequence[int], inputs: Sequence[str], prefix: str) -> dict[str, Any]:
    """Move every device's predictions into `run_dir` and return one ais_bench-style summary for them all.

    `inputs` are the input files in order; each must be predicted by exactly one device (KitError listing the
    duplicates / missing frames otherwise). Output paths in the summary are `prefix/<name>`.
    """
    from semask.backends.ascend import summary as ais_summary

    order = {os.path.basename(f): i for i, f in enumerate(inputs)}
    owner: dict[str, int] = {}
    entries, moves, problems = [], [], []
    compute: list[float] = []
    per_device = []
    for k, dev in enumerate(devices):
        folder, summary_path = device_folder(run_dir, dev, k)
        try:
            info = json.loads(summary_path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise KitError(f"{summary_path} is unreadable ({exc}); rerun inference") from None
        compute += [float(v) for v in info.get("npu_compute_time_list") or []]
        frames = 0
        for entry in (info.get("filesinfo") or {}).values():
            infile = entry["infiles"][0]
            if PADDING_MARKER in infile:
                continue
            name = os.path.basename(infile)
            frames += 1
            if name in owner:
                problems.append(f"{name} predicted twice (device {owner[name]} and device {dev})")
                continue
            owner[name] = dev
            outs = [os.path.basename(p) for p in entry["outfiles"]]
            moves += [(folder / o, run_dir / o) for o in outs]
            entries.append((order.get(name, len(order)), list(entry["infiles"]), outs))
        per_device.append({"index": k, "device": dev, "frames": frames, "folder": folder.name,
                           "throughput": info.get("throughput")})
    missing = [n for n in order if n not in owner]
    unknown = sorted(n for n in owner if n not in order)
    if missing:
        problems.append(f"{len(missing)} frame(s) predicted by no device: {', '.join(missing[:10])}")
    if unknown:
        problems.append(f"{len(unknown)} frame(s) not among the inputs: {', '.join(unknown[:10])}")
    if problems:
        raise KitError(f"ais_bench's multi-device run in {run_dir} did not predict each frame exactly once: "
                       f"{'; '.join(problems)}; rerun inference (with one DEVICE if this persists)")
    targets = [dst for _, dst in moves]
    if len(set(targets)) != len(targets) or any(dst.exists() for dst in targets):
        raise KitError(f"two devices wrote the same output name into {run_dir}; rerun inference into an empty folder")
    for src, dst in moves:
        os.replace(src, dst)
    for k, dev in enumerate(devices):
        folder, summary_path = device_folder(run_dir, dev, k)
        summary_path.unlink()
        shutil.rmtree(folder)
    entries.sort(key=lambda e: e[0])
    filesinfo = {str(i): {"infiles": inf, "outfiles": [os.path.join(prefix, o) for o in outs]}
                 for i, (_, inf, outs) in enumerate(entries)}
    return {"filesinfo": filesinfo, "NPU_compute_time": ais_summary.time_stats(compute),
            "H2D_latency": ais_summary.time_stats([]), "D2H_latency": ais_summary.time_stats([]),
            "npu_compute_time_list": compute, "devices": list(devices), "per_device": per_device}
