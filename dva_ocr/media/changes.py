"""Which parts of a sampled frame changed since the last frame that was read.

Frames are compared on a small grey copy (the longer side ``SIDE`` pixels), tolerant of a pixel or
two of jitter: a pixel counts as changed only when it lies outside the 3 x 3 neighbourhood range of
the other frame by more than ``tolerance`` grey levels, both ways. Changed pixel rows are grouped
into bands (full frame width: text lines run across), so a subtitle that changes under a static
slide costs one thin strip of OCR, not a frame. The reference is the last frame that was read,
never the previous one, so a slow drift still adds up to a change.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

SIDE = 256  # working size of the longer side
KERNEL = np.ones((3, 3), np.uint8)


@dataclass(frozen=True)
class Change:
    """``bands is None``: read the whole frame; ``[]``: nothing changed; else pixel row ranges to read."""

    bands: list[tuple[int, int]] | None

    @property
    def unchanged(self) -> bool:
        return self.bands == []


FULL = Change(None)
NONE = Change([])


class ChangeDetector:
    """Feed frames in order with ``observe``; each answer says what of that frame needs OCR.

    tolerance: grey levels a pixel may move (beyond its neighbours' range) and count as the same.
    min_pixels: changed pixels (at working size) a row needs to count; isolated noise is ignored.
    pad: pixel rows added above and below each changed band. max_share: bands covering more of the
    frame height than this read the whole frame instead.
    """

    def __init__(
        self,
        *,
        tolerance: int = 28,
        min_pixels: int = 2,
        pad: int = 6,
        merge_gap: int = 24,
        max_share: float = 0.5,
    ) -> None:
        self.tolerance = tolerance
        self.min_pixels = min_pixels
        self.pad = pad
        self.merge_gap = merge_gap
        self.max_share = max_share
        self._ref: np.ndarray | None = None
        self._ref_lo: np.ndarray | None = None
        self._ref_hi: np.ndarray | None = None

    @staticmethod
    def _small(image: np.ndarray) -> np.ndarray:
        h, w = image.shape[:2]
        scale = SIDE / max(h, w)
        size = (max(1, round(w * scale)), max(1, round(h * scale)))
        grey = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY) if image.ndim == 3 else image
        return cv2.resize(grey, size, interpolation=cv2.INTER_AREA).astype(np.int16)

    def _remember(self, small: np.ndarray) -> None:
        self._ref = small
        self._ref_lo = cv2.erode(small, KERNEL).astype(np.int16)
        self._ref_hi = cv2.dilate(small, KERNEL).astype(np.int16)

    def changed_rows(self, small: np.ndarray) -> np.ndarray | None:
        """Per working-size row, whether it changed (None when there is no reference yet)."""
        if (
            self._ref is None
            or self._ref_lo is None
            or self._ref_hi is None
            or self._ref.shape != small.shape
        ):
            return None
        t = self.tolerance
        lo, hi = cv2.erode(small, KERNEL).astype(np.int16), cv2.dilate(small, KERNEL).astype(np.int16)
        moved = (small > self._ref_hi + t) | (small < self._ref_lo - t)  # new content
        moved |= (self._ref > hi + t) | (self._ref < lo - t)  # content that went away
        return moved.sum(axis=1) >= self.min_pixels

    def observe(self, image: np.ndarray) -> Change:
        h = image.shape[0]
        small = self._small(image)
        rows = self.changed_rows(small)
        if rows is None:
            self._remember(small)
            return FULL
        if not rows.any():
            return NONE
        self._remember(small)
        scale = h / len(rows)
        bands: list[list[int]] = []
        for r in np.flatnonzero(rows):
            y0 = max(0, int(np.floor(r * scale)) - self.pad)
            y1 = min(h, int(np.ceil((r + 1) * scale)) + self.pad)
            if bands and y0 <= bands[-1][1] + self.merge_gap:
                bands[-1][1] = max(bands[-1][1], y1)
            else:
                bands.append([y0, y1])
        if sum(y1 - y0 for y0, y1 in bands) > self.max_share * h:
            return FULL
        return Change([(y0, y1) for y0, y1 in bands])
