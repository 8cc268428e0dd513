"""Static ONNX export: checker passes, no Shape/If/Loop, ORT equals PyTorch, sidecar facts, bad inputs."""
import json
import subprocess
import sys

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch

from semask.model.checkpoint import load_weights
from semask.core.errors import KitError
from semask.model.export import export_onnx, simplify_onnx
from semask.model.network import build_model, input_normalizer


@pytest.fixture(scope="module")
def exported(tmp_path_factory, fixtures):
    """Reduced model, golden weights, BS=2 at 64x128 (stage 3 is exactly one window)."""
    out = tmp_path_factory.mktemp("onnx")
    raw = out / "r.onnx"
    export_onnx("reduced", str(fixtures / "weights_reduced.npz"), raw, batch_size=2, height=64, width=128)
    side = simplify_onnx(raw, out / "r_sim.onnx")
    return raw, out / "r_sim.onnx", side


def _ops(path):
    return {n.op_type for n in onnx.load(str(path)).graph.node}


def test_graph_is_static_and_checked(exported):
    raw, sim, _ = exported
    for path in (raw, sim):
        proto = onnx.load(str(path))
        onnx.checker.check_model(proto)
        assert not _ops(path) & {"Shape", "If", "Loop"}, path
        assert proto.opset_import[0].version == 11
    proto = onnx.load(str(sim))
    (inp,), (outp,) = proto.graph.input, proto.graph.output
    assert inp.name == "image" and [d.dim_value for d in inp.type.tensor_type.shape.dim] == [2, 3, 64, 128]
    assert outp.name == "output" and [d.dim_value for d in outp.type.tensor_type.shape.dim] == [2, 64, 128]
    assert outp.type.tensor_type.elem_type == onnx.TensorProto.INT32


def test_sidecar_records_what_later_steps_need(exported, fixtures):
    raw, sim, side = exported
    meta = json.loads(sim.with_suffix(".json").read_text())
    assert meta["model"] == "reduced" and meta["batch_size"] == 2 and meta["opset"] == 11
    assert meta["input"] == {"name": "image", "shape": [2, 3, 64, 128], "dtype": "float32", "layout": "NCHW", "normalized": True}
    assert meta["output"]["dtype"] == "int32" and meta["output"]["kind"] == "labels"
    assert len(meta["weights_sha256"]) == 64 and meta["verification"]["max_abs_logit_diff"] < 1e-4
    assert meta["nodes"] == side["nodes"] and meta["bytes"] == sim.stat().st_size


def test_ort_labels_equal_pytorch_on_golden_input(exported, fixtures):
    _, sim, _ = exported
    gold = np.load(fixtures / "vectors_reduced_1x3x64x128.npz")
    x = np.concatenate([gold["input"], gold["input"][:, :, ::-1].copy()])  # two distinct images
    got = ort.InferenceSession(str(sim), providers=["CPUExecutionProvider"]).run(None, {"image": x})[0]
    confident = gold["pred_margin"][0] > 1e-3
    assert np.array_equal(got[0][confident], gold["pred"][0][confident])


@pytest.mark.parametrize("input_dtype,output,label_dtype,hw", [
    ("uint8", "labels", "uint8", (64, 128)),
    ("float32", "logits", "int32", (90, 150)),  # pads in patch-embed and merging; non-integer resizes
    ("float32", "labels", "int64", (32, 32)),
])
def test_variants_export_and_verify(tmp_path, fixtures, input_dtype, output, label_dtype, hw):
    raw = tmp_path / "v.onnx"
    export_onnx("reduced", str(fixtures / "weights_reduced.npz"), raw, 1, *hw, input_dtype=input_dtype,
                output=output, label_dtype=label_dtype)
    side = simplify_onnx(raw, tmp_path / "v_sim.onnx")
    assert "Shape" not in _ops(tmp_path / "v_sim.onnx")
    assert side["verification"]["confident_label_mismatches"] == 0
    sess = ort.InferenceSession(str(tmp_path / "v_sim.onnx"), providers=["CPUExecutionProvider"])
    (inp,) = sess.get_inputs()
    assert inp.type == ("tensor(uint8)" if input_dtype == "uint8" else "tensor(float)")
    expected_out = "tensor(float)" if output == "logits" else {"int64": "tensor(int64)", "uint8": "tensor(uint8)"}[label_dtype]
    assert sess.get_outputs()[0].type == expected_out


