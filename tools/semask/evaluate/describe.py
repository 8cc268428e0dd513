"""Honest labels for a results row: what model, weights, data, tool, chip and rate a number belongs to.

Why: a reduced 96x160 run at 357 fps must not read like a published SeMask-S row, synthetic frames
must never read "Cityscapes val", and a table must not name ais_bench when ONNX Runtime ran. Every
label is derived here, from the run's own records (report, provenance, summary, perf JSON), so the
single-run table, `make tables` and `make reproduce` say the same thing.
"""
from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any, Iterable, Mapping

from semask.core.fsio import read_json  # noqa: F401 (reproduce and table read it from here)
from semask.data.cityscapes import SYNTHETIC_MARKER, VAL_CITY_COUNTS, frame_id_from_stem
from semask.evaluate.published import OFFICIAL_LABEL
from semask.model.config import MODEL_TABLE
from semask.spec import NATIVE_HEIGHT, NATIVE_WIDTH, official_weights

MODEL_NAMES = {m.name: m.display_name for m in MODEL_TABLE}
# the kit's fixed test weights: a graph made from them is byte-identical to WEIGHTS=random's (not trained)
TEST_WEIGHTS = Path(__file__).resolve().parents[3] / "tests" / "fixtures" / "weights_reduced.npz"
TEST_WEIGHTS_LABEL = "**kit test weights**"
UNTRAINED = ("**random**", TEST_WEIGHTS_LABEL)  # labels of weights whose mIoU means nothing


def _test_weights_sha() -> str | None:
    from semask.core.fsio import sha256_file

    try:
        return sha256_file(TEST_WEIGHTS)
    except OSError:
        return None

FPS_HEADER = "fps¹"
REAL_HEADER = "real img/s²"
FOOTNOTES = (
    "¹ fps as the tool defines it: 1000·BS / mean compute time per batch in ms (ais_bench's `throughput`; "
    "the ONNX Runtime backend computes the same over `session.run`). A partial last batch counts its padding slots.",
    "² real img/s: images actually processed / total compute time (padding excluded).",
)


def city_of(stem: str) -> str:
    fid = frame_id_from_stem(stem) or stem
    return fid.split("_", 1)[0]


def is_synthetic(data_root: str | Path | None) -> bool:
    return bool(data_root) and (Path(data_root) / SYNTHETIC_MARKER).is_file()


def dataset_facts(stems: Iterable[str], height: int, width: int, data_root: str | Path | None) -> dict[str, Any]:
    """What the label rule needs, recorded in the report so a later reprint needs no DATA_ROOT."""
    stems = list(stems)
    return {"num_images": len(stems), "cities": dict(Counter(city_of(s) for s in stems)),
            "height": int(height), "width": int(width), "synthetic": is_synthetic(data_root),
            "data_root": str(data_root) if data_root else None}


def dataset_label(facts: Mapping[str, Any], limit: str | int | None) -> str:
    """'Cityscapes val (500)' only for the whole official split; else synthetic / subset / custom (N).

    Official: 500 frames, frankfurt 267 / lindau 59 / munster 174, at 1024x2048, no LIMIT.
    Subset: val-city frames at 1024x2048, no city over its official count. Anything else is custom.
    """
    n = int(facts["num_images"])
    if facts.get("synthetic"):
        return f"synthetic ({n})"
    cities = dict(facts.get("cities") or {})
    native = (int(facts["height"]), int(facts["width"])) == (NATIVE_HEIGHT, NATIVE_WIDTH)
    if native and not limit and cities == VAL_CITY_COUNTS:
        return f"{OFFICIAL_LABEL} ({n})"
    if native and cities and all(c in VAL_CITY_COUNTS and k <= VAL_CITY_COUNTS[c] for c, k in cities.items()):
        return f"subset ({n})"
    return f"custom ({n})"


def report_dataset_label(report: Mapping[str, Any]) -> str:
    """The dataset label of a score report (facts recorded at score time, or rebuilt from the report)."""
    facts = report.get("dataset") or dataset_facts(
        report.get("images", []), report.get("height", 0), report.get("width", 0),
        (report.get("labels") or {}).get("data_root"))
    limit = ((report.get("provenance") or {}).get("variables") or {}).get("LIMIT")
    return dataset_label(facts, limit)


def model_label(variables: Mapping[str, Any]) -> str:
    model = variables.get("MODEL") or "?"
    return f"{MODEL_NAMES.get(model, model)} ({model})" if model in MODEL_NAMES else str(model)


