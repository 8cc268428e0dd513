"""Ascend backend: chip detection (npu-smi), OM compilation (atc) and OM inference (ais_bench).

Why: the kit drives the vendor tools with exactly the documented command lines, checks their
results the robust way (exit code + produced file; last `throughput` token) and keeps the kit's
atomic-artifact rule: a killed atc or ais_bench run never leaves an .om, a run folder or a
summary that looks finished.
"""
from __future__ import annotations

import collections
import glob
import json
import os
import re
import shlex
import shutil
import subprocess
import time
from dataclasses import replace
from pathlib import Path
from typing import Any, Mapping, Sequence

from semask.core.errors import KitError
from semask.backends.ascend.atc_python import atc_environ, check_atc_python
from semask.backends.ascend.jobs import AisInferJob, AtcJob  # noqa: F401 (re-exported: the callers' spec objects)
from semask.backends.ascend.probe import ais_bench_command  # noqa: F401 (the command every caller runs)
from semask.spec import DEFAULT_SET_ENV  # noqa: F401 (re-exported)
from semask.core.fsio import check_free_space, sha256_file
from semask.core.procs import run_streamed
from semask.core.tempname import temp_dir, temp_name
from semask.model.onnx_io import read_sidecar, sidecar_path

TAIL_LINES = 20
_CHIP_ROW = re.compile(r"^\|\s*(\d+)\s+([A-Za-z0-9][A-Za-z0-9_-]*)\s*\|\s*[A-Za-z]")
_DRIVER = re.compile(r"Version:\s*([0-9A-Za-z.\-]+)")


# ---------------------------------------------------------------- npu-smi

def npu_smi_info() -> str:
    """Text of `npu-smi info`; KitError when the tool is missing or fails."""
    exe = shutil.which("npu-smi")
    if exe is None:
        raise KitError("npu-smi is not on PATH (no Ascend driver here?); pass SOC=Ascend310P3 (or your chip) instead of SOC=auto")
    proc = subprocess.run([exe, "info"], capture_output=True, text=True)
    if proc.returncode != 0:
        raise KitError(f"`npu-smi info` failed (exit {proc.returncode}): {proc.stderr.strip() or proc.stdout.strip()}; "
                       "check the driver, or pass SOC=Ascend310P3 (or your chip)")
    return proc.stdout


def parse_chip_name(text: str, device: int = 0) -> str:
    """The chip Name of the card holding `device` (the Device column of its chip row; a Duo card lists
    chips 0 and 1 under one NPU row), e.g. `| 0  310P3 | OK ...` -> '310P3'."""
    from semask.backends.ascend.devices import parse_npu_smi_chips

    for chip in parse_npu_smi_chips(text):
        if chip.device == device:
            return chip.name
    for line in text.splitlines():  # a table without chip rows: the NPU id is the device
        found = _CHIP_ROW.match(line)
        if found and int(found.group(1)) == device:
            return found.group(2)
    raise KitError(f"cannot find device {device}'s chip name in `npu-smi info` output; pass SOC=Ascend310P3 (or your chip)")


def parse_chip_names(text: str) -> list[str]:
    """Every chip Name in the NPU rows of `npu-smi info`, sorted and without repeats."""
    return sorted({m.group(2) for m in map(_CHIP_ROW.match, text.splitlines()) if m})


def parse_driver_version(text: str) -> str | None:
    """The `Version:` field of the npu-smi banner (the driver version)."""
    found = _DRIVER.search(text)
    return found.group(1) if found else None


def resolve_soc(soc: str, device: int | Sequence[int] = 0) -> tuple[str, str]:
    """(soc_version, how it was found); SOC=auto reads npu-smi -> 'Ascend' + chip name.

    With a device list the OM is compiled once, for the chip of the first device; every listed chip must
    be the same SoC (one OM serves one SoC).
    """
    devices = [device] if isinstance(device, int) else list(device)
    if soc != "auto":
        return soc, "given"
    from semask.backends.ascend.devices import npu_smi_chips, soc_of

    chips = npu_smi_chips()  # in ACL's numbering (visible devices, containers)
    if chips:
        return "Ascend" + soc_of(devices, chips), "npu-smi"
    text = npu_smi_info()
    return "Ascend" + parse_chip_name(text, devices[0]), "npu-smi"


