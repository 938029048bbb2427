"""Exact rewrites of an ONNX graph that leave fewer, cheaper nodes: what onnxruntime does not fold itself.

The PP-OCR exports (PP-OCRv4 and v5, detector and recogniser: PPLCNetV3 backbones) follow every
convolution with a learnable affine block (a Mul and an Add by one constant each) and write HardSwish
as four element-wise nodes (``x * Clip(x + 3, 0, 6) / 6``). onnxruntime runs each as a pass over the
whole feature map: before these rewrites 46% of the detector's time went to Add, Mul, Clip and Div,
32% to the convolutions (dva_ocr/ocr/MEASUREMENTS.md). The rewrites:

- ``Conv -> Mul(c)`` and ``Conv -> Add(c)``, c one value or one per output channel: into the
  convolution's weights and bias;
- ``Mul(c) -> Conv``: into the weights (zero padding stays zero); ``Add(c) -> Conv`` only where the
  convolution is 1x1 without padding (into the bias; with padding the border would change);
- HardSwish's four nodes: ``x * HardSigmoid(x)`` (alpha 1/6, beta 1/2), two nodes, from opset 6 on.

Each is the same arithmetic up to float rounding. `folded_model` applies them to onnxruntime's basic
optimisation of a model file (batch norms already folded into the convolutions) and checks the result
against that graph on a seeded random input before it is used; a graph whose outputs moved (more than
``ATOL * max(1, max |output|) + RTOL * |output|``) is not used, with a warning, and the model runs as it was.
"""

from __future__ import annotations

import functools
import importlib.util
import logging
import sys
import tempfile
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import onnx

log = logging.getLogger(__name__)

FOLD_VERSION = 1  # part of the optimised-model cache key: a change of these rewrites is a new graph
ATOL, RTOL = 1e-4, 1e-3  # the check of a folded graph: ATOL x max(1, max |output|) + RTOL x |output|
CHECK_SIDE = 64  # each dynamic dimension of the check's input (the batch: 1)


FLOAT, ATTR_FLOAT, ATTR_INT, ATTR_STRING, ATTR_GRAPH, ATTR_INTS, ATTR_GRAPHS = (
    1,
    1,
    2,
    3,
    5,
    7,
    10,
)  # onnx.proto


@functools.cache
def onnx_proto() -> ModuleType:
    """onnx's generated protobuf classes (``onnx.onnx_ml_pb2``) without ``import onnx``, whose import
    takes 0.6 s (ml_dtypes, 0.56 s of it, measured): a model's first session would wait for it. The
    classes are the same ones ``import onnx`` gives later in the process (one protobuf pool)."""
    if "onnx.onnx_ml_pb2" in sys.modules:
        return sys.modules["onnx.onnx_ml_pb2"]
    spec = importlib.util.find_spec("onnx")
    if spec is None or spec.origin is None:
        raise ModuleNotFoundError("onnx is not installed (pip install -e .)")
    path = Path(spec.origin).parent / "onnx_ml_pb2.py"
    module_spec = importlib.util.spec_from_file_location("_dva_ocr_onnx_ml_pb2", path)
    if module_spec is None or module_spec.loader is None:
        raise ModuleNotFoundError(f"onnx's protobuf classes not found at {path}")
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    return module


def _to_array(t: Any) -> np.ndarray | None:
    """A float32 constant as float64 (None: another type, or stored outside the model file)."""
    if t.data_type != FLOAT or t.data_location != 0:
        return None
    if t.raw_data:
        flat = np.frombuffer(t.raw_data, dtype="<f4")
    else:
        flat = np.asarray(t.float_data, dtype=np.float32)
    return flat.astype(np.float64).reshape(tuple(t.dims))


class _Graph:
    """A model's graph with its constants (initialisers) by name, and who reads each tensor."""

    def __init__(self, model: onnx.ModelProto) -> None:
        self.graph = model.graph
        self.consts = {t.name: t for t in self.graph.initializer}
        self.outputs = {o.name for o in self.graph.output}

    def const(self, name: str) -> np.ndarray | None:
        t = self.consts.get(name)
        return None if t is None else _to_array(t)

    def add_const(self, name: str, value: np.ndarray) -> str:
        while name in self.consts:
            name += "_"
        data = np.ascontiguousarray(value, dtype="<f4").tobytes()
        t = onnx_proto().TensorProto(name=name, data_type=FLOAT, dims=value.shape, raw_data=data)
        self.graph.initializer.append(t)
        self.consts[name] = t
        return name

    def readers(self) -> dict[str, list[onnx.NodeProto]]:
        out: dict[str, list[onnx.NodeProto]] = {}
        for node in self.graph.node:
            for name in node.input:
                out.setdefault(name, []).append(node)
        return out

    def only_reader(self, readers: dict[str, list[onnx.NodeProto]], tensor: str) -> onnx.NodeProto | None:
        """The one node reading ``tensor`` (None: several, none, or it is a graph output)."""
        nodes = readers.get(tensor, [])
        return nodes[0] if len(nodes) == 1 and tensor not in self.outputs else None

    def weights(self, conv: onnx.NodeProto) -> tuple[np.ndarray, np.ndarray] | None:
        w = self.const(conv.input[1])
        if w is None or w.ndim != 4:
            return None
        b = self.const(conv.input[2]) if len(conv.input) > 2 and conv.input[2] else np.zeros(w.shape[0])
        return None if b is None else (w, b)

    def set_conv(self, conv: onnx.NodeProto, x: str, w: np.ndarray, b: np.ndarray) -> None:
        names = [x, self.add_const(f"{conv.name}_folded_w", w), self.add_const(f"{conv.name}_folded_b", b)]
        del conv.input[:]
        conv.input.extend(names)

    def prune(self) -> None:
        """Drop the constants no node reads any more (those named as graph inputs or outputs stay)."""
        read = {name for node in self.graph.node for name in node.input}
        read |= {i.name for i in self.graph.input} | self.outputs
        for t in [t for t in self.graph.initializer if t.name not in read]:
            self.graph.initializer.remove(t)
            del self.consts[t.name]


