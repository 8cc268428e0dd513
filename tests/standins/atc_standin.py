"""Stand-in for Ascend `atc` (tests only): documented flags, messages, exit codes; writes a
'.om' that the stand-in ais_bench can run (header + the ONNX bytes).

Env: STANDIN_ATC_OS_ARCH=1 writes `<output>_linux_<arch>.om` (documented naming variant);
STANDIN_ATC_FAIL=<text> fails with that E-code text.

Also the documented side modes: `--mode=1 --om=X.om --json=X.json` writes the recorded OM JSON fixture
(tests/fixtures/atc_om_semask_reduced.json, or $STANDIN_ATC_OM_JSON) with this .om's soc_version;
`--mode=3` pre-checks an ONNX and writes a report (--check_report, default ./check_result.json) in a
layout assumed by the stand-in: {"result", "op": [{"op_name", "op_type", "result", "reason"}]}; ONNX op
types listed in $STANDIN_ATC_UNSUPPORTED fail it. STANDIN_ATC_OLD_CANN=1 rejects modes 1 and 3, as a
release without them would.

Before compiling (mode 0) it does what ATC's te_fusion does with the `python3` on PATH: `python3-config --prefix`
beside it, that prefix's libpython3.Y.so, and `import te.platform.log_util, tbe` with the stand-in te of
tests/standins/cann_site on its PYTHONPATH (what CANN's set_env.sh adds); that te imports only in Python 3.7-3.9
without numpy 2, so a venv's python3 first on PATH fails the compile with atc's own messages (E40001, E40000).
"""
from __future__ import annotations

import glob
import json
import os
import platform
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from standin_log import log_call  # noqa: E402

OM_MAGIC = b"SEMASK-STANDIN-OM v1\n"
FAILED = "ATC run failed, Please check the detail log, Try 'atc --help' for more information"
LOG_LEVELS = ("debug", "info", "warning", "error", "null")
PRECISION_MODES = ("force_fp16", "allow_fp32_to_fp16", "must_keep_origin_dtype", "allow_mix_precision", "force_fp32",
                   "cube_fp16in_fp32out", "allow_mix_precision_fp16", "allow_mix_precision_bf16", "allow_fp32_to_bf16")
PRECISION_MODES_V2 = ("fp16", "origin", "cube_fp16in_fp32out", "mixed_float16", "mixed_bfloat16", "cube_hif8", "mixed_hif8")
IMPLMODES = ("high_performance", "high_precision")
CANN_SITE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "cann_site")
FIXTURE = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "fixtures",
                       "atc_om_semask_reduced.json")


def om_to_json(opts: dict[str, str]) -> None:
    """--mode=1: the recorded OM JSON, carrying this .om's soc_version."""
    if not opts.get("om") or not opts.get("json"):
        fail("E10054: The requied parameter [--om] or [--json] for ATC is empty.")
    with open(opts["om"], "rb") as fh:
        data = fh.read()
    if not data.startswith(OM_MAGIC):
        fail(f"E19999: Inner Error! [{opts['om']}] is not an offline model")
    header = json.loads(data[len(OM_MAGIC):].split(b"\n", 1)[0])
    with open(os.environ.get("STANDIN_ATC_OM_JSON") or FIXTURE) as fh:
        model = json.load(fh)
    for attr in model.get("attr", []):
        if attr.get("key") == "soc_version":
            attr["value"] = {"s": header["soc_version"]}
    with open(opts["json"], "w") as fh:
        json.dump(model, fh, indent=1)
    print("ATC run success, welcome to the next use.")


