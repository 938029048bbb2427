"""The ingest pipeline as plain functions: register -> extract -> OCR batches -> finalize.

Each stage takes ids, does its work in short transactions and is safe to run twice.
Nothing here knows about Celery: the caller passes ``enqueue_*`` callbacks that queue the
next stage (workers/tasks.py does it with Celery, tests may call stages directly).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from sqlalchemy import func, literal_column, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from dva_ocr.db.models import Frame, FrameOcr, Region, Video, VideoStatus
from dva_ocr.db.session import session_scope
from dva_ocr.errors import MediaError
from dva_ocr.media import storage
from dva_ocr.media.frames import expected_frames, read_jpeg, sample_frames, write_jpeg
from dva_ocr.media.probe import probe
from dva_ocr.model_registry import get_or_create_model_version
from dva_ocr.settings import get_settings

log = logging.getLogger(__name__)

EnqueueOcr = Callable[[int, list[int]], None]
EnqueueFinalize = Callable[[int], None]


class Reader(Protocol):
    """What the OCR stage needs of an engine (dva_ocr.ocr.OcrEngine satisfies it)."""

    def batch(self, images: Sequence[Any]) -> list[list[Any]]: ...


@dataclass(frozen=True)
class Registered:
    video_id: int
    created: bool  # False when the same content was already known


def register_media(
    session: Session, src: Path, *, sample_fps: float | None = None, model: str | None = None
) -> Registered:
    """Store ``src`` content-addressed and create its Video row (status queued).

    The same content registered twice is one video; a failed one is reset so it runs again.
    """
    settings = get_settings()
    if not src.is_file():
        raise MediaError(f"file not found: {src}")
    stored, digest, size = storage.store_original(settings.media_root, src)
    existing = session.scalar(select(Video).where(Video.sha256 == digest).with_for_update())
    if existing is not None:
        if existing.status == VideoStatus.failed:
            reset_video(session, existing)
            return Registered(existing.id, created=True)
        return Registered(existing.id, created=False)
    mv = get_or_create_model_version(session, model or settings.ocr_model)
    video = Video(
        source_name=src.name,
        path=str(stored.relative_to(settings.media_root)),
        sha256=digest,
        size_bytes=size,
        sample_fps=sample_fps or settings.sample_fps,
        model_version_id=mv.id,
        status=VideoStatus.queued,
    )
    session.add(video)
    session.flush()
    return Registered(video.id, created=True)


def reset_video(session: Session, video: Video) -> None:
    """Forget a video's frames and results so it can run again from the start."""
    session.query(Frame).filter(Frame.video_id == video.id).delete()
    storage.remove_video_files(get_settings().media_root, video.id)
    video.status = VideoStatus.queued
    video.error = None
    video.extracted = False
    video.frames_total = None
    video.frames_extracted = 0
    video.frames_ocr = 0
    video.regions_count = 0
    video.started_at = video.finished_at = None


def mark_failed(video_id: int, message: str) -> None:
    with session_scope() as s:
        s.execute(
            update(Video)
            .where(Video.id == video_id)
            .values(status=VideoStatus.failed, error=message[:2000], finished_at=func.now())
        )
    log.warning("video %s failed: %s", video_id, message)


def extract_video(video_id: int, *, enqueue_ocr: EnqueueOcr, enqueue_finalize: EnqueueFinalize) -> int:
    """Probe, sample frames to JPEG, create Frame rows and queue OCR batches. Returns frames written."""
    settings = get_settings()
    with session_scope() as s:
        video = s.get(Video, video_id)
        if video is None:
            log.info("video %s is gone; nothing to extract", video_id)
            return 0
        if video.status in (VideoStatus.done, VideoStatus.failed):
            return 0
        src = settings.media_root / video.path
        sample_fps = video.sample_fps
    try:
        info = probe(src)
    except MediaError as exc:
        mark_failed(video_id, str(exc))
        return 0
    with session_scope() as s:
        s.execute(
            update(Video)
            .where(Video.id == video_id)
            .values(
                media_type=info.media_type,
                width=info.width,
                height=info.height,
                duration=info.duration,
                fps=info.fps,
                frames_total=expected_frames(info, sample_fps),
                status=VideoStatus.processing,
                started_at=func.coalesce(Video.started_at, func.now()),
            )
        )
    batch: list[dict[str, Any]] = []
    written = 0

    def flush() -> None:
        nonlocal batch
        if not batch:
            return
        with session_scope() as s:
            stmt = insert(Frame).values(batch)
            stmt = stmt.on_conflict_do_update(
                constraint="uq_frames_video_index",
                set_={"time_s": stmt.excluded.time_s, "path": stmt.excluded.path},
            ).returning(Frame.id)
            ids = list(s.scalars(stmt))
            s.execute(
                update(Video)
                .where(Video.id == video_id)
                .values(
                    frames_extracted=batch[-1]["index"] + 1,
                    frames_total=func.greatest(Video.frames_total, batch[-1]["index"] + 1),
                )
            )
        enqueue_ocr(video_id, ids)
        batch = []

    try:
        for frame in sample_frames(src, info, sample_fps):
            dest = storage.frame_path(settings.media_root, video_id, frame.index)
            write_jpeg(dest, frame.image)
            h, w = frame.image.shape[:2]
            batch.append(
                {
                    "video_id": video_id,
                    "index": frame.index,
                    "time_s": frame.time_s,
                    "path": str(dest.relative_to(settings.media_root)),
                    "width": w,
                    "height": h,
                }
            )
            written += 1
            if len(batch) >= settings.ocr_batch_frames:
                flush()
        flush()
    except MediaError as exc:
        mark_failed(video_id, str(exc))
        return written
    with session_scope() as s:
        s.execute(
            update(Video)
            .where(Video.id == video_id)
            .values(extracted=True, frames_total=written, frames_extracted=written)
        )
    maybe_finalize(video_id, enqueue_finalize)
    return written


