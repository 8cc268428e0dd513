"""What every inference backend is: its names, its checks, and its three verbs (build, infer, perf).

Why: the run's plan and the steps ask the backend for the run-name prefix, the graph it runs, the
model file, the precision label and the provider, instead of writing `if backend == ...` again in
each place. One implementation per runtime lives in its room (`backends/<name>/backend.py`), and
`backends/registry.py` maps BACKEND to it. Standard library only: the plan imports this at parse time,
so the runtimes' heavy imports stay inside the verbs.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Dict, Mapping, Optional, Tuple

try:
    from typing import Protocol
except ImportError:  # Python 3.7 (CANN 6.0's) has no typing.Protocol; make's parse-time plan runs there too
    Protocol = object  # type: ignore[assignment,misc]

from semask.spec import Weights  # the run's WEIGHTS and their sha256 (the model room loads them too)


@dataclass(frozen=True)
class InferSpec:
    """One inference run over a bins folder (the run's plan builds it)."""

    model: str          # the model file the backend runs (ONNX or OM)
    bins_dir: str
    preds_dir: str
    run_name: str
    batch_size: int
    weights: Weights
    knobs: Mapping[str, str]  # the backend's own variables (ORT_PROVIDER, PRECISION, DEVICE ids ...)


@dataclass(frozen=True)
class PerfSpec:
    """One pure-inference measurement (the run's plan builds it)."""

    model: str
    batch_size: int
    loop: Optional[int]  # None: LOOP=auto
    seconds: float
    out_json: str
    bins_dir: Optional[str]  # time on real data and add the e2e pass when the bins exist
    weights: Weights
    knobs: Mapping[str, str]


@dataclass(frozen=True)
class BuildSpec:
    """The backend's model build from the ONNX it needs (atc for Ascend)."""

    onnx: str
    out: str
    batch_size: int
    height: int
    width: int
    input_dtype: str
    weights: Weights
    knobs: Mapping[str, str]


class Backend(Protocol):
    """One runtime: its names for the plan, its parse-time checks and its verbs."""

    name: str
    umask: str  # the umask its steps write with ('' for the default)

    def run_prefix(self, values: Mapping[str, str], soc: str) -> str:
        """How a run's name starts (backend and provider)."""

    def precisions(self) -> Tuple[str, ...]:
        """The PRECISION values it takes."""

    def precision_label(self, values: Mapping[str, str]) -> str:
        """The precision a run's table shows."""

    def provider(self, values: Mapping[str, str]) -> str:
        """The provider a run's records name."""

    def onnx_key(self, values: Mapping[str, str]) -> str:
        """Which ONNX path of the plan (ONNX_SIM, ONNX_ORT) it runs or compiles."""

    def model_key(self, values: Mapping[str, str]) -> str:
        """Which path of the plan is the model file it runs (the ONNX, or OM)."""

    def name_tail(self, values: Mapping[str, str], om_tag: str) -> str:
        """What goes between the stem and the data tag in a run's name ('' for none)."""

    def step_prefix(self, values: Mapping[str, str]) -> str:
        """Shell words a step's recipe starts with (Ascend: umask 027 and CANN's set_env.sh)."""

    def host_facts(self) -> Optional[Dict[str, Any]]:
        """What a result's provenance records about the accelerator (Ascend: CANN, driver, chip), else None."""

    def check(self, values: Mapping[str, str]) -> list:
        """Parse-time mistakes only this backend has, one `error:` line each (standard library only)."""

    def build(self, spec: BuildSpec) -> Dict[str, Any]:
        """Make the model file from the ONNX (nothing for ONNX Runtime and OpenVINO)."""

    def infer(self, spec: InferSpec) -> Dict[str, Any]:
        """Run every bin through the model into the predictions folder; return the summary."""

    def perf(self, spec: PerfSpec) -> Dict[str, Any]:
        """Measure pure-inference throughput; write and return the result."""


class InProcessBackend:
    """What the CPU backends that run inside the kit's Python share: no umask, no environment to source, no
    host facts beyond the CPU's, no parse-time checks of their own and nothing to build before inference."""

    umask = ""

    def step_prefix(self, values: Mapping[str, str]) -> str:
        return ""

    def host_facts(self) -> Optional[Dict[str, Any]]:
        return None

    def check(self, values: Mapping[str, str]) -> list:
        """One device id (only ais_bench runs several), as a list of mistakes (parse time, standard library)."""
        from semask.backends.ascend.devices import check_single_device
        from semask.core.errors import KitError

        try:
            check_single_device(values["DEVICE"], self.name)  # type: ignore[attr-defined]
        except KitError as exc:
            return [str(exc)]
        return []

    def build(self, spec: BuildSpec) -> Dict[str, Any]:
        return {}
