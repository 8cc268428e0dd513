"""The plan of one make run: every variable checked, every fact resolved, every artifact named, once.

Why: make is good at rules and poor at checking values or building names, and the Python side
(reproduce, table, stamps, provenance) needs the very same names. So each make invocation makes one
call (`tools/plan_run.py`), which reads make's variables, refuses every mistake in one line each,
resolves what depends on the machine (backend, SoC, the dataset's native size), and writes this
RunPlan twice: as a generated makefile the Makefile includes, and as JSON the tools read back.
Nobody derives a name a second way.

A run's identity comes from what it is made of: the weights' content (`w` + sha256 prefix; the
official download is `official`, `random` is `random`) and the dataset's folder (`d` + a digest of
its resolved path, with a stamp that redoes the steps when the files in it change). Different
WEIGHTS or DATA_ROOT therefore give different artifacts and never invalidate another run's.

Standard library only, and Python 3.7 syntax: it runs before `.venv` exists, on the host's Python.
"""
from __future__ import annotations

import difflib
import hashlib
import json
import os
import re
import sys
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Dict, FrozenSet, List, Mapping, Optional, Sequence, Tuple

from semask.backends.ascend.accuracy_knobs import knob_problems, knob_tag
from semask import spec
from semask.backends.ascend.knobs import soc_mistake
from semask.core.errors import KitError, not_one_of, not_positive_int
from semask.core.fsio import write_if_changed
from semask.core.cpuflags import precision_problem
from semask.backends.ascend.devices import device_mistakes
from semask.backends.registry import backend_for
from semask.model.size import check_size

# Goals that need the run's variables checked and its machine facts resolved.
PIPELINE_GOALS = frozenset({"all", "perf", "weights", "labels", "bins", "onnx", "om", "preds", "report",
                            "crosscheck", "atc-check", "reproduce", "fp16-check"})
POSITIVE = ("BS", "HEIGHT", "WIDTH", "PERF_SECONDS", "DEMO_IMAGES", "DEMO_HEIGHT", "DEMO_WIDTH", "CROSSCHECK_NUM",
            "CALIB")
CHOICES: Dict[str, Tuple[str, ...]] = {
    "MODEL": spec.MODELS, "DEMO_MODEL": spec.MODELS, "BACKEND": spec.BACKENDS, "INPUT_DTYPE": spec.INPUT_DTYPES,
    "LABEL_DTYPE": spec.LABEL_DTYPES, "LABELS": spec.LABEL_MODES, "ORT_PROVIDER": spec.ORT_PROVIDERS,
}
OPTIONAL_CHOICES: Dict[str, Tuple[str, ...]] = {
    "PRECISION_V2": spec.ATC_PRECISION_MODES_V2, "OP_SELECT_IMPLMODE": spec.OP_SELECT_IMPLMODES,
}
BOOLEANS = ("SMOKE", "NOWAIT", "FORCE", "ACCURACY_EACH_BS")  # 1 or 0 (or empty = 0); anything else is refused
LISTS = ("BS_LIST", "PRECISIONS")  # `make reproduce` runs each entry once
# the goals the Makefile has (a goal with '/' or '.' is a file target); any other gets a "did you mean"
GOALS = ("help", "all", "perf", "demo", "clean", "distclean", "env", "test", "bench", "weights", "labels", "bins",
         "onnx", "om", "preds", "report", "upstream", "crosscheck", "table", "tables", "reproduce", "atc-check",
         "verify", "platforms", "fp16-check")
