"""What atc says before and after a compile: the `--mode=3` pre-check and the op placement of an .om.

Why: an op that falls back to AI CPU compiles fine and only shows as lost throughput after a long run.
atc can tell beforehand: `--mode=3` pre-checks an ONNX for unsupported ops (report: `--check_report`,
default check_result.json), and `--mode=1 --om=X.om --json=X.json` dumps a compiled model, where every
op's `attr` list holds `_ge_attr_op_kernel_lib_name` (e.g. AIcoreEngine, aicpu_ascend_kernel,
aicpu_tf_kernel, DNN_VM_GE_LOCAL_OP_STORE). Old CANN releases may lack either mode: then the kit says so
and goes on.
"""
from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any, Iterator

from semask.core.fsio import read_json

ENGINE_ATTR = "_ge_attr_op_kernel_lib_name"
_ECODE = re.compile(r"\b[EW][A-Z0-9]\d{4}\b")


# ---------------------------------------------------------------- placement (atc --mode=1)

def om_json_command(om: Path | str, json_path: Path | str) -> list[str]:
    return ["atc", "--mode=1", f"--om={om}", f"--json={json_path}"]


def _ops(model: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for graph in model.get("graph") or []:
        yield from graph.get("op") or []


def _attr_str(op: dict[str, Any], key: str) -> str | None:
    for attr in op.get("attr") or []:
        if attr.get("key") == key:
            value = attr.get("value") or {}
            return value.get("s") if isinstance(value.get("s"), str) else None
    return None


def engine_class(kernel_lib: str | None) -> str:
    """'ai_core' | 'ai_cpu' | 'other' from an op's kernel library name."""
    lib = (kernel_lib or "").lower()
    if "aicpu" in lib:
        return "ai_cpu"
    if "aicore" in lib:
        return "ai_core"
    return "other"


def summarise_placement(model: dict[str, Any]) -> dict[str, Any]:
    """Op counts per engine class and per kernel library, and every AI CPU op by name and type."""
    counts = {"ai_core": 0, "ai_cpu": 0, "other": 0}
    libs: dict[str, int] = {}
    ai_cpu_ops: list[dict[str, str]] = []
    for op in _ops(model):
        lib = _attr_str(op, ENGINE_ATTR)
        cls = engine_class(lib)
        counts[cls] += 1
        libs[lib or "(none)"] = libs.get(lib or "(none)", 0) + 1
        if cls == "ai_cpu":
            ai_cpu_ops.append({"name": str(op.get("name")), "type": str(op.get("type")), "kernel_lib": lib or ""})
    atc_version = next((a.get("value", {}).get("s") for a in model.get("attr") or [] if a.get("key") == "atc_version"), None)
    from semask.backends.ascend.layernorm import fused_layernorms

    return {"available": True, "source": "atc --mode=1", **counts, "by_kernel_lib": dict(sorted(libs.items())),
            "ai_cpu_ops": ai_cpu_ops, "atc_version_in_om": atc_version, "layernorm_ops": fused_layernorms(_ops(model))}


def placement(om: Path, scratch: Path) -> dict[str, Any]:
    """Convert `om` to JSON with atc and summarise it; on failure a record saying why (never raises)."""
    out = scratch / f"{om.stem}.om.json"
    cmd = om_json_command(om, out)
    try:
        proc = subprocess.run(cmd, cwd=scratch, capture_output=True, text=True, errors="replace", timeout=1800)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return _unavailable(cmd, f"could not run atc --mode=1: {exc}")
    if proc.returncode != 0 or not out.is_file():
        text = (proc.stdout + proc.stderr).strip().splitlines()
        why = f"exit {proc.returncode}" + (f": {text[-1]}" if text else "")
        return _unavailable(cmd, f"atc --mode=1 could not convert the .om to JSON ({why}); older CANN may lack it")
    try:
        model = json.loads(out.read_text(errors="replace"))
    except ValueError as exc:
        return _unavailable(cmd, f"atc --mode=1 wrote JSON the kit cannot read ({exc})")
    return {**summarise_placement(model), "command": cmd}


def _unavailable(cmd: list[str], reason: str) -> dict[str, Any]:
    print(f"note: no op placement summary: {reason}; going on", flush=True)
    return {"available": False, "reason": reason, "command": cmd}


def placement_line(summary: dict[str, Any]) -> str:
    """One line for the console and the tables."""
    if not summary.get("available"):
        return f"op placement: unknown ({summary.get('reason', 'not recorded')})"
    line = f"op placement: {summary['ai_core']} AI Core, {summary['ai_cpu']} AI CPU, {summary['other']} other"
    if summary["ai_cpu_ops"]:
        names = ", ".join(f"{o['name']} ({o['type']})" for o in summary["ai_cpu_ops"][:10])
        more = len(summary["ai_cpu_ops"]) - 10
        line += f"; on AI CPU: {names}" + (f" and {more} more" if more > 0 else "")
    return line


def placement_warning(om_sidecar: dict[str, Any] | None) -> str | None:
    """A warning line when the compiled model runs ops on AI CPU, else None."""
    summary = (om_sidecar or {}).get("placement") or {}
    if not summary.get("available") or not summary.get("ai_cpu"):
        return None
    return (f"WARNING: {summary['ai_cpu']} op(s) of this .om run on AI CPU, so throughput will be far below the "
            f"published figures ({placement_line(summary).split('; on AI CPU: ', 1)[-1]}); see "
            "docs/ASCEND.md, 'When an op lands on AI CPU'.")


# ---------------------------------------------------------------- pre-check (atc --mode=3)

def precheck_command(onnx: Path | str, soc: str, report: Path | str) -> list[str]:
    return ["atc", "--mode=3", "--framework=5", f"--model={onnx}", f"--soc_version={soc}", f"--check_report={report}"]


_FAIL_WORDS = ("fail", "unsupport", "not support", "error")
_NAME_KEYS = ("op_name", "name", "node_name")
_TYPE_KEYS = ("op_type", "type")
_REASON_KEYS = ("reason", "err_msg", "error_msg", "message", "detail", "result_reason")


def _walk(obj: Any) -> Iterator[dict[str, Any]]:
    if isinstance(obj, dict):
        yield obj
        for value in obj.values():
            yield from _walk(value)
    elif isinstance(obj, list):
        for value in obj:
            yield from _walk(value)


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, dict):
        return "; ".join(f"{k}: {_text(v)}" for k, v in value.items() if v not in (None, "", [], {}))
    if isinstance(value, list):
        return "; ".join(_text(v) for v in value)
    return str(value)


