"""semask.run.ram: the RAM a CPU row needs, from measured per-step peaks (hand-computed cases)."""
import json

from semask.run import ram

DATA = {"model": "small", "height": 1024, "width": 2048,
        "peak_rss_bytes": {"ort": {"verify": {"1": 3e9, "2": 5e9}, "perf": {"1": 2e9, "2": 3e9, "8": 9e9}}}}


def test_largest_step_on_a_line_through_the_measured_batch_sizes():
    # verify: 1 GB + 2 GB per image; perf: exactly 1 GB + 1 GB per image through all three points
    assert ram.step_peaks_gb("ort", "small", 1024, 2048, 8, DATA) == {"verify": 17.0, "perf": 9.0}
    assert ram.host_gb_needed("ort", "small", 1024, 2048, 4, DATA) == 9.0
    # half the pixels halve the per-image part only
    assert ram.host_gb_needed("ort", "small", 512, 2048, 4, DATA) == 5.0


def test_no_figures_no_refusal(tmp_path):
    assert ram.host_gb_needed("ascend", "small", 1024, 2048, 8, DATA) is None
    assert ram.load(tmp_path / "missing.json") == {}
    assert ram.host_gb_needed("ort", "small", 1024, 2048, 8, {}) is None


def test_the_shipped_figures_cover_both_cpu_backends_at_bs1_2_8():
    data = json.loads(ram.MEASURED.read_text())
    for backend in ("ort", "openvino"):
        steps = data["peak_rss_bytes"][backend]
        assert {"export", "onnxsim", "verify", "perf"} <= set(steps)
        assert all(set(points) >= {"1", "2", "8"} for points in steps.values() if points)
