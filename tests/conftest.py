"""Shared pytest setup: put `tools/` on the import path and expose fixture paths."""
import sys
from pathlib import Path

import pytest

import pipeline_helpers

ROOT = Path(__file__).resolve().parents[1]
TOOLS = ROOT / "tools"
FIXTURES = Path(__file__).resolve().parent / "fixtures"
if str(TOOLS) not in sys.path:
    sys.path.insert(0, str(TOOLS))


@pytest.fixture(scope="session")
def root() -> Path:
    return ROOT


@pytest.fixture(scope="session")
def fixtures() -> Path:
    return FIXTURES


@pytest.fixture
def standin_log(monkeypatch, tmp_path) -> Path:
    """The atc / npu-smi / ais_bench stand-ins first on PATH for this test, logging their argv to the
    returned file; the test runs in tmp_path."""
    import os

    standins = Path(__file__).resolve().parent / "standins"
    log = tmp_path / "standin.log"
    monkeypatch.setenv("PATH", f"{standins / 'bin'}:{os.environ['PATH']}")
    monkeypatch.setenv("STANDIN_PYTHON", sys.executable)
    monkeypatch.setenv("STANDIN_LOG", str(log))
    monkeypatch.setenv("PYTHONPATH", f"{standins}:{standins / 'cann_site'}")
    monkeypatch.setenv("ATC_PYTHON", pipeline_helpers.cann_python())  # CANN's Python for atc's op compiler
    monkeypatch.delenv("AIS_BENCH", raising=False)
    monkeypatch.chdir(tmp_path)
    return log
