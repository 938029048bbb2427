"""onnxruntime session wrapper: provider choice, thread caps, and a ``Session`` protocol for stubs."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np


class RuntimeUnavailableError(RuntimeError):
    """The requested device cannot be used by the installed runtime."""


@runtime_checkable
class Session(Protocol):
    """What the OCR stages need from a model runtime (onnxruntime here; a stub in tests)."""

    @property
    def input_name(self) -> str: ...

    @property
    def metadata(self) -> dict[str, str]: ...

    def run(self, inputs: dict[str, np.ndarray]) -> list[np.ndarray]: ...


@dataclass(frozen=True)
class Device:
    kind: str  # "cpu" | "cuda"
    index: int = 0

    @classmethod
    def parse(cls, spec: str) -> Device:
        m = re.fullmatch(r"(cpu|cuda)(?::(\d+))?", spec.strip().lower())
        if not m or (m.group(1) == "cpu" and m.group(2)):
            raise ValueError(f"device must be 'cpu', 'cuda' or 'cuda:N', got {spec!r}")
        return cls(m.group(1), int(m.group(2) or 0))

    def __str__(self) -> str:
        return "cpu" if self.kind == "cpu" else f"cuda:{self.index}"


def providers_for(device: Device, available: list[str]) -> list[str | tuple[str, dict]]:
    """Ordered provider preference list; raises if CUDA is asked for but not installed."""
    if device.kind == "cuda":
        if "CUDAExecutionProvider" not in available:
            raise RuntimeUnavailableError(
                f"device {device} requested but onnxruntime has no CUDAExecutionProvider "
                f"(available: {', '.join(available)}); install onnxruntime-gpu or use device='cpu'"
            )
        cuda_opts = {"device_id": device.index, "arena_extend_strategy": "kSameAsRequested"}
        return [("CUDAExecutionProvider", cuda_opts), "CPUExecutionProvider"]
    return ["CPUExecutionProvider"]


class OrtSession:
    """One onnxruntime ``InferenceSession`` with our options; satisfies ``Session``."""

    def __init__(self, path: str | Path, *, device: str | Device = "cpu", threads: int = 0) -> None:
        import onnxruntime as ort  # imported here: importing dva_ocr.ocr must stay cheap

        dev = device if isinstance(device, Device) else Device.parse(device)
        if threads < 0:
            raise ValueError(f"threads must be >= 0 (0 = onnxruntime default), got {threads}")
        opts = ort.SessionOptions()
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
        opts.log_severity_level = 3
        self.device = dev
        self.path = Path(path)
        self._sess = ort.InferenceSession(
            str(path), sess_options=opts, providers=providers_for(dev, ort.get_available_providers())
        )
        if dev.kind == "cuda" and "CUDAExecutionProvider" not in self._sess.get_providers():
            raise RuntimeUnavailableError(f"CUDAExecutionProvider failed to initialise for {dev}")
        self._input = self._sess.get_inputs()[0].name
        self._meta = dict(self._sess.get_modelmeta().custom_metadata_map)

    @property
    def input_name(self) -> str:
        return self._input

    @property
    def metadata(self) -> dict[str, str]:
        return self._meta

    @property
    def providers(self) -> list[str]:
        return list(self._sess.get_providers())

    def run(self, inputs: dict[str, np.ndarray]) -> list[np.ndarray]:
        return self._sess.run(None, inputs)
