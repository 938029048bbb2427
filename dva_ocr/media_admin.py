"""Media items as the API and dashboard see them: listing with progress, deletion, retry, uploads."""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from dva_ocr.db.tables import Frame, Region, TextTrack, Video, VideoStatus
from dva_ocr.errors import DvaOcrError, MediaError, NotFound
from dva_ocr.media import storage
from dva_ocr.media.images import too_many_pixels
from dva_ocr.media.probe import probe
from dva_ocr.pipeline import IngestOptions, Registered, register_media, reset_media
from dva_ocr.pipeline.rows import UNFINISHED
from dva_ocr.settings import get_settings
from dva_ocr.work.queues import WorkQueue


class TooLarge(DvaOcrError):
    pass


RETRYABLE = (VideoStatus.failed, VideoStatus.cancelled)  # statuses a person may run again


def stage_of(v: Video) -> str:
    """Where an item is in the pipeline: waiting (for a frame extraction worker), extracting (frames
    being sampled; OCR reads them as they come), reading (every frame sampled, OCR going on),
    finalizing (the roll-up), or its final status (done, failed, cancelled)."""
    if v.status == VideoStatus.queued:
        return "waiting"
    if v.status == VideoStatus.processing:
        return "reading" if v.extracted else "extracting"
    return str(v.status)


def media_json(v: Video) -> dict[str, Any]:
    total = v.frames_total or 0
    return {
        "id": v.id,
        "name": v.source_name,
        "owner_id": v.owner_id,
        "media_type": v.media_type,
        "status": v.status,
        "stage": stage_of(v),
        "error": v.error,
        "retryable": v.status in RETRYABLE and v.retryable,
        "cancellable": v.status in UNFINISHED,
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
        "started_at": v.started_at.isoformat() if v.started_at else None,
        "finished_at": v.finished_at.isoformat() if v.finished_at else None,
    }


def get_media(session: Session, media_id: int) -> Video:
    v = session.get(Video, media_id)
    if v is None:
        raise NotFound(f"no media item {media_id}")
    return v


# What the library sorts by (``MediaQuery.sort``): the column, ties broken by id.
SORTS: dict[str, Any] = {
    "date": Video.created_at,
    "name": func.lower(Video.source_name),
    "duration": Video.duration,
    "texts": Video.tracks_count,
    "size": Video.size_bytes,
}
MEDIA_TYPES = ("video", "image")


@dataclass(frozen=True)
class MediaQuery:
    """A page of the library: filters (statuses, media type, a part of the name, ids), sort, page."""

    statuses: tuple[str, ...] = ()
    media_type: str | None = None
    name: str = ""
    ids: tuple[int, ...] = ()
    sort: str = "date"
    descending: bool = True
    limit: int = 50
    offset: int = 0

    def __post_init__(self) -> None:
        known = {s.value for s in VideoStatus}
        if unknown := [s for s in self.statuses if s not in known]:
            raise DvaOcrError(f"unknown status {', '.join(unknown)}: use {', '.join(sorted(known))}")
        if self.media_type is not None and self.media_type not in MEDIA_TYPES:
            raise DvaOcrError(f"unknown media type {self.media_type!r}: use video or image")
        if self.sort not in SORTS:
            raise DvaOcrError(f"unknown sort {self.sort!r}: use one of {', '.join(SORTS)}")

    def conditions(self) -> list[Any]:
        where: list[Any] = []
        if self.statuses:
            where.append(Video.status.in_(self.statuses))
        if self.media_type == "image":
            where.append(Video.media_type == "image")
        elif self.media_type == "video":  # not yet probed counts as a video: images are probed at upload
            where.append(or_(Video.media_type.is_(None), Video.media_type != "image"))
        if self.name.strip():
            pattern = "%" + re.sub(r"([\\%_])", r"\\\1", self.name.strip()) + "%"
            where.append(Video.source_name.ilike(pattern, escape="\\"))
        if self.ids:
            where.append(Video.id.in_(self.ids))
        return where


@dataclass(frozen=True)
class MediaPage:
    items: list[Video]
    total: int  # items that match the filters, on every page


def list_media(session: Session, *, limit: int = 200, offset: int = 0) -> list[Video]:
    """The latest media items first (``query_media`` filters and sorts)."""
    return query_media(session, MediaQuery(limit=limit, offset=offset)).items


