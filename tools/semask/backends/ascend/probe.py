"""Prove the ais_bench path works before any export or compile: imports and versions in ais_bench's own Python.

Why: `ais_bench --help` succeeds even when inference will fail. aclruntime (the C++ extension over
AscendCL) may not import; without pkg_resources the 2023 ais_bench silently drops to its `tensor` run mode
and the 2024 one crashes with UnboundLocalError; the 2024+ releases import attrs. Each check runs in the
interpreter that runs ais_bench, and a failure names the check and its fix. Versions are read under every
distribution name the tool has had (ais_bench, ait-benchmark, msit-benchmark). PyPI's ais-bench-benchmark is
AISBench's LLM-evaluation tool with a top-level `ais_bench` package of its own (no `ais_bench.infer`): a user who
installed it because the guide says "ais_bench" is told so, with the fix.
"""
from __future__ import annotations

import json
import shlex
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from typing import Any

from semask.core.distinfo import snippet_prelude
from semask.core.packages import pinned_versions
from semask.spec import AIS_BENCH_DISTS, AIS_BENCH_IMPOSTOR_DIST as IMPOSTOR_DIST

# Runs inside ais_bench's interpreter (CANN's Python may be 3.7: no importlib.metadata), after distinfo's source
# (`distributions`, `version`): standard library only, prints one JSON object.
_SNIPPET = r"""
import importlib, importlib.util, json, sys, warnings
warnings.simplefilter("ignore")
dists = json.loads(sys.argv[1])
out = {"python": sys.executable, "pyver": list(sys.version_info[:3]), "imports": {}, "versions": {}}
def try_import(name):
    try:
        importlib.import_module(name)
        return None
    except BaseException as exc:
        return f"{type(exc).__name__}: {exc}"
out["imports"]["ais_bench"] = None if importlib.util.find_spec("ais_bench") else "ModuleNotFoundError: No module named 'ais_bench'"
out["owners"], out["infer"], out["origin"] = [], None, None
if out["imports"]["ais_bench"] is None:
    spec = importlib.util.find_spec("ais_bench")
    out["origin"] = spec.origin or (list(spec.submodule_search_locations or []) or [None])[0]
    try:
        out["infer"] = importlib.util.find_spec("ais_bench.infer") is not None
    except BaseException:
        out["infer"] = False
    for dist in distributions():
        if "ais_bench" in dist["top_level"] or any(f.startswith("ais_bench/") for f in dist["files"]):
            out["owners"].append([dist["name"], dist["version"]])
for name in ("aclruntime", "pkg_resources", "attrs"):
    out["imports"][name] = try_import(name)
for dist in dists + ["aclruntime"]:
    out["versions"][dist] = version(dist)
print(json.dumps(out))
"""


@dataclass
class Probe:
    """What the probe found: ok, the failed check (None when ok), its message, versions, the interpreter."""

    ok: bool
    failed: str | None
    message: str
    python: str
    versions: dict[str, Any] = field(default_factory=dict)

    def version_line(self) -> str:
        ais = self.versions.get("ais_bench") or "?"
        return f"ais_bench {ais} ({self.versions.get('ais_bench_dist') or 'no distribution'}), " \
               f"aclruntime {self.versions.get('aclruntime') or '?'}"


def ais_bench_interpreter(cmd: list[str]) -> str:
    """The Python that runs `cmd`: `X -m ais_bench` -> X; a script -> its shebang's python; else this one."""
    if len(cmd) >= 3 and cmd[1] == "-m":
        return shutil.which(cmd[0]) or cmd[0]
    exe = shutil.which(cmd[0]) if cmd else None
    if exe:
        try:
            with open(exe, "rb") as fh:
                first = fh.readline().decode(errors="replace").strip()
        except OSError:
            first = ""
        if first.startswith("#!") and "python" in first:
            parts = first[2:].split()
            if parts and os.path.basename(parts[0]) == "env" and len(parts) > 1:
                return shutil.which(parts[1]) or parts[1]
            return parts[0]
    return sys.executable


# The newest releases that install on an older ais_bench interpreter (CANN's 3.7/3.8; `pip download --python-version
# 3.7|3.8 --only-binary=:all:`, 2026-12): the kit's own pins (setuptools 80.10.2, attrs 26.1.0) need 3.9+.
_OLD_PYTHON_PINS = {(3, 7): {"setuptools": "68.0.0", "attrs": "24.2.0"}, (3, 8): {"setuptools": "75.3.4", "attrs": "25.3.0"}}


def _requirement(package: str, default: str, pyver: tuple | None) -> str:
    """`package==pin`: env/requirements.txt's pin, or the newest release that installs on the older interpreter `pyver`."""
    older = _OLD_PYTHON_PINS.get(tuple(pyver[:2]) if pyver else (), {})
    return f"{package}=={older.get(package) or pinned_versions().get(package, default)}"


