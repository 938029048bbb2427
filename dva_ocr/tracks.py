"""Text tracks: the same text followed through consecutive sampled frames.

Pure functions over plain records (the database side is in pipeline.finalize_video):

1. ``effective_readings``: what each frame shows. A frame read in full has its own regions; a frame
   that repeats an earlier one (``bands == []``) shows that frame's regions; a frame read only in
   changed bands shows its own regions there and the earlier frame's everywhere else.
2. ``link``: a region continues a track when the boxes overlap (IoU) and the texts agree (similar,
   not shifted, so a scrolling ticker does not merge into one reading; not two confident readings
   with different numbers, so a clock or counter that ticks makes a track per value); a track
   survives ``max_gap`` frames without a match (one missed detection does not split it).
3. ``vote``: a track's text is the reading with the most summed confidence over its distinct
   readings, so one blurred frame does not win.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from difflib import SequenceMatcher

Box = tuple[int, int, int, int]  # x, y, w, h


@dataclass(frozen=True)
class FrameRec:
    id: int
    index: int
    time: float
    ref_index: int | None = None
    # None: read in full; (): unchanged; else (y0, y1, x0, x1) changed rows and their columns, or
    # (y0, y1) as stored before columns were kept (the whole width)
    bands: tuple[tuple[int, ...], ...] | None = None


@dataclass(frozen=True)
class Reading:
    """One region as read in one frame."""

    region_id: int
    frame_id: int
    box: Box
    text: str
    confidence: float


@dataclass(frozen=True)
class Seen:
    frame_id: int
    frame_index: int
    time: float
    box: Box


@dataclass
class Track:
    seen: list[Seen] = field(default_factory=list)
    readings: dict[int, Reading] = field(default_factory=dict)  # distinct readings by region id
    last: Reading | None = None
    last_pos: int = 0

    def add(self, pos: int, frame: FrameRec, r: Reading) -> None:
        self.seen.append(Seen(frame.id, frame.index, frame.time, r.box))
        self.readings.setdefault(r.region_id, r)
        self.last, self.last_pos = r, pos


@dataclass(frozen=True)
class TrackResult:
    text: str
    start: float
    end: float
    confidence: float  # mean confidence of the readings that voted for ``text``
    agreement: float  # their share of all the readings' confidence
    readings: int
    best: Reading  # the most confident reading of ``text``: the frame and box to show
    seen: tuple[Seen, ...]


def _changed_under(box: Box, bands: Sequence[tuple[int, ...]]) -> bool:
    """Whether a band changed under an earlier reading: its centre lies in the band's rows and it
    reaches into the band's changed columns."""
    cy = box[1] + box[3] / 2
    return any(
        b[0] <= cy < b[1] and (len(b) < 4 or (box[0] < b[3] and box[0] + box[2] > b[2])) for b in bands
    )


def effective_readings(frames: Sequence[FrameRec], own: dict[int, list[Reading]]) -> list[list[Reading]]:
    """What each frame (in index order) shows: its own readings plus what it reuses of its reference."""
    out: list[list[Reading]] = []
    by_index: dict[int, list[Reading]] = {}
    for f in frames:
        mine = own.get(f.id, [])
        if f.ref_index is None or f.bands is None or f.ref_index not in by_index:
            shown = list(mine)
        else:
            new = list(mine)  # a band frame's own regions are the lines it read in its bands
            # a band can cover only part of a line: the line is read again there, so the reference's
            # reading of it goes even when its centre lies just outside the band (else: shown twice)
            kept = [
                r
                for r in by_index[f.ref_index]
                if not _changed_under(r.box, f.bands) and not any(_same_place(r.box, n.box) for n in new)
            ]
            shown = kept + new
        by_index[f.index] = shown
        out.append(shown)
    return out


def _intersection(a: Box, b: Box) -> int:
    iw = max(0, min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0]))
    ih = max(0, min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1]))
    return iw * ih


def _same_place(a: Box, b: Box) -> bool:
    """Two boxes of one line: at least half of the smaller one lies inside the other."""
    return _intersection(a, b) >= 0.5 * max(1, min(a[2] * a[3], b[2] * b[3]))


def iou(a: Box, b: Box) -> float:
    inter = _intersection(a, b)
    union = a[2] * a[3] + b[2] * b[3] - inter
    return inter / union if union > 0 else 0.0


def _norm(text: str) -> str:
    return " ".join(text.split())


def agree(a: str, b: str, *, min_ratio: float = 0.6) -> float:
    """Similarity of two readings (0 when they do not count as the same text)."""
    a, b = _norm(a).lower(), _norm(b).lower()
    if a == b:
        return 1.0
    if not a or not b:
        return 0.0
    sm = SequenceMatcher(None, a, b, autojunk=False)
    ratio = sm.ratio()
    if ratio < min_ratio:
        return 0.0
    i, j, size = sm.find_longest_match(0, len(a), 0, len(b))
    if abs(i - j) > max(2, 0.15 * max(len(a), len(b))) and size < 0.9 * min(len(a), len(b)):
        return 0.0  # the same letters, shifted: scrolling text, a different reading each frame
    return ratio