def input_label(variables: Mapping[str, Any]) -> str:
    h, w = variables.get("HEIGHT"), variables.get("WIDTH")
    return f"{h}x{w}" if h and w else "?"


def weights_label(prov: Mapping[str, Any], identity: Mapping[str, Any] | None = None) -> str:
    """'semask_small.pth (official, sha256 1a2b3c4d)', a file name with its sha256 prefix, or **random**.

    `identity` is the model that made the numbers (`model_identity` of the summary or perf JSON, from the
    sidecar of the .onnx/.om actually run): when it names weights, the label says those, whatever the
    run's variables say; records older than it fall back to the provenance's WEIGHTS.
    """
    from semask.backends.model_check import is_random, short

    variables = prov.get("variables") or {}
    files = prov.get("files") or {}
    if identity and (identity.get("weights") or identity.get("weights_sha256")):
        weights, sha = str(identity.get("weights") or "?"), identity.get("weights_sha256")
        if is_random(weights, sha):
            return f"**random** (onnx sha256 {short(identity.get('onnx_sha256') or identity.get('sha256'))})"
    else:
        weights = variables.get("WEIGHTS") or (files.get("weights") or {}).get("path") or "?"
        sha = (files.get("weights") or {}).get("sha256")
        if weights == "random":
            onnx_sha = (files.get("onnx") or {}).get("sha256")
            return "**random**" + (f" (onnx sha256 {onnx_sha[:8]})" if onnx_sha else "")
    name = Path(weights).name
    if sha and sha == _test_weights_sha():
        return f"{TEST_WEIGHTS_LABEL} ({name}: the kit's fixed test weights, not trained; sha256 {sha[:8]})"
    model = variables.get("MODEL")
    official = model and Path(weights).as_posix().endswith(official_weights(model))
    tags = (["official"] if official else []) + ([f"sha256 {sha[:8]}"] if sha else [])
    return f"{name} ({', '.join(tags)})" if tags else name


def model_identity(report: Mapping[str, Any] | None, summary: Mapping[str, Any] | None,
                   perf: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """The identity of the model that made a run's numbers: the perf JSON's, else the report's (copied from
    the inference summary at score time), else the summary's."""
    if perf is not None:
        return perf.get("model_identity")
    return (report or {}).get("model") or (summary or {}).get("model_identity")


def backend_label(prov: Mapping[str, Any]) -> str:
    """The tool that actually ran: 'ascend/ais_bench' or 'onnxruntime/<provider>'."""
    if prov.get("backend") == "ascend":
        return "ascend/ais_bench"
    if prov.get("backend") == "openvino":
        return "openvino/cpu"
    return f"onnxruntime/{prov.get('provider') or (prov.get('variables') or {}).get('ORT_PROVIDER') or 'cpu'}"


def chip_label(prov: Mapping[str, Any]) -> str:
    variables = prov.get("variables") or {}
    if prov.get("backend") == "ascend":
        # several chips (ais_bench's multi-device mode): "Ascend310P3 x2", the figure being their sum
        chips = len(str(variables.get("DEVICE") or "0").split(","))
        return (variables.get("SOC") or "Ascend") + (f" x{chips}" if chips > 1 else "")
    provider = prov.get("provider") or "cpu"
    host = prov.get("host") or {}
    if provider == "cpu":
        return f"{host.get('cpu', 'CPU')} ({host.get('cores', '?')} cores)"
    return f"{provider} device {variables.get('DEVICE', 0)}"


def precision_label(prov: Mapping[str, Any]) -> str:
    """atc's precision mode on Ascend, OpenVINO's precision (fp32 or bf16, its counterpart of force_fp16)."""
    if prov.get("backend") in ("ascend", "openvino"):
        return (prov.get("variables") or {}).get("PRECISION") or "?"
    return "fp32"


def real_images_per_s(summary: Mapping[str, Any] | None) -> float | None:
    """Images actually processed / total compute time of an inference summary (padding excluded)."""
    if not summary:
        return None
    times = summary.get("npu_compute_time_list") or []
    total_ms = float(sum(times))
    n = len(summary.get("filesinfo") or {})
    return 1000.0 * n / total_ms if total_ms > 0 and n else None


def perf_real_images_per_s(perf: Mapping[str, Any] | None) -> float | None:
    """A perf loop feeds full batches (no padding): every slot is an image, so it equals the fps."""
    return perf.get("throughput") if perf else None


def fmt(value: float | None, digits: int = 2) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def delta(measured: float | None, published: float | None) -> str:
    if measured is None or published is None:
        return "-"
    return f"{measured - published:+.2f}"
