"""The one SQL statement a search runs, built for its terms, its level and only the filters it sets.

Every positive term matches in up to four ways, each served by an index, and a hit says the weakest way
any of its clauses needed (the hit's *kind*):

====== ========== ==========================================================================
level  kind       how
====== ========== ==========================================================================
4      fulltext   the stemmed word or phrase in ``tsv`` (over ``text`` and ``raw_text``)
3      compact    the compact term inside the compact text (spaces and punctuation ignored); CJK terms
                  by their bigrams
2      folded     the folded term inside the folded text (OCR confusions made one character)
1      fuzzy      a known word one or two edits from a mistyped query word, in ``tsv``
====== ========== ==========================================================================

Score, on one scale for every kind: ``(level - 1 + quality) / 4``, so fulltext hits score 0.75-1,
compact 0.5-0.75, folded 0.25-0.5 and fuzzy 0-0.25; ``quality`` (under 1) is the text's confidence
times how much of the text the query covers (``0.5 + 0.5 * min(1, query chars / text chars)``, compact
characters). Ranking runs over the narrow matching rows in a subquery; only the page's rows are joined
to media and frames.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from dva_ocr.db.tables import TS_CONFIG
from dva_ocr.search.terms import Resolved

KINDS = {4: "fulltext", 3: "compact", 2: "folded", 1: "fuzzy"}

# What each level searches: its table, the frame each row is shown by, and its time span.
LEVELS = {
    "tracks": {
        "table": "text_tracks",
        "frame": "t.best_frame_id",
        "cols": "t.video_id, v.source_name, t.best_frame_id AS frame_id, t.start_s AS time_s, t.end_s,"
        " t.text, t.x, t.y, t.w, t.h, 0 AS region_id, t.id AS track_id, t.confidence,"
        " f.index AS frame_index, f.width, f.height",
        # on screen from start until end (the next sample), exclusive; an image's track has end = start
        "t0": "(t.end_s > :t0 OR t.start_s >= :t0)",
        "t1": "t.start_s <= :t1",
    },
    "regions": {
        "table": "regions",
        "frame": "t.frame_id",
        "cols": "t.video_id, v.source_name, t.frame_id, t.time_s, NULL::float AS end_s,"
        " t.text, t.x, t.y, t.w, t.h, t.id AS region_id, 0 AS track_id, t.confidence,"
        " f.index AS frame_index, f.width, f.height",
        "t0": "t.time_s >= :t0",
        "t1": "t.time_s <= :t1",
    },
}


@dataclass(frozen=True)
class Filters:
    media_id: int | None = None
    min_confidence: float | None = None
    time_from: float | None = None
    time_to: float | None = None


def like_escape(s: str) -> str:
    return s.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


class _Builder:
    def __init__(self) -> None:
        self.params: dict[str, Any] = {}

    def param(self, value: Any, cast: str = "") -> str:
        name = f"p{len(self.params)}"
        self.params[name] = value
        return f"CAST(:{name} AS {cast})" if cast else f":{name}"

    def arms(self, r: Resolved, substring: bool) -> dict[int, str]:
        """The term's conditions by kind level (the ones it has)."""
        out: dict[int, str] = {}
        if r.lexemes:
            out[4] = f"t.tsv @@ phraseto_tsquery('{TS_CONFIG}', {self.param(r.term.text)})"
        if substring and r.cjk:
            out[3] = (
                f"(t.cjk @> {self.param(list(r.cjk), 'text[]')}"
                f" AND t.compact LIKE {self.param('%' + like_escape(r.compact) + '%')})"
            )
        elif substring:
            out[3] = f"t.compact LIKE {self.param('%' + like_escape(r.compact) + '%')}"
            out[2] = f"t.folded LIKE {self.param('%' + like_escape(r.folded) + '%')}"
        if r.typo_words:
            out[1] = f"t.tsv @@ to_tsquery('{TS_CONFIG}', {self.param(' | '.join(r.typo_words))})"
        return out


def _indexed(arms: dict[int, str]) -> str:
    """A term's match condition, one index per arm: the folded arm covers the compact one (every compact
    match is a folded match), so only a CJK term's compact arm is searched itself."""
    conds = [arms[k] for k in (4, 2, 1) if k in arms]
    if 3 in arms and 2 not in arms:
        conds.append(arms[3])
    return " OR ".join(conds)


