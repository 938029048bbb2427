"""The ingest pipeline as plain functions: register -> extract -> OCR batches -> finalize.

Extraction samples frames by the media item's policy and compares each with the last frame that
was read (media.changes): unchanged frames are not read again, frames that changed only in some
row bands are read only there. Finalizing links regions into text tracks (tracks.py).

Each stage takes ids, does its work in short transactions and is safe to run twice.
Nothing here knows about Celery: the caller passes ``enqueue_*`` callbacks that queue the
next stage (workers/tasks.py does it with Celery, tests may call stages directly).
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from sqlalchemy import func, literal_column, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from dva_ocr import tracks
from dva_ocr.db.session import session_scope
from dva_ocr.db.tables import Frame, FrameOcr, ModelVersion, Region, TextTrack, Video, VideoStatus
from dva_ocr.errors import MediaError
from dva_ocr.filters import RegionFilter
from dva_ocr.media import storage
from dva_ocr.media.changes import ChangeDetector
from dva_ocr.media.frames import Sampling, expected_frames, read_jpeg, sample_frames, write_jpeg
from dva_ocr.media.probe import probe
from dva_ocr.model_registry import default_model_name, get_or_create_model_version
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


@dataclass(frozen=True)
class IngestOptions:
    """How one upload is read: sampling policy (fps defaults to SAMPLE_FPS), filters, model version."""

    sampling: str = "fixed"
    fps: float | None = None
    scene_threshold: float = 0.3
    max_gap_s: float = 2.0
    filters: RegionFilter = RegionFilter()
    model: str | None = None

    def sampler(self) -> Sampling:
        """The checked sampling policy (MediaError on bad values)."""
        fps = self.fps or get_settings().sample_fps
        return Sampling(self.sampling, fps, self.scene_threshold, self.max_gap_s)


def video_sampling(video: Video) -> Sampling:
    return Sampling(video.sampling, video.sample_fps, video.scene_threshold, video.max_gap_s)


def register_media(session: Session, src: Path, options: IngestOptions | None = None) -> Registered:
    """Store ``src`` content-addressed and create its Video row (status queued).

    The same content registered twice is one video; a failed one is reset so it runs again.
    """
    settings = get_settings()
    options = options or IngestOptions()
    sampling = options.sampler()
    if not src.is_file():
        raise MediaError(f"file not found: {src}")
    stored, digest, size = storage.store_original(settings.media_root, src)
    existing = session.scalar(select(Video).where(Video.sha256 == digest).with_for_update())
    if existing is not None:
        if existing.status == VideoStatus.failed:
            reset_video(session, existing)
            return Registered(existing.id, created=True)
        return Registered(existing.id, created=False)
    mv = get_or_create_model_version(session, options.model or default_model_name(session))
    video = Video(
        source_name=src.name,
        path=str(stored.relative_to(settings.media_root)),
        sha256=digest,
        size_bytes=size,
        sample_fps=sampling.fps,
        sampling=sampling.policy,
        scene_threshold=sampling.scene_threshold,
        max_gap_s=sampling.max_gap_s,
        filters=options.filters.to_json(),
        model_version_id=mv.id,
        status=VideoStatus.queued,
    )
    session.add(video)
    session.flush()
    return Registered(video.id, created=True)


def reset_video(session: Session, video: Video) -> None:
    """Forget a video's frames and results so it can run again from the start."""
    session.query(TextTrack).filter(TextTrack.video_id == video.id).delete()
    session.query(Frame).filter(Frame.video_id == video.id).delete()
    storage.remove_video_files(get_settings().media_root, video.id)
    video.status = VideoStatus.queued
    video.error = None
    video.extracted = False
    video.frames_total = None
    video.frames_extracted = 0
    video.frames_ocr = 0
    video.regions_count = 0
    video.frames_skipped = video.frames_partial = video.tracks_count = 0
    video.started_at = video.finished_at = None