def fix_for(check: str, python: str, detail: str, set_env: str, pyver: tuple | None = None) -> str:
    setuptools = _requirement("setuptools", "80.10.2", pyver)
    attrs = _requirement("attrs", "26.1.0", pyver)
    fixes = {
        "run": f"cannot run {python}: {detail}; set AIS_BENCH or PYTHON to a working interpreter",
        "ais_bench": f"ais_bench is not installed for {python}; run `bash env/install_ascend_extras.sh` "
                     f"after `source {set_env}`",
        "aclruntime": f"aclruntime does not import in {python} ({detail}); `source {set_env}` in this shell "
                      "(AscendCL's libraries must be on LD_LIBRARY_PATH), and install it with "
                      "`bash env/install_ascend_extras.sh` if it is missing",
        "pkg_resources": f"pkg_resources is not importable in {python} ({detail}): ais_bench reads its and "
                         "aclruntime's versions with it (the 2023 release then falls back to its slow `tensor` mode, "
                         f"the 2024 one crashes), and setuptools >= 81 no longer ships it; fix: "
                         f"`{python} -m pip install '{setuptools}'`",
        "attrs": f"attrs is not importable in {python} ({detail}); ais_bench 2024+ imports it; fix: "
                 f"`{python} -m pip install '{attrs}'`",
    }
    return fixes[check]


def _normal(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def impostor_message(python: str, owners: list, has_infer: bool | None, origin: str | None) -> str | None:
    """The fix when the importable `ais_bench` is not the inference tool: PyPI's ais-bench-benchmark (AISBench's
    LLM-evaluation tool, a top-level `ais_bench` with no `ais_bench.infer`) or any package lacking ais_bench.infer."""
    llm = [(n, v) for n, v in owners if _normal(n) == IMPOSTOR_DIST]
    if not llm and has_infer is not False:
        return None
    fix = "then `bash env/install_ascend_extras.sh` (after sourcing the CANN set_env.sh) installs the inference tool"
    if llm:
        name, version = llm[0]
        return (f"the ais_bench importable in {python} belongs to {name} {version} (PyPI's {IMPOSTOR_DIST}), "
                "AISBench's LLM-evaluation tool, not the ais_bench inference tool (it has no ais_bench.infer); "
                f"fix: `{python} -m pip uninstall -y {IMPOSTOR_DIST}`, {fix}")
    who = ", ".join(f"{n} {v}" for n, v in owners) or f"no recorded distribution, at {origin}"
    return (f"the ais_bench importable in {python} ({who}) has no ais_bench.infer, so it is not the ais_bench "
            f"inference tool (PyPI's {IMPOSTOR_DIST}, an LLM-evaluation tool, installs such a package); fix: uninstall "
            f"it (`{python} -m pip uninstall -y {owners[0][0] if owners else IMPOSTOR_DIST}`), {fix}")


def ais_bench_command() -> list[str]:
    """`python -m ais_bench` of this interpreter, unless $AIS_BENCH gives another command."""
    override = os.environ.get("AIS_BENCH")
    return shlex.split(override) if override else [sys.executable, "-m", "ais_bench"]


def probe(set_env: str, cmd: list[str] | None = None, timeout: float = 120) -> Probe:
    """Run the checks in ais_bench's interpreter; the first failing check decides the message."""
    cmd = cmd or ais_bench_command()
    python = ais_bench_interpreter(cmd)
    try:
        proc = subprocess.run([python, "-c", snippet_prelude() + _SNIPPET, json.dumps(list(AIS_BENCH_DISTS))],
                              capture_output=True, text=True, timeout=timeout)
        found = json.loads(proc.stdout.strip().splitlines()[-1])
    except (OSError, subprocess.TimeoutExpired, ValueError, IndexError) as exc:
        detail = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
        return Probe(False, "run", fix_for("run", python, detail, set_env), python)
    raw = found["versions"]
    dist = next((d for d in AIS_BENCH_DISTS if raw.get(d)), None)
    versions = {"ais_bench": raw.get(dist) if dist else None, "ais_bench_dist": dist,
                "aclruntime": raw.get("aclruntime"), "by_dist": raw}
    error = found["imports"].get("ais_bench")
    if error:
        return Probe(False, "ais_bench", fix_for("ais_bench", python, error, set_env), python, versions)
    impostor = impostor_message(python, found.get("owners") or [], found.get("infer"), found.get("origin"))
    if impostor:
        return Probe(False, "impostor", impostor, python, versions)
    for check in ("aclruntime", "pkg_resources", "attrs"):
        error = found["imports"].get(check)
        if error:
            return Probe(False, check, fix_for(check, python, error, set_env, found.get("pyver")), python, versions)
    return Probe(True, None, "ais_bench, aclruntime, pkg_resources and attrs import", python, versions)