def unsupported_ops(report: Any) -> list[dict[str, str]]:
    """Ops the pre-check report marks as failed, with atc's reason.

    The report layout is not in the documentation the kit was written from, so this reads it generically:
    any object naming an op (op_name/name + op_type/type) whose result/status says failed or unsupported.
    """
    found: list[dict[str, str]] = []
    for node in _walk(report):
        name = next((node[k] for k in _NAME_KEYS if isinstance(node.get(k), str)), None)
        status = _text(node.get("result", node.get("status", node.get("check_result", "")))).lower()
        if name is None or not any(word in status for word in _FAIL_WORDS):
            continue
        op_type = next((node[k] for k in _TYPE_KEYS if isinstance(node.get(k), str)), "")
        reason = next((_text(node[k]) for k in _REASON_KEYS if node.get(k)), status)
        found.append({"name": name, "type": op_type, "reason": reason})
    return found


def run_precheck(onnx: Path, soc: str, workdir: Path) -> dict[str, Any]:
    """`atc --mode=3` on `onnx`; the parsed verdict (ok, unsupported ops with reasons, atc's E-code lines)."""
    if shutil.which("atc") is None:
        return {"available": False, "reason": "atc is not on PATH (source the CANN set_env.sh)"}
    report = workdir / "check_result.json"
    cmd = precheck_command(onnx, soc, report)
    print("+ " + " ".join(cmd), flush=True)
    proc = subprocess.run(cmd, cwd=workdir, capture_output=True, text=True, errors="replace")
    text = proc.stdout + proc.stderr
    codes = [ln.strip() for ln in text.splitlines() if _ECODE.search(ln)]
    if not report.is_file():
        # an atc without the pre-check rejects the --mode value itself (or fails with no E-code at all)
        if proc.returncode != 0 and (not codes or any("--mode" in ln for ln in codes)):
            return {"available": False, "exit_code": proc.returncode, "command": cmd, "error_lines": codes,
                    "reason": f"atc --mode=3 failed (exit {proc.returncode}) and wrote no report; older CANN may lack "
                              f"the pre-check: {text.strip().splitlines()[-1] if text.strip() else 'no output'}"}
        return {"available": True, "ok": proc.returncode == 0 and not codes, "exit_code": proc.returncode,
                "command": cmd, "unsupported": [], "error_lines": codes, "report": None}
    try:
        data = json.loads(report.read_text(errors="replace"))
    except ValueError:
        data = None
    bad = unsupported_ops(data) if data is not None else []
    return {"available": True, "ok": proc.returncode == 0 and not bad, "exit_code": proc.returncode, "command": cmd,
            "unsupported": bad, "error_lines": codes, "report": data}


def precheck_lines(result: dict[str, Any]) -> list[str]:
    """What `make atc-check` prints."""
    if not result.get("available"):
        return [f"atc pre-check unavailable: {result.get('reason')}; going on (`make om` will still try the compile)"]
    if result["ok"]:
        return ["atc pre-check: every op of the graph is supported (exit 0)"]
    lines = [f"atc pre-check: {len(result['unsupported'])} unsupported op(s) (exit {result['exit_code']})"]
    lines += [f"  {o['name']} ({o['type'] or '?'}): {o['reason']}" for o in result["unsupported"]]
    lines += [f"  atc: {ln}" for ln in result["error_lines"]]
    return lines


def provenance_warning(prov: dict[str, Any]) -> str | None:
    """placement_warning for the .om a run's provenance names (its sidecar beside it), if any."""
    om = ((prov or {}).get("files") or {}).get("om") or {}
    if not om.get("path"):
        return None
    sidecar = read_json(Path(om["path"]).with_suffix(".json"))
    return None if sidecar is None else placement_warning(sidecar)
