"""Pure metric functions: polygon IoU and one-to-one matching, bags of words, edit distance.

Conventions (the same as the ICDAR 2015 robust-reading protocol where it has one):

- don't care: ground truths marked don't care (``###``) are not counted, and a prediction is ignored (not
  counted at all) when more than half of its area lies inside one don't-care region (intersection over the
  prediction's area > 0.5, the rule of the ICDAR 2015 script): ``ignored_predictions``, one rule for both
  metrics below.
- detection: a prediction and a ground-truth polygon match when their IoU is at least 0.5; matching is
  one-to-one, greedily by decreasing IoU.
- bag of words (the end-to-end metric): per image, the multiset of normalised words of the ground-truth
  texts against that of the predicted texts, so word- and line-level annotations are scored alike;
  don't-care regions and ignored predictions are left out. TP is the size of the multisets' intersection
  (a word predicted twice counts twice only if it is twice in the truth); totals are summed over images
  (micro) before precision = TP / predicted and recall = TP / truth.
- normalisation: words are split on whitespace; each is Unicode NFKC, case-folded, every character that is
  not a letter or digit removed, and dropped if nothing is left (``"Invoice"`` and ``invoice,`` are the
  same word; ``129.50`` is ``12950``; ``—`` is no word).
"""

from __future__ import annotations

import unicodedata
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TypeAlias

from shapely.geometry import Polygon
from shapely.geometry.base import BaseGeometry
from shapely.validation import make_valid

from dva_ocr.ocr.distance import edit_distance  # re-exported: one Levenshtein for the project

Point = tuple[float, float]
IOU_THRESHOLD = 0.5
DONT_CARE_OVERLAP = 0.5


Shape: TypeAlias = Sequence[Point] | BaseGeometry  # corners, or a geometry made from them by ``to_polygon``


def to_polygon(points: Shape) -> BaseGeometry:
    """A valid shapely geometry from corners (self-intersecting quads are repaired, not rejected: the
    repair may be a multi-polygon); a geometry is returned as it is."""
    if isinstance(points, BaseGeometry):
        return points
    poly: BaseGeometry = Polygon([(float(x), float(y)) for x, y in points])
    if not poly.is_valid:
        poly = make_valid(poly)
    return poly


def polygon_iou(a: Shape, b: Shape) -> float:
    pa, pb = to_polygon(a), to_polygon(b)
    union = pa.union(pb).area
    return pa.intersection(pb).area / union if union > 0 else 0.0


def covered_fraction(inner: BaseGeometry, outer: BaseGeometry) -> float:
    """Share of ``inner``'s area that lies inside ``outer``."""
    return inner.intersection(outer).area / inner.area if inner.area > 0 else 0.0


@dataclass(frozen=True)
class DetectionMatch:
    """One image's detection result: matched pairs (gt index, prediction index) and what was left out."""

    pairs: tuple[tuple[int, int], ...]
    gt_count: int  # ground truths that count (don't-care excluded)
    pred_count: int  # predictions that count (ignored ones excluded)
    ignored_preds: tuple[int, ...]  # mostly inside a don't-care region
    dont_care: int

    @property
    def true_positives(self) -> int:
        return len(self.pairs)


def ignored_predictions(
    gts: Sequence[Shape],
    preds: Sequence[Shape],
    dont_care: Sequence[bool],
    dont_care_overlap: float = DONT_CARE_OVERLAP,
) -> tuple[int, ...]:
    """Indices of the predictions with more than ``dont_care_overlap`` of their area inside one don't-care
    ground truth (``dont_care[i]`` flags ``gts[i]``): left out of every count."""
    if len(dont_care) != len(gts):
        raise ValueError(f"dont_care has {len(dont_care)} flags for {len(gts)} ground truths")
    holes = [to_polygon(g) for g, d in zip(gts, dont_care, strict=True) if d]
    if not holes:
        return ()
    pp = [to_polygon(p) for p in preds]
    return tuple(
        j for j, p in enumerate(pp) if any(covered_fraction(p, h) > dont_care_overlap for h in holes)
    )


