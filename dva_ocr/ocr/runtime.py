"""onnxruntime session wrapper: provider choice, thread caps, the optimised-model cache, and a
``Session`` protocol for stubs.

Every session runs the model's graph with `folding.py`'s exact rewrites (affine nodes folded into the
convolutions, HardSwish in two nodes instead of four: the PP-OCR detector 1.5x, the recogniser 1.7x
faster on the CPU), checked against the graph it came from when it is made.

The optimised-model cache: onnxruntime spends most of a session's creation optimising the graph (det
25 ms -> 10 ms, rec 54 ms -> 13 ms measured). On the CPU the optimised graph is written once to
``MODEL_CACHE_DIR`` (default ``~/.cache/dva-ocr/onnx``), named by the model file's sha256, the
version of the rewrites, the onnxruntime version and a hash of the CPU's feature flags (the optimised
graph may use layouts only this kind of CPU runs), and later sessions load it with no optimisation
left to do: the same graph, the same outputs. A cache that cannot be written is skipped (logged at
debug level); an empty ``MODEL_CACHE_DIR`` turns it off.
"""

from __future__ import annotations

import hashlib
import logging
import os
import platform
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np

from dva_ocr.ocr.folding import FOLD_VERSION, folded_model

log = logging.getLogger(__name__)


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


def check_device(spec: str | Device) -> Device:
    """The device ``spec`` names, checked against the installed onnxruntime (``RuntimeUnavailableError``
    when it cannot run there), without loading a model: what a worker checks before it starts."""
    import onnxruntime as ort

    dev = spec if isinstance(spec, Device) else Device.parse(spec)
    providers_for(dev, ort.get_available_providers())
    return dev


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
        providers = providers_for(dev, ort.get_available_providers())
        cached = optimised_path(self.path, ort.__version__) if dev.kind == "cpu" else None
        self.optimised_from_cache = cached is not None and cached.is_file()
        if cached is not None and self.optimised_from_cache:
            opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
            self._sess = ort.InferenceSession(str(cached), sess_options=opts, providers=providers)
        else:
            self._sess = self._optimised(ort, opts, providers, cached)
        if dev.kind == "cuda" and "CUDAExecutionProvider" not in self._sess.get_providers():
            raise RuntimeUnavailableError(f"CUDAExecutionProvider failed to initialise for {dev}")
        self._input = self._sess.get_inputs()[0].name
        self._meta = dict(self._sess.get_modelmeta().custom_metadata_map)

    def _optimised(self, ort: Any, opts: Any, providers: list, cached: Path | None) -> Any:
        """A session optimising the folded graph, writing the result to ``cached`` where there is one."""
        model = folded_model(self.path) or str(self.path)  # the same arithmetic in fewer nodes (folding.py)
        if cached is not None and (part := _part_file(cached)) is not None:
            opts.optimized_model_filepath = str(part)  # this session optimises, and writes the result
            try:
                sess = ort.InferenceSession(model, sess_options=opts, providers=providers)
                os.replace(part, cached)  # whole or not at all: another process may be starting
            finally:
                part.unlink(missing_ok=True)
            return sess
        return ort.InferenceSession(model, sess_options=opts, providers=providers)

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


def _cpu_flags() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith(("flags", "Features")):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def optimised_path(model: Path, ort_version: str) -> Path | None:
    """Where the optimised graph of ``model`` is cached (None: the cache is off)."""
    from dva_ocr.ocr.spec import sha256_of
    from dva_ocr.settings import get_settings

    root = get_settings().model_cache_dir
    if root is None:
        return None
    cpu = hashlib.sha256(f"{platform.machine()} {_cpu_flags()}".encode()).hexdigest()[:10]
    digest = sha256_of(model.resolve())[:16]
    return (
        Path(root).expanduser() / f"{model.stem}-{digest}-fold{FOLD_VERSION}-ort{ort_version}-cpu{cpu}.onnx"
    )


def _part_file(cached: Path) -> Path | None:
    """A fresh temporary file beside ``cached`` to write the optimised graph to; None when the cache
    folder cannot be written (the session is then made without the cache)."""
    try:
        cached.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=cached.parent, prefix=cached.stem, suffix=".part")
        os.close(fd)
        return Path(tmp)
    except OSError as exc:
        log.debug("optimised model cache not written to %s: %s", cached.parent, exc)
        return None
