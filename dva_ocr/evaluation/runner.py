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
    collapse_spaces,
    match_detections,
    match_words,
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
class DetectionTotals:
    images: int = 0
    det_tp: int = 0
    det_gt: int = 0
    det_pred: int = 0
    ignored: int = 0
    dont_care: int = 0
    words_matched: int = 0
    words_gt: int = 0
    words_pred: int = 0

    def add(self, sample: ImageSample, regions: list[OcrRegion]) -> None:
        care = [not g.dont_care for g in sample.regions]
        m = match_detections(
            [g.polygon for g in sample.regions], [r.polygon for r in regions], [not c for c in care]
        )
        self.images += 1
        self.det_tp += m.true_positives
        self.det_gt += m.gt_count
        self.det_pred += m.pred_count
        self.ignored += len(m.ignored_preds)
        self.dont_care += m.dont_care
        ignored = set(m.ignored_preds)
        w = match_words(
            [g.text for g, c in zip(sample.regions, care, strict=True) if c],
            [r.text for j, r in enumerate(regions) if j not in ignored],
        )
        self.words_matched += w.matched
        self.words_gt += w.gt_words
        self.words_pred += w.pred_words

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
            "end_to_end": {
                **_rounded(prf(self.words_matched, self.words_gt, self.words_pred)),
                "matched_words": self.words_matched,
                "gt_words": self.words_gt,
                "predicted_words": self.words_pred,
            },
        }


@dataclass
class RecognitionTotals:
    crops: int = 0
    correct: int = 0
    correct_case_sensitive: int = 0
    ned_sum: float = 0.0
    dont_care: int = 0
    mistakes: list[dict[str, str]] = field(default_factory=list)

    def add(self, image: str, gt: str, pred: str) -> None:
        if gt == DONT_CARE:
            self.dont_care += 1
            return
        self.crops += 1
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
    """Detection P/R/F1 and end-to-end word P/R/F1 over a quad or box dataset; unreadable images are
    left out and listed under ``skipped``. ``seconds`` and the rate cover reading the images and the
    OCR, after one untimed warm-up image."""
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
    }


def evaluate_crops(engine: OcrEngine, dataset: Dataset, progress: Progress | None = None) -> dict[str, Any]:
    """Recognition accuracy (normalised and case-sensitive) and mean normalised edit distance over crops
    read by the recogniser alone (``engine.read_lines``)."""
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