def link(
    frames: Sequence[FrameRec],
    shown: Sequence[Sequence[Reading]],
    *,
    min_iou: float = 0.3,
    min_ratio: float = 0.6,
    max_gap: int = 1,
) -> list[Track]:
    done: list[Track] = []
    active: list[Track] = []
    for pos, (frame, readings) in enumerate(zip(frames, shown, strict=True)):
        still = [t for t in active if pos - t.last_pos <= max_gap + 1]
        done.extend(t for t in active if pos - t.last_pos > max_gap + 1)
        active = still
        pairs: list[tuple[float, int, int]] = []
        for ti, t in enumerate(active):
            assert t.last is not None
            for ri, r in enumerate(readings):
                if r.region_id == t.last.region_id:
                    pairs.append((3.0, ti, ri))  # the very same reading, reused by an unchanged frame
                    continue
                overlap = iou(t.last.box, r.box)
                if overlap < min_iou or _numbers_changed(t.last, r):
                    continue
                sim = max(agree(t.last.text, r.text, min_ratio=min_ratio), _best_agree(t, r, min_ratio))
                if sim > 0:
                    pairs.append((overlap + sim, ti, ri))
        used_t: set[int] = set()
        used_r: set[int] = set()
        for _, ti, ri in sorted(pairs, reverse=True):
            if ti in used_t or ri in used_r:
                continue
            used_t.add(ti)
            used_r.add(ri)
            active[ti].add(pos, frame, readings[ri])
        for ri, r in enumerate(readings):
            if ri not in used_r:
                t = Track()
                t.add(pos, frame, r)
                active.append(t)
    return done + active


CONFIDENT = 0.85  # readings this sure of themselves whose digits differ are different texts


# letters a recogniser reads for a digit: where one touches a digit, it is read as that digit
_LOOKS_LIKE = {"o": "0", "O": "0", "D": "0", "Q": "0", "l": "1", "I": "1", "i": "1", "z": "2", "Z": "2",
               "s": "5", "S": "5", "b": "6", "G": "6", "T": "7", "B": "8", "g": "9", "q": "9"}  # fmt: skip
_WORD = re.compile(r"[^\W_]+")  # runs of letters and digits


def _number(token: str) -> str:
    """The digits of a token that is a number, letters touching a digit that look like one read as that
    digit (``96o`` -> 960, ``l9`` -> 19, ``2og`` -> 209); empty for a word, even one with a letter
    misread as a digit (``pa9e``, ``ca1s``)."""
    chars = list(token)
    if not any(c.isdigit() for c in chars):
        return ""
    changed = True
    while changed:
        changed = False
        for i, c in enumerate(chars):
            if c in _LOOKS_LIKE and any(0 <= j < len(chars) and chars[j].isdigit() for j in (i - 1, i + 1)):
                chars[i] = _LOOKS_LIKE[c]
                changed = True
    digits = "".join(c for c in chars if c.isdigit())
    return "" if sum(c.isalpha() for c in chars) >= len(digits) else digits


def _numbers(text: str) -> str:
    """The digits of a text's numbers, run together (``of 886`` and ``of886``, ``11:40`` and ``1l:40``
    have the same)."""
    return "".join(_number(token) for token in _WORD.findall(text))


def _numbers_changed(a: Reading, b: Reading) -> bool:
    """A counter, clock or price that moved on, or another sentence with other numbers, not a misread:
    both confident, both with numbers, and those differ. A letter read as a digit does not count
    (``pa9e``, ``96o``, ``l9``), nor a line cut short by detection (``Please turn to`` of ``Please turn
    to page 976``): splitting on those made two interleaved tracks of one subtitle."""
    if min(a.confidence, b.confidence) < CONFIDENT:
        return False
    na, nb = _numbers(a.text), _numbers(b.text)
    return bool(na and nb) and na != nb


def _best_agree(track: Track, r: Reading, min_ratio: float) -> float:
    text, _, _ = vote(list(track.readings.values()))
    return agree(text, r.text, min_ratio=min_ratio)


def vote(readings: Sequence[Reading]) -> tuple[str, float, float]:
    """(text, mean confidence of its readings, agreement) by confidence-weighted vote."""
    weight: dict[str, float] = {}
    count: dict[str, int] = {}
    for r in readings:
        key = _norm(r.text)
        weight[key] = weight.get(key, 0.0) + r.confidence
        count[key] = count.get(key, 0) + 1
    total = sum(weight.values()) or 1.0
    text = max(weight, key=lambda k: (weight[k], count[k], len(k)))
    return text, weight[text] / count[text], weight[text] / total


def build_tracks(
    frames: Sequence[FrameRec],
    own: dict[int, list[Reading]],
    *,
    duration: float | None,
    max_gap: int = 1,
) -> list[TrackResult]:
    """Tracks of one media item's frames (any order; sorted by index here), by start time."""
    frames = sorted(frames, key=lambda f: f.index)
    shown = effective_readings(frames, own)
    pos_of = {f.id: i for i, f in enumerate(frames)}
    results = []
    for t in link(frames, shown, max_gap=max_gap):
        text, conf, agreement = vote(list(t.readings.values()))
        if not text:
            continue
        last = t.seen[-1]
        pos = pos_of[last.frame_id]
        if pos + 1 < len(frames):
            end = frames[pos + 1].time
        else:
            end = max(last.time, duration) if duration else last.time
        best = max((r for r in t.readings.values() if _norm(r.text) == text), key=lambda r: r.confidence)
        results.append(
            TrackResult(
                text=text,
                start=t.seen[0].time,
                end=round(end, 3),
                confidence=round(conf, 4),
                agreement=round(agreement, 4),
                readings=len(t.readings),
                best=best,
                seen=tuple(t.seen),
            )
        )
    results.sort(key=lambda r: (r.start, r.best.box[1], r.best.box[0]))
    return results
