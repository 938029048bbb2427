"""Search over text tracks (default) or frame regions: full text first, trigram fallback for typos.

Full text: ``websearch_to_tsquery`` (words, "phrases", OR, -exclusion), English stemming, ranked with
``ts_rank_cd``. When that finds nothing, the query's words are matched by ``pg_trgm`` word similarity
and substring (``ILIKE``), both served by the trigram GIN index; those hits say ``match="fuzzy"``.
Only each media item's current model version is searched. A track hit is one piece of text for
as long as it stayed on screen (``time`` to ``end``); region hits are single frames.

``highlight`` says which characters of each hit's text matched: the words the full-text query matched
(stemmed, as ``ts_headline`` finds them) or, for fuzzy hits, the words that resemble a query word. It
gives character ranges, not markup: the dashboard turns them into HTML, the API returns them as they are.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from dva_ocr.db.tables import TS_CONFIG


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
    match: str  # "fulltext" | "fuzzy"
    region_id: int = 0  # set for region hits
    track_id: int = 0  # set for track hits
    confidence: float = 0.0
    frame_index: int = 0
    frame_size: tuple[int, int] = (0, 0)  # width, height of the sampled frame

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        d["box"] = list(self.box)
        return {k: d[k] for k in ("media_id", "time", "end", "text", "box", "score", "match")}


# What each level searches: its rows, the columns a Hit needs, and its time span.
_LEVELS = {
    "tracks": {
        "cols": "t.video_id, v.source_name, t.best_frame_id AS frame_id, t.start_s AS time_s, t.end_s,"
        " t.text, t.x, t.y, t.w, t.h, 0 AS region_id, t.id AS track_id, t.confidence,"
        " f.index AS frame_index, f.width, f.height",
        "from": "text_tracks t JOIN videos v ON v.id = t.video_id AND v.model_version_id = t.model_version_id"
        " JOIN frames f ON f.id = t.best_frame_id",
        # on screen from start until end (the next sample), exclusive; an image's track has end = start
        "t0": "(t.end_s > :t0 OR t.start_s >= :t0)", "t1": "t.start_s <= :t1",
    },
    "regions": {
        "cols": "t.video_id, v.source_name, t.frame_id, f.time_s, NULL::float AS end_s,"
        " t.text, t.x, t.y, t.w, t.h, t.id AS region_id, 0 AS track_id, t.confidence,"
        " f.index AS frame_index, f.width, f.height",
        "from": "regions t JOIN videos v ON v.id = t.video_id AND v.model_version_id = t.model_version_id"
        " JOIN frames f ON f.id = t.frame_id",
        "t0": "f.time_s >= :t0", "t1": "f.time_s <= :t1",
    },
}  # fmt: skip
LEVELS = tuple(_LEVELS)


def _filters(level: str) -> str:
    """Optional filters shared by both queries; a NULL parameter switches its filter off. A track
    matches a time range when it overlaps it."""
    spec = _LEVELS[level]
    return (
        "(CAST(:video AS integer) IS NULL OR t.video_id = :video)"
        " AND (CAST(:min_conf AS float) IS NULL OR t.confidence >= :min_conf)"
        f" AND (CAST(:t0 AS float) IS NULL OR {spec['t0']})"
        f" AND (CAST(:t1 AS float) IS NULL OR {spec['t1']})"
    )


def _fulltext(level: str) -> str:
    spec = _LEVELS[level]
    return f"""
SELECT {spec["cols"]}, ts_rank_cd(t.tsv, q.query) * t.confidence AS score
FROM {spec["from"]}, websearch_to_tsquery('{TS_CONFIG}', :q) AS q(query)
WHERE t.tsv @@ q.query AND {_filters(level)}
ORDER BY score DESC, t.video_id, time_s
LIMIT :limit OFFSET :offset
"""


def _fuzzy(level: str) -> str:
    spec = _LEVELS[level]
    return f"""
SELECT {spec["cols"]},
       GREATEST(word_similarity(:q, t.text), CASE WHEN t.text ILIKE :pattern THEN 1.0 ELSE 0 END)
         * t.confidence AS score
FROM {spec["from"]}
WHERE (:q <% t.text OR t.text ILIKE :pattern) AND {_filters(level)}
  AND NOT t.text ILIKE ANY(CAST(:excluded AS text[]))
