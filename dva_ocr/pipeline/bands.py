"""Band geometry, pure: the images a frame is read as, and which of a band's regions are its own.

A frame that changed only in some row bands is read only there: each band, with rows of context above
and below, is one image. A region read in a band image belongs to the band when it is centred in the
band or mostly inside it (a line whose centre moved out of the band must not vanish: the earlier
frame's reading of it is dropped too).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from dva_ocr.pipeline.contracts import Box


@dataclass(frozen=True)
class Part:
    """One image of a frame: rows ``top``.. of it, owning the regions of rows ``y0``..``y1``."""

    top: int
    y0: int
    y1: int


def context_rows(height: int) -> int:
    return max(16, height // 24)


def parts_of(height: int, bands: Sequence[Sequence[int]] | None) -> list[Part]:
    """The parts a frame of ``height`` rows is read as: the whole frame, or each band with context."""
    if not bands:
        return [Part(0, 0, height)]
    context = context_rows(height)
    return [Part(max(0, y0 - context), y0, y1) for y0, y1 in bands]


def part_image(image: np.ndarray, part: Part, height: int) -> np.ndarray:
    if part.top == 0 and part.y1 == height and part.y0 == 0:
        return image
    bottom = min(height, part.y1 + context_rows(height))
    return image[part.top : bottom]


def owns(part: Part, box: Box) -> bool:
    """Whether a region (in frame coordinates) read in this part is the part's own."""
    _, y, _, h = box
    inside = min(y + h, part.y1) - max(y, part.y0)
    return part.y0 <= y + h / 2 < part.y1 or inside >= 0.5 * h
