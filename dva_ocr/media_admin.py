"""Media items as the API and dashboard see them: listing with progress, deletion, retry, uploads."""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from dva_ocr.db.tables import Frame, Region, TextTrack, Video, VideoStatus
from dva_ocr.errors import DvaOcrError, MediaError, NotFound
from dva_ocr.media import storage
from dva_ocr.media.images import too_many_pixels
from dva_ocr.media.probe import probe
from dva_ocr.pipeline import IngestOptions, Registered, register_media, reset_media
from dva_ocr.settings import get_settings
from dva_ocr.work.queues import WorkQueue


class TooLarge(DvaOcrError):
    pass


def media_json(v: Video) -> dict[str, Any]:
    total = v.frames_total or 0
    return {
        "id": v.id,
        "name": v.source_name,
        "owner_id": v.owner_id,
        "media_type": v.media_type,
        "status": v.status,
        "error": v.error,
        "notes": list(v.notes or []),
        "video_stream": v.video_stream,
        "duration": v.duration,
        "fps": v.fps,
        "width": v.width,
        "height": v.height,
        "size_bytes": v.size_bytes,
        "sample_fps": v.sample_fps,
        "sampling": {
            "policy": v.sampling,
            "scene_threshold": v.scene_threshold,
            "max_gap_s": v.max_gap_s,
            "max_reuse_s": v.max_reuse_s,
        },
        "filters": v.filters,
        "progress": {
            "frames_total": v.frames_total,
            "frames_extracted": v.frames_extracted,
            "frames_ocr": v.frames_ocr,
            "frames_skipped": v.frames_skipped,
            "frames_partial": v.frames_partial,
            "fraction": round(min(1.0, (v.frames_ocr + v.frames_skipped) / total), 4)
            if total
            else (1.0 if v.status == "done" else 0.0),
        },
        "regions": v.regions_count,
        "tracks": v.tracks_count,
        "created_at": v.created_at.isoformat() if v.created_at else None,
        "finished_at": v.finished_at.isoformat() if v.finished_at else None,
    }


def get_media(session: Session, media_id: int) -> Video:
    v = session.get(Video, media_id)
    if v is None:
        raise NotFound(f"no media item {media_id}")
    return v


def list_media(session: Session, *, limit: int = 200, offset: int = 0) -> list[Video]:
    return list(session.scalars(select(Video).order_by(Video.id.desc()).limit(limit).offset(offset)))


def counts_by_status(session: Session) -> dict[str, int]:
    """Media items per status, every status named (0 where none)."""
    counts = dict(session.execute(select(Video.status, func.count()).group_by(Video.status)).all())
    return {s.value: counts.get(s.value, 0) for s in VideoStatus}


def recent_failures(session: Session, limit: int = 25) -> list[Video]:
    """Failed media items, the latest to fail first."""
    return list(
        session.scalars(
            select(Video)
            .where(Video.status == VideoStatus.failed)
            .order_by(Video.finished_at.desc().nulls_last(), Video.id.desc())
            .limit(limit)
        )
    )


def delete_media(session: Session, media_id: int) -> None:
    """Remove the item's rows (frames and regions cascade) and its files."""
    v = get_media(session, media_id)
    root = get_settings().media_root
    original = root / v.path
    session.delete(v)
    session.flush()
    storage.remove_video_files(root, media_id)
    original.unlink(missing_ok=True)


def reset_for_retry(session: Session, media_id: int, queue: WorkQueue) -> Video:
    """Reset an item so it runs again from the start: a failed one, or an unfinished one that nothing
    is working on (the sweep's test: no stage touched it for STUCK_AFTER_S and the broker holds no
    task for it, as after a restart that lost its tasks). One that is really running, or done, is
    refused with the reason."""
    from dva_ocr.pipeline.rows import UNFINISHED
    from dva_ocr.pipeline.sweep import still_running

    v = session.get(Video, media_id, with_for_update=True)
    if v is None:
        raise NotFound(f"no media item {media_id}")
    if v.status == VideoStatus.done:
        raise DvaOcrError(
            f"media {media_id} is done; nothing to retry (a reprocessing job reads it again with a model)"
        )
    if v.status in UNFINISHED and (why := still_running(session, v, queue)) is not None:
        raise DvaOcrError(
            f"media {media_id} is {v.status} and still being worked on: {why}; "
            "it can be retried once it has failed or nothing has touched it for a while"
        )
    reset_media(session, v)
    return v


def known_item_note(v: Video) -> str:
    """What an upload of content already known is told: the item's state and what to do about it."""
    where = f"media {v.id} ({v.source_name})"
    if v.status == VideoStatus.done:
        return f"already known as {where}, done; a reprocessing job reads it again with another model"
    return (
        f"already known as {where}, {v.status}; if it makes no progress, retry it "
        f"(POST /api/media/{v.id}/retry, the Retry button, or ./manage.py retry {v.id}): an item "
        "that no worker has touched for STUCK_AFTER_S is run again from the start"
    )


