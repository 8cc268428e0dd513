"""The ATC-friendly graph (semask.backends.ascend.graph): Resize half_pixel -> pytorch_half_pixel and int32 Gather
indices leave ONNX Runtime's outputs unchanged, measured against the graph before the rewrite."""
import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

from semask.backends.ascend import graph as ascend_graph
from semask.model.export import ExportSpec, export_onnx
from semask.model.onnx_io import read_sidecar
from semask.spec import MARGIN

H, W, BS = 64, 128, 2


def _run(model: onnx.ModelProto, x: np.ndarray, optimise: bool = True) -> np.ndarray:
    opts = ort.SessionOptions()
    if not optimise:
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    return ort.InferenceSession(model.SerializeToString(), opts, providers=["CPUExecutionProvider"]).run(None, {"image": x})[0]


@pytest.fixture(scope="module")
def reduced(tmp_path_factory, fixtures):
    import onnxsim

    d = tmp_path_factory.mktemp("atc_graph")
    raw = d / "reduced_logits.onnx"
    export_onnx(ExportSpec("reduced", str(fixtures / "weights_reduced.npz"), BS, H, W, output="logits"), raw)
    before, ok = onnxsim.simplify(onnx.load(str(raw)))
    assert ok
    return raw, before


def test_rewrite_changes_what_atc_needs(reduced):
    _, before = reduced
    after, record = ascend_graph.atc_friendly(before)
    modes = lambda m: [a.s for n in m.graph.node if n.op_type == "Resize" for a in n.attribute  # noqa: E731
                       if a.name == "coordinate_transformation_mode"]
    assert modes(before) == [b"half_pixel"] * 7  # torch >= 2 writes half_pixel
    assert modes(after) == [b"pytorch_half_pixel"] * 7
    assert record["resize_half_pixel_to_pytorch_half_pixel"] == {"rewritten": 7, "kept": []}
    inits = {i.name: numpy_helper.to_array(i) for i in after.graph.initializer}
    gathers = [n for n in after.graph.node if n.op_type == "Gather"]
    assert len(gathers) == record["gather_indices_int32"]["converted"] > 0
    for node in gathers:
        idx = inits[node.input[1]]
        assert idx.dtype == np.int32 and (idx >= 0).all()
    assert not any(i.dtype == np.int64 and i.size > 1000 for i in inits.values())  # old index tensors dropped


def test_ort_outputs_unchanged_by_the_rewrite(reduced):
    """Logits equal (bit-exact without ORT's graph optimisations; within 1e-5 with them, measured ~1e-6),
    labels equal wherever the top-1/top-2 margin of the original graph exceeds MARGIN (1e-3)."""
    _, before = reduced
    after, _ = ascend_graph.atc_friendly(before)
    x = np.random.default_rng(7).standard_normal((BS, 3, H, W)).astype(np.float32)
    ref, got = _run(before, x), _run(after, x)
    assert float(np.abs(ref - got).max()) <= 1e-5
    top2 = np.sort(ref, axis=1)[:, -2:]
    confident = (top2[:, 1] - top2[:, 0]) > MARGIN
    assert np.array_equal(ref.argmax(1)[confident], got.argmax(1)[confident]) and confident.mean() > 0.9
    assert np.array_equal(_run(before, x, optimise=False), _run(after, x, optimise=False))


def test_resize_to_length_one_and_negative_indices():
    """An axis resized to length 1 keeps half_pixel (the modes differ there); negative indices become positive."""
    x = helper.make_tensor_value_info("image", TensorProto.FLOAT, [1, 2, 4, 6])
    y = helper.make_tensor_value_info("out", TensorProto.FLOAT, [1, 2, 1, 3])
    z = helper.make_tensor_value_info("g", TensorProto.FLOAT, [1, 2, 4, 2])
    scales = numpy_helper.from_array(np.array([1, 1, 0.25, 0.5], np.float32), "scales")
    roi = numpy_helper.from_array(np.array([], np.float32), "roi")
    idx = numpy_helper.from_array(np.array([-1, 0], np.int64), "idx")
    nodes = [helper.make_node("Resize", ["image", "roi", "scales"], ["out"], mode="linear", name="r",
                              coordinate_transformation_mode="half_pixel"),
             helper.make_node("Gather", ["image", "idx"], ["g"], axis=3, name="gather")]
    model = helper.make_model(helper.make_graph(nodes, "t", [x], [y, z], [scales, roi, idx]),
                              opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8  # what the installed ONNX Runtime reads
    after, record = ascend_graph.atc_friendly(model)
    assert record["resize_half_pixel_to_pytorch_half_pixel"] == {"rewritten": 0, "kept": ["r"]}
    assert record["gather_indices_int32"] == {"converted": 1, "negative_normalised": 1, "kept": []}
    data = np.arange(48, dtype=np.float32).reshape(1, 2, 4, 6)
    sess = lambda m: ort.InferenceSession(m.SerializeToString(), providers=["CPUExecutionProvider"])  # noqa: E731
    for a, b in zip(sess(model).run(None, {"image": data}), sess(after).run(None, {"image": data})):
        assert np.array_equal(a, b)


def test_write_atc_graph_records_and_verifies(reduced, tmp_path):
    from semask.model.export import simplify_onnx

    raw, _ = reduced
    sim = tmp_path / "x_sim.onnx"
    simplify_onnx(raw, sim, verify=False)
    side = ascend_graph.write_atc_graph(sim, tmp_path / "x_sim_atc.onnx")
    assert side["kind"] == "onnx-atc" and side["source_sha256"] == read_sidecar(sim, "export it")["sha256"]
    assert side["ascend_graph"]["resize_half_pixel_to_pytorch_half_pixel"]["rewritten"] == 7
    assert side["verification"]["confident_label_mismatches"] == 0 and side["verification"]["max_abs_logit_diff"] < 1e-4
    assert read_sidecar(tmp_path / "x_sim_atc.onnx", "write it") == side
