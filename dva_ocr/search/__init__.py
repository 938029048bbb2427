"""Search over text tracks (default) or frame regions, forgiving the ways OCR gets text wrong.

A query is web search syntax: words, ``"phrases"``, ``OR``, ``-excluded`` (``query.py``). Each term
matches on its own, in the strongest way it can (``statement.py``): full text (stemmed, over the text
and the recogniser's raw string), then space-insensitive (``Sukehiro`` finds ``Suke hiro``,
``TotalBroadband`` finds ``Total Broadband``), then with OCR confusions folded (``invoice`` finds
``lnvoice``), then, for a word no text contains, the known words one or two edits away (``platfrom``
finds ``platform``); the terms combine with the query's own AND / OR / -not, so two typos still match.
A hit says how it matched (``match``: the weakest way any of its clauses needed) and its ``score`` is
on one scale for all kinds: full-text hits first, then compact, folded, fuzzy. Chinese and Japanese
text is found by any substring of two or more characters.

Only each media item's current model version is searched. A track hit is one piece of text for as long
as it stayed on screen (``time`` to ``end``); region hits are single frames.

A query of common words only (``the``, ``of the``) has no selective term: its hits are ranked among the
first ``COMMON_WORDS_CAP`` texts that contain it, and the results say so (``Results.notes``). A query
that is too long, has too many terms, asks for a page too deep or runs past ``SEARCH_TIMEOUT_S`` is
refused with a ``SearchError`` that says why.

``highlight`` says which characters of each hit's text matched: character ranges, not markup.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, replace
from typing import Any

from sqlalchemy import text
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from dva_ocr.db.tables import TS_CONFIG
from dva_ocr.search import statement
from dva_ocr.search.forms import compact_mapped
from dva_ocr.search.query import MAX_QUERY_CHARS, MAX_TERMS, Query, SearchError, Term, parse
from dva_ocr.search.statement import KINDS, Filters
from dva_ocr.search.terms import TRIGRAM_SIMILARITY, Resolved, resolve

__all__ = [
    "LEVELS",
    "MAX_OFFSET",
    "MAX_QUERY_CHARS",
    "MAX_TERMS",
    "Hit",
    "Results",
    "SearchError",
    "Span",
    "highlight",
    "search",
    "segments",
]

LEVELS = tuple(statement.LEVELS)
MAX_OFFSET = 5000  # deeper pages: narrow the search instead
MAX_LIMIT = 500
COMMON_WORDS_CAP = 2000
SEARCH_TIMEOUT_S = 10.0


@dataclass(frozen=True)
class Hit:
    media_id: int
    media_name: str
    frame_id: int
    time: float
    end: float | None
    text: str
    box: tuple[int, int, int, int]
    score: float
    match: str  # "fulltext" | "compact" | "folded" | "fuzzy"
    region_id: int = 0  # set for region hits
    track_id: int = 0  # set for track hits
    confidence: float = 0.0
    frame_index: int = 0
    frame_size: tuple[int, int] = (0, 0)  # width, height of the sampled frame

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        d["box"] = list(self.box)
        return {k: d[k] for k in ("media_id", "time", "end", "text", "box", "score", "match")}


class Results(list[Hit]):
    """The hits of one page, best first, and what the search could not do as asked (``notes``).

    ``total``: how many hits the query has on all pages (``None``: not known, on a page past the last).
    ``total_complete`` is False when ``total`` is a floor: full-text hits alone filled the page, so the
    other kinds, ranked after them, were not looked for (they are on a later page), or only the first
    ``COMMON_WORDS_CAP`` texts were ranked."""

    def __init__(
        self,
        hits: Iterable[Hit] = (),
        notes: Iterable[str] = (),
        total: int | None = 0,
        total_complete: bool = True,
    ) -> None:
        super().__init__(hits)
        self.notes = tuple(notes)
        self.total = total
        self.total_complete = total_complete


def search(
    session: Session,
    query: str,
    *,
    media_id: int | None = None,
    limit: int = 50,
    offset: int = 0,
    min_confidence: float | None = None,
    time_from: float | None = None,
    time_to: float | None = None,
    fuzzy: bool = True,
    level: str = "tracks",
) -> Results:
    """Hits for ``query``, best first; filters are optional. ``fuzzy=False``: full-text matches only.

    level ``tracks`` (default): one hit per text track, with its start and end; ``regions``: one hit
    per frame region (frames that repeated an earlier one hold no regions of their own)."""
    if level not in statement.LEVELS:
        raise ValueError(f"level must be one of {', '.join(LEVELS)}, got {level!r}")
    if not 0 <= offset <= MAX_OFFSET:
        raise SearchError(
            f"offset {offset} is past the deepest page searched ({MAX_OFFSET}); narrow the search"
        )
    if not 1 <= limit <= MAX_LIMIT:
        raise SearchError(f"limit must be 1-{MAX_LIMIT}, got {limit}")
    parsed = parse(query)
    if not parsed.clauses:
        return Results()
    filters = Filters(media_id, min_confidence, time_from, time_to)
    try:
        with session.begin_nested():  # a timeout rolls back the search alone, not the caller's work
            _configure(session)
            return _run(session, parsed, filters, level, limit, offset, fuzzy)
    except OperationalError as exc:
        if getattr(exc.orig, "sqlstate", None) == "57014":  # query_canceled: the statement timeout
            raise SearchError(
                f"the search took over {SEARCH_TIMEOUT_S:g} s; add words or a filter to narrow it"
            ) from exc
        raise


def _configure(session: Session) -> None:
    """For this search's transaction only: plans made for its actual values (a generic plan for a
    query whose selectivity lives in its patterns is badly wrong), a time limit, no JIT (it costs more
    than these short queries take), the typo scan's threshold."""
    session.execute(
        text(
            "SELECT set_config('plan_cache_mode', 'force_custom_plan', true),"
            " set_config('statement_timeout', :timeout, true), set_config('jit', 'off', true),"
            " set_config('pg_trgm.similarity_threshold', :sim, true)"
        ),
        {"timeout": str(int(SEARCH_TIMEOUT_S * 1000)), "sim": str(TRIGRAM_SIMILARITY)},
    )


