"""make fp16-check's engine on a planted overflow: a decomposed LayerNorm whose (x-u)^2 exceeds fp16's 65504
(the input is scaled by 100 and every row has an outlier of 3.0 -> 300) while the mean of the squares does not.
The check must name that Pow (or the ReduceMean after it) first, and keeping it in fp32 must bring the logit
SQNR back within 1 dB of fp32-only rounding. The model is built here with onnx.helper, independent of the kit;
real ONNX Runtime runs it."""
import json

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from semask.evaluate.fp16_check import Fp16Spec, check

C, H, W, K = 3, 8, 64, 4


def layernorm_model(path):
    rng = np.random.default_rng(0)
    inits = [numpy_helper.from_array(np.array(100.0, np.float32), "scale"),
             numpy_helper.from_array(np.array(2.0, np.float32), "two"),
             numpy_helper.from_array(np.array(1e-5, np.float32), "eps"),
             numpy_helper.from_array(rng.standard_normal((K, C, 1, 1)).astype(np.float32), "w"),
             numpy_helper.from_array(rng.standard_normal(K).astype(np.float32), "b")]
    mean = dict(axes=[-1], keepdims=1)  # opset 13: axes as an attribute
    nodes = [helper.make_node("Mul", ["image", "scale"], ["x"], "scale_input"),
             helper.make_node("ReduceMean", ["x"], ["u"], "ln_mean", **mean),
             helper.make_node("Sub", ["x", "u"], ["d"], "ln_sub"),
             helper.make_node("Pow", ["d", "two"], ["d2"], "ln_pow"),
             helper.make_node("ReduceMean", ["d2"], ["var"], "ln_var", **mean),
             helper.make_node("Add", ["var", "eps"], ["ve"], "ln_add"),
             helper.make_node("Sqrt", ["ve"], ["sd"], "ln_sqrt"),
             helper.make_node("Div", ["d", "sd"], ["y"], "ln_div"),
             helper.make_node("Conv", ["y", "w", "b"], ["logits"], "classifier"),
             helper.make_node("ArgMax", ["logits"], ["labels"], "argmax", axis=1, keepdims=0)]
    graph = helper.make_graph(nodes, "planted", [helper.make_tensor_value_info("image", TensorProto.FLOAT, [1, C, H, W])],
                              [helper.make_tensor_value_info("labels", TensorProto.INT64, [1, H, W])], inits)
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], ir_version=8), str(path))


def frames(folder, n=3):
    folder.mkdir()
    rng = np.random.default_rng(1)
    for i in range(n):
        x = rng.standard_normal((1, C, H, W)).astype(np.float32) * 0.5
        x[..., 0] = 3.0  # 300 after the scale: (300 - u)^2 ~ 9e4 > 65504, the row's mean of squares ~ 3e3
        x.tofile(folder / f"frame_{i}.bin")


def test_planted_layernorm_overflow_is_named_first_and_keeping_it_restores_the_sqnr(tmp_path):
    layernorm_model(tmp_path / "planted.onnx")
    frames(tmp_path / "bins")
    result = check(Fp16Spec(tmp_path / "planted.onnx", tmp_path / "bins", 1, tmp_path / "out", frames=3))
    target = result["fp32_only_rounding"]["sqnr_db"]
    assert result["ranked_by"] == "op" and result["frames"] == 3
    assert result["fp16"]["sqnr_db"] is None or result["fp16"]["sqnr_db"] < target - 10  # the overflow costs a lot
    assert result["top"][0]["name"] in ("ln_pow", "ln_var")
    keep = result["keep_dtype"]
    assert keep["reached"] and keep["sqnr_db"] >= target - 1.0
    cfg = (tmp_path / "out" / "keep_dtype.cfg").read_text().split()
    assert cfg and cfg[0] in ("ln_pow", "ln_var") and set(cfg) <= {"ln_pow", "ln_var", "ln_add", "ln_sqrt", "ln_div"}
    saved = json.loads((tmp_path / "out" / "fp16_check.json").read_text())
    assert saved["keep_dtype"]["cfg"].endswith("keep_dtype.cfg") and "ln_pow" in (tmp_path / "out" / "fp16_check.md").read_text()