def cann_version(env: dict[str, str] | None = None) -> str | None:
    """CANN toolkit version from $ASCEND_TOOLKIT_HOME (version.cfg / *install.info), else None."""
    env = dict(os.environ if env is None else env)
    home = env.get("ASCEND_TOOLKIT_HOME") or env.get("ASCEND_HOME_PATH")
    if not home:
        return None
    candidates = [os.path.join(home, "version.cfg")] + sorted(glob.glob(os.path.join(home, "*", "version.cfg")))
    candidates += sorted(glob.glob(os.path.join(home, "*", "ascend_toolkit_install.info")))
    for path in candidates:
        try:
            text = Path(path).read_text(errors="replace")
        except OSError:
            continue
        for line in text.splitlines():
            if "version" in line.lower():
                found = re.search(r"(\d+\.\d+[\w.]*)", line)
                if found:
                    return found.group(1)
    return None


def _tail(text: str, n: int = TAIL_LINES) -> str:
    return "\n".join(collections.deque(text.splitlines(), maxlen=n))


# ---------------------------------------------------------------- atc

def atc_command(job: AtcJob, out_stem: Path | str, soc: str, extra: Sequence[str] = ()) -> list[str]:
    """The exact documented atc command line the kit issues for `job` on chip `soc`, writing `out_stem`.om
    (--precision_mode_v2 replaces --precision_mode)."""
    mode = f"--precision_mode_v2={job.precision_v2}" if job.precision_v2 else f"--precision_mode={job.precision}"
    implmode = [f"--op_select_implmode={job.op_select_implmode}"] if job.op_select_implmode else []
    return ["atc", "--framework=5", f"--model={job.onnx}", f"--output={out_stem}", "--input_format=NCHW",
            f"--input_shape=image:{job.batch_size},3,{job.height},{job.width}", f"--soc_version={soc}",
            mode, *implmode, "--log=error", *extra]


def _find_om(scratch: Path, stem: str) -> Path | None:
    """`<stem>.om`, or the documented `<stem>_<os>_<arch>.om` variant."""
    plain = scratch / f"{stem}.om"
    if plain.is_file():
        return plain
    variants = sorted(scratch.glob(f"{glob.escape(stem)}_*.om"))
    return variants[0] if len(variants) == 1 else None


def compile_om(job: AtcJob) -> dict[str, Any]:
    """Compile ONNX -> OM with atc in a scratch folder, rename the .om (0640), write its JSON sidecar
    with the op placement atc reports for it.

    The ONNX is checked against its sidecar (and the run's `weights` when given) first; the OM's sidecar
    carries the ONNX's weights identity on, so the .om can be checked the same way. `atc_python` (ATC_PYTHON, else
    the environment's) is CANN's interpreter, put first on PATH for atc alone. `knobs` ({KEEP_DTYPE, OP_PRECISION,
    MIXLIST: file}) add their atc flags; their sha256 go into the sidecar."""
    from semask.backends.ascend import fs as ascend_fs

    job, source, outputs = _checked_atc_job(job)
    # atc's op compiler runs `python3` from PATH: CANN's Python (ATC_PYTHON's folder first), never a venv's
    job = replace(job, atc_python=job.atc_python or os.environ.get("ATC_PYTHON") or None)
    check_atc_python(os.environ, job.atc_python, cann_version())
    soc = resolve_soc(job.soc, job.device)
    output_om = Path(job.output_om)
    ascend_fs.private_dir(output_om.parent, "OM folder")
    side = sidecar_path(output_om)
    if side.exists():
        side.unlink()
    scratch = temp_dir(output_om.parent, f".{output_om.stem}.atc-")
    try:
        built, info = _atc_build(job, scratch, soc, source, outputs)
        # the .om is the make target: publish it after its sidecar, so a run killed in between never leaves
        # an .om that make takes as done but ais_infer refuses (sidecar missing)
        ascend_fs.write_private_json(side, info)
        os.chmod(built, ascend_fs.ASCEND_FILE_MODE)
        os.replace(built, output_om)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return info