NO_SPACES = ("ARTIFACTS", "WEIGHTS")  # make cannot use these in file names with spaces
# Where results live under ARTIFACTS: `paths()` names them so, and the results table finds runs so.
REPORTS_DIR, PERF_DIR = "reports", "perf"
REPRODUCE_JSON = "reproduce.json"
LATEST = f"{REPORTS_DIR}/latest"  # one line: the last run's JSON, relative to ARTIFACTS (`make table`)
# The shapes of the names `RunPlan.paths()` builds, for code that recognises them under ARTIFACTS
# (semask.run.inventory, what `make clean` may delete): kept beside the code that builds them.
DATA_TAG_PATTERN = r"d[0-9a-f]{8}"
LIMIT_TAG_PATTERN = r"(?:all|first\d+)"
RUN_PATTERN = r"(?:ort-[a-z0-9]+|openvino-cpu|ascend)_semask_[A-Za-z0-9_.-]+"  # RunPlan.run_name
PERF_SUFFIX_PATTERN = r"_loop[A-Za-z0-9]+(?:_dev[0-9-]+)?"  # RunPlan.loop_tag, devices_tag
BINS_DIR_PATTERN = rf"\d+x\d+_[a-z0-9]+_{DATA_TAG_PATTERN}_{LIMIT_TAG_PATTERN}"
LABELS_DIR_PATTERN = rf"[a-z]+_{DATA_TAG_PATTERN}_{LIMIT_TAG_PATTERN}"
STATE_FILE_PATTERN = rf"data_{DATA_TAG_PATTERN}\.txt|weights_[A-Za-z0-9_-]+\.txt|check_.+\.stamp"


def write_latest(artifacts: Path | str, target: Path | str) -> None:
    """Point reports/latest at `target` (a run's JSON under ARTIFACTS); rewritten only when it changes, so
    an up-to-date `make all` leaves the tree untouched."""
    artifacts = Path(artifacts)
    rel = Path(target).resolve().relative_to(artifacts.resolve())
    write_if_changed(artifacts / LATEST, rel.as_posix() + "\n")


def result_kind(path: Path) -> Optional[str]:
    """'report', 'perf' or 'reproduce' for a run's result JSON under ARTIFACTS, else None."""
    if path.name == REPRODUCE_JSON:
        return "reproduce"
    if path.suffix != ".json" or path.name.endswith(".provenance.json"):
        return None
    return {REPORTS_DIR: "report", PERF_DIR: "perf"}.get(path.parent.name)


class PlanError(KitError):
    """One or more user mistakes, one line each (`lines`), found before anything is written."""

    def __init__(self, lines: Sequence[str], blames_variables: bool = True):
        super().__init__("\n".join(lines))
        self.lines = list(lines)
        self.blames_variables = blames_variables


# ---------------------------------------------------------------------------- reading the variables
def suggest(name: str) -> str:
    """' (did you mean BS?)' for a near miss of a settable name, else ''."""
    upper = {n.upper(): n for n in spec.VARIABLE_NAMES}
    if name.upper() in upper:
        return f" (did you mean {upper[name.upper()]}?)"
    if name.upper() in spec.VARIABLE_ALIASES:
        return f" (did you mean {spec.VARIABLE_ALIASES[name.upper()]}?)"
    close = difflib.get_close_matches(name.upper(), spec.VARIABLE_NAMES, n=1, cutoff=0.6)
    return f" (did you mean {close[0]}?)" if close else ""


def unknown_variables(cmdline: Mapping[str, str]) -> List[str]:
    """One line per command-line variable that the kit does not know (where typos land)."""
    return [f"error: unknown variable '{name}'{suggest(name)}; `make help` lists the variables"
            for name in sorted(cmdline) if name not in spec.VARIABLE_NAMES]


def read_values(cmdline: Mapping[str, str], environ: Mapping[str, str]) -> Tuple[Dict[str, str], FrozenSet[str]]:
    """Every settable variable's value (command line > environment > default) and the names the user set."""
    values = {name: environ[name] for name in spec.VARIABLE_NAMES if name in environ}
    values.update((name, cmdline[name]) for name in spec.VARIABLE_NAMES if name in cmdline)
    given = frozenset(values)
    if values.get("BACKEND") == "openvino":  # OpenVINO's precision axis: fp32 unless asked for
        for name in ("PRECISION", "PRECISIONS"):
            values.setdefault(name, spec.DEFAULT_OV_PRECISION)
    for var in spec.VARIABLES:
        if var.name not in values:
            values[var.name] = var.default.format(**values) if "{" in var.default else var.default
    return {k: v.strip() for k, v in values.items()}, given