def model_name_of(video_id: int) -> str | None:
    """The name of the model version a media item is read with (None when it is gone)."""
    with session_scope() as s:
        return s.scalar(
            select(ModelVersion.name)
            .join(Video, Video.model_version_id == ModelVersion.id)
            .where(Video.id == video_id)
        )


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
        sampling = video_sampling(video)
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
                frames_total=expected_frames(info, sampling),
                status=VideoStatus.processing,
                started_at=func.coalesce(Video.started_at, func.now()),
            )
        )
    batch: list[dict[str, Any]] = []
    written = 0
    changes = ChangeDetector()
    ref_index: int | None = None  # the last frame that is read (in full or in bands)

    def flush() -> None:
        """Write the pending frame rows; queue OCR for those that need reading."""
        nonlocal batch
        if not batch:
            return
        with session_scope() as s:
            stmt = insert(Frame).values(batch)
            stmt = stmt.on_conflict_do_update(
                constraint="uq_frames_video_index",
                set_={
                    "time_s": stmt.excluded.time_s,
                    "path": stmt.excluded.path,
                    "ref_index": stmt.excluded.ref_index,
                    "bands": stmt.excluded.bands,
                },
            ).returning(Frame.id, Frame.bands)
            rows = s.execute(stmt).all()
            s.execute(
                update(Video)
                .where(Video.id == video_id)
                .values(
                    frames_extracted=batch[-1]["index"] + 1,
                    frames_total=func.greatest(Video.frames_total, batch[-1]["index"] + 1),
                    # counted, not added up: a redelivered extraction must not count twice
                    frames_skipped=_count_frames(video_id, Frame.bands == literal_column("'[]'::jsonb")),
                    frames_partial=_count_frames(video_id, func.jsonb_array_length(Frame.bands) > 0),
                )
            )
        to_read = [fid for fid, bands in rows if bands != []]
        if to_read:
            enqueue_ocr(video_id, to_read)
        batch = []

    try:
        for frame in sample_frames(src, info, sampling):
            dest = storage.frame_path(settings.media_root, video_id, frame.index)
            write_jpeg(dest, frame.image)
            h, w = frame.image.shape[:2]
            change = changes.observe(frame.image)
            row = {
                "video_id": video_id,
                "index": frame.index,
                "time_s": frame.time_s,
                "path": str(dest.relative_to(settings.media_root)),
                "width": w,
                "height": h,
                "ref_index": None if change.bands is None else ref_index,
                "bands": None if change.bands is None else [list(b) for b in change.bands],
            }
            if not change.unchanged:
                ref_index = frame.index
            batch.append(row)
            written += 1
            if sum(1 for r in batch if r["bands"] != []) >= settings.ocr_batch_frames:
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


def _count_frames(video_id: int, condition: Any) -> Any:
    return select(func.count(Frame.id)).where(Frame.video_id == video_id, condition).scalar_subquery()


def ocr_frames(
    video_id: int,
    frame_ids: list[int],
    *,
    reader: Reader,
    model_version_id: int | None = None,
    enqueue_finalize: EnqueueFinalize,
) -> int:
    """Read the given frames with ``reader`` and store their regions. Returns regions written.

    A frame with row ``bands`` is read only there: each band, with some rows of context above and
    below, is one image, and only the regions centred inside the band are its own."""
    with session_scope() as s:
        video = s.get(Video, video_id)
        if video is None or video.status == VideoStatus.failed:
            log.info("video %s is gone or failed; skipping %d frames", video_id, len(frame_ids))
            return 0
        mv_id = model_version_id or video.model_version_id
        keep = RegionFilter.from_json(video.filters).keep
        frames = list(s.scalars(select(Frame).where(Frame.id.in_(frame_ids)).order_by(Frame.index)))
        frames = [f for f in frames if f.bands != []]
    if not frames:
        return 0
    found, per_frame_ms = read_frames(frames, reader, keep)
    total = 0
    with session_scope() as s:
        new_frames = 0
        for frame, regions in zip(frames, found, strict=True):
            new_frames += save_frame_regions(s, frame, mv_id, regions, per_frame_ms)
            total += len(regions)
        s.execute(update(Video).where(Video.id == video_id).values(frames_ocr=Video.frames_ocr + new_frames))
    maybe_finalize(video_id, enqueue_finalize)
    return total