def _checked_atc_job(job: AtcJob) -> tuple[AtcJob, dict[str, Any], list[Any]]:
    """(`job` with absolute paths and precision_v2 winning over precision, the ONNX's identity, its outputs),
    or KitError for a bad setting, an ONNX that is not the one asked for, or no atc on PATH."""
    from semask.backends.ascend import knobs as ascend_knobs
    from semask.backends.model_check import verify_model

    job = replace(job, precision=None if job.precision_v2 else job.precision)
    ascend_knobs.check_precision(job.precision, job.precision_v2)
    ascend_knobs.check_implmode(job.op_select_implmode)
    ascend_knobs.check_soc(job.soc)
    job = replace(job, onnx=Path(job.onnx).resolve(), output_om=Path(job.output_om).resolve())
    if Path(job.output_om).suffix != ".om":
        raise KitError(f"--output-om {job.output_om} must end in .om")
    source = verify_model(job.onnx, job.weights, require_sidecar=job.weights is not None)
    outputs = _checked_onnx_io(job)
    if shutil.which("atc") is None:
        raise KitError(f"atc is not on PATH; run `source {os.environ.get('ASCEND_SET_ENV', DEFAULT_SET_ENV)}` "
                       "(CANN toolkit) first, or use BACKEND=ort")
    return job, source, outputs


def _checked_onnx_io(job: AtcJob) -> list[Any]:
    """The ONNX's outputs, after checking its one input is `image` of the job's shape and dtype."""
    from semask.model.onnx_io import onnx_io

    onnx, batch_size, height, width, input_dtype = job.onnx, job.batch_size, job.height, job.width, job.input_dtype
    inputs, outputs = onnx_io(onnx)
    want = (batch_size, 3, height, width)
    if len(inputs) != 1 or inputs[0].name != "image" or inputs[0].shape != want:
        got = [(i.name, list(i.shape)) for i in inputs]
        raise KitError(f"{onnx} has inputs {got} but atc is asked for image:{batch_size},3,{height},{width}; "
                       "export the ONNX for this BS/size or fix the variables")
    if inputs[0].dtype.name != input_dtype:
        raise KitError(f"{onnx} input is {inputs[0].dtype.name} but --input-dtype {input_dtype}; use the matching ONNX")
    return outputs


def _atc_build(job: AtcJob, scratch: Path, soc: tuple[str, str], source: dict[str, Any],
               outputs: list[Any]) -> tuple[Path, dict[str, Any]]:
    """Run atc for `job` in `scratch` on chip `soc` (version, how it was found): (the .om it wrote, its sidecar)."""
    from semask.backends.ascend import atc_report
    from semask.backends.ascend.accuracy_knobs import atc_args, knob_files

    onnx, output_om = Path(job.onnx), Path(job.output_om)
    soc_version, soc_source = soc
    knob_info = knob_files(job.knobs or {})
    cmd = atc_command(job, scratch / output_om.stem, soc_version, [*job.extra, *atc_args(knob_info)])
    start = time.time()
    built, text = _run_atc(cmd, scratch, onnx, output_om, job.atc_python)
    info = {
        "om": str(output_om), "om_sha256": sha256_file(built), "onnx": str(onnx), "onnx_sha256": source["sha256"],
        "weights": source["weights"], "weights_sha256": source["weights_sha256"],
        "command": cmd, "command_line": shlex.join(cmd), "soc_version": soc_version, "soc_source": soc_source,
        "precision_mode": job.precision, "precision_mode_v2": job.precision_v2,
        "op_select_implmode": job.op_select_implmode, "accuracy_knobs": knob_info,
        "batch_size": job.batch_size, "height": job.height, "width": job.width,
        "input_dtype": job.input_dtype, "atc_om_name": built.name, "seconds": round(time.time() - start, 3),
        "atc_version": _atc_version(text), "cann_version": cann_version(),
        "outputs": [{"name": o.name, "shape": list(o.shape), "dtype": o.dtype.name} for o in outputs],
        "placement": atc_report.placement(built, scratch),
    }
    print(atc_report.placement_line(info["placement"]), flush=True)
    info["layernorm"] = _layernorm_fusion(onnx, info["placement"])
    return built, info


