"""The forms of a text that search matches, in Python, with where each character came from.

The database computes the same forms in SQL (``dva_compact``, ``dva_fold``, ``dva_cjk_bigrams``, from
migration 0007) into generated columns, and search sends query terms through those SQL functions, so
matching never depends on this module. It exists for highlighting: to find which characters of a hit's
text a compact or folded match covered. ``tests/test_search_forms.py`` holds it equal to the SQL.

* compact: NFKC, lowercase, whitespace and punctuation removed;
* folded: compact with the recogniser's usual confusions made one character, the classes measured to
  help more than they cost (``MEASUREMENTS.md``): ``| !`` -> ``l`` (before punctuation goes), then
  ``i 1`` -> ``l``, ``0`` -> ``o``, ``5`` -> ``s``, ``8`` -> ``b``, ``2`` -> ``z``. (``rn``/``m`` and
  ``vv``/``w`` were measured and left out: few fixes, and ``born``/``bom``, ``modern``/``modem``.)
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

CJK_CHARS = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff"
_CJK = re.compile(f"[{CJK_CHARS}]")

FOLD_FIRST = {"|": "l", "!": "l"}  # on the raw text, before punctuation is removed
FOLD_CHARS = str.maketrans("i10582", "llosbz")  # then these, one character each


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
    form = "".join(chars)
    return Mapped(form.translate(FOLD_CHARS) if fold else form, tuple(origin))


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
