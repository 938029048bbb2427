"""Word-boundary recovery for recognised Latin text.

The PP-OCRv4 recogniser often drops the space between Latin words ("TotalBroadbandgivesyou"), which
makes the words unfindable by full-text search. Two signals put them back:

1. the recogniser itself: between two characters where a space was dropped, the CTC space class
   usually still has some probability (``space_probs``), and the two characters sit further apart
   than the line's typical character pitch (``positions``, CTC time steps);
2. an English word-frequency segmenter (``wordninja``'s word list, no download) for runs of letters.

Boundaries with clear recogniser evidence are split outright; the rest of each letter run is
segmented by a small dynamic programme whose cost is wordninja's word cost plus a per-boundary cost
that is low where the recogniser hints at a space and high where it says the letters touch. Existing
spaces, character case, punctuation and numbers are kept; text with non-ASCII characters (CJK,
accented words) is never split next to those characters.
"""

from __future__ import annotations

import functools
import gzip
import importlib.util
import math
from collections.abc import Sequence
from enum import IntEnum
from pathlib import Path
from statistics import median


class Evidence(IntEnum):
    """How strongly the recogniser suggests a space between two adjacent characters."""

    NONE = 0
    WEAK = 1
    MEDIUM = 2
    STRONG = 3
    UNKNOWN = -1  # no recogniser signal available (text only)


# Thresholds from the measurements in MEASUREMENTS.md (space probability; gap / the line's median gap).
STRONG_SPACE_PROB = 0.25
STRONG_SPACE_PROB_WITH_GAP = (0.10, 1.3)
MEDIUM_SPACE_PROB = 0.08
MEDIUM_GAP = 1.6
WEAK_SPACE_PROB = 0.02
WEAK_GAP = 1.3

# Extra cost of a word boundary in the segmentation DP, by evidence (wordninja costs are ~2.5..14).
BOUNDARY_COST = {
    Evidence.NONE: 6.0,
    Evidence.WEAK: 1.5,
    Evidence.MEDIUM: -2.0,
    Evidence.UNKNOWN: 1.0,
}
KNOWN_WORD_MAX_COST = 13.1  # about the 40,000 most frequent words; rarer entries include "forthe"
# A cut the recogniser does not hint at is kept only when the pieces on both sides are at least this
# common (wordninja cost; measured in MEASUREMENTS.md, bench/word_spacing.py).
COMMON_PIECE_MAX_COST = 10.0  # about the 2,000 most frequent words
# One- and two-letter pieces the segmenter may produce (its list also has "fo", "th", "de", "st"...).
_SHORT = "a i of in is to it as he by on or an be at if so up do no we go us my me am ok tv uk"
SHORT_WORDS = frozenset(_SHORT.split())
MIN_DIGITS_TO_SPLIT = 2  # "number48213" splits without recogniser evidence, "A4" and "MP3" do not
MIN_LETTERS_TO_SPLIT = 3  # "2nd", "10kg" stay whole


class WordCosts:
    """wordninja's word costs (Zipf: ``log((rank + 1) * log(N))`` for the word of that rank in its list of
    N), read from the list wordninja ships without importing wordninja, whose import builds the whole
    cost dictionary (~0.1 s of `manage.py ocr IMAGE`'s start-up); a cost is computed when asked for."""

    def __init__(self, words: Sequence[str]) -> None:
        self._rank = dict(zip(words, range(len(words)), strict=True))  # a repeated word: its last rank
        self._log_n = math.log(len(words))
        self.maxword = max(map(len, words))

    def get(self, word: str, default: float) -> float:
        rank = self._rank.get(word)
        return default if rank is None else math.log((rank + 1) * self._log_n)


def wordninja_list_path() -> Path:
    """Where the installed wordninja keeps its word list (most frequent first), found without importing it."""
    spec = importlib.util.find_spec("wordninja")
    if spec is None or spec.origin is None:
        raise ModuleNotFoundError("wordninja is not installed (pip install -e .)")
    return Path(spec.origin).parent / "wordninja" / "wordninja_words.txt.gz"