def _run_atc(cmd: list[str], scratch: Path, onnx: Path, output_om: Path, atc_python: str | None) -> tuple[Path, str]:
    """Run atc in `scratch` with CANN's Python first on PATH and its compile workers set; (the .om it wrote, its
    output), or KitError with its exit status, log folder and last lines."""
    from semask.backends.ascend import fs as ascend_fs
    from semask.backends.ascend.atc_host import failure_hint, te_parallel
    from semask.core.progress import step

    print("+ " + shlex.join(cmd), flush=True)
    with step("atc", f"{onnx.name} -> {output_om.name}"):
        env, workers = te_parallel(atc_environ(os.environ, atc_python))
        print(workers, flush=True)
        code, text = run_streamed(cmd, cwd=scratch, env=env)
    ascend_fs.write_private_text(output_om.with_suffix(".atc.log"), text)
    built = _find_om(scratch, output_om.stem)
    if code != 0 or built is None:
        why = failure_hint(code) if code != 0 else f"exit 0 but no {output_om.stem}.om was written"
        raise KitError(f"atc failed for {onnx} ({why}); last lines of its output:\n{_tail(text)}\n"
                       f"(full log: {output_om.with_suffix('.atc.log')})")
    return built, text


def _layernorm_fusion(onnx: Path, placement: dict[str, Any]) -> dict[str, Any]:
    """The sidecar's LayerNorm record (patterns in the ONNX, LayerNorm ops atc made); prints its warning."""
    from semask.backends.ascend.layernorm import layernorm_record, onnx_layernorm_patterns

    record = layernorm_record(onnx_layernorm_patterns(onnx), placement.get("layernorm_ops"))
    if record["warning"]:
        print(record["warning"], flush=True)
    return record


def _atc_version(text: str) -> str | None:
    found = re.search(r"(?i)\bATC version[:\s]+(\S+)", text)
    return found.group(1) if found else None


def om_sidecar(om: Path | str, batch_size: int) -> dict[str, Any]:
    """The sidecar atc_compile wrote, checked against `batch_size` (refuses a mismatch)."""
    om = Path(om)
    if not om.is_file():
        raise KitError(f"OM model {om} does not exist; run the atc step (make om) first")
    info = read_sidecar(om, "so its batch size is unknown; compile it with tools/atc_compile.py")
    if int(info.get("batch_size", -1)) != batch_size:
        raise KitError(f"{om} was compiled for batch size {info.get('batch_size')} (see {sidecar_path(om)}) but BS={batch_size}; "
                       "compile an OM for this batch size or fix BS")
    return info


# ---------------------------------------------------------------- ais_bench

def _per_image_output_bytes(info: dict[str, Any]) -> int | None:
    import numpy as np

    total = 0
    for out in info.get("outputs", []):
        if not out["shape"] or any(not isinstance(d, int) or d is None for d in out["shape"]):
            return None
        total += int(np.prod(out["shape"])) * np.dtype(out["dtype"]).itemsize
    return total // int(info["batch_size"]) if total else None


def _device_list(device: int | Sequence[int]) -> list[int]:
    return [device] if isinstance(device, int) else [int(d) for d in device]


def _absolute_pythonpath(environ: Mapping[str, str]) -> dict[str, str]:
    """`environ` with relative PYTHONPATH entries made absolute (ais_bench runs in another working folder)."""
    env = dict(environ)
    if env.get("PYTHONPATH"):
        env["PYTHONPATH"] = os.pathsep.join(os.path.abspath(p) if p else p for p in env["PYTHONPATH"].split(os.pathsep))
    return env


def _absolute_command(cmd: Sequence[str]) -> list[str]:
    """`cmd` with a relative program path (e.g. AIS_BENCH=".venv/bin/python -m ais_bench") made absolute."""
    first = cmd[0]
    return [os.path.abspath(first) if os.sep in first and not os.path.isabs(first) else first, *cmd[1:]]