def _is_positive(text: str) -> bool:
    return bool(re.fullmatch(r"[1-9][0-9]*", text))


def normalise(values: Dict[str, str]) -> List[str]:
    """Read numbers with leading zeros as their value (BS=04 is 4: the names and make use 4) and run each
    BS_LIST / PRECISIONS entry once; returns a note per list that named an entry twice."""
    for name in (*POSITIVE, "LIMIT", "LOOP"):
        if re.fullmatch(r"0+[1-9][0-9]*", values.get(name, "")):
            values[name] = values[name].lstrip("0")
    values["BS_LIST"] = " ".join(w.lstrip("0") if re.fullmatch(r"0+[1-9][0-9]*", w) else w
                                 for w in values.get("BS_LIST", "").split())
    notes = []
    for name in LISTS:
        words = values.get(name, "").split()
        once = list(dict.fromkeys(words))
        if once != words:
            values[name] = " ".join(once)
            notes.append(f"note: {name} names an entry twice; each runs once: {name}={values[name]}")
    return notes


def boolean_mistakes(values: Mapping[str, str]) -> List[str]:
    """SMOKE, NOWAIT, FORCE, ACCURACY_EACH_BS: 1, 0 or empty (NOWAIT=0 used to count as set)."""
    return ["error: " + not_one_of(name, values[name], ("1", "0"), f"empty means 0; use {name}=1 to turn it on")
            for name in BOOLEANS if values.get(name, "") not in ("", "0", "1")]


def goal_mistakes(goals: Sequence[str]) -> List[str]:
    """An unknown goal (`make al`, `make reproduse`) gets a "did you mean", before make says "No rule"."""
    out = []
    for goal in goals:
        if goal in GOALS or "/" in goal or "." in goal:
            continue
        close = difflib.get_close_matches(goal, GOALS, n=1, cutoff=0.6)
        out.append(f"error: unknown goal '{goal}'" + (f" (did you mean `make {close[0]}`?)" if close else "")
                   + "; `make help` lists the verbs")
    return out


def _cpu_precision_mistakes(values: Mapping[str, str], goals: Sequence[str], precisions: Sequence[str]) -> List[str]:
    """OpenVINO's bf16 needs bf16 units in CPUINFO; a CPUINFO that cannot be read is one line too."""
    asked = values["PRECISIONS"].split() if "reproduce" in goals else [values["PRECISION"]]
    try:
        problem = precision_problem([p for p in asked if p in precisions], values["CPUINFO"])
    except KitError as exc:  # CPUINFO missing or a folder
        problem = str(exc)
    return [f"error: {problem}"] if problem else []


