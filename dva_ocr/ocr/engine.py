"""``OcrEngine``: PP-OCRv4 detection -> crops -> (optional angle classifier) -> CTC recognition -> words.

The recognition half (classifier, recogniser, word spaces) is a :class:`~dva_ocr.ocr.lines.LineReader`,
``engine.lines``; ``engine.read_lines(images)`` reads whole images through it, without detection.
"""

from __future__ import annotations

import copy
import dataclasses
import inspect
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from dva_ocr.filters import MIN_LINE_CONFIDENCE
from dva_ocr.media.images import read_image
from dva_ocr.ocr.classifier import AngleClassifier
from dva_ocr.ocr.crops import crop_quad
from dva_ocr.ocr.detection import TextDetector
from dva_ocr.ocr.lines import LineReader, LineReading
from dva_ocr.ocr.recognition import RecResult, TextRecognizer
from dva_ocr.ocr.runtime import Device, OrtSession, Session
from dva_ocr.ocr.spec import (
    MODEL_NAME,
    ClsParams,
    DetParams,
    ModelSpec,
    RecParams,
    bundled_model,
    model_spec,
    shape_buckets,
)

ImageInput = np.ndarray | str | Path | Any  # Any: a PIL.Image.Image (PIL is imported lazily)
SessionFactory = Callable[[Path], Session]

BLANK_RANGE = 8  # an image whose pixel values span less than this has no text to find
LINE_CHUNK = 64  # images loaded and recognised together by ``read_lines``


@dataclass(frozen=True)
class OcrRegion:
    """One text line: its quadrilateral and box in the image's own pixels, and what it says."""

    polygon: tuple[tuple[float, float], ...]  # 4 corners, clockwise from top-left
    box: tuple[int, int, int, int]  # x, y, w, h (axis-aligned, covering the polygon)
    text: str  # with word spaces recovered
    raw_text: str  # as decoded by the recogniser
    confidence: float
    char_confidences: tuple[float, ...] = field(default=(), repr=False)  # one per raw_text character

    def to_json(self) -> dict[str, Any]:
        return {
            "polygon": [[x, y] for x, y in self.polygon],
            "text": self.text,
            "confidence": round(self.confidence, 4),
            "raw_text": self.raw_text,
            "box": list(self.box),
        }


def load_image(image: ImageInput) -> np.ndarray:
    """A uint8 H x W x 3 RGB array from an array, a path (EXIF orientation applied) or a PIL image."""
    if isinstance(image, str | Path):
        return read_image(image)
    if not isinstance(image, np.ndarray):
        from PIL import Image

        if isinstance(image, Image.Image):
            return np.asarray(image.convert("RGB"))
        raise ValueError(f"expected an RGB numpy array, a path or a PIL image, got {type(image).__name__}")
    if image.dtype != np.uint8:
        raise ValueError(f"expected a uint8 image, got dtype {image.dtype} with shape {image.shape}")
    if image.ndim == 2:
        return np.repeat(image[:, :, None], 3, axis=2)
    if image.ndim != 3 or image.shape[2] not in (3, 4):
        raise ValueError(f"expected an H x W x 3 RGB image, got shape {image.shape}")
    return image[:, :, :3]


def _check_type(image: Any) -> Any:
    if isinstance(image, str | Path):
        return image
    from PIL import Image

    if isinstance(image, Image.Image):
        return image
    raise ValueError(f"expected an RGB numpy array, a path or a PIL image, got {type(image).__name__}")


def _region(quad: np.ndarray, rec: RecResult, text: str) -> OcrRegion:
    poly = tuple((round(float(x), 1), round(float(y), 1)) for x, y in quad)
    x0, y0 = np.floor(quad.min(axis=0)).astype(int)
    x1, y1 = np.ceil(quad.max(axis=0)).astype(int)
    return OcrRegion(
        polygon=poly,
        box=(int(x0), int(y0), int(x1 - x0), int(y1 - y0)),
        text=text,
        raw_text=rec.text,
        confidence=round(rec.confidence, 4),
        char_confidences=rec.char_confidences,
    )


