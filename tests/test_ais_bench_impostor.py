"""PyPI's ais-bench-benchmark (AISBench's LLM-evaluation tool) installs a top-level `ais_bench` with no
`ais_bench.infer`; the probe must name it, say what it is,, and give the fix."""
import sys
from pathlib import Path

from semask.backends.ascend.probe import probe

STANDINS = Path(__file__).parent / "standins"


def _fake_llm_tool(root: Path) -> None:
    """What `pip install ais-bench-benchmark` leaves in site-packages (package + dist-info), minimal."""
    pkg = root / "ais_bench"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "__main__.py").write_text("print('AISBench benchmark: --models --datasets')\n")
    info = root / "ais_bench_benchmark-3.1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: ais_bench_benchmark\nVersion: 3.1.0\n")
    (info / "top_level.txt").write_text("ais_bench\n")
    (info / "RECORD").write_text("ais_bench/__init__.py,,\nais_bench/__main__.py,,\n"
                                 "ais_bench_benchmark-3.1.0.dist-info/METADATA,,\n")


def test_probe_names_the_llm_evaluation_impostor(tmp_path, monkeypatch):
    site = tmp_path / "site"
    _fake_llm_tool(site)
    # the impostor shadows the stand-in inference tool, whose aclruntime would import fine
    monkeypatch.setenv("PYTHONPATH", f"{site}:{STANDINS}")
    found = probe("/nonexistent/set_env.sh", [sys.executable, "-m", "ais_bench"])
    assert not found.ok and found.failed == "impostor"
    assert found.message.startswith(f"the ais_bench importable in {sys.executable} belongs to ais_bench_benchmark "
                                    "3.1.0 (PyPI's ais-bench-benchmark), AISBench's LLM-evaluation tool")
    assert f"`{sys.executable} -m pip uninstall -y ais-bench-benchmark`" in found.message
    assert "`bash env/install_ascend_extras.sh`" in found.message


def test_probe_refuses_any_ais_bench_without_infer(tmp_path, monkeypatch):
    site = tmp_path / "site"
    (site / "ais_bench").mkdir(parents=True)
    (site / "ais_bench" / "__init__.py").write_text("")
    monkeypatch.setenv("PYTHONPATH", f"{site}:{STANDINS}")
    found = probe("/nonexistent/set_env.sh", [sys.executable, "-m", "ais_bench"])
    assert found.failed == "impostor" and "has no ais_bench.infer" in found.message
    assert f"at {site / 'ais_bench' / '__init__.py'}" in found.message


def test_the_inference_tool_passes(monkeypatch):
    monkeypatch.setenv("PYTHONPATH", str(STANDINS))
    found = probe("/nonexistent/set_env.sh", [sys.executable, "-m", "ais_bench"])
    assert found.ok, found.message
