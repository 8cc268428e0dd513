"""A model file (.onnx, .om) is checked against its sidecar before every use, and its identity recorded.

Why: make trusts mtimes, so an `_ort.onnx` or `.om` copied over a finished run's (from other weights,
another checkout, a colleague) was run and its mIoU credited to the weights the variables name. Each
consumer (inference, perf, atc, the results table) calls `verify_model` first: the file's sha256 must
equal the one its sidecar recorded when the kit wrote it, and the weights the sidecar names must be
the run's WEIGHTS. What it returns (`identity`) goes into the summary / perf JSON, so reports and
tables name the weights, ONNX and OM of the files actually used, not the current make variables.

Standard library only (plus the sidecar reader): the atc path imports it before the venv is known
to hold numpy or onnx.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

from semask.backends.base import Weights
from semask.core.errors import KitError
from semask.core.fsio import sha256_file
from semask.model.onnx_io import read_sidecar, sidecar_path

RANDOM = "random"  # WEIGHTS=random (semask.model.checkpoint.RANDOM; the sidecar's `weights` then says so)
REBUILD = "delete it (or run `make clean`) and `make all` rebuilds it"


def _recorded_sha(kind: str, info: Mapping[str, Any]) -> str | None:
    return info.get("om_sha256") if kind == "om" else info.get("sha256")


def weights_of(info: Mapping[str, Any]) -> tuple[str | None, str | None]:
    """(weights as recorded, their sha256 or 'random-seed-N') from an ONNX or OM sidecar."""
    return info.get("weights"), info.get("weights_sha256")


def is_random(weights: str | None, weights_sha256: str | None = None) -> bool:
    return weights == RANDOM or str(weights_sha256 or "").startswith("random")


def short(sha: str | None) -> str:
    """The 8-character prefix tables and messages show ('random-seed-N' stays whole)."""
    if not sha:
        return "?"
    return sha if sha.startswith("random") else sha[:8]


def check_weights(subject: str, recorded: tuple[str | None, str | None], weights: str | Weights, source: str,
                  remedy: str = REBUILD) -> None:
    """Refuse `subject` (a model file, or predictions) when `recorded` (weights, weights_sha256 from
    `source`) are not this run's WEIGHTS (`random` or a file). A `Weights` carrying the sha256 the run's
    plan recorded is compared as is: the file is hashed once per run, by the plan."""
    known = weights.sha256 if isinstance(weights, Weights) else ""
    weights = weights.name if isinstance(weights, Weights) else weights
    rec_name, rec_sha = recorded
    if rec_name is None and rec_sha is None:
        raise KitError(f"{subject}: {source} records no weights, so which model made it is unknown; {remedy}")
    if weights == RANDOM or is_random(rec_name, rec_sha):
        if weights == RANDOM and is_random(rec_name, rec_sha):
            return
        run_sha = None
    else:
        wpath = Path(weights)
        if not known and not wpath.is_file():
            raise KitError(f"WEIGHTS file {weights} does not exist; give an existing .pth/.npz or WEIGHTS=random")
        run_sha = known or sha256_file(wpath)
        if run_sha == rec_sha:
            return
    made_from = "WEIGHTS=random" if is_random(rec_name, rec_sha) else f"WEIGHTS={rec_name} (sha256 {short(rec_sha)})"
    this_run = "WEIGHTS=random" if weights == RANDOM else f"WEIGHTS={weights} (sha256 {short(run_sha)})"
    raise KitError(f"{subject} was made from {made_from} (per {source}) but this run has {this_run}: it is "
                   f"another model's, copied or left over; {remedy}")


def verify_model(path: Path | str, weights: str | Weights | None = None, require_sidecar: bool = True) -> dict[str, Any]:
    """Check `path` (.onnx or .om) against its sidecar and, when `weights` is given, against the run's
    WEIGHTS; return its identity (path, sha256, sidecar, weights, ONNX/OM sha256s).

    Without a sidecar: a KitError when `require_sidecar` (the Makefile's runs), else an identity with
    only the file's own sha256 (a user's own model given to a CLI by hand).
    """
    path = Path(path)
    kind = "om" if path.suffix == ".om" else "onnx"
    if not path.is_file():
        step = "the atc step (make om)" if kind == "om" else "the export step (make onnx)"
        raise KitError(f"model file {path} does not exist; run {step} first")
    actual = sha256_file(path)
    side = sidecar_path(path)
    if not side.is_file() and not require_sidecar and weights is None:
        return {"kind": kind, "path": str(path), "sha256": actual, "sidecar": None, "weights": None,
                "weights_sha256": None}
    info = read_sidecar(path, f"without it {path} cannot be trusted: {REBUILD}")
    recorded = _recorded_sha(kind, info)
    if not recorded:
        raise KitError(f"{path}: its sidecar {side} records no sha256, so the file cannot be checked; {REBUILD}")
    if actual != recorded:
        raise KitError(f"{path} does not match its sidecar {side.name} (sha256 {actual[:8]}, recorded {recorded[:8]}): "
                       f"it was replaced or edited after the kit wrote it; {REBUILD}")
    if weights is not None:
        check_weights(str(path), weights_of(info), weights, side.name, f"{REBUILD} from these weights")
    rec_name, rec_sha = weights_of(info)
    identity = {"kind": kind, "path": str(path), "sha256": actual, "sidecar": str(side), "weights": rec_name,
                "weights_sha256": rec_sha}
    if kind == "om":
        identity.update(onnx=info.get("onnx"), onnx_sha256=info.get("onnx_sha256"))
    return identity

