"""Search over region text: full-text first (websearch syntax), trigram fallback for typos and parts.

Full text: ``websearch_to_tsquery`` (words, "phrases", OR, -exclusion), English stemming, ranked with
``ts_rank_cd``. When that finds nothing, the query's words are matched by ``pg_trgm`` word similarity
and substring (``ILIKE``), both served by the trigram GIN index; those hits say ``match="fuzzy"``.
Only each media item's current model version is searched.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from dva_ocr.db.models import TS_CONFIG


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
    region_id: int = 0
    confidence: float = 0.0
    frame_index: int = 0
    frame_size: tuple[int, int] = (0, 0)  # width, height of the sampled frame

    def to_json(self) -> dict:
        d = asdict(self)
        d["box"] = list(self.box)
        return {k: d[k] for k in ("media_id", "time", "end", "text", "box", "score", "match")}


# Optional filters shared by both queries; a NULL parameter switches its filter off.
_FILTERS = (
    "(CAST(:video AS integer) IS NULL OR r.video_id = :video)"
    " AND (CAST(:min_conf AS float) IS NULL OR r.confidence >= :min_conf)"
    " AND (CAST(:t0 AS float) IS NULL OR f.time_s >= :t0)"
    " AND (CAST(:t1 AS float) IS NULL OR f.time_s <= :t1)"
)

_FULLTEXT = f"""
SELECT r.video_id, v.source_name, r.frame_id, f.time_s, r.text, r.x, r.y, r.w, r.h,
       r.id AS region_id, r.confidence, f.index AS frame_index, f.width, f.height,
       ts_rank_cd(r.tsv, q.query) * r.confidence AS score
FROM regions r
JOIN videos v ON v.id = r.video_id AND v.model_version_id = r.model_version_id
JOIN frames f ON f.id = r.frame_id,
     websearch_to_tsquery('{TS_CONFIG}', :q) AS q(query)
WHERE r.tsv @@ q.query AND {_FILTERS}
ORDER BY score DESC, r.video_id, f.time_s
LIMIT :limit OFFSET :offset
"""

_FUZZY = f"""
SELECT r.video_id, v.source_name, r.frame_id, f.time_s, r.text, r.x, r.y, r.w, r.h,
       r.id AS region_id, r.confidence, f.index AS frame_index, f.width, f.height,
       GREATEST(word_similarity(:q, r.text), CASE WHEN r.text ILIKE :pattern THEN 1.0 ELSE 0 END)
         * r.confidence AS score
FROM regions r
JOIN videos v ON v.id = r.video_id AND v.model_version_id = r.model_version_id
JOIN frames f ON f.id = r.frame_id
WHERE (:q <% r.text OR r.text ILIKE :pattern) AND {_FILTERS}
  AND NOT r.text ILIKE ANY(CAST(:excluded AS text[]))
ORDER BY score DESC, r.video_id, f.time_s
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
    video_id: int | None = None,
    limit: int = 50,
    offset: int = 0,
    min_confidence: float | None = None,
    time_from: float | None = None,
    time_to: float | None = None,
    fuzzy: bool = True,
) -> list[Hit]:
    """Hits for ``query`` (websearch syntax), best first; filters are optional."""
    query = query.strip()
    if not query:
        return []
    params = {
        "q": query,
        "video": video_id,
        "limit": limit,
        "offset": offset,
        "min_conf": min_confidence,
        "t0": time_from,
        "t1": time_to,
    }
    rows = session.execute(text(_FULLTEXT), params).all()
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
            rows = session.execute(text(_FUZZY), params).all()
            match = "fuzzy"
    return [_hit(row._mapping, match) for row in rows]


def _hit(r: Any, match: str) -> Hit:
    return Hit(
        media_id=r["video_id"],
        media_name=r["source_name"],
        frame_id=r["frame_id"],
        time=float(r["time_s"]),
        end=None,
        text=r["text"],
        box=(r["x"], r["y"], r["w"], r["h"]),
        score=round(float(r["score"]), 4),
        match=match,
        region_id=r["region_id"],
        confidence=round(float(r["confidence"]), 4),
        frame_index=r["frame_index"],
        frame_size=(r["width"], r["height"]),
    )