def match_detections(
    gts: Sequence[Shape],
    preds: Sequence[Shape],
    dont_care: Sequence[bool] | None = None,
    iou_threshold: float = IOU_THRESHOLD,
    dont_care_overlap: float = DONT_CARE_OVERLAP,
) -> DetectionMatch:
    """One-to-one matching of predicted against ground-truth polygons of one image."""
    care = [not d for d in dont_care] if dont_care is not None else [True] * len(gts)
    if len(care) != len(gts):
        raise ValueError(f"dont_care has {len(care)} flags for {len(gts)} ground truths")
    gp = [to_polygon(g) for g in gts]
    pp = [to_polygon(p) for p in preds]
    ignored = ignored_predictions(gp, pp, [not c for c in care], dont_care_overlap)
    live_preds = [j for j in range(len(pp)) if j not in ignored]
    live_gts = [i for i in range(len(gp)) if care[i]]
    candidates = []
    for i in live_gts:
        for j in live_preds:
            if gp[i].intersects(pp[j]):
                iou = polygon_iou(gp[i], pp[j])
                if iou >= iou_threshold:
                    candidates.append((iou, i, j))
    candidates.sort(key=lambda c: (-c[0], c[1], c[2]))
    used_g: set[int] = set()
    used_p: set[int] = set()
    pairs = []
    for _, i, j in candidates:
        if i not in used_g and j not in used_p:
            used_g.add(i)
            used_p.add(j)
            pairs.append((i, j))
    return DetectionMatch(
        pairs=tuple(sorted(pairs)),
        gt_count=len(live_gts),
        pred_count=len(live_preds),
        ignored_preds=ignored,
        dont_care=len(gts) - len(live_gts),
    )


def normalise_word(word: str) -> str:
    """NFKC, case-folded, letters and digits only."""
    return "".join(ch for ch in unicodedata.normalize("NFKC", word).casefold() if ch.isalnum())


def normalise_text(text: str) -> str:
    """A whole string as ``normalise_word`` (spaces go too): for comparing recognised crops."""
    return normalise_word(text)


def collapse_spaces(text: str) -> str:
    """Runs of whitespace as one space, ends stripped: the case-sensitive comparison form."""
    return " ".join(unicodedata.normalize("NFC", text).split())


def word_bag(texts: Iterable[str]) -> Counter[str]:
    """Multiset of the normalised words of ``texts`` (split on whitespace; empty words dropped)."""
    bag: Counter[str] = Counter()
    for text in texts:
        for word in text.split():
            w = normalise_word(word)
            if w:
                bag[w] += 1
    return bag


@dataclass(frozen=True)
class BagOfWords:
    """One image's bag-of-words comparison (see the module's conventions)."""

    tp: int  # size of the intersection of the two multisets
    truth: int  # ground-truth words (don't-care regions left out)
    predicted: int  # predicted words (ignored predictions left out)
    ignored_predictions: int = 0  # predicted regions mostly inside a don't-care region
    ignored_words: int = 0  # the words of those regions
    missed: tuple[str, ...] = ()  # truth words not predicted, with repeats, sorted
    false: tuple[str, ...] = ()  # predicted words not in the truth, with repeats, sorted


def bag_of_words(
    gt_texts: Sequence[str],
    pred_texts: Sequence[str],
    dont_care: Sequence[bool] | None = None,
    gt_polygons: Sequence[Shape] | None = None,
    pred_polygons: Sequence[Shape] | None = None,
    ignored: Iterable[int] | None = None,
) -> BagOfWords:
    """The words of the ground truth against the predicted words of one image, as multisets.

    ``dont_care`` flags ground truths to leave out (default none). Predictions to ignore are ``ignored``
    (indices into ``pred_texts``, e.g. a ``DetectionMatch``'s ``ignored_preds``), else found from the
    polygons by ``ignored_predictions`` when both are given, else none (plain text, as for crops).
    """
    flags = list(dont_care) if dont_care is not None else [False] * len(gt_texts)
    if len(flags) != len(gt_texts):
        raise ValueError(f"dont_care has {len(flags)} flags for {len(gt_texts)} ground truths")
    if ignored is None:
        if gt_polygons is not None and pred_polygons is not None:
            if len(gt_polygons) != len(gt_texts) or len(pred_polygons) != len(pred_texts):
                raise ValueError("one polygon per text expected")
            ignored = ignored_predictions(gt_polygons, pred_polygons, flags)
        else:
            ignored = ()
    skip = set(ignored)
    want = word_bag(t for t, d in zip(gt_texts, flags, strict=True) if not d)
    got = word_bag(t for j, t in enumerate(pred_texts) if j not in skip)
    hidden = word_bag(t for j, t in enumerate(pred_texts) if j in skip)
    return BagOfWords(
        tp=(want & got).total(),
        truth=want.total(),
        predicted=got.total(),
        ignored_predictions=len(skip),
        ignored_words=hidden.total(),
        missed=tuple(sorted((want - got).elements())),
        false=tuple(sorted((got - want).elements())),
    )


def normalised_edit_distance(gt: str, pred: str) -> float:
    """Edit distance over the longer string's length: 0 identical, 1 nothing in common (0 for two empties)."""
    longest = max(len(gt), len(pred))
    return edit_distance(gt, pred) / longest if longest else 0.0


def prf(true_positives: int, gt_count: int, pred_count: int) -> dict[str, float]:
    """Precision, recall and F1; a ratio with nothing to divide by is 0 (as in the ICDAR scripts)."""
    precision = true_positives / pred_count if pred_count else 0.0
    recall = true_positives / gt_count if gt_count else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": precision, "recall": recall, "f1": f1}