def regions_of(session: Session, media_id: int, *, limit: int = 5000) -> list[dict[str, Any]]:
    v = get_media(session, media_id)
    rows = session.execute(
        select(Region, Frame.time_s, Frame.index)
        .join(Frame, Frame.id == Region.frame_id)
        .where(Region.video_id == media_id, Region.model_version_id == v.model_version_id)
        .order_by(Frame.index, Region.y, Region.x)
        .limit(limit)
    ).all()
    return [
        {
            "id": r.id,
            "frame_index": index,
            "time": time_s,
            "text": r.text,
            "raw_text": r.raw_text,
            "confidence": round(r.confidence, 4),
            "box": [r.x, r.y, r.w, r.h],
            "polygon": r.polygon,
        }
        for r, time_s, index in rows
    ]


def tracks_of(session: Session, media_id: int, *, model_version_id: int | None = None) -> list[TextTrack]:
    """A media item's text tracks (of its active model version unless one is named), by start."""
    v = get_media(session, media_id)
    mv_id = model_version_id or v.model_version_id
    return list(
        session.scalars(
            select(TextTrack)
            .where(TextTrack.video_id == media_id, TextTrack.model_version_id == mv_id)
            .order_by(TextTrack.start_s, TextTrack.y, TextTrack.x)
        )
    )


def track_json(t: TextTrack) -> dict[str, Any]:
    return {
        "id": t.id,
        "text": t.text,
        "start": t.start_s,
        "end": t.end_s,
        "confidence": round(t.confidence, 4),
        "agreement": round(t.agreement, 4),
        "readings": t.readings,
        "box": [t.x, t.y, t.w, t.h],
        "boxes": t.boxes,
    }


def export_media(session: Session, media_id: int, fmt: str) -> tuple[str, str, str]:
    """(body, content type, file name) of a media item's tracks in an export format."""
    from dva_ocr import exports

    if fmt not in exports.FORMATS:
        raise DvaOcrError(f"unknown export format {fmt!r}: use one of {', '.join(exports.FORMATS)}")
    v = get_media(session, media_id)
    media = exports.ExportMedia(
        id=v.id,
        name=v.source_name,
        media_type=v.media_type or "video",
        duration=v.duration,
        width=v.width,
        height=v.height,
        model=v.model_version.name,
    )
    tracks = [
        exports.ExportTrack(
            id=t.id,
            text=t.text,
            start=t.start_s,
            end=t.end_s,
            confidence=t.confidence,
            boxes=tuple(exports.TrackBox(b["t"], b["frame"], tuple(b["box"])) for b in t.boxes),
        )
        for t in tracks_of(session, media_id)
    ]
    return exports.render(fmt, media, tracks), exports.FORMATS[fmt][0], exports.export_filename(fmt, media)


def frame_path(session: Session, media_id: int, index: int) -> Path:
    f = session.scalar(select(Frame).where(Frame.video_id == media_id, Frame.index == index))
    if f is None:
        raise NotFound(f"media {media_id} has no frame {index}")
    return get_settings().media_root / f.path


def nearest_frame_index(session: Session, media_id: int, time_s: float) -> int | None:
    return session.scalar(
        select(Frame.index)
        .where(Frame.video_id == media_id)
        .order_by(func.abs(Frame.time_s - time_s))
        .limit(1)
    )


@dataclass(frozen=True)
class Upload:
    registered: Registered
    name: str


def save_upload(
    session: Session, stream: BinaryIO, filename: str, *, max_bytes: int, options: IngestOptions | None = None
) -> Upload:
    """Copy an uploaded file to disk in chunks (never whole in memory), check it is media, register it."""
    root = get_settings().media_root
    tmp_dir = root / "uploads"
    tmp_dir.mkdir(parents=True, exist_ok=True)
    name = os.path.basename(filename or "upload") or "upload"
    fd, tmp_name = tempfile.mkstemp(dir=tmp_dir, suffix=Path(name).suffix[:10])
    tmp = Path(tmp_name)
    try:
        size = 0
        with os.fdopen(fd, "wb") as out:
            while chunk := stream.read(1 << 20):
                size += len(chunk)
                if size > max_bytes:
                    raise TooLarge(f"{name}: larger than the upload limit of {max_bytes // (1 << 20)} MiB")
                out.write(chunk)
        try:
            info = probe(tmp, options.video_stream if options else None)  # a stream that exists
        except MediaError as exc:
            raise MediaError(f"{name}: {exc}") from exc
        if (why := too_many_pixels(info.width, info.height)) is not None:
            raise TooLarge(f"{name}: {why}")
        named_dir = Path(tempfile.mkdtemp(dir=tmp_dir))
        final = named_dir / name
        shutil.move(tmp, final)
        try:
            reg = register_media(session, final, options)
        finally:
            shutil.rmtree(named_dir, ignore_errors=True)
        return Upload(reg, name)
    finally:
        tmp.unlink(missing_ok=True)