@dataclass
class _Plan:
    clauses: list[list[Resolved]]  # ANDed; the terms of one clause ORed
    excluded: list[Resolved]
    words: Resolved  # all the words as one compact run
    pure_and: bool  # no OR: the one run is an alternative to matching the words one by one
    notes: list[str]
    cap: int | None = None


def _run(
    session: Session, parsed: Query, filters: Filters, level: str, limit: int, offset: int, fuzzy: bool
) -> Results:
    plan = _plan(session, parsed, fuzzy)
    if not any(r.lexemes for clause in plan.clauses for r in clause):
        # common words only: one phrase, matched in the compact text, ranked among the first matches
        words = plan.words.term.text
        if len(plan.words.compact) < 2:
            return Results(notes=[f"{words!r} is too common and too short to search alone"])
        plan.clauses, plan.pure_and = [[replace(plan.words, substring=True)]], False
        plan.cap = COMMON_WORDS_CAP
        plan.notes.append(
            f"only common words: hits are ranked among the first {plan.cap} texts that contain {words!r}"
        )
    hits, total, complete = _page(session, level, plan, filters, limit, offset, fuzzy)
    if not hits and offset == 0 and fuzzy and plan.cap is None:
        # nothing at all: the user's typo may be a word some misread put in the vocabulary ("lnida")
        retried = _retry_known_words(session, plan.clauses)
        if retried is not None:
            plan.clauses = retried
            hits, total, complete = _page(session, level, plan, filters, limit, offset, fuzzy)
            if hits:
                plan.notes.append(
                    "no text has all the words as typed; near spellings of every word were searched"
                )
    if plan.cap is not None and total is not None and total >= plan.cap:
        complete = False
    return Results(hits, plan.notes, total, complete)


