"""The forms of a text that search matches, in Python, with where each character came from.

The database computes the same forms in SQL (``dva_compact``, ``dva_fold``, ``dva_cjk_bigrams``, from
migration 0007) into generated columns, and search sends query terms through those SQL functions, so
matching never depends on this module. It exists for highlighting: to find which characters of a hit's
text a compact or folded match covered. ``tests/test_search_forms.py`` holds it equal to the SQL.

* compact: NFKC, lowercase, whitespace and punctuation removed;
* folded: compact with the recogniser's usual confusions made one character (measured in
  ``MEASUREMENTS.md``): ``| !`` -> ``l`` (before punctuation goes), ``rn`` -> ``m``, ``vv`` -> ``w``,
  then ``i 1`` -> ``l``, ``0`` -> ``o``, ``5`` -> ``s``, ``8`` -> ``b``.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

CJK_CHARS = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff"
_CJK = re.compile(f"[{CJK_CHARS}]")

FOLD_FIRST = {"|": "l", "!": "l"}  # on the raw text, before punctuation is removed
FOLD_PAIRS = (("rn", "m"), ("vv", "w"))  # on the compact text, in this order
FOLD_CHARS = str.maketrans("i1058", "llosb")  # then these, one character each


def has_cjk(s: str) -> bool:
    return bool(_CJK.search(s))


def _dropped(ch: str) -> bool:
    """Whitespace and punctuation (POSIX ``[:space:]`` / ``[:punct:]``: every printable non-alphanumeric)."""
    return not ch.isalnum()


@dataclass(frozen=True)
class Mapped:
    """A derived form of a text and, per character of it, the ``[start, end)`` of the original."""

    form: str
    origin: tuple[tuple[int, int], ...]

    def spans_of(self, needle: str) -> list[tuple[int, int]]:
        """The original character ranges of each occurrence of ``needle`` in the form."""
        out: list[tuple[int, int]] = []
        if not needle:
            return out
        at = self.form.find(needle)
        while at >= 0:
            end = at + len(needle)
            out.append((self.origin[at][0], self.origin[end - 1][1]))
            at = self.form.find(needle, end)
        return out


def compact_mapped(text: str, fold: bool = False) -> Mapped:
    chars: list[str] = []
    origin: list[tuple[int, int]] = []
    for i, ch in enumerate(text):
        if fold:
            ch = FOLD_FIRST.get(ch, ch)
        for c in unicodedata.normalize("NFKC", ch).lower():
            if not _dropped(c):
                chars.append(c)
                origin.append((i, i + 1))
    if not fold:
        return Mapped("".join(chars), tuple(origin))
    for pair, single in FOLD_PAIRS:
        merged_chars: list[str] = []
        merged_origin: list[tuple[int, int]] = []
        i = 0
        while i < len(chars):
            if "".join(chars[i : i + len(pair)]) == pair:
                merged_chars.append(single)
                merged_origin.append((origin[i][0], origin[i + len(pair) - 1][1]))
                i += len(pair)
            else:
                merged_chars.append(chars[i])
                merged_origin.append(origin[i])
                i += 1
        chars, origin = merged_chars, merged_origin
    return Mapped("".join(chars).translate(FOLD_CHARS), tuple(origin))


def compact(text: str) -> str:
    return compact_mapped(text).form


def folded(text: str) -> str:
    return compact_mapped(text, fold=True).form


def cjk_bigrams(text: str) -> list[str] | None:
    """The distinct two-character CJK substrings of the compact form, sorted; None when there are none."""
    if not has_cjk(text):
        return None
    c = compact(text)
    grams = {c[i : i + 2] for i in range(len(c) - 1) if _CJK.fullmatch(c[i]) and _CJK.fullmatch(c[i + 1])}
    return sorted(grams) or None