def read_frames(
    frames: Sequence[Frame], reader: Reader, keep: Callable[..., bool]
) -> tuple[list[list[Any]], float]:
    """Regions of each frame (whole, or only its changed bands) that pass ``keep``; ms per frame."""
    settings = get_settings()
    images: list[Any] = []
    parts: list[tuple[int, int, int, int]] = []  # frame position, y offset, band y0, band y1
    for pos, f in enumerate(frames):
        image = read_jpeg(settings.media_root / f.path)
        if not f.bands:
            images.append(image)
            parts.append((pos, 0, 0, f.height))
            continue
        context = max(16, f.height // 12)
        for y0, y1 in f.bands:
            top, bottom = max(0, y0 - context), min(f.height, y1 + context)
            images.append(image[top:bottom])
            parts.append((pos, top, y0, y1))
    started = time.perf_counter()
    results = reader.batch(images)
    per_frame_ms = (time.perf_counter() - started) * 1000 / max(1, len(frames))
    found: list[list[Any]] = [[] for _ in frames]
    for (pos, top, y0, y1), regions in zip(parts, results, strict=True):
        for r in regions:
            r = _shifted(r, top) if top else r
            x, y, w, h = r.box
            # the band's own lines: centred in it, or mostly inside it (a line whose centre moved out
            # of the band must not vanish: the earlier frame's reading of it is dropped too)
            inside = min(y + h, y1) - max(y, y0)
            if (y0 <= y + h / 2 < y1 or inside >= 0.5 * h) and keep(
                r.box, r.confidence, frames[pos].width, frames[pos].height
            ):
                found[pos].append(r)
    return found, per_frame_ms


def _shifted(region: Any, dy: int) -> Any:
    """A region read in a band, moved into the frame's coordinates."""
    x, y, w, h = region.box
    poly = tuple((px, round(py + dy, 1)) for px, py in region.polygon)
    return dataclasses.replace(region, polygon=poly, box=(x, y + dy, w, h))


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
                Video.frames_ocr + Video.frames_skipped >= Video.frames_total,
            )
            .values(status=VideoStatus.finalizing)
            .returning(Video.id)
        )
    if won is not None:
        enqueue_finalize(video_id)


def finalize_video(video_id: int) -> None:
    """Roll-ups after OCR: text tracks, region count, status done."""
    with session_scope() as s:
        video = s.get(Video, video_id, with_for_update=True)
        if video is None or video.status not in (VideoStatus.finalizing, VideoStatus.done):
            return
        mv_id = video.model_version_id
        video.tracks_count = build_video_tracks(s, video, mv_id)
        video.regions_count = (
            s.scalar(
                select(func.count(Region.id)).where(
                    Region.video_id == video_id, Region.model_version_id == mv_id
                )
            )
            or 0
        )
        video.status = VideoStatus.done
        video.finished_at = func.now()


def build_video_tracks(session: Session, video: Video, model_version_id: int) -> int:
    """Replace the text tracks of (video, model version) from its regions. Returns tracks written."""
    frames = [
        tracks.FrameRec(
            f.id, f.index, f.time_s, f.ref_index, None if f.bands is None else tuple(map(tuple, f.bands))
        )
        for f in session.execute(
            select(Frame.id, Frame.index, Frame.time_s, Frame.ref_index, Frame.bands).where(
                Frame.video_id == video.id
            )
        )
    ]
    own: dict[int, list[tracks.Reading]] = {}
    for r in session.execute(
        select(
            Region.id, Region.frame_id, Region.x, Region.y, Region.w, Region.h, Region.text, Region.confidence
        )
        .where(Region.video_id == video.id, Region.model_version_id == model_version_id)
        .order_by(Region.frame_id, Region.y, Region.x)
    ):
        own.setdefault(r.frame_id, []).append(
            tracks.Reading(r.id, r.frame_id, (r.x, r.y, r.w, r.h), r.text, r.confidence)
        )
    duration = video.duration if video.media_type == "video" else None
    results = tracks.build_tracks(frames, own, duration=duration)
    session.query(TextTrack).filter(
        TextTrack.video_id == video.id, TextTrack.model_version_id == model_version_id
    ).delete(synchronize_session=False)
    rows = [
        {
            "video_id": video.id,
            "model_version_id": model_version_id,
            "text": t.text,
            "start_s": t.start,
            "end_s": t.end,
            "confidence": t.confidence,
            "agreement": t.agreement,
            "readings": t.readings,
            "best_frame_id": t.best.frame_id,
            "boxes": [{"t": s.time, "frame": s.frame_index, "box": list(s.box)} for s in t.seen],
            "x": t.best.box[0],
            "y": t.best.box[1],
            "w": t.best.box[2],
            "h": t.best.box[3],
        }
        for t in results
    ]
    if rows:
        session.execute(insert(TextTrack), rows)
    return len(rows)
