"""What the OCR stage needs of an engine, and what it gets back: typed, so any reader can stand in."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

Box = tuple[int, int, int, int]  # x, y, w, h in the frame's pixels
Polygon = tuple[tuple[float, float], ...]  # corners, clockwise from top-left
Keep = Callable[[Box, float, int, int], bool]  # box, confidence, frame width, height -> keep it?


class TextRegion(Protocol):
    """One text line as a reader returns it (``dva_ocr.ocr.OcrRegion`` is one)."""

    @property
    def polygon(self) -> Polygon: ...
    @property
    def box(self) -> Box: ...
    @property
    def text(self) -> str: ...
    @property
    def raw_text(self) -> str: ...
    @property
    def confidence(self) -> float: ...


class Reader(Protocol):
    """Reads RGB images (H x W x 3 uint8); one list of regions per image (``OcrEngine`` is one)."""

    def batch(self, images: Sequence[np.ndarray]) -> Sequence[Sequence[TextRegion]]: ...


@dataclass(frozen=True)
class FoundRegion:
    """A region in its frame's coordinates, as the pipeline stores it."""

    polygon: Polygon
    box: Box
    text: str
    raw_text: str
    confidence: float

    @classmethod
    def of(cls, r: TextRegion, dy: int = 0, dx: int = 0) -> FoundRegion:
        """``r`` moved down by ``dy`` and right by ``dx`` pixels (a region read in a band, into the
        frame's coordinates)."""
        x, y, w, h = (int(v) for v in r.box)
        poly = tuple((round(float(px) + dx, 1), round(float(py) + dy, 1)) for px, py in r.polygon)
        return cls(poly, (x + dx, y + dy, w, h), r.text, r.raw_text, float(r.confidence))