def _page(
    session: Session, level: str, plan: _Plan, filters: Filters, limit: int, offset: int, fuzzy: bool
) -> tuple[list[Hit], int | None, bool]:
    """One page of hits, their total and whether that total counts every kind. Full-text hits outrank
    every other kind (the score bands), so when the full-text matches alone fill the page it is the
    page: a common word's thousands of full-text matches are then ranked without also checking every
    row for compact, folded and typo matches (and only they are counted)."""
    exact_first = fuzzy and plan.cap is None and all(any(r.lexemes for r in c) for c in plan.clauses)
    if exact_first:
        exact, total = _rows(session, level, plan, filters, limit, offset, forgiving=False)
        if len(exact) == limit:
            return exact, total, False
    hits, total = _rows(session, level, plan, filters, limit, offset, forgiving=fuzzy)
    return hits, total, True


def _rows(
    session: Session, level: str, plan: _Plan, filters: Filters, limit: int, offset: int, forgiving: bool
) -> tuple[list[Hit], int | None]:
    """A page of hits and how many rows match in all (0 when none does; None on a page past the last)."""
    clauses = plan.clauses if forgiving else [[replace(r, typo_words=()) for r in c] for c in plan.clauses]
    sql, params = statement.build(
        level,
        clauses,
        plan.excluded,
        filters,
        limit=limit,
        offset=offset,
        cap=plan.cap,
        substring=forgiving or plan.cap is not None,
        whole=plan.words if plan.pure_and and forgiving else None,
    )
    if not sql:
        return [], 0
    rows = [row._mapping for row in session.execute(text(sql), params)]
    if rows:
        return [_hit(r) for r in rows], int(rows[0]["total"])
    return [], 0 if offset == 0 else None


def _retry_known_words(session: Session, clauses: list[list[Resolved]]) -> list[list[Resolved]] | None:
    """The clauses with typo words for the known words too, or None when that adds nothing."""
    known = [r for clause in clauses for r in clause if not r.typo_words]
    if not known:
        return None
    again = dict(zip(known, resolve(session, [r.term for r in known], known_too=True), strict=True))
    if not any(a.typo_words for a in again.values()):
        return None
    return [[again.get(r, r) for r in clause] for clause in clauses]


def _plan(session: Session, parsed: Query, fuzzy: bool) -> _Plan:
    """The query's terms resolved in one round trip, with the words as one run beside them."""
    whole_term = Term(" ".join(t.text for t in parsed.terms), phrase=True)
    terms = [*parsed.terms, *parsed.excluded, whole_term]
    by_term = dict(zip(terms, resolve(session, terms, typos=fuzzy), strict=True))
    clauses = [[by_term[t] for t in clause] for clause in parsed.clauses]
    notes: list[str] = []
    if any(r.lexemes for clause in clauses for r in clause):
        # as web search does: common words that are a clause of their own add nothing to find
        dropped = [r.term.text for c in clauses if not any(r.lexemes for r in c) for r in c]
        clauses = [c for c in clauses if any(r.lexemes for r in c)]
        if dropped:
            notes.append("common words not searched: " + ", ".join(dropped))
    excluded = [by_term[t] for t in parsed.excluded]
    skipped = [r.term.text for r in excluded if not r.lexemes]
    if skipped:
        notes.append("common words cannot be excluded: " + ", ".join(skipped))
    return _Plan(clauses, excluded, by_term[whole_term], all(len(c) == 1 for c in parsed.clauses), notes)


def _hit(r: Any) -> Hit:
    return Hit(
        media_id=r["video_id"],
        media_name=r["source_name"],
        frame_id=r["frame_id"],
        time=float(r["time_s"]),
        end=None if r["end_s"] is None else float(r["end_s"]),
        text=r["text"],
        box=(r["x"], r["y"], r["w"], r["h"]),
        score=round(float(r["score"]), 4),
        match=KINDS[int(r["lvl"])],
        region_id=r["region_id"],
        track_id=r["track_id"],
        confidence=round(float(r["confidence"]), 4),
        frame_index=r["frame_index"],
        frame_size=(r["width"], r["height"]),
    )


# --- highlighting ----------------------------------------------------------------------------------

Span = tuple[int, int]  # [start, end) character offsets into a hit's text

_START, _STOP = "\x01", "\x02"  # what ts_headline is told to put around the words it matched


