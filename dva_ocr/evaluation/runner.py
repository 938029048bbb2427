"""Run an engine over a labelled dataset and add up the metrics."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from dva_ocr.errors import MediaError
from dva_ocr.evaluation.datasets import DONT_CARE, Dataset, ImageSample
from dva_ocr.evaluation.metrics import (
    BagOfWords,
    bag_of_words,
    collapse_spaces,
    match_detections,
    normalise_text,
    normalised_edit_distance,
    prf,
)

if TYPE_CHECKING:
    from dva_ocr.ocr import OcrEngine, OcrRegion

Progress = Callable[[int, int], None]  # (done, total)

IMAGE_CHUNK = 8  # images per engine.batch call
CROP_CHUNK = 64  # crops per recogniser call
MAX_MISTAKES = 10  # examples of misread crops kept in the report


@dataclass
class WordTotals:
    """Bag-of-words counts summed over images (micro average)."""

    tp: int = 0
    truth: int = 0
    predicted: int = 0
    ignored_predictions: int = 0
    ignored_words: int = 0

    def add(self, b: BagOfWords) -> None:
        self.tp += b.tp
        self.truth += b.truth
        self.predicted += b.predicted
        self.ignored_predictions += b.ignored_predictions
        self.ignored_words += b.ignored_words

    def report(self) -> dict[str, Any]:
        return {
            **_rounded(prf(self.tp, self.truth, self.predicted)),
            "tp": self.tp,
            "predicted": self.predicted,
            "truth": self.truth,
            "ignored_predictions": self.ignored_predictions,
            "ignored_words": self.ignored_words,
        }


@dataclass
class DetectionTotals:
    images: int = 0
    det_tp: int = 0
    det_gt: int = 0
    det_pred: int = 0
    ignored: int = 0
    dont_care: int = 0
    words: WordTotals = field(default_factory=WordTotals)
    per_image: list[dict[str, Any]] = field(default_factory=list)

    def add(self, sample: ImageSample, regions: list[OcrRegion]) -> None:
        gt_polygons = [g.polygon for g in sample.regions]
        dont_care = [g.dont_care for g in sample.regions]
        m = match_detections(gt_polygons, [r.polygon for r in regions], dont_care)
        self.images += 1
        self.det_tp += m.true_positives
        self.det_gt += m.gt_count
        self.det_pred += m.pred_count
        self.ignored += len(m.ignored_preds)
        self.dont_care += m.dont_care
        b = bag_of_words(
            [g.text for g in sample.regions], [r.text for r in regions], dont_care, ignored=m.ignored_preds
        )
        self.words.add(b)
        self.per_image.append(
            {
                "image": str(sample.image),
                "tp": b.tp,
                "predicted": b.predicted,
                "truth": b.truth,
                "ignored_predictions": b.ignored_predictions,
                "missed": list(b.missed),
                "false": list(b.false),
            }
        )

    def report(self) -> dict[str, Any]:
        return {
            "detection": {
                **_rounded(prf(self.det_tp, self.det_gt, self.det_pred)),
                "matched": self.det_tp,
                "gt": self.det_gt,
                "predicted": self.det_pred,
                "ignored": self.ignored,
                "dont_care": self.dont_care,
            },
            "bag_of_words": self.words.report(),
        }


@dataclass
class RecognitionTotals:
    crops: int = 0
    correct: int = 0
    correct_case_sensitive: int = 0
    ned_sum: float = 0.0
    dont_care: int = 0
    mistakes: list[dict[str, str]] = field(default_factory=list)

    words: WordTotals = field(default_factory=WordTotals)

    def add(self, image: str, gt: str, pred: str) -> None:
        if gt == DONT_CARE:
            self.dont_care += 1
            return
        self.crops += 1
        self.words.add(bag_of_words([gt], [pred]))
        self.correct += normalise_text(gt) == normalise_text(pred)
        exact = collapse_spaces(gt) == collapse_spaces(pred)
        self.correct_case_sensitive += exact
        self.ned_sum += normalised_edit_distance(normalise_text(gt), normalise_text(pred))
        if not exact and len(self.mistakes) < MAX_MISTAKES:
            self.mistakes.append({"image": image, "gt": gt, "predicted": pred})

    def report(self) -> dict[str, Any]:
        n = self.crops
        return {
            "recognition": {
                "accuracy": round(self.correct / n, 4) if n else 0.0,
                "accuracy_case_sensitive": round(self.correct_case_sensitive / n, 4) if n else 0.0,
                "mean_ned": round(self.ned_sum / n, 4) if n else 0.0,
                "correct": self.correct,
                "correct_case_sensitive": self.correct_case_sensitive,
                "dont_care": self.dont_care,
            },
            "bag_of_words": self.words.report(),
            "mistakes": self.mistakes,
        }


def _rounded(d: dict[str, float]) -> dict[str, float]:
    return {k: round(v, 4) for k, v in d.items()}


def _read(path: Any, skipped: list[dict[str, str]]) -> np.ndarray | None:
    from dva_ocr.media.images import read_image

    try:
        return read_image(path)
    except MediaError as exc:
        skipped.append({"image": str(path), "error": str(exc)})
        return None


def _warm_up(run: Callable[[np.ndarray], Any], paths: list[Any]) -> None:
    """One untimed run on the first readable image, so the rate does not count onnxruntime's first-run
    set-up (which is most of the time of a small set)."""
    from dva_ocr.media.images import read_image

    for path in paths[:5]:
        try:
            image = read_image(path)
        except MediaError:
            continue
        run(image)
        return


def evaluate_dataset(engine: OcrEngine, dataset: Dataset, progress: Progress | None = None) -> dict[str, Any]:
    """Metrics of ``engine`` on ``dataset`` as a JSON-ready dict (see ``evaluate_images``/``_crops``)."""
    if dataset.layout == "crops":
        return evaluate_crops(engine, dataset, progress)
    return evaluate_images(engine, dataset, progress)


def evaluate_images(engine: OcrEngine, dataset: Dataset, progress: Progress | None = None) -> dict[str, Any]:
    """Detection P/R/F1 and the end-to-end bag-of-words P/R/F1 over a quad or box dataset, with each
    image's bag-of-words counts under ``per_image``; unreadable images are left out and listed under
    ``skipped``. ``seconds`` and the rate cover reading the images and the OCR, after one untimed warm-up
    image."""
    totals = DetectionTotals()
    skipped: list[dict[str, str]] = []
    samples = dataset.samples
    _warm_up(lambda im: engine.batch([im]), [s.image for s in samples])
    t0 = time.perf_counter()
    for start in range(0, len(samples), IMAGE_CHUNK):
        chunk = [(s, _read(s.image, skipped)) for s in samples[start : start + IMAGE_CHUNK]]
        chunk = [(s, im) for s, im in chunk if im is not None]
        if chunk:
            for (sample, _), regions in zip(chunk, engine.batch([im for _, im in chunk]), strict=True):
                totals.add(sample, regions)
        if progress:
            progress(min(start + IMAGE_CHUNK, len(samples)), len(samples))
    seconds = time.perf_counter() - t0
    return {
        "dataset": str(dataset.root),
        "layout": dataset.layout,
        "images": totals.images,
        "skipped": skipped,
        "missing_gt": len(dataset.missing_gt),
        **totals.report(),
        "seconds": round(seconds, 3),
        "images_per_s": round(totals.images / seconds, 3) if seconds > 0 else 0.0,
        "per_image": totals.per_image,
    }


def evaluate_crops(engine: OcrEngine, dataset: Dataset, progress: Progress | None = None) -> dict[str, Any]:
    """Recognition accuracy (normalised and case-sensitive), mean normalised edit distance and the
    bag-of-words P/R/F1 (each crop an image) over crops read by the recogniser alone
    (``engine.read_lines``)."""
    totals = RecognitionTotals()
    skipped: list[dict[str, str]] = []
    crops = dataset.crops
    _warm_up(lambda im: engine.read_lines([im]), [c.image for c in crops])
    t0 = time.perf_counter()
    for start in range(0, len(crops), CROP_CHUNK):
        chunk = [(c, _read(c.image, skipped)) for c in crops[start : start + CROP_CHUNK]]
        chunk = [(c, im) for c, im in chunk if im is not None]
        if chunk:
            for (crop, _), reading in zip(chunk, engine.read_lines([im for _, im in chunk]), strict=True):
                totals.add(str(crop.image), crop.text, reading.text)
        if progress:
            progress(min(start + CROP_CHUNK, len(crops)), len(crops))
    seconds = time.perf_counter() - t0
    return {
        "dataset": str(dataset.root),
        "layout": "crops",
        "crops": totals.crops,
        "skipped": skipped,
        **totals.report(),
        "seconds": round(seconds, 3),
        "crops_per_s": round(totals.crops / seconds, 3) if seconds > 0 else 0.0,
    }