def precheck(opts: dict[str, str]) -> None:
    """--mode=3: report every node whose ONNX op type is in $STANDIN_ATC_UNSUPPORTED."""
    import onnx

    if opts.get("framework") != "5" or not opts.get("model") or not opts.get("soc_version"):
        fail("E10054: The requied parameter [--framework], [--model] or [--soc_version] for ATC is empty.")
    model = onnx.load(opts["model"], load_external_data=False)
    unsupported = {t for t in os.environ.get("STANDIN_ATC_UNSUPPORTED", "").split(",") if t}
    ops = [{"op_name": n.name, "op_type": n.op_type,
            "result": "failed" if n.op_type in unsupported else "success",
            "reason": f"No supported Ops kernel and engine are found for [{n.name}], optype [{n.op_type}]"
            if n.op_type in unsupported else ""} for n in model.graph.node]
    bad = [o for o in ops if o["result"] == "failed"]
    with open(opts.get("check_report") or "check_result.json", "w") as fh:
        json.dump({"model": opts["model"], "result": "failed" if bad else "success", "op": ops}, fh, indent=1)
    if bad:
        print(FAILED)
        for o in bad:
            print(f"EZ3003: {o['reason']}")
        sys.exit(1)
    print("ATC run success, welcome to the next use.")


def check_op_compiler_python() -> None:
    """te_fusion's steps with the python3 on PATH; atc's own error codes when one fails."""
    python = shutil.which("python3")
    if python is None:
        fail("E40001: Failed to find python3 in PATH.")
    config = os.path.join(os.path.dirname(python), "python3-config")
    proc = subprocess.run([config, "--prefix"], capture_output=True, text=True) if os.path.exists(config) else None
    if proc is None or proc.returncode != 0:
        fail(f"E40001: Failed to get the python lib path with [{config} --prefix].")
    minor = subprocess.run([python, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"], capture_output=True,
                           text=True).stdout.strip()
    if not glob.glob(os.path.join(proc.stdout.strip(), "lib*", f"libpython{minor}*.so*")):
        fail(f"E40001: Failed to load libpython{minor}.so from [{proc.stdout.strip()}].")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [CANN_SITE, os.environ.get("PYTHONPATH")])))
    proc = subprocess.run([python, "-c", "import te.platform.log_util, tbe"], env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        fail("E40000: Failed to import te.platform.log_util. " + (proc.stderr.strip().splitlines() or [""])[-1])


def parse(argv: list[str]) -> dict[str, str]:
    """gflags style: --key=value or --key value."""
    opts: dict[str, str] = {}
    i = 0
    while i < len(argv):
        arg = argv[i]
        if not arg.startswith("--"):
            fail(f"E10001: Value [{arg}] for parameter [argv] is invalid. Reason: unexpected positional argument.")
        key, eq, value = arg[2:].partition("=")
        if not eq and i + 1 < len(argv) and not argv[i + 1].startswith("--"):
            value = argv[i + 1]
            i += 1
        opts[key] = value
        i += 1
    return opts


def fail(message: str) -> None:
    print(FAILED)
    print(message)
    sys.exit(1)


def main(argv: list[str]) -> None:
    log_call("atc", ["atc", *argv])
    opts = parse(argv)
    if "version" in opts:
        print("ATC version: 7.0.0.standin")
        return
    if "help" in opts or "h" in opts:  # CANN 6.0's help has no --precision_mode_v2 (STANDIN_ATC_OLD_CANN=1)
        flags = ["--framework", "--model", "--output", "--soc_version", "--precision_mode", "--keep_dtype",
                 "--op_precision_mode", "--modify_mixlist", "--op_select_implmode", "--mode"]
        if not os.environ.get("STANDIN_ATC_OLD_CANN"):
            flags.append("--precision_mode_v2")
        print("usage: atc <args>\n" + "\n".join(f"  {f}" for f in flags))
        return
    if opts.get("mode", "0") != "0":
        if os.environ.get("STANDIN_ATC_OLD_CANN") or opts["mode"] not in ("1", "3"):
            fail(f"E10001: Value [{opts['mode']}] for parameter [--mode] is invalid. Reason: this release supports 0 only.")
        om_to_json(opts) if opts["mode"] == "1" else precheck(opts)
        return
    if opts.get("framework") != "5":
        if "framework" not in opts:
            fail("E10007: [--framework] is required. The value must be [0(Caffe) or 1(MindSpore) or 3(TensorFlow) or 5(Onnx)].")
        fail(f"E10001: Value [{opts['framework']}] for parameter [--framework] is invalid. Reason: the stand-in only supports 5 (ONNX).")
    print("ATC start working now, please wait for a moment.")
    if not opts.get("model"):
        fail("E10054: The requied parameter [--model] for ATC is empty.")
    if not opts.get("output"):
        fail("E10054: The requied parameter [--output] for ATC is empty.")
    if not opts.get("soc_version"):
        fail("E10054: The requied parameter [--soc_version] for ATC is empty.")
    if opts.get("log", "null") not in LOG_LEVELS:
        fail(f"E10010: Failed to set log level [{opts['log']}].")
    if "precision_mode" in opts and "precision_mode_v2" in opts:
        fail("E10001: Value for parameter [--precision_mode_v2] is invalid. Reason: it cannot be used with --precision_mode.")
    if opts.get("precision_mode", "force_fp16") not in PRECISION_MODES:
        fail(f"E10001: Value [{opts['precision_mode']}] for parameter [--precision_mode] is invalid.")
    if opts.get("precision_mode_v2", "fp16") not in PRECISION_MODES_V2:
        fail(f"E10001: Value [{opts['precision_mode_v2']}] for parameter [--precision_mode_v2] is invalid.")
    if opts.get("op_select_implmode", "high_performance") not in IMPLMODES:
        fail(f"E10001: Value [{opts['op_select_implmode']}] for parameter [--op_select_implmode] is invalid.")
    for flag in ("keep_dtype", "op_precision_mode", "modify_mixlist"):
        if flag in opts and not os.path.isfile(opts[flag]):
            fail(f"E10001: Value [{opts[flag]}] for parameter [--{flag}] is invalid. Reason: the file does not exist.")
    if "modify_mixlist" in opts and not opts.get("precision_mode", "").startswith("allow_mix_precision"):
        fail("E10001: Value for parameter [--modify_mixlist] is invalid. Reason: it needs --precision_mode="
             "allow_mix_precision.")
    if os.environ.get("STANDIN_ATC_FAIL"):
        fail(os.environ["STANDIN_ATC_FAIL"])
    check_op_compiler_python()
    import onnx

    try:
        model = onnx.load(opts["model"])
    except Exception as exc:
        fail(f"E19999: Inner Error! cannot parse model [{opts['model']}]: {exc}")
    inits = {i.name for i in model.graph.initializer}
    graph_inputs = [v for v in model.graph.input if v.name not in inits]
    actual = {v.name: [d.dim_value for d in v.type.tensor_type.shape.dim] for v in graph_inputs}
    for part in opts.get("input_shape", "").split(";"):
        if not part:
            continue
        name, _, dims = part.rpartition(":")
        want = [int(x) for x in dims.split(",")]
        if name not in actual:
            fail(f"E10016: Input parameter [--input_shape]'s opname [{name}] is not found in model")
        if actual[name] != want:
            fail(f"E10001: Value [{part}] for parameter [--input_shape] is invalid. Reason: model input {name} has shape {actual[name]}.")
    with open("fusion_result.json", "w") as fh:
        json.dump({"graph_fusion": {}, "session_and_graph_id": "0_0"}, fh)
    out = opts["output"]
    if os.environ.get("STANDIN_ATC_OS_ARCH"):
        out = f"{out}_linux_{platform.machine()}"
    header = json.dumps({"soc_version": opts["soc_version"], "input_shape": opts.get("input_shape"),
                         "precision_mode": opts.get("precision_mode", "force_fp16")}).encode() + b"\n"
    with open(opts["model"], "rb") as src, open(out + ".om", "wb") as dst:
        dst.write(OM_MAGIC + header + src.read())
    print("ATC run success, welcome to the next use.")


if __name__ == "__main__":
    main(sys.argv[1:])
