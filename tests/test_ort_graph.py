"""The ONNX Runtime graph (semask.model.ort_graph): verified like the Ascend graph, its sidecar says what was
applied, building it leaves the Ascend ONNX byte-for-byte as it was, and `make` on BACKEND=ort runs it.
Reduced model with the golden weights at small sizes; no timing here (bench/bench_ort.py measures)."""
import copy
import hashlib
import json
import subprocess
import sys

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch

import pipeline_helpers as ph
from semask.core.errors import KitError
from semask.model import ort_graph
from semask.model.export import export_onnx, simplify_onnx
from semask.model.network import PRESETS, Mlp, PatchMerging, WindowAttention, shift_mask_factors


def _sha(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _ops(path):
    return [n.op_type for n in onnx.load(str(path)).graph.node]


def _ascend(fixtures, folder, name):
    """The Ascend graph through the code path `make onnx` uses on the Ascend backend (export, then simplify)."""
    raw = folder / f"{name}.onnx"
    export_onnx("reduced", str(fixtures / "weights_reduced.npz"), raw, batch_size=2, height=64, width=128)
    simplify_onnx(raw, folder / f"{name}_sim.onnx")
    return raw, folder / f"{name}_sim.onnx"


@pytest.fixture(scope="module")
def built(tmp_path_factory, fixtures):
    """Ascend graph, then the ORT graph (BS=2, 64x128), then the Ascend graph again, in one process."""
    out = tmp_path_factory.mktemp("ort_graph")
    before = _ascend(fixtures, out, "asc_before")
    raw = out / "r_ort_raw.onnx"
    ort_graph.export_ort_raw("reduced", str(fixtures / "weights_reduced.npz"), raw, 2, 64, 128)
    side = ort_graph.simplify_ort(raw, out / "r_ort.onnx")
    after = _ascend(fixtures, out, "asc_after")
    return {"out": out, "raw": raw, "ort": out / "r_ort.onnx", "side": side, "before": before, "after": after}


def test_ort_graph_passes_verification_and_matches_golden_labels(built, fixtures):
    side = built["side"]
    assert side["verification"]["max_abs_logit_diff"] < 1e-4
    assert side["verification"]["confident_label_mismatches"] == 0 and side["verification"]["checked_batch_items"] == [0, 1]
    gold = np.load(fixtures / "vectors_reduced_1x3x64x128.npz")
    x = np.concatenate([gold["input"], gold["input"][:, :, ::-1].copy()])
    got = ort.InferenceSession(str(built["ort"]), providers=["CPUExecutionProvider"]).run(None, {"image": x})[0]
    confident = gold["pred_margin"][0] > 1e-3
    assert got.dtype == np.int32 and got.shape == (2, 64, 128)
    assert np.array_equal(got[0][confident], gold["pred"][0][confident])


def test_sidecar_lists_the_optimisations(built):
    meta = json.loads(built["ort"].with_suffix(".json").read_text())
    assert meta["kind"] == "onnx-ort" and meta["target"] == "ort" and meta["opset"] == 17
    assert meta["ort_optimizations"] == list(ort_graph.DEFAULT_OPTIMIZATIONS)
    steps = meta["ort_optimization_steps"]
    blocks = sum(PRESETS["reduced"].depths)  # one fused attention per Swin block
    # every block's Mlp, the 3 patch mergings; no attention is as wide as PROJ_CONV_MIN_DIM in the reduced model
    assert steps == {"fused-window-attention": {"attention_nodes": blocks},
                     "pointwise-conv-linears": {"modules": blocks + 3, "proj_conv_min_dim": ort_graph.PROJ_CONV_MIN_DIM}}
    ops = _ops(built["ort"])
    assert ops.count("Attention") == blocks and ops.count("Softmax") == 4  # SeMask's class attention stays unfused
    assert ops.count("LayerNormalization") == 2 * blocks + 4 + 4 + 3 + 1  # blocks, semantic layers, out norms, merging, embed
    # pointwise-conv-linears: fc1 and fc2 of every block and the 3 merging reductions are 1x1 Convs (the
    # reduced model is narrower than PROJ_CONV_MIN_DIM: its attention projections stay Gemm), the exact
    # GELU is one com.microsoft.Gelu per block (no Erf left to unfuse)
    assert max(PRESETS["reduced"].stage_dims) < ort_graph.PROJ_CONV_MIN_DIM
    assert ops.count("Conv") == _ops(built["before"][1]).count("Conv") + 2 * blocks + 3
    gelus = [n for n in onnx.load(str(built["ort"])).graph.node if n.op_type == "Gelu"]
    assert len(gelus) == blocks and {n.domain for n in gelus} == {"com.microsoft"} and "Erf" not in ops
    assert meta["nodes"] == len(ops) and meta["exported_ops"]["Attention"] == blocks
    assert meta["source_sha256"] == _sha(built["raw"]) and meta["sha256"] == _sha(built["ort"])
    assert meta["input"]["shape"] == [2, 3, 64, 128] and meta["output"]["dtype"] == "int32"


def test_ascend_onnx_is_unchanged_by_the_ort_graph(built, root, fixtures, tmp_path):
    (raw1, sim1), (raw2, sim2) = built["before"], built["after"]
    assert raw1.read_bytes() == raw2.read_bytes() and sim1.read_bytes() == sim2.read_bytes()
    # the CLIs the Makefile runs for the Ascend graph (default target) write the same bytes
    for cmd in (["tools/export_onnx.py", "--model", "reduced", "--weights", str(fixtures / "weights_reduced.npz"),
                 "--batch-size", "2", "--height", "64", "--width", "128", "--out", str(tmp_path / "cli_raw.onnx")],
                ["tools/simplify_onnx.py", "--onnx", str(tmp_path / "cli_raw.onnx"), "--out", str(tmp_path / "cli.onnx")]):
        proc = subprocess.run([sys.executable, *cmd], cwd=root, capture_output=True, text=True,
                              env={"PYTHONPATH": str(root / "tools"), "PATH": ph.SYSTEM_PATH})
        assert proc.returncode == 0, proc.stderr[-2000:]
    assert (tmp_path / "cli_raw.onnx").read_bytes() == raw1.read_bytes()
    assert (tmp_path / "cli.onnx").read_bytes() == sim1.read_bytes()
    proto = onnx.load(str(sim1))
    assert [(o.domain, o.version) for o in proto.opset_import] == [("", 11)]
    assert not {"Attention", "LayerNormalization", "BiasGelu", "SkipLayerNormalization"} & set(_ops(sim1))


@pytest.mark.parametrize("optimizations,hw,input_dtype,output", [
    (("fused-window-attention",), (90, 150), "float32", "logits"),  # opset 11, padding in every stage
    (("opset17-layernorm", "bias-into-elementwise", "transformer-fusions"), (64, 128), "uint8", "labels"),
    (("pointwise-conv-linears",), (90, 150), "float32", "labels"),  # opset 11, token counts not divisible by 16
])
def test_subsets_and_variants_verify(tmp_path, fixtures, optimizations, hw, input_dtype, output):
    raw = tmp_path / "v_raw.onnx"
    meta = ort_graph.export_ort_raw("reduced", str(fixtures / "weights_reduced.npz"), raw, 1, *hw, input_dtype, output,
                                    optimizations=optimizations)
    assert meta["opset"] == (17 if "opset17-layernorm" in optimizations else 11)
    side = ort_graph.simplify_ort(raw, tmp_path / "v.onnx")
    assert side["ort_optimizations"] == list(optimizations)
    assert side["verification"]["confident_label_mismatches"] == 0 and side["verification"]["max_abs_logit_diff"] < 1e-4
    ops = _ops(tmp_path / "v.onnx")
    assert ("Attention" in ops) == ("fused-window-attention" in optimizations)
    assert ("BiasGelu" in ops) == ("bias-into-elementwise" in optimizations)
    assert ("Gelu" in ops) == ("pointwise-conv-linears" in optimizations)


def test_fused_attention_module_equals_window_attention():
    """The swapped module computes exactly what WindowAttention does, with and without the shift mask."""
    torch.manual_seed(0)
    plain = WindowAttention(64, 2, 7).eval().requires_grad_(False)
    plain.relative_position_bias_table.normal_()
    fused = copy.deepcopy(plain)
    assert ort_graph.use_fused_window_attention(torch.nn.Sequential(fused)) == 1
    assert type(fused) is ort_graph.OrtWindowAttention
    x = torch.randn(12, 49, 64)  # B=2 images of 2x3 windows
    row, col = shift_mask_factors(14, 21, 7, 3)
    mask = (torch.from_numpy(row), torch.from_numpy(col))
    for m in (None, mask):
        assert torch.allclose(fused(x, m, 2), plain(x, m, 2), atol=1e-5)


def test_bad_optimisation_names_are_refused(tmp_path, root):
    with pytest.raises(KitError, match="unknown fast-mode; choose from opset17-layernorm"):
        ort_graph.export_ort_raw("reduced", "random", tmp_path / "x.onnx", 1, 64, 128, optimizations=["fast-mode"])
    with pytest.raises(KitError, match="bias-into-elementwise needs transformer-fusions"):
        ort_graph.export_ort_raw("reduced", "random", tmp_path / "x.onnx", 1, 64, 128,
                                 optimizations=["bias-into-elementwise"])
    proc = subprocess.run([sys.executable, "tools/export_onnx.py", "--model", "reduced", "--weights", "random",
                           "--target", "ort", "--ort-optimizations", "nope", "--out", str(tmp_path / "x.onnx")],
                          cwd=root, capture_output=True, text=True,
                          env={"PYTHONPATH": str(root / "tools"), "PATH": ph.SYSTEM_PATH})
    assert proc.returncode != 0 and "--ort-optimizations: unknown nope" in proc.stderr and "Traceback" not in proc.stderr
    assert not [p for p in tmp_path.iterdir()], "a refused export leaves nothing behind"


def test_simplify_refuses_an_ascend_export_as_ort(built):
    with pytest.raises(KitError, match="not an ORT-target export"):
        ort_graph.simplify_ort(built["before"][0], built["out"] / "wrong.onnx")


# ------------------------------------------------------------------------------ make on BACKEND=ort
@pytest.fixture(scope="module")
def shared(tmp_path_factory):
    return ph.shared_ort(tmp_path_factory)


def test_make_all_on_ort_builds_and_runs_the_ort_graph(shared):
    arts, out = shared["artifacts"], shared["proc"].stdout
    onnx_dir = arts / "onnx"
    assert (onnx_dir / ph.ORT_ONNX).is_file() and not (onnx_dir / f"{ph.STEM}_sim.onnx").exists()
    assert "-m semask infer --plan" in out and "-m semask export-ort --plan" in out
    summary = ph.read_json(arts / "preds" / f"{ph.ORT_RUN}_summary.json")
    assert summary["model_identity"]["path"] == str(onnx_dir / ph.ORT_ONNX)
    meta = ph.read_json(onnx_dir / ph.ORT_ONNX.replace(".onnx", ".json"))
    assert meta["ort_optimizations"] == list(ort_graph.DEFAULT_OPTIMIZATIONS)
    assert meta["verification"]["confident_label_mismatches"] == 0


def test_make_perf_and_onnx_on_ort_use_the_ort_graph(shared, tmp_path):
    tree = ph.copy_tree(shared["artifacts"], tmp_path / "artifacts")
    perf = ph.run_make(["perf"], tree, shared["data"], ph.ort_vars(LOOP="2"), flags=["-n"]).stdout
    assert "-m semask perf --plan" in perf and "export" not in perf  # its graph (ONNX_ORT) is up to date
    onnx_goal = ph.run_make(["onnx"], tree, shared["data"], ph.ort_vars(), flags=["-n"])
    assert onnx_goal.stdout.strip() == "make: Nothing to be done for 'onnx'."


def test_pointwise_conv_modules_equal_the_plain_modules():
    """1x1-conv MLP, patch merging (odd grid: padded) and attention proj compute what the plain modules do."""
    torch.manual_seed(0)
    mlp = Mlp(32, 128).eval().requires_grad_(False)
    merge = PatchMerging(32).eval().requires_grad_(False)
    width = ort_graph.PROJ_CONV_MIN_DIM  # the narrowest attention whose proj becomes a Conv
    attn = WindowAttention(width, width // 32, 7).eval().requires_grad_(False)
    attn.relative_position_bias_table.normal_()
    narrow = WindowAttention(32, 2, 7)
    conv_mlp, conv_merge, conv_attn = copy.deepcopy(mlp), copy.deepcopy(merge), copy.deepcopy(attn)
    root = torch.nn.Sequential(conv_mlp, conv_merge, conv_attn, narrow)
    assert ort_graph.use_pointwise_conv_linears(root) == 2  # the plain attention keeps its Linear proj
    assert ort_graph.use_fused_window_attention(root) == 2 and ort_graph.use_pointwise_conv_linears(root) == 1
    assert (type(conv_mlp), type(conv_merge), conv_attn.pointwise_proj) == (ort_graph.OrtMlp, ort_graph.OrtPatchMerging, True)
    assert type(narrow) is ort_graph.OrtWindowAttention and not narrow.pointwise_proj  # below the width: Gemm
    tokens = torch.randn(2, 15 * 13, 32)  # 390 tokens: the one-column grid; 2 x 8 x 16 = 256 below: 16 columns
    for x in (tokens, torch.randn(2, 128, 32)):
        assert torch.allclose(conv_mlp(x), mlp(x), atol=1e-5)
    assert torch.allclose(conv_merge(tokens, 15, 13), merge(tokens, 15, 13), atol=1e-5)
    windows = torch.randn(12, 49, width)
    row, col = shift_mask_factors(14, 21, 7, 3)
    for m in (None, (torch.from_numpy(row), torch.from_numpy(col))):
        assert torch.allclose(conv_attn(windows, m, 2), attn(windows, m, 2), atol=1e-5)
    with pytest.raises(KitError, match="no 1x1-conv form for ReLU"):
        ort_graph.pointwise(tokens, (torch.nn.ReLU(),))


def test_bench_profile_counts_the_flops_torch_counts(built, root):
    """bench_ort's FLOP count per profiled node (from the shapes ORT's profiler records) agrees with torch's
    FLOP counter on the eager model, so the benchmark's GFLOP/s and its budget rest on the right FLOPs."""
    sys.path.insert(0, str(root / "bench"))
    try:
        import bench_ort
    finally:
        sys.path.remove(str(root / "bench"))
    prof = bench_ort.child_profile(str(built["ort"]), threads=1)
    torch_flop = bench_ort.child_flops("reduced", (64, 128))["flop_per_image"] * 2  # the graph has batch 2
    assert prof["flop_per_run"] > 0 and abs(prof["flop_per_run"] / torch_flop - 1) < 0.01  # 0.16 % measured
    by_op = {p["op"]: p for p in prof["by_op"]}
    assert by_op["Attention"]["gflop"] > 0 and by_op["Conv"]["gflop"] > 0
    assert 0 < prof["noflop_ms_per_run"] < prof["kernel_ms_per_run"]