def query_media(session: Session, query: MediaQuery) -> MediaPage:
    """One page of the library and how many items match in all."""
    where = query.conditions()
    key = SORTS[query.sort]
    if query.descending:
        order = [key.desc().nulls_last(), Video.id.desc()]
    else:
        order = [key.asc().nulls_last(), Video.id]
    page = select(Video).where(*where).order_by(*order).limit(query.limit).offset(query.offset)
    items = list(session.scalars(page))
    if query.offset == 0 and len(items) < query.limit:
        total = len(items)  # the whole answer is on this page: no count needed
    else:
        total = session.scalar(select(func.count()).select_from(Video).where(*where)) or 0
    return MediaPage(items, total)


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
    from dva_ocr.pipeline.sweep import still_running

    v = session.get(Video, media_id, with_for_update=True)
    if v is None:
        raise NotFound(f"no media item {media_id}")
    if v.status == VideoStatus.done:
        raise DvaOcrError(
            f"media {media_id} is done; nothing to retry (a reprocessing job reads it again with a model)"
        )
    if v.status == VideoStatus.failed and not v.retryable:
        raise DvaOcrError(
            f"media {media_id} cannot be read ({v.error}); retrying cannot help: delete it, or ingest "
            "a file that is media"
        )
    if v.status in UNFINISHED and (why := still_running(session, v, queue)) is not None:
        raise DvaOcrError(
            f"media {media_id} is {v.status} and still being worked on: {why}; "
            "it can be retried once it has failed or nothing has touched it for a while"
        )
    reset_media(session, v)
    return v


def cancel_media(session: Session, media_id: int) -> Video:
    """Stop an item that is queued or being worked on: it ends ``cancelled``. Its extraction stops at
    its next batch of frames (ffmpeg is stopped), OCR tasks still queued for it skip it, the roll-up
    never runs; the frames read so far are kept until a retry runs it again from the start."""
    v = session.get(Video, media_id, with_for_update=True)
    if v is None:
        raise NotFound(f"no media item {media_id}")
    if v.status not in UNFINISHED:
        raise DvaOcrError(f"media {media_id} is {v.status}; only queued or processing items can be cancelled")
    v.status = VideoStatus.cancelled
    v.finished_at = func.now()
    v.touched_at = func.now()
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


def _export_parts(session: Session, v: Video) -> tuple[Any, list[Any]]:
    """The ``exports`` view of a media item and its tracks."""
    from dva_ocr import exports

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
        for t in tracks_of(session, v.id)
    ]
    return media, tracks


def _check_format(fmt: str) -> None:
    from dva_ocr import exports

    if fmt not in exports.FORMATS:
        raise DvaOcrError(f"unknown export format {fmt!r}: use one of {', '.join(exports.FORMATS)}")


def export_media(session: Session, media_id: int, fmt: str) -> tuple[str, str, str]:
    """(body, content type, file name) of a media item's tracks in an export format."""
    from dva_ocr import exports

    _check_format(fmt)
    media, tracks = _export_parts(session, get_media(session, media_id))
    return exports.render(fmt, media, tracks), exports.FORMATS[fmt][0], exports.export_filename(fmt, media)


MAX_ZIP_ITEMS = 1000


@dataclass(frozen=True)
class ZipExport:
    body: bytes
    filename: str
    included: list[int]  # media ids with a file in the zip
    left_out: list[dict[str, Any]]  # {"id", "name", "code", "reason"} per item without one


def export_zip(session: Session, media_ids: list[int], fmt: str) -> ZipExport:
    """Several items' exports in one zip (``ID-NAME.EXT`` each). Left out, and named with the reason
    in the zip's MANIFEST.txt: items not done yet, and images in a subtitle format (no timeline)."""
    from dva_ocr import exports

    _check_format(fmt)
    ids = list(dict.fromkeys(media_ids))
    if not ids:
        raise DvaOcrError("choose the media to export")
    if len(ids) > MAX_ZIP_ITEMS:
        raise DvaOcrError(f"at most {MAX_ZIP_ITEMS} media items per export, got {len(ids)}")
    videos = {v.id: v for v in session.scalars(select(Video).where(Video.id.in_(ids)))}
    if missing := [i for i in ids if i not in videos]:
        raise NotFound(f"no media item {', '.join(map(str, missing))}")
    files: list[tuple[str, str]] = []
    included: list[int] = []
    left_out: list[dict[str, Any]] = []
    for v in (videos[i] for i in ids):
        if v.status != VideoStatus.done:
            code, reason = "unfinished", f"not finished ({v.status})"
        elif fmt in exports.SUBTITLES and v.media_type == "image":
            code = "image"
            reason = f"an image has no timeline, so no {fmt.upper()} subtitles (export it as JSON or CSV)"
        else:
            media, tracks = _export_parts(session, v)
            name = f"{v.id}-{exports.export_filename(fmt, media)}"
            files.append((name, exports.render(fmt, media, tracks)))
            included.append(v.id)
            continue
        left_out.append({"id": v.id, "name": v.source_name, "code": code, "reason": reason})
    if not files:
        why = "; ".join(f"{x['name']} (media {x['id']}): {x['reason']}" for x in left_out)
        raise DvaOcrError(f"nothing to export: {why}")
    body = exports.zip_files(fmt, files, [(f"{x['id']}-{x['name']}", x["reason"]) for x in left_out])
    return ZipExport(body, f"dva-ocr-export-{fmt}.zip", included, left_out)


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
