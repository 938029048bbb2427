"""folding.py: exact graph rewrites, on small graphs built here and on the bundled PP-OCR models."""

from __future__ import annotations

import logging

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

from dva_ocr.ocr import folding
from dva_ocr.ocr.folding import FOLD_VERSION, fold, folded_model
from dva_ocr.ocr.runtime import OrtSession, optimised_path
from dva_ocr.ocr.spec import bundled_model

RNG = np.random.default_rng(7)
C = 8


def _const(name: str, value) -> onnx.TensorProto:
    return numpy_helper.from_array(np.asarray(value, dtype=np.float32), name)


def _conv(
    name: str,
    x: str,
    out: str,
    k: int,
    pad: int,
    consts: list,
    group: int = 1,
    rng: np.random.Generator = RNG,
) -> onnx.NodeProto:
    consts += [
        _const(f"{name}.w", rng.normal(size=(C, C // group, k, k))),
        _const(f"{name}.b", rng.normal(size=C)),
    ]
    return helper.make_node(
        "Conv",
        [x, f"{name}.w", f"{name}.b"],
        [out],
        name=name,
        pads=[pad] * 4,
        group=group,
        kernel_shape=[k, k],
    )


def _hardswish(x: str, out: str, consts: list) -> list[onnx.NodeProto]:
    consts += [_const("three", 3.0), _const("zero", 0.0), _const("six", 6.0)]
    return [
        helper.make_node("Add", [x, "three"], [f"{out}.a"]),
        helper.make_node("Clip", [f"{out}.a", "zero", "six"], [f"{out}.c"]),
        helper.make_node("Mul", [x, f"{out}.c"], [f"{out}.m"]),
        helper.make_node("Div", [f"{out}.m", "six"], [out]),
    ]


def _model(nodes: list, consts: list, out: str) -> onnx.ModelProto:
    graph = helper.make_graph(
        nodes,
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [None, C, None, None])],
        [helper.make_tensor_value_info(out, TensorProto.FLOAT, None)],
        consts,
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 12)], ir_version=8)


def _run(model: onnx.ModelProto, x: np.ndarray) -> np.ndarray:
    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL  # our graph, not ORT's
    sess = ort.InferenceSession(model.SerializeToString(), opts, providers=["CPUExecutionProvider"])
    return sess.run(None, {"x": x})[0]


def _lcnet_block() -> onnx.ModelProto:
    """The PPLCNetV3 pattern: conv, affine, HardSwish as four nodes, affine, then convolutions of each
    kind, and an Add feeding a padded convolution (which must stay). The same weights every call."""
    rng = np.random.default_rng(11)
    consts: list = [
        _const("s1", rng.normal(size=(1, C, 1, 1))),
        _const("t1", 0.3),
        _const("s2", 1.7),
        _const("t2", rng.normal(size=(1, C, 1, 1))),
        _const("s3", rng.normal(size=(1, C, 1, 1))),
        _const("t4", -0.4),
    ]
    nodes = [
        _conv("c1", "x", "y1", 3, 1, consts, rng=rng),
        helper.make_node("Mul", ["s1", "y1"], ["y2"]),  # constant first, as the PP-OCR exports write it
        helper.make_node("Add", ["y2", "t1"], ["y3"]),
        *_hardswish("y3", "h", consts),
        helper.make_node("Mul", ["h", "s2"], ["y4"]),
        helper.make_node("Add", ["y4", "t2"], ["y5"]),
        _conv("c2", "y5", "y6", 1, 0, consts, rng=rng),  # 1x1: both the Mul and the Add fold in
        helper.make_node("Relu", ["y6"], ["y7"]),
        helper.make_node("Mul", ["y7", "s3"], ["y8"]),
        _conv(
            "c3", "y8", "y9", 3, 1, consts, group=C, rng=rng
        ),  # depthwise, padded: the per-channel Mul folds
        helper.make_node("Relu", ["y9"], ["y10"]),
        helper.make_node("Add", ["y10", "t4"], ["y11"]),
        _conv(
            "c4", "y11", "out", 3, 1, consts, rng=rng
        ),  # padded: the Add must not fold (the border would move)
    ]
    return _model(nodes, consts, "out")


def test_the_lcnet_pattern_folds_to_the_same_outputs_in_fewer_nodes():
    model = _lcnet_block()
    x = RNG.normal(size=(2, C, 13, 17)).astype(np.float32) * 3  # HardSwish's three pieces all used
    want = _run(model, x)
    counts = fold(model)
    got = _run(model, x)
    ops = [n.op_type for n in model.graph.node]
    # c1's Mul and Add, HardSwish, the affine into c2, the depthwise Mul; the Add before c4 stays
    assert counts == {"into_conv_output": 2, "hardswish": 1, "into_conv_input": 3}, counts
    assert ops == ["Conv", "HardSigmoid", "Mul", "Conv", "Relu", "Conv", "Relu", "Add", "Conv"], ops
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5 * np.abs(want).max())  # float rounding
    assert {t.name for t in model.graph.initializer} >= {"t4"} and "s1" not in {
        t.name for t in model.graph.initializer
    }


