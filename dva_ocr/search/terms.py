"""Each query term resolved against the database: its full-text query, its compact and folded forms (made
by the same SQL functions as the stored columns), its CJK bigrams, and, for a word the vocabulary does
not know, the known words one or two edits away (typo tolerance).

Typo candidates come from ``search_words`` (every word of 3-32 characters ever read): the words one
edit away (insertion, deletion, substitution, swap of neighbours; looked up exactly, so short words
such as ``Exti`` -> ``exit`` are found) and, for words of 7 or more characters, those two edits away
among the trigram-similar ones. Only words of letters are corrected: a number or a code is matched as
typed (and by its folded form), never as a near number.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from dva_ocr.db.tables import TS_CONFIG
from dva_ocr.ocr.distance import osa_distance
from dva_ocr.search.forms import has_cjk
from dva_ocr.search.query import Term

MIN_SUBSTRING = 4  # characters of a compact term before it is also matched inside words (CJK: 2)
MIN_TYPO_WORD = 4  # letters of a word before typos are corrected
MAX_TYPO_WORDS = 24  # known words a mistyped word may stand for (a short word has many neighbours)
TRIGRAM_SIMILARITY = 0.4  # the vocabulary scan's threshold for two-edit candidates
_ALPHABET = "abcdefghijklmnopqrstuvwxyz"


@dataclass(frozen=True)
class Resolved:
    term: Term
    lexemes: int  # nodes in its full-text query: 0 when it is only stopwords
    compact: str
    folded: str
    cjk: tuple[str, ...]  # the bigrams to look up (CJK terms only)
    substring: bool  # also matched inside longer runs of text (compact / folded / CJK)
    typo_words: tuple[str, ...] = ()  # known words it may be a typo of, nearest first


def resolve(
    session: Session, terms: Sequence[Term], typos: bool = True, known_too: bool = False
) -> list[Resolved]:
    """Each term as the database sees it. ``typos``: find the known words a word the vocabulary lacks
    may stand for; ``known_too``: for known words too (OCR misreads put junk words in the vocabulary,
    so a user's typo can be a "known" word: search retries this way when nothing matched)."""
    if not terms:
        return []
    rows: Sequence[Any] = session.execute(
        text(
            f"SELECT numnode(phraseto_tsquery('{TS_CONFIG}', u.t)), dva_compact(u.t), dva_fold(u.t),"
            " dva_cjk_bigrams(u.t),"
            " EXISTS (SELECT 1 FROM search_words w WHERE w.word = lower(normalize(u.t, NFKC)))"
            " FROM unnest(CAST(:terms AS text[])) WITH ORDINALITY AS u(t, n) ORDER BY u.n"
        ),
        {"terms": [t.text for t in terms]},
    ).all()
    out = []
    for t, (n, c, f, g, _known) in zip(terms, rows, strict=True):
        cjk = tuple(g) if g and has_cjk(t.text) else ()
        out.append(Resolved(t, int(n), c or "", f or "", cjk, bool(cjk) or len(c or "") >= MIN_SUBSTRING))
    if not typos:
        return out
    unknown = [
        i
        for i, (r, row) in enumerate(zip(out, rows, strict=True))
        if _correctable(r) and (known_too or not row[4])
    ]
    if not unknown:
        return out
    found = _typo_words(session, [_word(out[i].term.text) for i in unknown])
    for i, words in zip(unknown, found, strict=True):
        out[i] = replace(out[i], typo_words=words)
    return out


def _word(s: str) -> str:
    return unicodedata.normalize("NFKC", s).lower()


def _correctable(r: Resolved) -> bool:
    w = r.term.text
    return not r.term.phrase and r.lexemes > 0 and len(w) >= MIN_TYPO_WORD and w.isalpha() and not r.cjk


def max_edits(word: str) -> int:
    return 1 if len(word) < 7 else 2


def one_edit(word: str) -> set[str]:
    """Every string one insertion, deletion, substitution or neighbour swap away from ``word``."""
    letters = set(_ALPHABET) | set(word)
    splits = [(word[:i], word[i:]) for i in range(len(word) + 1)]
    out = {a + b[1:] for a, b in splits if b}
    out |= {a + b[1] + b[0] + b[2:] for a, b in splits if len(b) > 1}
    out |= {a + c + b[1:] for a, b in splits if b for c in letters}
    out |= {a + c + b for a, b in splits for c in letters}
    out.discard(word)
    return out


def _typo_words(session: Session, words: list[str]) -> list[tuple[str, ...]]:
    """Per word, the known words within its edit budget, nearest first (then alphabetical)."""
    pairs = [(n, v) for n, w in enumerate(words) for v in sorted(one_edit(w))]
    long_words = [(n, w) for n, w in enumerate(words) if max_edits(w) > 1]
    rows: Sequence[Any] = session.execute(
        text(
            "SELECT u.n, w.word FROM unnest(CAST(:ns AS int[]), CAST(:vs AS text[])) AS u(n, v)"
            " JOIN search_words w ON w.word = u.v"
            " UNION"
            " SELECT l.n, s.word FROM unnest(CAST(:ln AS int[]), CAST(:lw AS text[])) AS l(n, t)"
            " CROSS JOIN LATERAL (SELECT word FROM search_words WHERE word % l.t) AS s"
        ),
        {
            "ns": [n for n, _ in pairs],
            "vs": [v for _, v in pairs],
            "ln": [n for n, _ in long_words],
            "lw": [w for _, w in long_words],
        },
    ).all()
    candidates: list[list[tuple[int, str]]] = [[] for _ in words]
    for n, found in rows:
        d = osa_distance(words[n], found)
        if 0 < d <= max_edits(words[n]):
            candidates[n].append((d, found))
    return [tuple(w for _, w in sorted(c)[:MAX_TYPO_WORDS]) for c in candidates]
