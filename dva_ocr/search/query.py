"""What a search query says: its terms and their AND / OR / -not logic (web search syntax), parsed in
Python so that each term can be matched in its own ways. Nothing here touches the database.

``harbour "next right" -exit`` is three clauses ANDed: ``harbour``, the phrase ``next right``, and not
``exit``; ``a OR b c`` is ``(a OR b) AND c``. An unclosed quote runs to the end. Characters that are
search syntax elsewhere (``& | ! : * ( ) \\``) are plain separators here; control characters (NUL
included) are dropped. A query over ``MAX_QUERY_CHARS`` or with more than ``MAX_TERMS`` terms is
refused with a ``SearchError``, never cut silently.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from dva_ocr.errors import DvaOcrError

MAX_QUERY_CHARS = 500
MAX_TERMS = 16


class SearchError(DvaOcrError, ValueError):
    """The query cannot be searched as given (too long, too many words, a page too deep)."""


@dataclass(frozen=True)
class Term:
    text: str  # a word, or the words of a phrase joined by single spaces
    phrase: bool = False


@dataclass(frozen=True)
class Query:
    clauses: tuple[tuple[Term, ...], ...]  # ANDed; the terms of one clause are ORed
    excluded: tuple[Term, ...] = field(default=())

    @property
    def terms(self) -> tuple[Term, ...]:
        """Every positive term once, in query order."""
        seen: dict[Term, None] = {}
        for clause in self.clauses:
            for t in clause:
                seen.setdefault(t)
        return tuple(seen)


_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
_TOKEN = re.compile(r'(-?)"([^"]*)"?|(\S+)')
_SEPARATORS = re.compile(r"[&|!:*()\\<>]+")


def _words(raw: str) -> str:
    """The searchable words of a token: syntax characters become spaces."""
    return " ".join(_SEPARATORS.sub(" ", raw).split())


def parse(query: str) -> Query:
    query = _CONTROL.sub(" ", query).strip()
    if len(query) > MAX_QUERY_CHARS:
        raise SearchError(
            f"the query is {len(query)} characters long; at most {MAX_QUERY_CHARS} are searched"
        )
    clauses: list[list[Term]] = []
    excluded: list[Term] = []
    join_or = False
    for m in _TOKEN.finditer(query):
        neg, quoted, bare = m.group(1), m.group(2), m.group(3)
        if bare is not None and bare == "OR":
            join_or = bool(clauses)
            continue
        if quoted is not None:
            negate, words = bool(neg), _words(quoted)
        else:
            negate = bare.startswith("-") and len(bare) > 1
            words = _words(bare[1:] if negate else bare)
        if not words or not any(ch.isalnum() for ch in words):
            continue
        term = Term(words, phrase=" " in words)  # "12:30" is the phrase "12 30", as full text reads it
        if negate:
            excluded.append(term)
            join_or = False
        elif join_or:
            clauses[-1].append(term)
            join_or = False
        else:
            clauses.append([term])
    n_terms = sum(len(c) for c in clauses) + len(excluded)
    if n_terms > MAX_TERMS:
        raise SearchError(f"the query has {n_terms} terms; at most {MAX_TERMS} are searched")
    return Query(tuple(tuple(c) for c in clauses), tuple(excluded))