def ocr_frames(
    video_id: int,
    frame_ids: list[int],
    *,
    reader: Reader,
    model_version_id: int | None = None,
    enqueue_finalize: EnqueueFinalize,
) -> int:
    """Read the given frames with ``reader`` and store their regions. Returns regions written."""
    settings = get_settings()
    with session_scope() as s:
        video = s.get(Video, video_id)
        if video is None or video.status == VideoStatus.failed:
            log.info("video %s is gone or failed; skipping %d frames", video_id, len(frame_ids))
            return 0
        mv_id = model_version_id or video.model_version_id
        frames = list(s.scalars(select(Frame).where(Frame.id.in_(frame_ids)).order_by(Frame.index)))
    if not frames:
        return 0
    images = [read_jpeg(settings.media_root / f.path) for f in frames]
    started = time.perf_counter()
    results = reader.batch(images)
    per_frame_ms = (time.perf_counter() - started) * 1000 / len(frames)
    total = 0
    with session_scope() as s:
        new_frames = 0
        for frame, regions in zip(frames, results, strict=True):
            new_frames += save_frame_regions(s, frame, mv_id, regions, per_frame_ms)
            total += len(regions)
        s.execute(update(Video).where(Video.id == video_id).values(frames_ocr=Video.frames_ocr + new_frames))
    maybe_finalize(video_id, enqueue_finalize)
    return total


def save_frame_regions(
    session: Session, frame: Frame, model_version_id: int, regions: Sequence[Any], elapsed_ms: float
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
            }
        )
    if rows:
        session.execute(insert(Region), rows)
    stmt = insert(FrameOcr).values(
        frame_id=frame.id, model_version_id=model_version_id, regions_count=len(rows), elapsed_ms=elapsed_ms
    )
    stmt = stmt.on_conflict_do_update(
        index_elements=["frame_id", "model_version_id"],
        set_={"regions_count": stmt.excluded.regions_count, "elapsed_ms": stmt.excluded.elapsed_ms},
    ).returning(literal_column("(xmax = 0)"))  # true when the row was inserted, not updated
    return int(bool(session.scalar(stmt)))


def maybe_finalize(video_id: int, enqueue_finalize: EnqueueFinalize) -> None:
    """Queue the roll-up once every frame is read. Exactly one caller wins the status change."""
    with session_scope() as s:
        won = s.scalar(
            update(Video)
            .where(
                Video.id == video_id,
                Video.status == VideoStatus.processing,
                Video.extracted.is_(True),
                Video.frames_ocr >= Video.frames_total,
            )
            .values(status=VideoStatus.finalizing)
            .returning(Video.id)
        )
    if won is not None:
        enqueue_finalize(video_id)


def finalize_video(video_id: int) -> None:
    """Roll-ups after OCR: region count, status done."""
    with session_scope() as s:
        video = s.get(Video, video_id, with_for_update=True)
        if video is None or video.status not in (VideoStatus.finalizing, VideoStatus.done):
            return
        video.regions_count = (
            s.scalar(
                select(func.count(Region.id)).where(
                    Region.video_id == video_id, Region.model_version_id == video.model_version_id
                )
            )
            or 0
        )
        video.status = VideoStatus.done
        video.finished_at = func.now()