def check_values(values: Mapping[str, str], given: FrozenSet[str], goals: Sequence[str]) -> List[str]:
    """One line per invalid value, naming the variable and the fix (the pipeline goals only)."""
    errors: List[str] = []

    def bad(name: str, why: str, example: str) -> None:
        errors.append(f"error: {name}={values[name]} {why}; use e.g. {name}={example}")

    for name in POSITIVE:
        if not _is_positive(values[name]):
            errors.append("error: " + not_positive_int(name, values[name], spec.VARIABLES[spec.VARIABLE_NAMES.index(name)].default))
    if values["LIMIT"] and not _is_positive(values["LIMIT"]):
        bad("LIMIT", "is not a positive integer (or empty for every image)", "10")
    if values["LOOP"] != "auto" and not _is_positive(values["LOOP"]):
        bad("LOOP", "is not a positive integer or 'auto'", "100")
    for name, choices in CHOICES.items():
        if values[name] not in choices:
            errors.append("error: " + not_one_of(name, values[name], choices))
    openvino = values["BACKEND"] == "openvino"
    precisions = spec.OV_PRECISIONS if openvino else spec.ATC_PRECISION_MODES
    where = "BACKEND=openvino takes" if openvino else "atc --precision_mode takes"
    if values["PRECISION"] not in precisions:
        hint = (f"bf16 and fp32 are OpenVINO precisions: use BACKEND=openvino PRECISION={values['PRECISION']}"
                if values["PRECISION"] in spec.OV_PRECISIONS and not openvino else f"{where} these")
        errors.append("error: " + not_one_of("PRECISION", values["PRECISION"], precisions, hint))
    wrong = [p for p in values["PRECISIONS"].split() if p not in precisions]
    if "reproduce" in goals and wrong:
        errors.append("error: " + not_one_of("PRECISIONS", values["PRECISIONS"], precisions, f"{' '.join(wrong)} is not"))
    if openvino:  # bf16 only where the CPU has bf16 units
        errors += _cpu_precision_mistakes(values, goals, precisions)
    if values["SOC"] not in (spec.SOC_AUTO, *spec.SOC_VERSIONS):
        errors.append("error: " + soc_mistake(values["SOC"]))
    for name, choices in OPTIONAL_CHOICES.items():
        if values[name] and values[name] not in choices:
            errors.append("error: " + not_one_of(name, values[name], choices, "or leave it empty"))
    if values["PRECISION_V2"] and "PRECISION" in given:
        errors.append(f"error: PRECISION={values['PRECISION']} and PRECISION_V2={values['PRECISION_V2']} cannot be "
                      "combined (atc refuses --precision_mode with --precision_mode_v2); unset one of them")
    errors += [f"error: {line}" for line in knob_problems(values)]  # KEEP_DTYPE, OP_PRECISION, MIXLIST files
    if values["DEVICE"] != spec.DEVICE_ALL:  # the syntax here; the chips npu-smi lists when resolving
        errors += [f"error: {line}" for line in device_mistakes(values["DEVICE"], None)[1]]
    for name in NO_SPACES:
        if len(values[name].split()) != 1:
            errors.append(f"error: {name}={values[name]} is empty or contains spaces, which make cannot use in "
                          "file names; choose a path without spaces")
    if "reproduce" in goals:
        words = values["BS_LIST"].split()
        if not words or not all(_is_positive(w) for w in words):
            bad("BS_LIST", "is not a list of positive integers", '"1 4 8"')
        if not values["PRECISIONS"].split():
            bad("PRECISIONS", "is empty", spec.DEFAULT_PRECISION)
    if _is_positive(values["HEIGHT"]) and _is_positive(values["WIDTH"]):
        try:  # a size the exported model accepts
            check_size(int(values["HEIGHT"]), int(values["WIDTH"]))
        except KitError as exc:
            errors.append(f"error: {exc}")
    if len(values["WEIGHTS"].split()) == 1:  # (a path with spaces is refused above)
        errors += check_weights(values)
    return errors


official_weights = spec.official_weights  # where `make weights` downloads MODEL's official checkpoint


def check_weights(values: Mapping[str, str]) -> List[str]:
    weights, model = values["WEIGHTS"], values["MODEL"]
    if weights == official_weights(spec.REDUCED):
        return [f"error: MODEL={spec.REDUCED} has no official weights; use WEIGHTS=tests/fixtures/weights_reduced.npz "
                "or WEIGHTS=random"]
    if weights in ("random", official_weights(model)) or not weights:
        return []
    path = Path(weights)
    if not path.is_file():
        what = "is a folder" if path.is_dir() else "does not exist"
        return [f"error: WEIGHTS={weights} {what}; give an existing .pth/.npz file, WEIGHTS=random, or leave WEIGHTS "
                "unset to download the official file"]
    return []


# ---------------------------------------------------------------------------- identities
def sha256_of(path: Path, chunk: int = 1 << 22) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(chunk), b""):
            digest.update(block)
    return digest.hexdigest()