def _level(arms: dict[int, str]) -> str:
    """The strongest kind level of the term's arms that holds for the row (0: none)."""
    return (
        "CASE "
        + " ".join(f"WHEN {c} THEN {k}" for k, c in sorted(arms.items(), reverse=True))
        + " ELSE 0 END"
    )


def build(
    level: str,
    clauses: Sequence[Sequence[Resolved]],
    excluded: Sequence[Resolved],
    filters: Filters,
    *,
    limit: int,
    offset: int,
    cap: int | None = None,
    substring: bool = True,
    whole: Resolved | None = None,
) -> tuple[str, dict[str, Any]]:
    """SQL and parameters for one page of hits (each row also says ``total``, how many rows match in
    all). ``cap``: rank only the first ``cap`` matching rows (for
    queries whose every match is a common word, where ranking them all would be the whole table).
    ``whole``: the query's words as one compact run, an alternative to matching them one by one
    (``pricing mir`` finds ``pricingmir``, whose ``mir`` is too short to be matched inside a word)."""
    spec = LEVELS[level]
    b = _Builder()
    matches: list[str] = []
    clause_levels: list[str] = []
    for clause in clauses:
        term_arms = [b.arms(r, substring and r.substring) for r in clause]
        term_arms = [a for a in term_arms if a]
        if not term_arms:
            continue
        matches.append("(" + " OR ".join(_indexed(a) for a in term_arms) + ")")
        levels = [_level(a) for a in term_arms]
        clause_levels.append(levels[0] if len(levels) == 1 else f"GREATEST({', '.join(levels)})")
    if not matches:
        return "", {}
    lvl = clause_levels[0] if len(clause_levels) == 1 else f"LEAST({', '.join(clause_levels)})"
    wheres = [" AND ".join(matches)]
    if whole is not None and substring and whole.substring and len(matches) > 1:
        whole_arms = b.arms(replace(whole, lexemes=0, typo_words=()), True)
        wheres = [f"(({wheres[0]}) OR {_indexed(whole_arms)})"]
        lvl = f"GREATEST({lvl}, {_level(whole_arms)})"
    for r in excluded:
        if r.lexemes:
            wheres.append(f"NOT t.tsv @@ phraseto_tsquery('{TS_CONFIG}', {b.param(r.term.text)})")
    if filters.media_id is not None:
        wheres.append(f"t.video_id = {b.param(filters.media_id)}")
    if filters.min_confidence is not None:
        wheres.append(f"t.confidence >= {b.param(filters.min_confidence)}")
    for key, value in (("t0", filters.time_from), ("t1", filters.time_to)):
        if value is not None:
            b.params[key] = float(value)
            wheres.append(spec[key])
    query_chars = sum(max(len(r.compact) for r in clause) for clause in clauses if clause)
    table, frame = spec["table"], spec["frame"]
    b.params.update(qlen=float(max(1, query_chars)), limit=limit, offset=offset)
    capped = f" LIMIT {int(cap)}" if cap else ""
    sql = f"""
WITH candidates AS MATERIALIZED (  -- each row's level computed once
    SELECT t.id, t.confidence, length(t.compact) AS chars, {lvl} AS lvl
    FROM {table} t JOIN videos v ON v.id = t.video_id AND v.model_version_id = t.model_version_id
    WHERE {" AND ".join(wheres)}{capped}
), ranked AS (
    SELECT id, lvl, (lvl - 1 + 0.999 * confidence * (0.5 + 0.5 * LEAST(1.0, :qlen / GREATEST(chars, 1)))) / 4
        AS score, count(*) OVER () AS total  -- every candidate's, before the page is cut
    FROM candidates
    ORDER BY score DESC, id
    LIMIT :limit OFFSET :offset
)
SELECT {spec["cols"]}, h.score, h.lvl, h.total
FROM ranked h JOIN {table} t ON t.id = h.id JOIN videos v ON v.id = t.video_id JOIN frames f ON f.id = {frame}
ORDER BY h.score DESC, h.id
"""
    return sql, b.params
