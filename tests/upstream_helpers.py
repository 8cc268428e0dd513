"""Where the real upstream is available (a clone and env/upstream/venv), and the skip mark for tests
that need it. CI has neither, so those tests skip with this reason."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import ROOT
from semask.evaluate.upstream import compare as cc


def _upstream() -> Path | None:
    clone = Path(os.environ.get("UPSTREAM_REPO") or ROOT / "data" / "upstream" / "SeMask-Segmentation")
    return clone if (clone / cc.FPN_DIR / "mmseg").is_dir() else None


UPSTREAM = _upstream()
UPSTREAM_PY = Path(os.environ.get("UPSTREAM_PYTHON") or cc.UPSTREAM_PYTHON)
needs_upstream = pytest.mark.skipif(
    UPSTREAM is None or not UPSTREAM_PY.exists(),
    reason=("needs an upstream clone (UPSTREAM_REPO or data/upstream/SeMask-Segmentation, `make upstream`) "
            "and env/upstream/venv (`bash env/upstream/setup.sh`)"),
)


def run_crosscheck(out: Path, num: int, height: int, width: int) -> subprocess.CompletedProcess:
    """tools/crosscheck.py on the reduced model with random weights against the real upstream."""
    return subprocess.run([sys.executable, str(ROOT / "tools" / "crosscheck.py"), "--upstream", str(UPSTREAM),
                           "--model", "reduced", "--weights", "random", "--num", str(num), "--height", str(height),
                           "--width", str(width), "--out-json", str(out)], capture_output=True, text=True)