def weights_tag(weights: str, model: str) -> str:
    """'random', 'official' (the download, whose content the weights stamp tracks) or 'w' + sha256[:8]."""
    return weights_identity(weights, model)[0]


def weights_identity(weights: str, model: str) -> Tuple[str, str]:
    """(tag, sha256) of WEIGHTS, the file hashed here once for the whole run: later steps compare sidecars
    with this sha256 ('random' for random weights; '' for the official download, hashed where it is used)."""
    if weights == "random":
        return "random", "random"
    if weights == official_weights(model):
        return "official", ""
    sha = sha256_of(Path(weights))
    return "w" + sha[:8], sha


def data_tag(data_root: str) -> str:
    """'d' + a digest of DATA_ROOT's resolved path (its contents are tracked by the data stamp)."""
    return "d" + hashlib.sha256(os.path.realpath(data_root).encode()).hexdigest()[:8]


# ---------------------------------------------------------------------------- the plan
@dataclass(frozen=True)
class Resolved:
    """What the machine and the inputs decided: the backend, the SoC, the native size, the identities."""

    backend: str = "ort"
    soc: str = ""
    native: str = f"{spec.NATIVE_HEIGHT}x{spec.NATIVE_WIDTH}"
    weights_tag: str = "random"
    data_tag: str = "d00000000"
    devices: str = "0"  # DEVICE resolved: comma-separated ids (ais_bench's multi-device mode when several)
    weights_sha256: str = ""  # the WEIGHTS file's sha256, hashed once here ('random', or '' when not known yet)