def highlight(session: Session, query: str, hits: Sequence[Hit]) -> list[list[Span]]:
    """Per hit (in order), the ``[start, end)`` character ranges of ``hit.text`` that matched ``query``:
    the words full text matched (stemmed: "departure" marks "departures"), the known words a typo stood
    for, and the characters a compact, folded or CJK match covered (``Suke hiro`` for ``Sukehiro``)."""
    if not hits:
        return []
    try:
        parsed = parse(query)
    except SearchError:
        return [[] for _ in hits]
    resolved = resolve(session, parsed.terms) if parsed.clauses else []
    words = _headline_spans(session, resolved, [h.text for h in hits])
    out = []
    for h, spans in zip(hits, words, strict=True):
        if h.match != "fulltext":
            spans = spans + _substring_spans(resolved, h.text)
        out.append(_merged(spans))
    return out


def _substring_spans(resolved: Sequence[Resolved], value: str) -> list[Span]:
    plain, folded = compact_mapped(value), compact_mapped(value, fold=True)
    spans: list[Span] = []
    for r in resolved:
        if r.substring or not r.lexemes:
            spans += plain.spans_of(r.compact) or folded.spans_of(r.folded)
    return spans


def _merged(spans: Iterable[Span]) -> list[Span]:
    out: list[Span] = []
    for a, b in sorted(s for s in spans if s[1] > s[0]):
        if out and a < out[-1][1]:
            out[-1] = (out[-1][0], max(b, out[-1][1]))
        else:
            out.append((a, b))
    return out


def _headline_spans(session: Session, resolved: Sequence[Resolved], texts: list[str]) -> list[list[Span]]:
    queries = [f"phraseto_tsquery('{TS_CONFIG}', :t{i})" for i, r in enumerate(resolved) if r.lexemes]
    params: dict[str, Any] = {f"t{i}": r.term.text for i, r in enumerate(resolved)}
    for i, r in enumerate(resolved):
        if r.typo_words:
            queries.append(f"to_tsquery('{TS_CONFIG}', :z{i})")
            params[f"z{i}"] = " | ".join(r.typo_words)
    if not queries:
        return [[] for _ in texts]
    # the markers must not occur in the texts; a same-length stand-in keeps every offset
    sent = [t.replace(_START, " ").replace(_STOP, " ") for t in texts]
    rows: Iterable[str] = session.execute(
        text(
            f"SELECT ts_headline('{TS_CONFIG}', u.t, {' || '.join(queries)}, :opts)"
            " FROM unnest(CAST(:texts AS text[])) WITH ORDINALITY AS u(t, n) ORDER BY u.n"
        ),
        params | {"texts": sent, "opts": f"StartSel={_START}, StopSel={_STOP}, HighlightAll=true"},
    ).scalars()
    return [_marked_spans(marked, t) for marked, t in zip(rows, sent, strict=True)]


def _marked_spans(marked: str, original: str) -> list[Span]:
    """The ranges of ``original`` that ``marked`` (the same text with marked words) puts in markers."""

    words = re.findall(f"{_START}(.*?){_STOP}", marked, flags=re.S)
    spans: list[Span] = []
    if marked.replace(_START, "").replace(_STOP, "") == original:
        pos = 0
        for piece in re.split(f"({_START}.*?{_STOP})", marked, flags=re.S):
            if piece.startswith(_START):
                spans.append((pos, pos + len(piece) - 2))
                pos += len(piece) - 2
            else:
                pos += len(piece)
        return [s for s in spans if s[1] > s[0]]
    # ts_headline rebuilt the text differently (whitespace): find the marked words in order
    pos = 0
    for w in words:
        at = original.find(w, pos) if w else -1
        if at >= 0:
            spans.append((at, at + len(w)))
            pos = at + len(w)
    return spans


def segments(value: str, spans: Sequence[Span]) -> list[tuple[str, bool]]:
    """``value`` cut at the spans: (piece, highlighted) in order, for whoever renders them."""
    out: list[tuple[str, bool]] = []
    pos = 0
    for start, end in sorted(spans):
        start = max(start, pos)
        if end <= start:
            continue
        if start > pos:
            out.append((value[pos:start], False))
        out.append((value[start:end], True))
        pos = end
    if pos < len(value):
        out.append((value[pos:], False))
    return out