ORDER BY score DESC, t.video_id, time_s
LIMIT :limit OFFSET :offset
"""


def split_terms(query: str) -> tuple[str, list[str]]:
    """The query's words without search syntax (quotes, OR), and its -excluded words, for fuzzy matching."""
    tokens = re.findall(r'-?[^\s"]+', query)
    words = [w for w in tokens if not w.startswith("-") and w.upper() != "OR"]
    excluded = [w[1:] for w in tokens if w.startswith("-") and len(w) > 1]
    return " ".join(words), excluded


def _like_escape(s: str) -> str:
    return s.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


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
) -> list[Hit]:
    """Hits for ``query`` (websearch syntax), best first; filters are optional.

    level ``tracks`` (default): one hit per text track, with its start and end; ``regions``: one hit
    per frame region (frames that repeated an earlier one hold no regions of their own)."""
    if level not in _LEVELS:
        raise ValueError(f"level must be one of {', '.join(LEVELS)}, got {level!r}")
    query = query.strip()
    if not query:
        return []
    params: dict[str, Any] = {
        "q": query,
        "video": media_id,
        "limit": limit,
        "offset": offset,
        "min_conf": min_confidence,
        "t0": time_from,
        "t1": time_to,
    }
    rows = session.execute(text(_fulltext(level)), params).all()
    match = "fulltext"
    if not rows and fuzzy:
        terms, excluded = split_terms(query)
        if len(terms) >= 2:
            params = {
                **params,
                "q": terms,
                "pattern": f"%{_like_escape(terms)}%",
                "excluded": [f"%{_like_escape(w)}%" for w in excluded],
            }
            rows = session.execute(text(_fuzzy(level)), params).all()
            match = "fuzzy"
    return [_hit(row._mapping, match) for row in rows]


def _hit(r: Any, match: str) -> Hit:
    return Hit(
        media_id=r["video_id"],
        media_name=r["source_name"],
        frame_id=r["frame_id"],
        time=float(r["time_s"]),
        end=None if r["end_s"] is None else float(r["end_s"]),
        text=r["text"],
        box=(r["x"], r["y"], r["w"], r["h"]),
        score=round(float(r["score"]), 4),
        match=match,
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
    """Per hit (in order), the ``[start, end)`` character ranges of ``hit.text`` that matched ``query``.

    Full-text hits: the words ``ts_headline`` marks for the query (stemmed: "departure" marks
    "departures"; each word of a phrase on its own). Fuzzy hits: the words that resemble a query word."""
    full = [i for i, h in enumerate(hits) if h.match == "fulltext"]
    out = [[] if h.match == "fulltext" else fuzzy_spans(query, h.text) for h in hits]
    for i, spans in zip(full, _headline_spans(session, query, [hits[i].text for i in full]), strict=True):
        out[i] = spans
    return out


def _headline_spans(session: Session, query: str, texts: list[str]) -> list[list[Span]]:
    if not texts:
        return []
    # the markers must not occur in the texts; a same-length stand-in keeps every offset
    sent = [t.replace(_START, " ").replace(_STOP, " ") for t in texts]
    rows: Iterable[str] = session.execute(
        text(
            f"SELECT ts_headline('{TS_CONFIG}', u.t, websearch_to_tsquery('{TS_CONFIG}', :q), :opts)"
            " FROM unnest(CAST(:texts AS text[])) WITH ORDINALITY AS u(t, n) ORDER BY u.n"
        ),
        {"q": query, "texts": sent, "opts": f"StartSel={_START}, StopSel={_STOP}, HighlightAll=true"},
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


def fuzzy_spans(query: str, value: str) -> list[Span]:
    """The words of ``value`` that contain, are contained in or closely resemble a word of ``query``
    (what a typo-tolerant hit matched)."""
    terms = [t.lower() for t in split_terms(query)[0].split() if len(t) > 1]

    def resembles(word: str) -> bool:
        word = word.lower()
        return any(
            t in word
            or (len(word) > 2 and word in t)
            or difflib.SequenceMatcher(None, t, word).ratio() >= 0.75
            for t in terms
        )

    return [m.span() for m in re.finditer(r"\w+", value) if resembles(m.group(0))]


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