@functools.cache
def _word_costs() -> WordCosts:
    with gzip.open(wordninja_list_path(), "rt", encoding="utf-8") as fh:
        return WordCosts(fh.read().split())


def _unknown_cost(n: int) -> float:
    return 30.0 + 2.0 * n


def _piece_cost(piece: str, costs: WordCosts) -> float:
    """wordninja's cost of a piece; one- and two-letter pieces only if they are common words."""
    if len(piece) <= 2 and piece not in SHORT_WORDS:
        return _unknown_cost(len(piece))
    return costs.get(piece, _unknown_cost(len(piece)))


def is_known_word(word: str) -> bool:
    return _word_costs().get(word.lower(), math.inf) <= KNOWN_WORD_MAX_COST


def boundary_evidence(
    text: str, positions: Sequence[int] | None, space_probs: Sequence[float] | None
) -> list[Evidence]:
    """Evidence for a space between ``text[i]`` and ``text[i + 1]``, for each i."""
    n = len(text)
    if n < 2 or positions is None or len(positions) != n:
        return [Evidence.UNKNOWN] * max(0, n - 1)
    probs = list(space_probs) if space_probs is not None and len(space_probs) == n - 1 else [0.0] * (n - 1)
    gaps = [positions[i + 1] - positions[i] for i in range(n - 1)]
    inner = [g for i, g in enumerate(gaps) if text[i] != " " and text[i + 1] != " "]
    pitch = max(1.0, median(inner)) if inner else 1.0
    out = []
    for sp, gap in zip(probs, gaps, strict=True):
        ratio = gap / pitch
        if sp >= STRONG_SPACE_PROB or (
            sp >= STRONG_SPACE_PROB_WITH_GAP[0] and ratio >= STRONG_SPACE_PROB_WITH_GAP[1]
        ):
            out.append(Evidence.STRONG)
        elif sp >= MEDIUM_SPACE_PROB or ratio >= MEDIUM_GAP:
            out.append(Evidence.MEDIUM)
        elif sp >= WEAK_SPACE_PROB or ratio >= WEAK_GAP:
            out.append(Evidence.WEAK)
        else:
            out.append(Evidence.NONE)
    return out


def _kind(text: str, i: int) -> str:
    """L: ASCII letter (or apostrophe inside letters), D: digit (or . , : / inside digits),
    O: other ASCII, X: non-ASCII (never split next to it), S: space."""
    c = text[i]
    if c == " ":
        return "S"
    if not c.isascii():
        return "X"
    if c.isalpha():
        return "L"
    if c.isdigit():
        return "D"
    inside = 0 < i < len(text) - 1
    if c == "'" and inside and text[i - 1].isascii() and text[i - 1].isalpha() and text[i + 1].isalpha():
        return "L"
    if c in ".,:/" and inside and text[i - 1].isdigit() and text[i + 1].isdigit():
        return "D"
    return "O"


def _segment_letters(run: str, ev: Sequence[Evidence]) -> list[int]:
    """Split points (offsets inside ``run``) chosen by DP over word costs plus boundary costs.
    ``ev[j]`` is the evidence between run[j] and run[j + 1]."""
    costs = _word_costs()
    n = len(run)
    if is_known_word(run) and all(e in (Evidence.NONE, Evidence.WEAK, Evidence.UNKNOWN) for e in ev):
        return []
    lower = run.lower()
    best = [0.0] + [math.inf] * n
    back = [0] * (n + 1)
    for end in range(1, n + 1):
        for start in range(max(0, end - costs.maxword), end):
            c = best[start] + _piece_cost(lower[start:end], costs)
            if start > 0:
                c += BOUNDARY_COST.get(ev[start - 1], 0.0)
            if c < best[end]:
                best[end], back[end] = c, start
    cuts = []
    end = n
    while end > 0:
        if back[end] > 0:
            cuts.append(back[end])
        end = back[end]
    return _supported(lower, sorted(cuts), ev, costs)