def _attr(node: onnx.NodeProto, name: str, default: Any) -> Any:
    """An int, ints or string attribute of ``node`` (``default`` when it has none of that name)."""
    for a in node.attribute:
        if a.name == name:
            return {ATTR_FLOAT: a.f, ATTR_INT: a.i, ATTR_STRING: a.s, ATTR_INTS: list(a.ints)}.get(a.type)
    return default


def _affine(g: _Graph, node: onnx.NodeProto, tensor: str) -> np.ndarray | None:
    """The constant of ``node`` when it is a Mul or Add of ``tensor`` and one constant."""
    if node.op_type not in ("Mul", "Add") or len(node.input) != 2 or list(node.input).count(tensor) != 1:
        return None
    return g.const(node.input[1] if node.input[0] == tensor else node.input[0])


def _per_channel(c: np.ndarray, channels: int) -> np.ndarray | None:
    """``c`` as one value per channel of an NCHW tensor, where it broadcasts so (else None)."""
    if c.size == 1 and c.ndim <= 4:  # more dimensions would raise the tensor's rank
        return np.full(channels, float(c.reshape(-1)[0]))
    if c.size == channels and 3 <= c.ndim <= 4 and c.shape[-3:] == (channels, 1, 1):
        return c.reshape(-1)
    return None


def _fold_into_output(g: _Graph) -> int:
    """Conv -> Mul(c) / Add(c), the Conv's only reader, c per output channel: into weights and bias."""
    done = 0
    readers = g.readers()
    for conv in [n for n in g.graph.node if n.op_type == "Conv"]:
        while (wb := g.weights(conv)) is not None:
            after = g.only_reader(readers, conv.output[0])
            c = None if after is None else _affine(g, after, conv.output[0])
            c = None if c is None else _per_channel(c, wb[0].shape[0])
            if after is None or c is None:
                break
            w, b = wb
            w, b = (w * c.reshape(-1, 1, 1, 1), b * c) if after.op_type == "Mul" else (w, b + c)
            g.set_conv(conv, conv.input[0], w, b)
            conv.output[0] = after.output[0]
            g.graph.node.remove(after)
            readers = g.readers()
            done += 1
    return done