@dataclass(frozen=True)
class RunPlan:
    """One run: the variables (normalised strings), which of them the user set, and what was resolved.

    Every artifact path is a property, so a row of `make reproduce` is `plan.with_values(BS="8")`.
    """

    values: Mapping[str, str]
    given: FrozenSet[str] = frozenset()
    resolved: Resolved = field(default_factory=Resolved)
    goals: Tuple[str, ...] = ()

    def __getitem__(self, name: str) -> str:
        return self.values[name]

    def with_values(self, **changes: str) -> "RunPlan":
        """The same run with some variables changed (BS, PRECISION): the rows of `make reproduce`."""
        return replace(self, values={**self.values, **changes}, given=self.given | frozenset(changes))

    # ---------------------------------------------------------------- typed views
    @property
    def artifacts(self) -> Path:
        return Path(self.values["ARTIFACTS"])

    @property
    def bs(self) -> int:
        return int(self.values["BS"])

    @property
    def backend(self) -> str:
        return self.resolved.backend

    @property
    def limit_tag(self) -> str:
        return f"first{self.values['LIMIT']}" if self.values["LIMIT"] else "all"

    @property
    def out_size(self) -> Tuple[int, int]:
        """The size the graph's labels come out at: the dataset's native size (labels are scored there)."""
        h, w = self.resolved.native.split("x")
        return int(h), int(w)

    @property
    def resizes(self) -> bool:
        return self.resolved.native != f"{self.values['HEIGHT']}x{self.values['WIDTH']}"

    @property
    def weights_file(self) -> str:
        """The weights as a make prerequisite: the download target only ('' for random or a user's file)."""
        w = self.values["WEIGHTS"]
        return w if w == official_weights(self.values["MODEL"]) else ""

    # ---------------------------------------------------------------- names
    @property
    def stem(self) -> str:
        v = self.values
        base = spec.artifact_stem(v)
        return base + spec.output_size_tag(v["HEIGHT"], v["WIDTH"], self.resolved.native) + "_" + self.resolved.weights_tag

    @property
    def om_tag(self) -> str:
        """Every atc knob that changes the compiled model."""
        v = self.values
        precision = f"v2-{v['PRECISION_V2']}" if v["PRECISION_V2"] else v["PRECISION"]
        return (f"{self.resolved.soc}_{precision}" + (f"_{v['OP_SELECT_IMPLMODE']}" if v["OP_SELECT_IMPLMODE"] else "")
                + knob_tag(v))

    @property
    def runner(self):  # -> semask.backends.base.Backend
        """The resolved backend, which names the run's prefix, graph, model file, precision and provider."""
        return backend_for(self.backend)

    @property
    def precision_label(self) -> str:
        return self.runner.precision_label(self.values)

    @property
    def provider(self) -> str:
        return self.runner.provider(self.values)

    @property
    def runtime_tag(self) -> str:
        """How a run's name starts: the backend and its provider."""
        return self.runner.run_prefix(self.values, self.resolved.soc)

    @property
    def run_name(self) -> str:
        tail = self.runner.name_tail(self.values, self.om_tag)
        return "_".join(p for p in (self.runtime_tag, self.stem, tail, self.resolved.data_tag, self.limit_tag) if p)

    @property
    def devices_tag(self) -> str:
        """'' for one device, '_dev0-1' for several: a multi-device figure is another measurement."""
        ids = self.resolved.devices.split(",")
        return f"_dev{'-'.join(ids)}" if len(ids) > 1 else ""

    @property
    def loop_tag(self) -> str:
        """LOOP=auto fits the timed runs into PERF_SECONDS: the budget names the file."""
        loop = self.values["LOOP"]
        return f"auto{self.values['PERF_SECONDS']}s" if loop == "auto" else loop

    def paths(self) -> Dict[str, str]:
        """Every artifact of the run, by the make variable that names it (paths as ARTIFACTS is spelled)."""
        a, stem = self.values["ARTIFACTS"], self.stem
        v, r = self.values, self.resolved
        onnx = f"{a}/onnx/{stem}"
        labels_dir = f"{a}/labels/{v['LABELS']}_{r.data_tag}_{self.limit_tag}"
        bins_dir = f"{a}/bins/{v['HEIGHT']}x{v['WIDTH']}_{v['INPUT_DTYPE']}_{r.data_tag}_{self.limit_tag}"
        run = self.run_name
        state = f"{a}/.state"
        out = {
            "STEM": stem,
            "ONNX_RAW": f"{onnx}.onnx", "ONNX_SIM": f"{onnx}_sim.onnx", "ONNX_ATC": f"{onnx}_sim_atc.onnx",
            "ONNX_ORT_RAW": f"{onnx}_ort_raw.onnx", "ONNX_ORT": f"{onnx}_ort.onnx",
            "OM": f"{a}/om/{stem}_{self.om_tag}.om", "ATC_CHECK": f"{a}/om/{stem}_{r.soc}.atc_check.json",
            "LABELS_DIR": labels_dir, "LABELS_JSON": f"{labels_dir}/labels.json",
            "BINS_DIR": bins_dir, "BINS": f"{bins_dir}/manifest.json",
            "RUN_NAME": run, "PRED_SUMMARY": f"{a}/preds/{run}_summary.json", "REPORT": f"{a}/{REPORTS_DIR}/{run}.json",
            "PERF_JSON": f"{a}/{PERF_DIR}/{run}_loop{self.loop_tag}{self.devices_tag}.json",
            "REPRO_DIR": f"{a}/{REPORTS_DIR}/reproduce_" + (f"ascend-{r.soc}" if self.backend == "ascend"
                                                      else self.runtime_tag)
                         + f"_{v['MODEL']}_{r.weights_tag}_{v['HEIGHT']}x{v['WIDTH']}_{v['INPUT_DTYPE']}_{r.data_tag}_{self.limit_tag}"
                         + self.devices_tag,
            "ENV_JSON": f"{a}/env/env_{self.backend}.json",
            "STATE": state,
            "WEIGHTS_STAMP": f"{state}/weights_{r.weights_tag}_{v['MODEL']}.txt",
            "DATA_STAMP": f"{state}/data_{r.data_tag}.txt",
            "LABELS_CHECK": f"{state}/check_labels_{Path(labels_dir).name}.stamp",
            "BINS_CHECK": f"{state}/check_bins_{Path(bins_dir).name}.stamp",
            "PREDS_CHECK": f"{state}/check_preds_{run}.stamp",
            "FP16_DIR": f"{a}/{REPORTS_DIR}/fp16check_{stem}_{r.data_tag}_{self.limit_tag}",
            "CROSSCHECK_JSON": f"{a}/crosscheck/crosscheck_{v['MODEL']}_{r.weights_tag}_{v['HEIGHT']}x{v['WIDTH']}"
                               f"_n{v['CROSSCHECK_NUM']}.json",
        }
        # PRECISION=int8 (OpenVINO): the NNCF IR's sidecar (semask.backends.openvino.quantize), named by CALIB and the bins
        out["INT8_IR"] = f"{onnx}_int8_c{v['CALIB']}_{r.data_tag}_{self.limit_tag}.json"
        runner = self.runner
        out["ONNX_USED"], out["MODEL_FILE"] = out[runner.onnx_key(v)], out[runner.model_key(v)]
        for key in ("REPORT", "PERF_JSON"):  # the files derived from a result's name
            out[f"{key}_PROVENANCE"] = out[key][:-len(".json")] + ".provenance.json"
        report = out["REPORT"][:-len(".json")]
        out.update(REPORT_MD=f"{report}.md", PANELS_DIR=f"{report}_panels", TABLE_MD=f"{report}.table.md")
        if self.backend == "ascend":  # the ORT fp32 run of the same frames (the report's label agreement)
            out["ORT_FP32_SUMMARY"] = f"{a}/preds/ort-cpu_{stem}_{r.data_tag}_{self.limit_tag}_summary.json"
        return out

    def path(self, name: str) -> Path:
        return Path(self.paths()[name])

    def needs_config(self) -> bool:
        """Whether the goals run the pipeline (checked variables, resolved facts, artifact names)."""
        return _needs_config(self.goals, self.values["ARTIFACTS"])

    # ---------------------------------------------------------------- records
    def record_variables(self) -> Dict[str, str]:
        """The variables a result's provenance records (resolved where the plan resolved them)."""
        keys = ("MODEL", "BS", "HEIGHT", "WIDTH", "INPUT_DTYPE", "LABEL_DTYPE", "LABELS", "PRECISION", "PRECISION_V2",
                "OP_SELECT_IMPLMODE", "ORT_PROVIDER", "LIMIT", "LOOP", "DEVICE", "PERF_SECONDS", "WEIGHTS", "DATA_ROOT",
                "CALIB")
        out = {k: self.values[k] for k in keys}
        out.update(SOC=self.resolved.soc, BACKEND=self.backend, DEVICE=self.resolved.devices)
        return out

    def to_json(self) -> Dict[str, object]:
        return {"values": dict(self.values), "given": sorted(self.given), "goals": list(self.goals),
                "resolved": vars(self.resolved)}

    @classmethod
    def from_json(cls, data: Mapping[str, object]) -> "RunPlan":
        return cls(values=dict(data["values"]), given=frozenset(data["given"]),  # type: ignore[arg-type]
                   resolved=Resolved(**data["resolved"]), goals=tuple(data.get("goals") or ()))  # type: ignore[arg-type]