def _check_device_shares(frames: int, devices: list[int], mode: str | None, input_dir: Path) -> None:
    """KitError when ais_bench would give a device no frame (fewer frames than devices, or the 2023 splitter)."""
    from semask.backends.ascend import multidevice as multi

    idle = multi.empty_devices_problem(frames, devices, mode)
    if idle:
        raise KitError(idle)
    if frames < len(devices):
        raise KitError(f"{frames} frame(s) in {input_dir} for {len(devices)} devices: ais_bench would give a "
                       "device nothing to infer; use fewer devices (DEVICE) or more frames (LIMIT)")


def ais_infer(job: AisInferJob) -> dict[str, Any]:
    """Run ais_bench over a bins folder into a temporary run name, then publish it under `job.dirname`.

    The .om is checked against its sidecar (and the run's `weights` when given) first; its identity
    goes into the summary as `model_identity`. Several devices run in ais_bench's own multi-device mode;
    their per-device folders become one run (one predictions folder, manifest and summary; each frame
    predicted exactly once).
    """
    from semask.backends.ascend import multidevice as multi
    from semask.backends.ascend import fs as ascend_fs

    # ais_bench (2024+) refuses symlinks, odd characters and loose modes: hand it real, tight paths
    om, input_dir, output_dir = ascend_fs.real(job.om), ascend_fs.real(job.input_dir), ascend_fs.real(job.output_dir)
    info, identity, files = _checked_infer_inputs(job, om, input_dir, output_dir)
    out_root = _prepared_out_root(output_dir, job.dirname, info, len(files))
    devices = _device_list(job.device)
    mode = multi.multi_device_mode(ais_bench_command(), devices) if len(devices) > 1 else None
    _check_device_shares(len(files), devices, mode, input_dir)
    tmp_name = temp_name(f"{job.dirname}.partial-")
    if len(devices) > 1:  # the 2025 tool's workers check-then-mkdir the shared folder: made first, 0750
        ascend_fs.private_dir(out_root / tmp_name, "preds run folder")
    cmd = [*ais_bench_command(), "--model", str(om), "--input", str(input_dir), "--output", str(output_dir),
           "--output_dirname", tmp_name, "--outfmt", "BIN", "--batchsize", str(job.batch_size),
           *multi.device_flags(devices, mode, with_input=True)]
    print("+ " + shlex.join(cmd), flush=True)
    tmp_dir, tmp_summary = out_root / tmp_name, out_root / f"{tmp_name}_summary.json"
    old_prefix, new_prefix = os.path.join(str(output_dir), tmp_name), os.path.join(str(output_dir), job.dirname)
    try:
        result = _ais_bench_result(cmd, om, tmp_dir, devices, files, old_prefix)
        for entry in result.get("filesinfo", {}).values():
            entry["outfiles"] = [new_prefix + p[len(old_prefix):] if p.startswith(old_prefix) else p
                                 for p in entry["outfiles"]]
        result["backend"] = "ascend"
        result["om"] = str(om)
        result["soc_version"] = info.get("soc_version")
        result["model_identity"] = identity
        _publish_run(result, tmp_dir, out_root, job.dirname)
    finally:
        shutil.rmtree(tmp_dir, ignore_errors=True)
        if tmp_summary.exists():
            tmp_summary.unlink()
    return result


def _checked_infer_inputs(job: AisInferJob, om: Path, input_dir: Path,
                          output_dir: Path) -> tuple[dict[str, Any], dict[str, Any], list[str]]:
    """(the .om's sidecar, its identity, the bins), after checking the .om, the bins' manifest, their sizes
    and the preds folder's characters; the bins are given the modes ais_bench accepts."""
    from semask.backends.ascend import fs as ascend_fs
    from semask.backends.model_check import verify_model
    import numpy as np

    from semask.core import manifest
    from semask.backends import batching  # numpy-based; imported here so env checks work without numpy

    info = om_sidecar(om, job.batch_size)
    identity = verify_model(om, job.weights)
    files = batching.list_input_files(input_dir)
    manifest.verify_inputs(Path(input_dir), files)
    ascend_fs.prepare_inputs(om, input_dir, [Path(f) for f in files])
    ascend_fs.check_chars(output_dir, "the preds folder")
    in_bytes = job.batch_size * 3 * info["height"] * info["width"] * np.dtype(info["input_dtype"]).itemsize
    batching.files_per_batch(in_bytes, files[0])
    batching.check_sizes(files, batching.file_nbytes(files[0]))
    return info, identity, files


