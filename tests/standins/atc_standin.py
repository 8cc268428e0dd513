"""Stand-in for Ascend `atc` (tests only): documented flags, messages, exit codes; writes a
'.om' that the stand-in ais_bench can run (header + the ONNX bytes).

Env: STANDIN_ATC_OS_ARCH=1 writes `<output>_linux_<arch>.om` (documented naming variant);
STANDIN_ATC_FAIL=<text> fails with that E-code text.
"""
from __future__ import annotations

import json
import os
import platform
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from standin_log import log_call  # noqa: E402

OM_MAGIC = b"SEMASK-STANDIN-OM v1\n"
FAILED = "ATC run failed, Please check the detail log, Try 'atc --help' for more information"
LOG_LEVELS = ("debug", "info", "warning", "error", "null")


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
    if os.environ.get("STANDIN_ATC_FAIL"):
        fail(os.environ["STANDIN_ATC_FAIL"])
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