def load(path: Path | str) -> RunPlan:
    """The RunPlan a make invocation wrote (tools read it back; they never rebuild names)."""
    try:
        return RunPlan.from_json(json.loads(Path(path).read_text(encoding="utf-8")))
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise PlanError([f"error: the run plan {path} is missing or unreadable ({exc}); run the step through make"])


# ---------------------------------------------------------------------------- the make include
def _make_escape(value: str) -> str:
    return value.replace("$", "$$").replace("#", r"\#")


def make_include(plan: RunPlan, plan_json: str, command: str, overrides: Optional[Mapping[str, str]] = None) -> str:
    """The plan as make variables: values (override), vocabulary (SPEC_*), resolved facts and paths
    (`overrides`: the stamps' copies under make -n, see semask.run.resolve.refresh_stamps)."""
    lines = ["# generated by tools/plan_run.py from tools/semask/run/plan.py for one make invocation; do not edit"]
    for name, value in plan.values.items():
        lines.append(f"override {name} := {_make_escape(value)}")
    words = " ".join
    vocabulary = {
        "UPSTREAM_COMMIT": spec.UPSTREAM_COMMIT, "MODELS": words(spec.MODELS),
        **{f"CODE_{step.upper()}": words(files) for step, files in spec.STEP_CODE.items()},
    }
    lines += [f"SPEC_{k} := {_make_escape(v)}" for k, v in vocabulary.items()]
    h, w = plan.out_size
    facts = {
        "PLAN_JSON": plan_json, "COMMAND": command, "A": plan.values["ARTIFACTS"],
        "BACKEND_RESOLVED": plan.backend, "SOC_RESOLVED": plan.resolved.soc, "NATIVE": plan.resolved.native,
        "OUT_ARGS": f"--out-height {h} --out-width {w}" if plan.resizes else "",
        "OUT_HEIGHT": str(h), "OUT_WIDTH": str(w), "PROVIDER": plan.provider, "OM_TAG": plan.om_tag,
        "LIMIT_ARG": f"--limit {plan.values['LIMIT']}" if plan.values["LIMIT"] else "",
        "WEIGHTS_DEP": plan.weights_file, "DEVICES": plan.resolved.devices,
        "DEVICE_FIRST": plan.resolved.devices.split(",")[0],
        "STEP_PREFIX": plan.runner.step_prefix(plan.values) if plan.needs_config() else "",
        "STEP_UMASK": f"umask {plan.runner.umask};" if plan.needs_config() and plan.runner.umask else "",
        **(plan.paths() if plan.needs_config() else {}),
        **(overrides or {}),
    }
    lines += [f"{k} := {_make_escape(v)}" for k, v in facts.items()]
    if plan.needs_config():  # every step that writes holds ARTIFACTS' writer lock (semask.core.locks.writer_lock)
        lines.append(f"export SEMASK_ARTIFACTS := {_make_escape(plan.values['ARTIFACTS'])}")
    return "\n".join(lines) + "\n"