def _fold_into_input(g: _Graph) -> int:
    """Mul(c) -> Conv: into the weights; Add(c) -> 1x1 Conv without padding: into the bias. The Conv
    the only reader, c one value or one per input channel."""
    done = 0
    readers = g.readers()
    made_by = {out: node for node in g.graph.node for out in node.output}
    for conv in [n for n in g.graph.node if n.op_type == "Conv"]:
        while (wb := g.weights(conv)) is not None:
            before = made_by.get(conv.input[0])
            if before is None or g.only_reader(readers, conv.input[0]) is None:
                break
            x = next((name for name in before.input if name not in g.consts), None)
            c = None if x is None else _affine(g, before, x)
            w, b = wb
            group = int(_attr(conv, "group", 1))
            c = None if c is None else _per_channel(c, w.shape[1] * group)
            if x is None or c is None or w.shape[0] % group:
                break
            # each output channel's own input channels: those of its group
            per_in = np.repeat(c.reshape(group, -1), w.shape[0] // group, axis=0)[:, :, None, None]
            if before.op_type == "Mul":
                w = w * per_in
            else:
                pads = any(_attr(conv, "pads", [])) or _attr(conv, "auto_pad", b"NOTSET") not in (
                    b"NOTSET",
                    b"VALID",
                )
                if pads or w.shape[2:] != (1, 1):
                    break
                b = b + (w * per_in).sum(axis=(1, 2, 3))
            g.set_conv(conv, x, w, b)
            g.graph.node.remove(before)
            made_by = {out: node for node in g.graph.node for out in node.output}
            readers = g.readers()
            done += 1
    return done


def _scalar(g: _Graph, name: str) -> float | None:
    c = g.const(name)
    return float(c.reshape(-1)[0]) if c is not None and c.size == 1 else None


def _hardswish(g: _Graph) -> int:
    """``x * Clip(x + 3, 0, 6) / 6`` (four nodes) -> ``x * HardSigmoid(x, 1/6, 1/2)`` (two)."""
    pb = onnx_proto()
    done = 0
    readers = g.readers()
    for add in [n for n in g.graph.node if n.op_type == "Add"]:
        x = next((name for name in add.input if name not in g.consts), None)
        c = None if x is None else _affine(g, add, x)
        clip = g.only_reader(readers, add.output[0])
        if x is None or c is None or c.size != 1 or float(c.reshape(-1)[0]) != 3.0 or clip is None:
            continue
        if clip.op_type != "Clip" or len(clip.input) != 3:
            continue
        if _scalar(g, clip.input[1]) != 0.0 or _scalar(g, clip.input[2]) != 6.0:
            continue
        mul = g.only_reader(readers, clip.output[0])
        if mul is None or mul.op_type != "Mul" or sorted(mul.input) != sorted([x, clip.output[0]]):
            continue
        div = g.only_reader(readers, mul.output[0])
        if (
            div is None
            or div.op_type != "Div"
            or div.input[0] != mul.output[0]
            or _scalar(g, div.input[1]) != 6.0
        ):
            continue
        at = list(g.graph.node).index(add)
        for node in (add, clip, mul, div):
            g.graph.node.remove(node)
        alpha, beta = (
            pb.AttributeProto(name=k, type=ATTR_FLOAT, f=v) for k, v in (("alpha", 1 / 6), ("beta", 0.5))
        )
        gate = f"{add.name}_hardsigmoid"
        hardsigmoid = pb.NodeProto(
            op_type="HardSigmoid", input=[x], output=[gate], name=gate, attribute=[alpha, beta]
        )
        times = pb.NodeProto(
            op_type="Mul", input=[x, gate], output=[div.output[0]], name=f"{add.name}_hardswish"
        )
        g.graph.node.insert(at, hardsigmoid)
        g.graph.node.insert(at + 1, times)
        readers = g.readers()
        done += 1
    return done


def fold(model: onnx.ModelProto) -> dict[str, int]:
    """Apply the rewrites to ``model`` in place; how many of each were made. A graph with control flow
    (If, Loop, Scan: subgraphs may read its tensors unseen) is left as it is."""
    g = _Graph(model)
    if any(a.type in (ATTR_GRAPH, ATTR_GRAPHS) for node in g.graph.node for a in node.attribute):
        return {"into_conv_output": 0, "hardswish": 0, "into_conv_input": 0}
    counts = {"into_conv_output": _fold_into_output(g), "hardswish": _hardswish(g)}
    counts["into_conv_input"] = _fold_into_input(g)
    g.prune()
    return counts


def _check_input(sess: Any) -> dict[str, np.ndarray] | None:
    """A seeded random input for every input of ``sess`` (float32 only; None: cannot check)."""
    rng = np.random.default_rng(0)
    feed = {}
    for arg in sess.get_inputs():
        if arg.type != "tensor(float)":
            return None
        dims = enumerate(arg.shape)
        shape = [d if isinstance(d, int) and d > 0 else (1 if k == 0 else CHECK_SIDE) for k, d in dims]
        feed[arg.name] = rng.random(shape, dtype=np.float32) * 2 - 1
    return feed


def folded_model(path: Path) -> bytes | None:
    """``path``'s graph at onnxruntime's basic optimisation with the rewrites applied, checked against
    it; None when there is nothing to fold or the check fails (the file is then used as it is)."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_BASIC
    opts.log_severity_level = 3
    with tempfile.TemporaryDirectory(prefix="dva-ocr-fold-") as tmp:
        opts.optimized_model_filepath = str(Path(tmp) / "basic.onnx")
        reference = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
        model = onnx_proto().ModelProto.FromString(Path(opts.optimized_model_filepath).read_bytes())
    counts = fold(model)
    if not any(counts.values()):
        return None
    data = model.SerializeToString()
    feed = _check_input(reference)
    if feed is None:
        log.warning(
            "%s: folded graph not used: its inputs are not all float32, so it cannot be checked", path.name
        )
        return None
    check = ort.SessionOptions()
    check.log_severity_level = 3
    folded = ort.InferenceSession(data, check, providers=["CPUExecutionProvider"])
    for want, got in zip(reference.run(None, feed), folded.run(None, feed), strict=True):
        scale = max(1.0, float(np.abs(want).max())) if want.size else 1.0  # rounding grows with the values
        excess = np.abs(got - want) - (ATOL * scale + RTOL * np.abs(want))
        if excess.size and float(excess.max()) > 0:
            log.warning(
                "%s: folded graph not used: it moved an output by %.3g on the check input",
                path.name,
                float(np.abs(got - want).max()),
            )
            return None
    log.debug("%s: folded %s", path.name, counts)
    return data
