"""Issue 19 case 6: HEIGHT=31 and ORT_PROVIDER=cuda on a CPU-only host are refused at parse time, in one
line, before anything is written (they used to fail after labels, bins and the export had run)."""
import importlib.metadata
import os
import re

import pytest

import pipeline_helpers as ph
from semask.core.errors import KitError
from semask.backends.ort.provider import check_ort_provider
from semask.model.size import check_size

NVIDIA = ("/proc/driver/nvidia/version", "/dev/nvidia0", "/dev/nvidiactl")


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return ph.shared_data(tmp_path_factory)


def _refused_at_parse_time(proc, arts, *needles):
    assert proc.returncode == 2, proc.stdout[-2000:] + proc.stderr[-2000:]
    [line] = ph.parse_errors(proc)
    for needle in needles:
        assert needle in line, (needle, line)
    assert proc.stdout == "" and not arts.exists()  # no labels, bins or export; not even the folder


@pytest.mark.parametrize("name", ["HEIGHT", "WIDTH"])
def test_size_below_32_is_refused_at_parse_time(data, tmp_path, name):
    arts = tmp_path / "artifacts"
    proc = ph.run_make(["all"], arts, data, ph.ort_vars(**{name: "31"}), check=False)
    _refused_at_parse_time(proc, arts, f"{name}=31 is below 32", "stride 32", f"use {name}=32 or more")


@pytest.mark.skipif(any(os.path.exists(p) for p in NVIDIA), reason="this host has an NVIDIA driver")
def test_ort_provider_cuda_on_a_cpu_only_host_is_refused_at_parse_time(data, tmp_path):
    arts = tmp_path / "artifacts"
    proc = ph.run_make(["all"], arts, data, ph.ort_vars(ORT_PROVIDER="cuda"), check=False)
    _refused_at_parse_time(proc, arts, "ORT_PROVIDER=cuda needs an NVIDIA GPU", "use ORT_PROVIDER=cpu")


def test_check_size_accepts_32_and_more():
    check_size(32, 32)
    check_size(33, 2049)
    with pytest.raises(KitError, match=r"^WIDTH=31 is below 32"):
        check_size(1024, 31)


def test_cuda_device_without_onnxruntime_gpu_names_the_package(tmp_path):
    """A host root that shows an NVIDIA driver, and the venv's Python, which has the CPU onnxruntime."""
    try:
        importlib.metadata.version("onnxruntime-gpu")
        pytest.skip("onnxruntime-gpu is installed here")
    except importlib.metadata.PackageNotFoundError:
        pass
    (tmp_path / "dev").mkdir()
    (tmp_path / "dev" / "nvidia0").write_text("")
    cpu_version = importlib.metadata.version("onnxruntime")
    with pytest.raises(KitError) as err:
        check_ort_provider("cuda", ph.python(), root=str(tmp_path))
    assert re.match(rf"ORT_PROVIDER=cuda needs the onnxruntime-gpu package in {re.escape(ph.python())}, "
                    rf"which has onnxruntime {re.escape(cpu_version)};", str(err.value)), str(err.value)
    check_ort_provider("cpu", ph.python(), root=str(tmp_path))
