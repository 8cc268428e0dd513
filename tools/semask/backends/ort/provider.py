"""Parse-time checks of run variables that need more than a regex: checked before anything is written.

Why: HEIGHT=31 passes the Makefile's positive-integer test, and ORT_PROVIDER=cuda is a valid choice, yet
both used to be refused only after labels, bins and the export had run. These functions run at parse
time (the run's plan, semask.run.plan and semask.run.resolve), so standard library only: the
run's Python may not exist yet, and onnxruntime is never imported here (its distribution is read with
importlib.metadata inside the run's own interpreter).
"""
from __future__ import annotations

import json
import os
import subprocess
from typing import Iterable

from semask.core.distinfo import snippet_prelude
from semask.core.errors import KitError, not_one_of
from semask.spec import ORT_PROVIDER_DEVICE_FILES, ORT_PROVIDER_PACKAGES, ORT_PROVIDERS


# after distinfo's source (`version`, any Python from 3.6): the run's Python may predate importlib.metadata
_DISTS_SNIPPET = r"""
import json
print(json.dumps({name: version(name) for name in json.loads(sys.argv[1])}))
"""


def installed_dists(python: str, names: Iterable[str]) -> dict[str, str | None] | None:
    """{distribution: version or None} as `python` sees them (run once, no import of the packages);
    None when that interpreter does not exist yet or cannot be run (the venv is made later)."""
    names = list(names)
    if not python or not os.path.exists(python):
        return None
    try:
        proc = subprocess.run([python, "-c", snippet_prelude() + _DISTS_SNIPPET, json.dumps(names)], capture_output=True, text=True,
                              timeout=60)
        found = json.loads(proc.stdout.strip().splitlines()[-1])
    except (OSError, subprocess.TimeoutExpired, ValueError, IndexError):
        return None
    return {name: found.get(name) for name in names}


def device_present(provider: str, root: str = "/") -> bool:
    """Whether the host shows the device and driver `provider` runs on (cpu: always)."""
    files = ORT_PROVIDER_DEVICE_FILES.get(provider, ())
    return not files or any(os.path.exists(os.path.join(root, f.lstrip("/"))) for f in files)


def check_ort_provider(provider: str, python: str | None, root: str = "/") -> None:
    """Refuse an ORT_PROVIDER this host or the run's Python (`python`, e.g. .venv/bin/python) cannot run:
    no such device (its files looked up under `root`), or not the onnxruntime distribution that has it."""
    if provider not in ORT_PROVIDERS:
        raise KitError(not_one_of("ORT_PROVIDER", provider, ORT_PROVIDERS))
    if provider == "cpu":
        return
    package = ORT_PROVIDER_PACKAGES[provider]
    if not device_present(provider, root):
        device = "an NVIDIA GPU" if provider == "cuda" else "an Ascend NPU"
        shown = " or ".join(ORT_PROVIDER_DEVICE_FILES[provider][:2])
        raise KitError(f"ORT_PROVIDER={provider} needs {device} and its driver, but this host shows none (no {shown}); "
                       "use ORT_PROVIDER=cpu"
                       + (", or BACKEND=ascend on an Ascend host with CANN" if provider == "cann" else ""))
    dists = installed_dists(python or "", sorted(set(ORT_PROVIDER_PACKAGES.values())))
    if dists is not None and not dists.get(package):
        have = ", ".join(f"{n} {v}" for n, v in sorted(dists.items()) if v) or "no onnxruntime"
        raise KitError(f"ORT_PROVIDER={provider} needs the {package} package in {python}, which has {have}; "
                       f"install it ({python} -m pip uninstall -y onnxruntime && {python} -m pip install {package}) "
                       "or use ORT_PROVIDER=cpu")
