"""Band geometry, pure: the images a frame is read as, and which of a band's regions are its own.

A frame that changed only in some row bands is read only there. A band (``[y0, y1, x0, x1]``: changed
rows, and the columns their changed pixels span; ``[y0, y1]`` in rows stored before columns were
kept: the whole width) is one image: its rows with rows of context above and below, and its columns
with context to each side (six times the band's height: the unchanged digits of a clock whose
seconds tick, or the rest of a word). A patch narrower than the frame is read first; when a line found in it
runs out at a side (``runs_out``), the band is read again across the whole width, so a line whose
unchanged start lies outside the patch is never cut. A region read in a band image belongs to the band
when it is centred in the band's rows or mostly inside them (a line whose centre moved out of the band
must not vanish: the earlier frame's reading of it is dropped too).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from dva_ocr.pipeline.contracts import Box

MIN_SIDE_CONTEXT = 64  # columns of context at least, to each side of a band's changed columns
SIDE_CONTEXT_ROWS = 6  # else this many times the band's height: a ticking clock's unchanged digits
MAX_PATCH_SHARE = 0.75  # a patch wider than this share of the frame is read across the whole width


@dataclass(frozen=True)
class Part:
    """One image of a frame: rows ``top``..``bottom`` and columns ``left``..``right`` of it, owning the
    regions of rows ``y0``..``y1``."""

    top: int
    bottom: int
    y0: int
    y1: int
    left: int
    right: int

    def widened(self, width: int) -> Part:
        return dataclasses.replace(self, left=0, right=width)


def context_rows(height: int) -> int:
    return max(16, height // 24)


def parts_of(height: int, width: int, bands: Sequence[Sequence[int]] | None) -> list[Part]:
    """The parts a frame is read as: the whole frame, or each band with context."""
    if not bands:
        return [Part(0, height, 0, height, 0, width)]
    context = context_rows(height)
    parts = []
    for band in bands:
        y0, y1 = int(band[0]), int(band[1])
        top, bottom = max(0, y0 - context), min(height, y1 + context)
        left, right = 0, width
        if len(band) == 4:
            side = max(MIN_SIDE_CONTEXT, SIDE_CONTEXT_ROWS * (y1 - y0))
            left, right = max(0, int(band[2]) - side), min(width, int(band[3]) + side)
            if right - left > MAX_PATCH_SHARE * width:
                left, right = 0, width
        parts.append(Part(top, bottom, y0, y1, left, right))
    return parts


def part_image(image: np.ndarray, part: Part) -> np.ndarray:
    height, width = image.shape[:2]
    if (part.top, part.bottom, part.left, part.right) == (0, height, 0, width):
        return image
    return image[part.top : part.bottom, part.left : part.right]


def runs_out(part: Part, width: int, box: Box) -> bool:
    """Whether a line found in a patch (box in the patch's pixels) may go on past a side of the patch
    that is not the frame's edge: it comes within its own height of that side. A line that goes on
    beyond the side reaches it, or stops a word gap short of it."""
    x, _, w, h = box
    margin = max(4, h)
    return (part.left > 0 and x < margin) or (part.right < width and x + w > part.right - part.left - margin)


def owns(part: Part, box: Box) -> bool:
    """Whether a region (in frame coordinates) read in this part is the part's own."""
    _, y, _, h = box
    inside = min(y + h, part.y1) - max(y, part.y0)
    return part.y0 <= y + h / 2 < part.y1 or inside >= 0.5 * h
