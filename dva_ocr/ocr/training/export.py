"""ONNX export of a CRNN checkpoint, in the layout ``TextRecognizer`` runs unchanged.

Contract of the exported file:

* input ``x``: float32 N x 3 x H x W, H fixed (metadata ``rec_height``), N and W dynamic; BGR pixels
  as (x/255 - 0.5)/0.5, the line resized to height H keeping its aspect ratio, right-padded with 0.0;
* output ``probs``: N x T x C softmax probabilities, T = W // 4 (``--opencv-layout``: T x N x C, what
  ``cv2.dnn_TextRecognitionModel`` decodes); class 0 = CTC blank, 1..K = the lines of metadata
  ``character``, K+1 = space;
* metadata: ``character``, ``rec_height``, ``dva_model`` = ``crnn``, ``output_layout``, ``time_step_px``,
  ``architecture``, ``config`` (JSON), ``training_steps``, ``training_lines``, ``validation`` (JSON).

The legacy TorchScript exporter is used (``dynamo=False``): it needs only the ``onnx`` package.
"""

from __future__ import annotations

import json
import os
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from dva_ocr.errors import DvaOcrError
from dva_ocr.ocr.training.crnn import STRIDE, Crnn, describe
from dva_ocr.ocr.training.train import load_model

OPSET = 17
PARITY_TOLERANCE = 1e-4  # max |difference| of probabilities between runtimes on the check batches
INPUT_NAME = "x"
OUTPUT_NAME = "probs"


class ExportError(DvaOcrError):
    """The model could not be exported, or the exported file does not behave like the checkpoint."""


class _Probabilities(nn.Module):
    def __init__(self, model: Crnn, time_major: bool) -> None:
        super().__init__()
        self.model = model
        self.time_major = time_major

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        p = self.model(x).softmax(-1)
        return p.permute(1, 0, 2) if self.time_major else p


@dataclass(frozen=True)
class ExportResult:
    path: Path
    metadata: dict[str, str]
    max_abs_diff: float  # onnxruntime vs PyTorch on a check batch


def metadata_for(model: Crnn, ckpt: dict, time_major: bool) -> dict[str, str]:
    cfg = model.config
    return {
        "dva_model": "crnn",
        "character": "\n".join(cfg.charset),
        "rec_height": str(cfg.height),
        "output_layout": "TNC" if time_major else "NTC",
        "time_step_px": str(STRIDE),
        "normalisation": "BGR (x/255-0.5)/0.5, right-padded with 0",
        "architecture": describe(cfg),
        "config": json.dumps(cfg.to_dict()),
        "training_steps": str(int(ckpt.get("step", 0))),
        "training_lines": str(int(ckpt.get("lines", 0))),
        "validation": json.dumps(ckpt.get("scores", {})),
    }


def export_onnx(
    checkpoint: Path, out: Path, *, opencv_layout: bool = False, opset: int = OPSET, check: bool = True
) -> ExportResult:
    """Write ``out`` from ``checkpoint``; with ``check``, compare onnxruntime to PyTorch (raises if off)."""
    try:
        import onnx  # the exporter's dependency (train extra); imported here so this module loads without it
    except ImportError as exc:
        raise ExportError("export-rec needs the onnx package: pip install -e '.[train]'") from exc

    model, ckpt = load_model(checkpoint)
    wrapper = _Probabilities(model, opencv_layout).eval()
    height = model.config.height
    dummy = torch.zeros(1, 3, height, 128)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    steps_axis = 0 if opencv_layout else 1
    batch_axis = 1 if opencv_layout else 0
    with torch.inference_mode(), warnings.catch_warnings():
        # The exporter warns that an LSTM exported at batch 1 may fail at other batch sizes; ours has
        # no initial-state inputs, and compare_with_torch checks batches of 1, 2 and 3.
        warnings.filterwarnings("ignore", message="Exporting a model to ONNX with a batch_size other than 1")
        torch.onnx.export(
            wrapper,
            (dummy,),
            str(tmp),
            dynamo=False,
            input_names=[INPUT_NAME],
            output_names=[OUTPUT_NAME],
            dynamic_axes={
                INPUT_NAME: {0: "batch", 3: "width"},
                OUTPUT_NAME: {batch_axis: "batch", steps_axis: "steps"},
            },
            opset_version=opset,
            do_constant_folding=True,
        )
    proto = onnx.load(str(tmp))
    meta = metadata_for(model, ckpt, opencv_layout)
    del proto.metadata_props[:]
    for key, value in meta.items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, value
    proto.doc_string = f"dva-ocr {describe(model.config)}"
    onnx.checker.check_model(proto)
    onnx.save(proto, str(tmp))
    os.replace(tmp, out)
    diff = compare_with_torch(model, out, opencv_layout) if check else float("nan")
    if check and not diff < PARITY_TOLERANCE:
        raise ExportError(f"{out}: onnxruntime output differs from PyTorch by {diff:.2e}")
    return ExportResult(out, meta, diff)


def compare_with_torch(model: Crnn, path: Path, time_major: bool, seed: int = 0) -> float:
    """Max |onnxruntime - torch| over random batches of a few widths (batch sizes 1 and 3)."""
    import onnxruntime as ort

    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(seed)
    worst = 0.0
    for n, width in ((1, 32), (3, 96), (2, 200), (1, 640)):
        x = rng.uniform(-1, 1, (n, 3, model.config.height, width)).astype(np.float32)
        got = sess.run(None, {INPUT_NAME: x})[0]
        with torch.inference_mode():
            want = model.probabilities(torch.from_numpy(x))
        want_np = (want.permute(1, 0, 2) if time_major else want).numpy()
        if got.shape != want_np.shape:
            raise ExportError(f"{path}: ONNX output shape {got.shape}, PyTorch {want_np.shape}")
        worst = max(worst, float(np.abs(got - want_np).max()))
    return worst


def compare_with_opencv(path: Path, height: int, seed: int = 0) -> float:
    """Max |OpenCV DNN - onnxruntime| on random batches of several widths (one net, shapes vary)."""
    import cv2
    import onnxruntime as ort

    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(seed)
    worst = 0.0
    try:
        net = cv2.dnn.readNetFromONNX(str(path))
        for n, width in ((1, 32), (1, 160), (2, 96), (1, 480)):
            x = rng.uniform(-1, 1, (n, 3, height, width)).astype(np.float32)
            net.setInput(x)
            got = net.forward()
            want = sess.run(None, {INPUT_NAME: x})[0]
            if got.shape != want.shape:
                raise ExportError(f"{path}: OpenCV DNN output shape {got.shape}, onnxruntime {want.shape}")
            worst = max(worst, float(np.abs(got - want).max()))
    except cv2.error as exc:
        raise ExportError(f"{path}: OpenCV DNN {cv2.__version__} cannot run it: {exc}") from exc
    if not worst < PARITY_TOLERANCE:
        raise ExportError(f"{path}: OpenCV DNN output differs from onnxruntime by {worst:.2e}")
    return worst
