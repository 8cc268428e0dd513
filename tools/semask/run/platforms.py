"""Which wheel every pin of env/requirements.txt resolves to for CPython 3.11 on manylinux_2_28 x86_64 and aarch64.

Why: many Ascend servers are Kunpeng (aarch64), and the pinned onnxruntime/numpy/torch wheels are manylinux_2_28
(glibc >= 2.28). `pip install --dry-run --report` with `--platform/--python-version/--only-binary=:all:` resolves
each pin against the package registry from its metadata (PEP 658) without installing, and without downloading the wheels when the registry serves their metadata
(torch's alone is ~430 MB), so `make platforms` can say before any install which hosts the kit supports.
It needs the registry, so it is a make verb, never a test.
"""
from __future__ import annotations

import json
import re
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Sequence

from semask.core.errors import KitError

PYTHON_VERSION = "3.11"
ABI = "cp311"
GLIBC_TAG = "manylinux_2_28"
MACHINES: tuple[str, ...] = ("x86_64", "aarch64")


def platform_tags(glibc_minor: int, machine: str) -> list[str]:
    """Every manylinux tag a host with glibc 2.<glibc_minor> accepts (pip takes `--platform` literally)."""
    tags = [f"manylinux_2_{m}_{machine}" for m in range(glibc_minor, 4, -1)]
    legacy = {"manylinux2014": 17, "manylinux2010": 12, "manylinux1": 5}
    return tags + [f"{name}_{machine}" for name, m in legacy.items() if m <= glibc_minor]


# column -> the hosts it stands for: the two supported machines at glibc 2.28, and x86_64 with glibc 2.27
# (Ubuntu 18.04), which shows the pins that need glibc >= 2.28 (env/check_host.py names them)
TARGETS: dict[str, list[str]] = {"x86_64": platform_tags(28, "x86_64"), "aarch64": platform_tags(28, "aarch64"),
                                 "x86_64, glibc 2.27": platform_tags(27, "x86_64")}


def pins(requirements: Path) -> list[str]:
    """The `name==version` lines of a requirements file, in order."""
    out = []
    for line in Path(requirements).read_text(encoding="utf-8").splitlines():
        line = line.split("#", 1)[0].strip()
        if re.match(r"^[A-Za-z0-9_.\-]+==\S+$", line):
            out.append(line)
    return out


def _pip_dry_run(python: str, specs: Sequence[str], platform: list[str], scratch: Path
                 ) -> tuple[int, dict | None, str]:
    report = scratch / "report.json"
    if report.exists():
        report.unlink()
    cmd = [python, "-m", "pip", "install", "--dry-run", "--quiet", "--no-deps", "--ignore-installed",
           "--only-binary=:all:", *[arg for tag in platform for arg in ("--platform", tag)], "--python-version", PYTHON_VERSION,
           "--implementation", "cp", "--abi", ABI, "--target", str(scratch / "target"), "--report", str(report),
           *specs]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    data = json.loads(report.read_text()) if proc.returncode == 0 and report.is_file() else None
    return proc.returncode, data, (proc.stderr or proc.stdout).strip()


def wheel_tag(filename: str) -> str:
    """`torch-2.13.0-cp311-cp311-manylinux_2_28_aarch64.whl` -> `cp311-cp311-manylinux_2_28_aarch64`."""
    stem = filename[:-4] if filename.endswith(".whl") else filename
    parts = stem.split("-")
    return "-".join(parts[-3:]) if len(parts) >= 5 else filename


def resolve(requirements: Path, python: str = sys.executable) -> dict[str, dict[str, str]]:
    """{pin: {column: wheel tag | 'NO WHEEL: <pip's last line>'}} for every pin and TARGETS column."""
    specs = pins(requirements)
    if not specs:
        raise KitError(f"{requirements} has no `name==version` pins")
    table: dict[str, dict[str, str]] = {spec: {} for spec in specs}
    with tempfile.TemporaryDirectory(prefix="semask-platforms-") as tmp:
        scratch = Path(tmp)
        for machine, platform in TARGETS.items():
            code, data, text = _pip_dry_run(python, specs, platform, scratch)
            if code == 0 and data is not None:
                found = {f"{i['metadata']['name'].lower().replace('_', '-')}": i for i in data.get("install", [])}
                for spec in specs:
                    name = spec.split("==")[0].lower().replace("_", "-")
                    item = found.get(name)
                    table[spec][machine] = (wheel_tag(item["download_info"]["url"].rsplit("/", 1)[-1])
                                            if item else "not in pip's report")
                continue
            last = text.splitlines()[-1] if text else f"pip exit {code}"
            for spec in specs:  # some pin has no wheel there: find which, one at a time
                code, data, text = _pip_dry_run(python, [spec], platform, scratch)
                if code == 0 and data and data.get("install"):
                    table[spec][machine] = wheel_tag(data["install"][0]["download_info"]["url"].rsplit("/", 1)[-1])
                else:
                    table[spec][machine] = "NO WHEEL"
            if all(table[spec][machine] == "NO WHEEL" for spec in specs):
                raise KitError(f"pip resolved none of the pins for {machine} ({last}); `make platforms` needs the "
                               "package registry pip is configured for")
    return table


def render(table: dict[str, dict[str, str]]) -> str:
    """Markdown: package | version | x86_64 | aarch64 | x86_64, glibc 2.27 (the wheel's tag, or NO WHEEL)."""
    lines = ["| package | version | " + " | ".join(TARGETS) + " |", "|---|---|" + "---|" * len(TARGETS)]
    for spec, cells in table.items():
        name, version = spec.split("==", 1)
        lines.append(f"| {name} | {version} | " + " | ".join(cells.get(m, "?") for m in TARGETS) + " |")
    return "\n".join(lines)


def missing(table: dict[str, dict[str, str]]) -> list[str]:
    """`pin on machine` for every supported machine (not the glibc 2.27 column) a pin has no wheel for."""
    return [f"{spec} on {m}" for spec, cells in table.items() for m in MACHINES if cells.get(m, "").startswith("NO")]


def needs_glibc_228(table: dict[str, dict[str, str]]) -> list[str]:
    """The pins with no wheel for glibc 2.27 on x86_64."""
    return [spec for spec, cells in table.items() if cells.get("x86_64, glibc 2.27", "").startswith("NO")]