def _params(
    name: str, use_angle_cls: bool, det: DetParams | None, rec: RecParams | None, cls: ClsParams | None
) -> tuple[DetParams, RecParams, ClsParams | None]:
    """The parameters given, else the defaults of the bundled model ``name`` runs on."""
    base = bundled_model(name)
    return det or base.det, rec or base.rec, (cls or base.cls) if use_angle_cls else None


def engine_spec(**options: Any) -> ModelSpec:
    """The spec an ``OcrEngine(**options)`` would run under, without loading any model."""
    defaults = inspect.signature(OcrEngine.__init__).parameters
    opts = {k: p.default for k, p in defaults.items() if k != "self" and p.default is not p.empty} | options
    det_p, rec_p, cls_p = _params(
        opts["name"], opts["use_angle_cls"], opts["det_params"], opts["rec_params"], opts["cls_params"]
    )
    return model_spec(
        det_p,
        rec_p,
        cls_p,
        {"min_confidence": opts["min_confidence"], "word_spacing": opts["word_spacing"]},
        name=opts["name"],
        files=opts["model_files"],
    )


# A line of at most this many Latin letters is kept only when read this confidently (a number is kept
# at the line floor): textures, fences and foliage read as "l", "II", "ii" (MEASUREMENTS.md).
SHORT_TOKEN_CHARS = 2
SHORT_TOKEN_MIN_CONFIDENCE = 0.95


def short_junk(text: str, confidence: float) -> bool:
    """Whether a line is a short run of Latin letters read too unsurely to keep."""
    alnum = "".join(c for c in text if c.isalnum())
    return (
        len(alnum) <= SHORT_TOKEN_CHARS
        and alnum.isascii()
        and not alnum.isdigit()
        and confidence < SHORT_TOKEN_MIN_CONFIDENCE
    )