def test_a_tensor_read_twice_or_a_non_constant_operand_is_left_alone():
    consts: list = [_const("s", 2.0)]
    nodes = [
        _conv("c1", "x", "y1", 1, 0, consts),
        helper.make_node("Mul", ["y1", "s"], ["y2"]),
        helper.make_node("Add", ["y1", "y2"], ["y3"]),  # y1 read twice: the Mul cannot go into c1
        helper.make_node("Add", ["y3", "x"], ["y4"]),  # a residual: no constant to fold
        _conv("c2", "y4", "out", 1, 0, consts),
    ]
    model = _model(nodes, consts, "out")
    before = [n.op_type for n in model.graph.node]
    assert fold(model) == {"into_conv_output": 0, "hardswish": 0, "into_conv_input": 0}
    assert [n.op_type for n in model.graph.node] == before


def test_a_constant_of_higher_rank_and_control_flow_are_left_alone():
    consts: list = [_const("s5", np.full((1, 1, 1, 1, 1), 2.0))]  # Mul by it makes the tensor 5-D
    nodes = [_conv("c1", "x", "y1", 1, 0, consts), helper.make_node("Mul", ["y1", "s5"], ["out"])]
    model = _model(nodes, consts, "out")
    assert fold(model)["into_conv_output"] == 0 and len(model.graph.node) == 2
    branch = helper.make_graph([helper.make_node("Identity", ["y1"], ["z"])], "b", [], [_info("z")])
    consts = [_const("s", 2.0)]
    nodes = [
        _conv("c1", "x", "y1", 1, 0, consts),
        helper.make_node("Mul", ["y1", "s"], ["y2"]),  # foldable, were it not for the If reading y1
        helper.make_node("ReduceMax", ["y2"], ["m"], keepdims=0),
        helper.make_node("Cast", ["m"], ["cond"], to=TensorProto.BOOL),
        helper.make_node("If", ["cond"], ["out"], then_branch=branch, else_branch=branch),
    ]
    model = _model(nodes, consts, "out")
    assert fold(model) == {"into_conv_output": 0, "hardswish": 0, "into_conv_input": 0}


def _info(name: str) -> onnx.ValueInfoProto:
    return helper.make_tensor_value_info(name, TensorProto.FLOAT, None)


@pytest.mark.integration  # loads the bundled models
@pytest.mark.parametrize("name", ["ppocrv4", "ppocrv5"])
def test_the_bundled_models_fold_and_keep_their_outputs_and_dictionary(name, tmp_path):
    model = bundled_model(name)
    root = model.directory()
    for role, file in model.files.items():
        path = root / file
        if role == "dict":
            continue
        data = folded_model(path)
        assert data is not None, f"{name} {role}: nothing folded"
        folded = onnx.load_from_string(data)
        assert len(folded.graph.node) < 0.85 * len(onnx.load(str(path)).graph.node), role
        if role in ("det", "rec"):
            plain = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
            fast = ort.InferenceSession(data, providers=["CPUExecutionProvider"])
            h = 48 if role == "rec" else 160
            x = RNG.random((2, 3, h, 320), dtype=np.float32) * 2 - 1
            inp = plain.get_inputs()[0].name
            np.testing.assert_allclose(fast.run(None, {inp: x})[0], plain.run(None, {inp: x})[0], atol=1e-4)
            meta = plain.get_modelmeta().custom_metadata_map
            assert fast.get_modelmeta().custom_metadata_map == meta  # PP-OCRv4's dictionary lives here


def test_a_fold_that_moves_the_outputs_is_not_used(monkeypatch, caplog, tmp_path):
    def broken(model):
        counts = fold(model)
        conv = next(n for n in model.graph.node if n.op_type == "Conv")
        w = next(t for t in model.graph.initializer if t.name == conv.input[1])
        w.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(w) * 1.01, w.name))
        return counts

    monkeypatch.setattr(folding, "fold", broken)
    path = tmp_path / "block.onnx"
    onnx.save(_lcnet_block(), str(path))
    with caplog.at_level(logging.WARNING, logger="dva_ocr.ocr.folding"):
        assert folded_model(path) is None
    assert "folded graph not used" in caplog.text and "block.onnx" in caplog.text
    monkeypatch.undo()
    assert folded_model(path) is not None


def test_sessions_run_the_folded_graph_and_cache_it_under_the_rewrites_version(monkeypatch, tmp_path):
    monkeypatch.setenv("MODEL_CACHE_DIR", str(tmp_path / "cache"))
    from dva_ocr.settings import get_settings

    get_settings.cache_clear()
    try:
        path = tmp_path / "block.onnx"
        onnx.save(_lcnet_block(), str(path))
        cached = optimised_path(path, ort.__version__)
        assert cached is not None and f"-fold{FOLD_VERSION}-" in cached.name
        x = RNG.normal(size=(1, C, 9, 9)).astype(np.float32)
        first = OrtSession(path, threads=1)
        assert not first.optimised_from_cache and cached.is_file()
        assert "Clip" not in {n.op_type for n in onnx.load(str(cached)).graph.node}
        again = OrtSession(path, threads=1)
        assert again.optimised_from_cache
        want = _run(onnx.load(str(path)), x)
        for sess in (first, again):
            np.testing.assert_allclose(sess.run({"x": x})[0], want, rtol=1e-4, atol=1e-5 * np.abs(want).max())
    finally:
        get_settings.cache_clear()