def _prepared_out_root(output_dir: Path, dirname: str, info: dict[str, Any], frames: int) -> Path:
    """The preds root (0750, ours, room for the outputs), with `dirname`'s old summary and stale partial runs gone."""
    from semask.backends.ascend import fs as ascend_fs

    out_root = ascend_fs.private_dir(output_dir, "preds folder")
    ascend_fs.check_owner(out_root)
    per_image = _per_image_output_bytes(info)
    if per_image:
        check_free_space(out_root, per_image * frames, "ais_bench inference")
    final_summary = out_root / f"{dirname}_summary.json"
    if final_summary.exists():
        final_summary.unlink()
    for stale in out_root.glob(f"{glob.escape(dirname)}.partial-*"):
        shutil.rmtree(stale, ignore_errors=True) if stale.is_dir() else stale.unlink()
    return out_root


def _ais_bench_result(cmd: list[str], om: Path, tmp_dir: Path, devices: list[int], files: list[str],
                      run_prefix: str) -> dict[str, Any]:
    """Run `cmd` from the preds root; its summary (several devices: their folders merged into `tmp_dir`, whose
    path ais_bench writes as `run_prefix`), or KitError when ais_bench failed."""
    from semask.backends.ascend import multidevice as multi

    out_root = tmp_dir.parent
    # from the preds root: the 2025 tool checks --output_dirname relative to the working folder
    code, text = run_streamed(_absolute_command(cmd), cwd=out_root, env=_absolute_pythonpath(os.environ))
    if len(devices) > 1:
        if code != 0:
            raise KitError(f"ais_bench failed on {om} (exit {code}); last lines of its output:\n{_tail(text)}")
        per_device = multi.check_all_devices_reported(text, devices)
        result = multi.merge_device_runs(tmp_dir, devices, files, run_prefix)
        result.update({"args": cmd, "throughput": multi.summary_throughput(text), "pid": os.getpid()})
        for row, line in zip(result["per_device"], per_device):
            row["throughput"] = line["throughput"]
        return result
    tmp_summary = out_root / f"{tmp_dir.name}_summary.json"
    if code != 0 or not tmp_summary.is_file():
        raise KitError(f"ais_bench failed on {om} (exit {code}); last lines of its output:\n{_tail(text)}")
    return json.loads(tmp_summary.read_text())


def _publish_run(result: dict[str, Any], tmp_dir: Path, out_root: Path, dirname: str) -> None:
    """Rename the finished `tmp_dir` to `dirname` (replacing an older run), then write its manifest and, last,
    its summary."""
    from semask.backends.ascend import fs as ascend_fs
    from semask.core import manifest

    final_dir, final_summary = out_root / dirname, out_root / f"{dirname}_summary.json"
    ascend_fs.private_tree(tmp_dir)
    if final_dir.exists():
        trash = out_root / temp_name(f"{dirname}.partial-old-")
        os.replace(final_dir, trash)
        shutil.rmtree(trash, ignore_errors=True)
    os.replace(tmp_dir, final_dir)
    outputs = [Path(p).name for entry in result.get("filesinfo", {}).values() for p in entry["outfiles"]]
    manifest.write_preds_manifest(final_dir, manifest.hash_outputs(final_dir, outputs))
    ascend_fs.write_private_json(final_summary, result)


