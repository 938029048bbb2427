"""Pure metric functions: polygon IoU and one-to-one matching, word multisets, edit distance.

Conventions (the same as the ICDAR 2015 robust-reading protocol where it has one):

- detection: a prediction and a ground-truth polygon match when their IoU is at least 0.5; matching is
  one-to-one, greedily by decreasing IoU. Don't-care ground truths (``###``) are not counted, and
  predictions lying mostly (more than half of their area) inside a don't-care region are ignored.
- end to end: per image, the multiset of normalised words of the ground-truth texts against that of the
  predicted texts, so word- and line-level annotations are scored alike; don't-care regions and ignored
  predictions are left out.
- normalisation: Unicode NFKC, case-folded, every character that is not a letter or digit removed from each
  word (``"Invoice"`` and ``invoice,`` are the same word; ``129.50`` is ``12950``).
"""

from __future__ import annotations

import unicodedata
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from shapely.geometry import Polygon
from shapely.validation import make_valid

from dva_ocr.ocr.distance import edit_distance  # re-exported: one Levenshtein for the project

Point = tuple[float, float]
IOU_THRESHOLD = 0.5
DONT_CARE_OVERLAP = 0.5


def to_polygon(points: Sequence[Point]) -> Polygon:
    """A valid shapely polygon from corners (self-intersecting quads are repaired, not rejected)."""
    poly = Polygon([(float(x), float(y)) for x, y in points])
    if not poly.is_valid:
        poly = make_valid(poly)
    return poly


def polygon_iou(a: Sequence[Point] | Polygon, b: Sequence[Point] | Polygon) -> float:
    pa = a if isinstance(a, Polygon) else to_polygon(a)
    pb = b if isinstance(b, Polygon) else to_polygon(b)
    union = pa.union(pb).area
    return pa.intersection(pb).area / union if union > 0 else 0.0


def covered_fraction(inner: Polygon, outer: Polygon) -> float:
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


def match_detections(
    gts: Sequence[Sequence[Point]],
    preds: Sequence[Sequence[Point]],
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
    ignored = tuple(
        j
        for j, p in enumerate(pp)
        if any(not c and covered_fraction(p, g) > dont_care_overlap for g, c in zip(gp, care, strict=True))
    )
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
class WordMatch:
    matched: int
    gt_words: int
    pred_words: int


def match_words(gt_texts: Iterable[str], pred_texts: Iterable[str]) -> WordMatch:
    """Words of the ground truth found among the predicted words, as multisets."""
    want, got = word_bag(gt_texts), word_bag(pred_texts)
    matched = sum(min(n, got[w]) for w, n in want.items())
    return WordMatch(matched, sum(want.values()), sum(got.values()))


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