class OcrEngine:
    """PP-OCRv4 on onnxruntime. Models load once, in the constructor; call it on images.

    ``engine(image)`` -> regions of one image; ``engine.batch(images)`` -> regions per image, with
    same-size images detected together and all their crops recognised in shared batches;
    ``engine.read_lines(images)`` -> one :class:`LineReading` per image, each image read as one text
    line by the recogniser alone (no detection), e.g. word or line crops.

    device: ``cpu``, ``cuda`` or ``cuda:N`` (CUDA needs onnxruntime-gpu; asking for it without that is an
    error, never a silent fallback). threads: onnxruntime intra-op threads per model, 0 = its default
    (all cores); with several worker processes keep processes x threads <= cores. use_angle_cls: the
    0/180 degree classifier, off by default (it flips upright lines; see MEASUREMENTS.md).
    min_confidence: regions whose mean character probability is lower are dropped (default 0.7, measured;
    a line of at most 2 Latin letters needs 0.95, see ``short_junk``). word_spacing:
    put back the spaces the recogniser dropped (``text``; ``raw_text`` keeps the decoded string).
    chunk_size: images loaded and processed together by ``batch``. session_factory: builds a
    ``Session`` from a model path, for tests and other runtimes. name, model_files: a registered model
    version's name and the files it replaces by role (``{"rec": path}`` for a custom recogniser,
    ``"dict"`` for its dictionary file); the bundled files of ``name`` (``ppocrv5``: PP-OCRv5 with its
    own default parameters; anything else: PP-OCRv4) fill the rest. shapes: ``auto`` runs a GPU on shape
    buckets (``spec.shape_buckets``: detection inputs padded to multiples of 128, recognition widths to
    multiples of 128, bigger batches) and a CPU on exact sizes; ``exact`` or ``buckets`` force one (the
    GPU's shapes are tested on a CPU this way).
    """

    def __init__(
        self,
        *,
        device: str = "cpu",
        threads: int = 0,
        use_angle_cls: bool = False,
        min_confidence: float = MIN_LINE_CONFIDENCE,
        word_spacing: bool = True,
        det_params: DetParams | None = None,
        rec_params: RecParams | None = None,
        cls_params: ClsParams | None = None,
        chunk_size: int = 8,
        session_factory: SessionFactory | None = None,
        name: str = MODEL_NAME,
        model_files: Mapping[str, Path] | None = None,
        shapes: str = "auto",
    ) -> None:
        if shapes not in ("auto", "exact", "buckets"):
            raise ValueError(f"shapes must be 'auto', 'exact' or 'buckets', got {shapes!r}")
        self.device = Device.parse(device)
        self.threads = threads
        self.min_confidence = min_confidence
        self.chunk_size = max(1, chunk_size)
        det_p, rec_p, cls_p = _params(name, use_angle_cls, det_params, rec_params, cls_params)
        self.model_spec: ModelSpec = model_spec(
            det_p,
            rec_p,
            cls_p,
            {"min_confidence": min_confidence, "word_spacing": word_spacing},
            name=name,
            files=model_files,
        )
        self.shape_buckets = shapes == "buckets" or (shapes == "auto" and self.device.kind == "cuda")
        if self.shape_buckets:  # few input shapes on a GPU (spec.shape_buckets); the spec is the same
            det_p, rec_p = shape_buckets(det_p, rec_p)
        make = session_factory or (lambda path: OrtSession(path, device=self.device, threads=threads))
        self.detector = TextDetector(make(self.model_spec.file("det").path), det_p)
        files = {f.role: f.path for f in self.model_spec.files}
        self.recognizer = TextRecognizer(make(files["rec"]), rec_p, dictionary=files.get("dict"))
        self.classifier = AngleClassifier(make(self.model_spec.file("cls").path), cls_p) if cls_p else None
        self.lines = LineReader(self.recognizer, self.classifier, word_spacing=word_spacing)
        # read_lines: isolated line images, padded to RecParams.crop_min_width (the same session)
        crop_rec = copy.copy(self.recognizer)
        crop_rec.params = dataclasses.replace(
            self.recognizer.params, min_width=max(self.recognizer.params.min_width, rec_p.crop_min_width)
        )
        self.crop_lines = LineReader(crop_rec, self.classifier, word_spacing=word_spacing)

    @property
    def word_spacing(self) -> bool:
        return self.lines.word_spacing

    def __call__(self, image: ImageInput) -> list[OcrRegion]:
        return self.batch([image])[0]

    def batch(self, images: Iterable[ImageInput]) -> list[list[OcrRegion]]:
        """Regions of each image. Arrays and input types are checked before any work; files are
        read ``chunk_size`` at a time, so a long list of paths does not sit in memory at once."""
        items = [load_image(im) if isinstance(im, np.ndarray) else _check_type(im) for im in images]
        out: list[list[OcrRegion]] = []
        for start in range(0, len(items), self.chunk_size):
            out.extend(self._run([load_image(im) for im in items[start : start + self.chunk_size]]))
        return out

    def read_lines(self, images: Iterable[ImageInput]) -> list[LineReading]:
        """Each image (RGB array, path or PIL image) read as one text line by the recogniser alone, no
        detection: for word or line crops. The angle classifier (``use_angle_cls``) turns upside-down
        images first; word spaces are recovered when ``word_spacing``. An image without pixels gives an
        empty reading (text ``""``, confidence 0.0); ``min_confidence`` does not apply. Inputs are
        checked as in ``batch``."""
        items = [load_image(im) if isinstance(im, np.ndarray) else _check_type(im) for im in images]
        out: list[LineReading] = []
        for start in range(0, len(items), LINE_CHUNK):
            out.extend(self.crop_lines.read([load_image(im) for im in items[start : start + LINE_CHUNK]]))
        return out

    def _run(self, rgb_images: Sequence[np.ndarray]) -> list[list[OcrRegion]]:
        bgr = [np.ascontiguousarray(im[:, :, ::-1]) for im in rgb_images]  # PaddleOCR models read BGR
        todo = [i for i, im in enumerate(bgr) if im.size and np.ptp(im[::4, ::4]) >= BLANK_RANGE]
        dets = self.detector.detect_batch([bgr[i] for i in todo])
        owners, quads, crops = [], [], []
        for i, found in zip(todo, dets, strict=True):
            for d in found:
                owners.append(i)
                quads.append(d.quad)
                crops.append(crop_quad(bgr[i], d.quad))
        recs = self.lines.recognise(crops)
        out: list[list[OcrRegion]] = [[] for _ in rgb_images]
        for i, quad, rec in zip(owners, quads, recs, strict=True):
            if (
                not rec.text.strip()
                or rec.confidence < self.min_confidence
                or short_junk(rec.text, rec.confidence)
            ):
                continue
            out[i].append(_region(quad, rec, self.lines.text_of(rec)))
        return out
