"""The vocabulary typo-tolerant search corrects against: ``search_words``, the distinct words (3-32
characters, lowercased, NFKC; SQL ``dva_words``) of the regions read.

Words are added when a media item's text tracks are built (every path that writes regions ends
there: ingest, reprocessing jobs, track rebuilds), in one statement whose rows are sorted, so
concurrent writers take the words' locks in the same order and cannot deadlock. Words are never
removed: a stale word costs a typo lookup that finds no text, nothing more.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

_ADD = """
INSERT INTO search_words (word)
SELECT DISTINCT sw.word FROM regions AS r, dva_words(r.text || ' ' || r.raw_text) AS sw(word)
{where}
ORDER BY sw.word
ON CONFLICT DO NOTHING
"""


def add_media_words(session: Session, media_id: int, model_version_id: int) -> int:
    """Add the words of one media item's regions of one model version. Returns the words new to it."""
    sql = _ADD.format(where="WHERE r.video_id = :v AND r.model_version_id = :mv")
    result: Any = session.execute(text(sql), {"v": media_id, "mv": model_version_id})
    return int(result.rowcount or 0)


def add_all_words(session: Session) -> int:
    """Add the words of every region (after a bulk load). Returns the words new to it."""
    result: Any = session.execute(text(_ADD.format(where="")))
    return int(result.rowcount or 0)