def _needs_config(goals: Sequence[str], artifacts: str) -> bool:
    return any(g in PIPELINE_GOALS or g.startswith(artifacts.rstrip("/") + "/") for g in goals)


def parse_cmdline(pairs: Sequence[str]) -> Dict[str, str]:
    """NAME=VALUE words (as make passes them) into a mapping."""
    out: Dict[str, str] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if sep:
            out[name] = value
    return out


def build(cmdline: Mapping[str, str], environ: Mapping[str, str], goals: Sequence[str],
          resolved: Optional[Resolved] = None) -> RunPlan:
    """Read and check the variables (PlanError with every mistake); resolution is the caller's."""
    goal_errors = goal_mistakes(goals)
    errors = goal_errors + unknown_variables(cmdline)
    values, given = read_values(cmdline, environ)
    notes = normalise(values)
    if "reproduce" in goals:
        for note in notes:
            print(note, file=sys.stderr)
    errors += boolean_mistakes(values)
    if _needs_config(goals, values["ARTIFACTS"]):
        errors += check_values(values, given, goals)
    elif "demo" in goals:
        errors += ["error: " + not_positive_int(n, values[n], 4)
                   for n in ("DEMO_IMAGES", "DEMO_HEIGHT", "DEMO_WIDTH") if not _is_positive(values[n])]
        if values["DEMO_MODEL"] not in spec.MODELS:
            errors.append("error: " + not_one_of("DEMO_MODEL", values["DEMO_MODEL"], spec.MODELS))
    if errors:
        raise PlanError(errors, blames_variables=errors != goal_errors)
    return RunPlan(values=values, given=given, resolved=resolved or Resolved(), goals=tuple(goals))