def test_uint8_graph_logits_bit_identical_to_float32_bins_path(tmp_path, fixtures):
    """Same image: the uint8 graph (raw pixels) and the float32 graph fed the float32 bin give the same
    logits bit for bit, raw and simplified, and the in-graph lookup is ATC-friendly (opset 11 Gather)."""
    from semask.data.bins import to_nchw
    from semask.data.normalise import normalise_table

    weights = str(fixtures / "weights_reduced.npz")
    sessions = {}
    for dtype in ("uint8", "float32"):
        export_onnx("reduced", weights, tmp_path / f"{dtype}.onnx", 1, 64, 128, input_dtype=dtype, output="logits")
        simplify_onnx(tmp_path / f"{dtype}.onnx", tmp_path / f"{dtype}_sim.onnx", verify=False)
        for kind in ("", "_sim"):
            sessions[dtype + kind] = ort.InferenceSession(str(tmp_path / f"{dtype}{kind}.onnx"),
                                                          providers=["CPUExecutionProvider"])
    bgr = np.random.default_rng(0).integers(0, 256, (64, 128, 3), dtype=np.uint8)  # every value in every channel
    pixels, bins = to_nchw(bgr, "uint8"), to_nchw(bgr, "float32")
    for kind in ("", "_sim"):
        got = sessions["uint8" + kind].run(None, {"image": pixels})[0]
        ref = sessions["float32" + kind].run(None, {"image": bins})[0]
        assert got.dtype == ref.dtype == np.float32 and int((got != ref).sum()) == 0, kind
    # PyTorch: the normaliser hands the model the bins' bits
    assert input_normalizer(torch.from_numpy(pixels)).numpy().tobytes() == bins.tobytes()
    # the graph's lookup: Cast(uint8) -> Add(non-negative channel offsets) -> Gather on the 768-entry table
    proto = onnx.load(str(tmp_path / "uint8_sim.onnx"))
    assert proto.opset_import[0].version == 11
    consts = {i.name: onnx.numpy_helper.to_array(i) for i in proto.graph.initializer}
    consts.update({n.output[0]: onnx.numpy_helper.to_array(n.attribute[0].t) for n in proto.graph.node
                   if n.op_type == "Constant"})
    users = {}
    for node in proto.graph.node:
        for name in node.input:
            users.setdefault(name, []).append(node)
    (cast,) = users["image"]
    (add,) = users[cast.output[0]]
    (gather,) = users[add.output[0]]
    assert (cast.op_type, add.op_type, gather.op_type) == ("Cast", "Add", "Gather")
    assert cast.attribute[0].i in (onnx.TensorProto.INT32, onnx.TensorProto.INT64)
    offsets = consts[next(i for i in add.input if i != cast.output[0])]
    assert offsets.reshape(-1).tolist() == [0, 256, 512]  # indices stay in [0, 768): never negative
    assert gather.input[1] == add.output[0] and consts[gather.input[0]].tobytes() == normalise_table().tobytes()


def test_bad_options_are_refused(tmp_path, fixtures):
    with pytest.raises(KitError, match="MODEL=huge is not one of: tiny small base large reduced$"):
        export_onnx("huge", "random", tmp_path / "x.onnx", 1, 64, 128)
    with pytest.raises(KitError, match="BS"):
        export_onnx("reduced", "random", tmp_path / "x.onnx", 0, 64, 128)
    with pytest.raises(KitError, match="HEIGHT=16 is below 32"):
        export_onnx("reduced", "random", tmp_path / "x.onnx", 1, 16, 128)
    with pytest.raises(KitError, match="looks like MODEL=reduced"):
        export_onnx("tiny", str(fixtures / "weights_reduced.npz"), tmp_path / "x.onnx", 1, 64, 128)
    assert not list(tmp_path.iterdir()), "a refused export must leave nothing behind"


@pytest.mark.parametrize("args,needle", [(["--batch-size", "0"], "BS=0"), (["--batch-size", "abc"], "BS=abc"),
                                         (["--height", "1.5"], "HEIGHT=1.5")])
def test_cli_errors_are_one_line_and_nonzero(root, tmp_path, args, needle):
    proc = subprocess.run([sys.executable, "tools/export_onnx.py", "--model", "reduced", "--weights", "random",
                           "--out", str(tmp_path / "x.onnx"), *args], cwd=root, capture_output=True, text=True)
    assert proc.returncode != 0
    assert needle in proc.stderr and "Traceback" not in proc.stderr


def test_non_finite_logits_fail_verification(tmp_path, fixtures):
    """Issue 11 case 5: finite but absurd weights overflow to Inf/NaN logits; the old check compared them
    NaN-blind and reported max_abs_logit_diff 0.0."""
    with np.load(fixtures / "weights_reduced.npz") as npz:
        arrays = {k: np.array(npz[k]) for k in npz.files}
    key = next(k for k in arrays if k.endswith("weight") and arrays[k].ndim == 4 and arrays[k].shape[0] == 19)
    arrays[key] = arrays[key] * np.float32(3e38)
    weights = tmp_path / "overflow.npz"
    np.savez(weights, **arrays)
    raw = tmp_path / "o.onnx"
    export_onnx("reduced", str(weights), raw, batch_size=1, height=64, width=64)
    with pytest.raises(KitError, match="non-finite logits"):
        simplify_onnx(raw, tmp_path / "o_sim.onnx")
    assert not (tmp_path / "o_sim.onnx").exists()


def test_logits_resized_to_native_size_before_argmax(tmp_path, fixtures):
    """Issue 11 case 6: at an input size other than the dataset's, the graph resizes the logits back
    (bilinear, align_corners=False, as upstream's rescale=True) and argmaxes at the native size."""
    raw = tmp_path / "r.onnx"
    meta = export_onnx("reduced", str(fixtures / "weights_reduced.npz"), raw, batch_size=1, height=64, width=128,
                       out_height=128, out_width=256)
    assert meta["output"]["shape"] == [1, 128, 256]
    side = simplify_onnx(raw, tmp_path / "r_sim.onnx")
    assert side["verification"]["max_abs_logit_diff"] < 1e-4
    x = torch.randn(1, 3, 64, 128, generator=torch.Generator().manual_seed(5))
    model = build_model("reduced")
    load_weights(model, fixtures / "weights_reduced.npz", quiet=True)
    with torch.no_grad():  # by hand: model, then torch's own bilinear resize, then argmax
        ref = torch.nn.functional.interpolate(model(x), size=(128, 256), mode="bilinear", align_corners=False)
    got = ort.InferenceSession(str(tmp_path / "r_sim.onnx"), providers=["CPUExecutionProvider"]).run(None, {"image": x.numpy()})[0]
    top2 = ref[0].sort(dim=0).values[-2:]
    confident = (top2[1] - top2[0]) > 1e-3
    assert got.shape == (1, 128, 256)
    assert (torch.from_numpy(got[0]).long() == ref[0].argmax(0))[confident].all()