def ais_perf(om: Path | str, batch_size: int, loop: int | None, device: int | Sequence[int] = 0,
             budget_seconds: float = 60.0, weights: str | None = None) -> dict[str, Any]:
    """Pure-inference `ais_bench --loop`: parse throughput + NPU_compute_time stats from its log.

    loop=None first runs `--loop 1` (on the first device) to time one batch, then fits LOOP into
    `budget_seconds` (at least 3). Several devices run in ais_bench's multi-device mode: `throughput` is its
    `summary throughput` (the sum over the chips), `per_device` each chip's own line.
    The .om is checked as `ais_infer` checks it.
    """
    from semask.backends.ascend import multidevice as multi

    from semask.backends.ascend import summary as summary
    from semask.backends.model_check import verify_model
    from semask.backends.ascend.fs import check_chars, real

    om = real(om)
    check_chars(om, "the .om")
    info = om_sidecar(om, batch_size)
    identity = verify_model(om, weights)
    devices = _device_list(device)
    mode = multi.multi_device_mode(ais_bench_command(), devices) if len(devices) > 1 else None
    device = devices[0]
    given = loop is not None
    if loop is None:
        loop = _loop_for_budget(om, batch_size, device, budget_seconds)
    cmd = [*ais_bench_command(), "--model", str(om), "--loop", str(loop), "--batchsize", str(batch_size),
           *multi.device_flags(devices, mode, with_input=False)]
    print("+ " + shlex.join(cmd), flush=True)
    code, text = run_streamed(cmd)
    if code != 0:
        raise KitError(f"ais_bench --loop failed on {om} (exit {code}); last lines of its output:\n{_tail(text)}")
    stats = summary.parse_compute_stats(text) or {}
    thr, several = _perf_throughput(text, devices)
    return {
        "backend": "ascend", "device": device, "devices": devices, "om": str(om), "model_identity": identity,
        "soc_version": info.get("soc_version"),
        "precision_mode": info.get("precision_mode"), "precision_mode_v2": info.get("precision_mode_v2"),
        "op_select_implmode": info.get("op_select_implmode"), "batch_size": batch_size, "loop": loop, "data": "zero",
        "loop_chosen_by": "LOOP" if given else f"PERF_SECONDS={budget_seconds:g}",
        "throughput": thr, "throughput_definition": "1000*batch_size/mean(NPU_compute_time ms), from ais_bench",
        "latency_ms": summary.latency_block(stats),
        "npu_compute_time": stats, "command": cmd, "e2e": None, **several,
    }


def _loop_for_budget(om: Path, batch_size: int, device: int, budget_seconds: float) -> int:
    """LOOP=auto: time one batch with `--loop 1` on `device`, then fit the loop count into `budget_seconds`."""
    from semask.backends.ascend import summary as summary
    from semask.core.progress import loop_for_budget, perf_estimate_line

    probe = [*ais_bench_command(), "--model", str(om), "--loop", "1", "--batchsize", str(batch_size),
             "--device", str(device)]
    print("+ " + shlex.join(probe), flush=True)
    code, text = run_streamed(probe)
    if code != 0:
        raise KitError(f"ais_bench --loop 1 failed on {om} (exit {code}); last lines of its output:\n{_tail(text)}")
    per_run = float((summary.parse_compute_stats(text) or {}).get("mean") or 0.0) / 1000.0
    loop = loop_for_budget(None, per_run, budget_seconds)
    print(perf_estimate_line(f"bs{batch_size}", per_run, loop, False, budget_seconds), flush=True)
    return loop


def _perf_throughput(text: str, devices: list[int]) -> tuple[float, dict[str, Any]]:
    """(the run's throughput, the multi-device keys of the perf JSON: none for one device)."""
    from semask.backends.ascend import multidevice as multi
    from semask.backends.ascend import summary as summary

    if len(devices) > 1:
        per_device = multi.check_all_devices_reported(text, devices)
        thr = multi.summary_throughput(text)
        return thr, {"per_device": per_device,
                     "throughput_definition": "ais_bench's summary throughput: the sum over the devices of "
                                              "1000*batch_size/mean(NPU_compute_time ms)",
                     "latency_note": "latency_ms / npu_compute_time: the last device block ais_bench printed"}
    return summary.parse_throughput(text), {}


def perf_line(result: dict[str, Any]) -> str:
    """One human line for the console, from an `ais_perf` result."""
    lat = result["latency_ms"]
    devices = result.get("devices") or [result.get("device")]
    chips = f" x{len(devices)}" if len(devices) > 1 else ""
    lines = [f"perf ascend[{result['soc_version']}{chips}] bs{result['batch_size']}: throughput {result['throughput']:.2f} "
             f"img/s, NPU compute mean {lat['mean']} ms p99 {lat['p99']} ms"]
    lines += [f"  device {row['device']}: throughput {row['throughput']:.2f} img/s" for row in result.get("per_device", [])]
    return "\n".join(lines)
