"""The pipeline's row writes and counters (SQL only; each function takes the session it runs in).

Every write is safe to repeat: frames are upserted on (video, index), a frame's regions of a model
version are replaced under a row lock, counters are counted from the rows, not added up.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from sqlalchemy import ColumnElement, ScalarSelect, exists, func, literal_column, select, true, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from dva_ocr import telemetry
from dva_ocr.db.session import session_scope
from dva_ocr.db.tables import Frame, FrameOcr, Region, Video, VideoStatus
from dva_ocr.pipeline.contracts import FoundRegion

log = logging.getLogger(__name__)

UNFINISHED = (VideoStatus.queued, VideoStatus.processing, VideoStatus.finalizing)


def is_read() -> ColumnElement[bool]:
    """Frames that OCR reads: in full (no bands) or in their bands; not the unchanged ones."""
    return Frame.bands.is_(None) | (func.jsonb_array_length(Frame.bands) > 0)


def touch(session: Session, media_id: int, **values: Any) -> None:
    """Update a media item's columns and note that its work is alive (``touched_at``)."""
    session.execute(update(Video).where(Video.id == media_id).values(touched_at=func.now(), **values))


class ItemStopped(Exception):
    """The media item is no longer being extracted (cancelled, failed, or reset for a retry): the
    extraction writing its frames stops here."""


def fail_media(media_id: int, message: str, *, retryable: bool = True) -> None:
    """Mark a media item failed with a message a person can act on (its own transaction); one a
    person cancelled stays cancelled. ``retryable=False``: running it again cannot help."""
    with session_scope() as s:
        failed = s.scalar(
            update(Video)
            .where(Video.id == media_id, Video.status != VideoStatus.cancelled)
            .values(
                status=VideoStatus.failed, error=message[:2000], finished_at=func.now(), retryable=retryable
            )
            .returning(Video.id)
        )
    if failed is None:
        log.info("media %s is gone or cancelled; not marked failed: %s", media_id, message)
        return
    telemetry.count(telemetry.MEDIA_FAILED)
    log.warning("media %s failed: %s", media_id, message)


def count_frames(media_id: int, condition: ColumnElement[bool]) -> ScalarSelect[int]:
    return select(func.count(Frame.id)).where(Frame.video_id == media_id, condition).scalar_subquery()


# Rows per INSERT: PostgreSQL takes at most 65,535 bind parameters in one statement (a frame row has
# 8), and a 10-hour video sampled at 1 fps is 36,000 frames.
FRAME_ROWS_PER_STATEMENT = 1000


def upsert_frames(session: Session, media_id: int, rows: Sequence[dict[str, Any]]) -> list[tuple[int, Any]]:
    """Write frame rows (again, if a redelivered extraction wrote them before) and the item's frame
    counters, ``FRAME_ROWS_PER_STATEMENT`` rows per statement. Returns (frame id, bands) per row.
    Raises ``ItemStopped`` when the item is no longer ``processing`` (cancelled, failed, reset)."""
    status = session.scalar(select(Video.status).where(Video.id == media_id))
    if status != VideoStatus.processing:
        raise ItemStopped(f"media {media_id} is {status or 'gone'}; its extraction stops")
    written: list[tuple[int, Any]] = []
    for start in range(0, len(rows), FRAME_ROWS_PER_STATEMENT):
        values = insert(Frame).values(list(rows[start : start + FRAME_ROWS_PER_STATEMENT]))
        stmt = values.on_conflict_do_update(
            constraint="uq_frames_video_index",
            set_={
                "time_s": values.excluded.time_s,
                "path": values.excluded.path,
                "ref_index": values.excluded.ref_index,
                "bands": values.excluded.bands,
            },
        ).returning(Frame.id, Frame.bands)
        written.extend((int(fid), bands) for fid, bands in session.execute(stmt).all())
    if not rows:
        return written
    extracted = count_frames(media_id, true())  # counted: a video's segments write at the same time
    touch(
        session,
        media_id,
        frames_extracted=extracted,
        frames_total=func.greatest(Video.frames_total, extracted),
        # counted, not added up: a redelivered extraction must not count twice
        frames_skipped=count_frames(media_id, Frame.bands == literal_column("'[]'::jsonb")),
        frames_partial=count_frames(media_id, func.jsonb_array_length(Frame.bands) > 0),
    )
    return written


def save_frame_regions(
    session: Session, frame: Frame, model_version_id: int, regions: Sequence[FoundRegion], elapsed_ms: float
) -> int:
    """Replace the regions of (frame, model version). Returns 1 if the frame was new to the model.

    The frame row is locked first, so two runs of the same work cannot interleave their
    delete and insert: whichever runs last leaves exactly one set of rows.
    """
    session.execute(select(Frame.id).where(Frame.id == frame.id).with_for_update())
    session.query(Region).filter(
        Region.frame_id == frame.id, Region.model_version_id == model_version_id
    ).delete(synchronize_session=False)
    rows = []
    for r in regions:
        x, y, w, h = (int(v) for v in r.box)
        rows.append(
            {
                "frame_id": frame.id,
                "video_id": frame.video_id,
                "model_version_id": model_version_id,
                "polygon": [[float(px), float(py)] for px, py in r.polygon],
                "x": x,
                "y": y,
                "w": w,
                "h": h,
                "text": r.text,
                "raw_text": r.raw_text,
                "confidence": float(r.confidence),
                "time_s": frame.time_s,
            }
        )
    if rows:
        session.execute(insert(Region), rows)
    marker = insert(FrameOcr).values(
        frame_id=frame.id, model_version_id=model_version_id, regions_count=len(rows), elapsed_ms=elapsed_ms
    )
    inserted = session.scalar(
        marker.on_conflict_do_update(
            index_elements=["frame_id", "model_version_id"],
            set_={"regions_count": marker.excluded.regions_count, "elapsed_ms": marker.excluded.elapsed_ms},
        ).returning(literal_column("(xmax = 0)"))  # true when the row was inserted, not updated
    )
    return int(bool(inserted))


def frames_read_by(media_id: int, model_version_id: int) -> ScalarSelect[int]:
    """How many of a media item's frames the model version has read (a subquery)."""
    return (
        select(func.count(FrameOcr.frame_id))
        .join(Frame, Frame.id == FrameOcr.frame_id)
        .where(Frame.video_id == media_id, FrameOcr.model_version_id == model_version_id)
        .scalar_subquery()
    )


def unread_frames(session: Session, media_id: int, model_version_id: int, limit: int) -> list[Frame]:
    """The first frames (by index) that OCR reads and the model version has not read yet."""
    already = exists().where(FrameOcr.frame_id == Frame.id, FrameOcr.model_version_id == model_version_id)
    return list(
        session.scalars(
            select(Frame)
            .where(Frame.video_id == media_id, is_read(), ~already)
            .order_by(Frame.index)
            .limit(limit)
        )
    )


def claim_finalize(session: Session, media_id: int) -> bool:
    """Move a fully read item to ``finalizing``; true for exactly one caller (the one to queue it)."""
    won = session.scalar(
        update(Video)
        .where(
            Video.id == media_id,
            Video.status == VideoStatus.processing,
            Video.extracted.is_(True),
            Video.frames_ocr + Video.frames_skipped >= Video.frames_total,
        )
        .values(status=VideoStatus.finalizing, touched_at=func.now())
        .returning(Video.id)
    )
    return won is not None
