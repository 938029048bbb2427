"""Per-job region filters: minimum confidence, minimum text height, regions of interest, ignored areas.

Areas are rectangles in relative coordinates (0-1 of the frame's width and height), so one job's
settings hold for every resolution. A region is inside an area when at least half of its box is.
Stored as JSON on the media item (``videos.filters``) and applied before regions are saved.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from dva_ocr.errors import DvaOcrError

Rect = tuple[float, float, float, float]  # x0, y0, x1, y1, relative

# Lines read with less confidence are not kept unless a job asks for a lower floor (measured in
# dva_ocr/ocr/MEASUREMENTS.md). ENGINE_FLOOR: what the pipeline's engines keep, so that a job can go
# down to it (RapidOCR's text_score).
MIN_LINE_CONFIDENCE = 0.7
ENGINE_FLOOR = 0.5


def parse_rect(value: str | Sequence[float]) -> Rect:
    """``"x0,y0,x1,y1"`` (or four numbers) -> a checked relative rectangle."""
    parts = value.split(",") if isinstance(value, str) else list(value)
    try:
        x0, y0, x1, y1 = (float(v) for v in parts)
    except ValueError:
        raise DvaOcrError(
            f"an area is x0,y0,x1,y1 in relative coordinates (0-1), e.g. 0,0.8,1,1; got {value!r}"
        ) from None
    if not (0 <= x0 < x1 <= 1 and 0 <= y0 < y1 <= 1):
        raise DvaOcrError(f"an area needs 0 <= x0 < x1 <= 1 and 0 <= y0 < y1 <= 1; got {value!r}")
    return (x0, y0, x1, y1)


def _inside(box: tuple[int, int, int, int], rect: Rect, width: int, height: int) -> bool:
    x, y, w, h = box
    rx0, ry0, rx1, ry1 = rect[0] * width, rect[1] * height, rect[2] * width, rect[3] * height
    iw = max(0.0, min(x + w, rx1) - max(x, rx0))
    ih = max(0.0, min(y + h, ry1) - max(y, ry0))
    return iw * ih >= 0.5 * max(1, w * h)


@dataclass(frozen=True)
class RegionFilter:
    min_confidence: float | None = None  # None: MIN_LINE_CONFIDENCE
    min_height: int = 0  # pixels of the sampled frame
    roi: tuple[Rect, ...] = ()  # when given, only regions inside one of these are kept
    ignore: tuple[Rect, ...] = ()  # regions inside one of these are dropped (watermarks, logos)

    def __post_init__(self) -> None:
        if self.min_confidence is not None and not 0 <= self.min_confidence <= 1:
            raise DvaOcrError(f"minimum confidence must be between 0 and 1, got {self.min_confidence}")
        if self.min_height < 0:
            raise DvaOcrError(f"minimum text height must be >= 0 pixels, got {self.min_height}")

    @classmethod
    def from_json(cls, data: dict[str, Any] | None) -> RegionFilter:
        data = data or {}
        return cls(
            min_confidence=None if data.get("min_confidence") is None else float(data["min_confidence"]),
            min_height=int(data.get("min_height", 0)),
            roi=tuple(parse_rect(r) for r in data.get("roi", ())),
            ignore=tuple(parse_rect(r) for r in data.get("ignore", ())),
        )

    def to_json(self) -> dict[str, Any]:
        """Only the filters that are set (an empty dict means: keep everything)."""
        out: dict[str, Any] = {}
        if self.min_confidence is not None:
            out["min_confidence"] = self.min_confidence
        if self.min_height:
            out["min_height"] = self.min_height
        if self.roi:
            out["roi"] = [list(r) for r in self.roi]
        if self.ignore:
            out["ignore"] = [list(r) for r in self.ignore]
        return out

    def keep(self, box: tuple[int, int, int, int], confidence: float, width: int, height: int) -> bool:
        floor = MIN_LINE_CONFIDENCE if self.min_confidence is None else self.min_confidence
        if confidence < floor or box[3] < self.min_height:
            return False
        if self.roi and not any(_inside(box, r, width, height) for r in self.roi):
            return False
        return not any(_inside(box, r, width, height) for r in self.ignore)
