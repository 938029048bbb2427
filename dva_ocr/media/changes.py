"""Which parts of a sampled frame changed since the last frame that was read.

Frames are compared twice, both times tolerant of a pixel or two of jitter (a pixel counts as changed
only when it lies outside the 3 x 3 neighbourhood range of the other frame by more than a tolerance,
both ways):

- on a small grey copy (the longer side ``SIDE`` pixels), which finds new content anywhere;
- at full resolution (the longer side at most ``FINE_MAX_SIDE``): both copies blurred (sigma 0.7 px), a
  pixel changed when they differ by more than ``FINE_TOLERANCE`` and enough of its neighbours changed
  too. This finds a changed glyph of small text: one digit of a 16-18 px timecode or clock, a price,
  grey on grey. On the small copy such a change is a pixel or two and vanishes; at full resolution a
  stroke is a cluster of pixels. Sensor noise and JPEG ringing are scattered and do not pass the blur
  and the neighbour count (tests/test_tracks.py; measured in README: *Skipping what did not change*).
  There is no jitter tolerance at this scale: a picture that shifts is read again (costs time only).

The text boxes a read found are not known here (OCR runs later, in another queue), so the fine test
covers the whole frame, a superset of them. Changed pixel rows are grouped into bands, and each band
says the columns its changed pixels span, so a subtitle that changes under a static slide costs one
thin strip of OCR, not a frame, and a ticking clock in a corner costs a small patch, not a strip (the
reader widens a patch to the whole band when a line runs out of it: ``dva_ocr.pipeline.bands``). The
reference is the last frame that was read, never the previous one, so a slow drift still adds up to a
change.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

SIDE = 256  # working size of the longer side (the coarse test)
FINE_MAX_SIDE = 1920  # the fine test's longer side at most (4K is halved)
FINE_SIGMA = 0.7  # Gaussian blur of the fine copies: noise and ringing go, glyph strokes stay
FINE_TOLERANCE = 18  # grey levels between the blurred copies
FINE_WINDOW, FINE_CROWD = 5, 6  # a changed pixel counts when its 5 x 5 window holds 6 changed pixels
FINE_MIN_PIXELS = 2  # counted changed pixels a full-resolution row needs
KERNEL = np.ones((3, 3), np.uint8)


Band = tuple[int, int, int, int]  # y0, y1, x0, x1: changed pixel rows and the columns they span


@dataclass(frozen=True)
class Change:
    """``bands is None``: read the whole frame; ``[]``: nothing changed; else the changed bands."""

    bands: list[Band] | None

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
        self._fine: np.ndarray | None = None

    @staticmethod
    def _small(image: np.ndarray) -> np.ndarray:
        h, w = image.shape[:2]
        scale = SIDE / max(h, w)
        size = (max(1, round(w * scale)), max(1, round(h * scale)))
        grey = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY) if image.ndim == 3 else image
        return cv2.resize(grey, size, interpolation=cv2.INTER_AREA).astype(np.int16)

    @staticmethod
    def _fine_copy(image: np.ndarray) -> np.ndarray:
        grey = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY) if image.ndim == 3 else image
        h, w = grey.shape[:2]
        if max(h, w) > FINE_MAX_SIDE:
            scale = FINE_MAX_SIDE / max(h, w)
            grey = cv2.resize(grey, (round(w * scale), round(h * scale)), interpolation=cv2.INTER_AREA)
        return cv2.GaussianBlur(grey, (0, 0), FINE_SIGMA).astype(np.int16)

    def _remember(self, small: np.ndarray, fine: np.ndarray) -> None:
        self._ref = small
        self._ref_lo = cv2.erode(small, KERNEL).astype(np.int16)
        self._ref_hi = cv2.dilate(small, KERNEL).astype(np.int16)
        self._fine = fine

    def _remember_bands(
        self, small: np.ndarray, fine: np.ndarray, bands: list[Band], size: tuple[int, int]
    ) -> None:
        """Take only the changed rectangles into the reference: the rest of the picture stays what was
        last read there, so a change outside them still counts against the older reading."""
        assert self._ref is not None and self._fine is not None
        height, width = size
        ref, ref_fine = self._ref.copy(), self._fine.copy()
        for y0, y1, x0, x1 in bands:
            for copy, new in ((ref, small), (ref_fine, fine)):
                n, m = copy.shape[:2]
                a, b = int(np.floor(y0 * n / height)), int(np.ceil(y1 * n / height))
                c, d = int(np.floor(x0 * m / width)), int(np.ceil(x1 * m / width))
                copy[a:b, c:d] = new[a:b, c:d]
        self._remember(ref, ref_fine)

    def fine_mask(self, cur: np.ndarray) -> np.ndarray | None:
        """Per pixel of the fine copy, whether small text there changed (None without a reference)."""
        ref = self._fine
        if ref is None or ref.shape != cur.shape:
            return None
        moved = (np.abs(cur - ref) > FINE_TOLERANCE).astype(np.uint8)
        # a changed stroke is a cluster; noise that passes the blur is scattered
        crowd = cv2.boxFilter(moved, -1, (FINE_WINDOW, FINE_WINDOW), normalize=False)
        kept: np.ndarray = (moved & (crowd >= FINE_CROWD)).astype(bool)
        return kept

    def changed_mask(self, small: np.ndarray) -> np.ndarray | None:
        """Per working-size pixel, whether it changed (None when there is no reference yet)."""
        if (
            self._ref is None
            or self._ref_lo is None
            or self._ref_hi is None
            or self._ref.shape != small.shape
        ):
            return None
        t = self.tolerance
        lo, hi = cv2.erode(small, KERNEL).astype(np.int16), cv2.dilate(small, KERNEL).astype(np.int16)
        moved: np.ndarray = (small > self._ref_hi + t) | (small < self._ref_lo - t)  # new content
        moved |= (self._ref > hi + t) | (self._ref < lo - t)  # content that went away
        return moved

    @staticmethod
    def _columns(
        mask: np.ndarray, rows: np.ndarray, y0: int, y1: int, size: tuple[int, int]
    ) -> tuple[int, int] | None:
        """Full-resolution columns spanned by the counted changed pixels of ``mask`` in rows y0..y1."""
        height, width = size
        n, m = mask.shape
        a, b = int(np.floor(y0 * n / height)), int(np.ceil(y1 * n / height))
        cols = np.flatnonzero(mask[a:b][rows[a:b]].any(axis=0))
        if not len(cols):
            return None
        return int(np.floor(cols[0] * width / m)), int(np.ceil((cols[-1] + 1) * width / m))

    def observe(self, image: np.ndarray, *, full: bool = False) -> Change:
        """What of ``image`` to read; ``full``: read it all whatever changed (a safety floor)."""
        h, w = image.shape[:2]
        small = self._small(image)
        fine_copy = self._fine_copy(image)
        coarse = None if full else self.changed_mask(small)
        fine_px = None if coarse is None else self.fine_mask(fine_copy)
        if coarse is None or fine_px is None:
            self._remember(small, fine_copy)
            return FULL
        rows = coarse.sum(axis=1) >= self.min_pixels
        fine = fine_px.sum(axis=1) >= FINE_MIN_PIXELS
        if not rows.any() and not fine.any():
            return NONE
        spans = [(r * h / len(rows), (r + 1) * h / len(rows)) for r in np.flatnonzero(rows)]
        spans += [(r * h / len(fine), (r + 1) * h / len(fine)) for r in np.flatnonzero(fine)]
        bands: list[list[int]] = []
        for top, bottom in sorted(spans):
            y0 = max(0, int(np.floor(top)) - self.pad)
            y1 = min(h, int(np.ceil(bottom)) + self.pad)
            if bands and y0 <= bands[-1][1] + self.merge_gap:
                bands[-1][1] = max(bands[-1][1], y1)
            else:
                bands.append([y0, y1])
        if sum(y1 - y0 for y0, y1 in bands) > self.max_share * h:
            self._remember(small, fine_copy)
            return FULL
        out: list[Band] = []
        for y0, y1 in bands:
            spans = [
                c
                for c in (
                    self._columns(coarse, rows, y0, y1, (h, w)),
                    self._columns(fine_px, fine, y0, y1, (h, w)),
                )
                if c is not None
            ]
            x0 = max(0, min((c[0] for c in spans), default=0) - self.pad)
            x1 = min(w, max((c[1] for c in spans), default=w) + self.pad)
            out.append((y0, y1, x0, x1))
        self._remember_bands(small, fine_copy, out, (h, w))
        return Change(out)