def _supported(lower: str, cuts: list[int], ev: Sequence[Evidence], costs: WordCosts) -> list[int]:
    """The cuts to keep: one the recogniser hints at (medium evidence or more), or one whose pieces on
    both sides are common words (known words, for text without recogniser signals). A name or brand
    (``Sukehiro``) is not cut into rare pieces (``Suke hiro``) on the dictionary's word alone."""
    while True:
        bounds = [0, *cuts, len(lower)]
        for i, c in enumerate(cuts):
            if ev[c - 1] >= Evidence.MEDIUM:
                continue
            left, right = lower[bounds[i] : c], lower[c : bounds[i + 2]]
            # text alone (no recogniser signal to go by): any known word will do
            limit = KNOWN_WORD_MAX_COST if ev[c - 1] == Evidence.UNKNOWN else COMMON_PIECE_MAX_COST
            if max(_piece_cost(left, costs), _piece_cost(right, costs)) > limit:
                cuts = cuts[:i] + cuts[i + 1 :]
                break
        else:
            return cuts


def recover_spaces(
    text: str,
    positions: Sequence[int] | None = None,
    space_probs: Sequence[float] | None = None,
) -> str:
    """Insert the spaces the recogniser dropped between Latin words.

    ``positions``: CTC time step of each character of ``text``; ``space_probs``: for each pair of
    adjacent characters, the highest space probability between them. Both optional; without them only
    the dictionary decides.
    """
    if len(text) < 2 or not any(c.isascii() and c.isalpha() for c in text):
        return text
    ev = boundary_evidence(text, positions, space_probs)
    kinds = [_kind(text, i) for i in range(len(text))]
    spaced = " " in text
    cut = [False] * (len(text) - 1)  # cut[i]: space between text[i] and text[i + 1]

    # Runs of one kind; decide the boundaries between runs, then inside letter runs.
    runs: list[tuple[int, int, str]] = []  # (start, end, kind)
    for i, k in enumerate(kinds):
        if runs and runs[-1][2] == k:
            runs[-1] = (runs[-1][0], i + 1, k)
        else:
            runs.append((i, i + 1, k))
    for (s0, e0, k0), (s1, e1, k1) in zip(runs[:-1], runs[1:], strict=True):
        b = e0 - 1
        if "S" in (k0, k1) or "X" in (k0, k1):
            continue
        if ev[b] == Evidence.STRONG:
            cut[b] = True
        elif {k0, k1} == {"L", "D"}:
            letters, digits = (e0 - s0, e1 - s1) if k0 == "L" else (e1 - s1, e0 - s0)
            hinted = ev[b] in (Evidence.WEAK, Evidence.MEDIUM)
            cut[b] = letters >= MIN_LETTERS_TO_SPLIT and (hinted or digits >= MIN_DIGITS_TO_SPLIT)
    for s, e, k in runs:
        if k == "D":
            for b in range(s, e - 1):
                cut[b] = ev[b] == Evidence.STRONG and text[b].isdigit() and text[b + 1].isdigit()
        if k != "L" or e - s < 2:
            continue
        if spaced and is_known_word(text[s:e]):
            # the recogniser puts spaces in itself (PP-OCRv5): a known word between them is whole,
            # whatever its noisy space class says inside it ("Sum mer", "muse um")
            continue
        # Forced splits first, then the DP inside each piece.
        bounds = [s] + [b + 1 for b in range(s, e - 1) if ev[b] == Evidence.STRONG] + [e]
        for a, z in zip(bounds[:-1], bounds[1:], strict=True):
            if a > s:
                cut[a - 1] = True
            piece_ev = [_with_case_hint(text, b, ev[b]) for b in range(a, z - 1)]
            for off in _segment_letters(text[a:z], piece_ev):
                cut[a + off - 1] = True
    out = [text[0]]
    for i in range(1, len(text)):
        if cut[i - 1]:
            out.append(" ")
        out.append(text[i])
    return "".join(out)


def _with_case_hint(text: str, b: int, ev: Evidence) -> Evidence:
    """A lower-to-upper case change ("totalBroadband") counts as one level more evidence."""
    if text[b].islower() and text[b + 1].isupper() and ev in (Evidence.NONE, Evidence.WEAK):
        return Evidence(ev + 1)
    if text[b].islower() and text[b + 1].isupper() and ev == Evidence.UNKNOWN:
        return Evidence.MEDIUM
    return ev
