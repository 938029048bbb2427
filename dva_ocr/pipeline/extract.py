"""The ``qextract`` stage: probe, sample frames by the item's policy, store them, queue OCR batches.

Each sampled frame is compared with the last frame that was read (media.changes): unchanged frames
are stored but not read again, frames that changed only in some row bands are read only there.
Frames are written and queued for OCR in batches as they are decoded, so OCR starts at once.

A video longer than ``EXTRACT_SEGMENT_S`` is planned here and extracted in segments
(``extract_segment``, one ``qextract`` task each: ``dva_ocr.pipeline.segments``); change detection
starts again at each segment's first frame, which is read in full.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import func, update

from dva_ocr.db.session import session_scope
from dva_ocr.db.tables import Video, VideoStatus
from dva_ocr.errors import MediaError
from dva_ocr.media import storage
from dva_ocr.media.changes import ChangeDetector
from dva_ocr.media.frames import (
    DecodeReport,
    SampledFrame,
    Sampling,
    expected_frames,
    sample_frames,
    write_jpeg,
)
from dva_ocr.media.probe import MediaInfo, probe
from dva_ocr.pipeline import pool, rows, segments
from dva_ocr.pipeline.finalize import maybe_finalize
from dva_ocr.pipeline.register import video_sampling
from dva_ocr.settings import get_settings
from dva_ocr.work.queues import EXTRACT_SEGMENT, OCR_FRAMES, OCR_POOL, WorkQueue

log = logging.getLogger(__name__)

FLUSH_EVERY_S = 20.0  # frames waiting this long are written (a segment's run shows it is alive)


@dataclass
class FrameSink:
    """Turns sampled frames into frame rows (JPEG on disk, change decision) and writes them in batches
    of ``batch_frames`` frames to read, queueing each batch's frames for OCR once its rows exist (a
    smaller batch: the last one, or an image's one frame, into the OCR pool).

    ``segment``: the rows are a segment's (each write notes it alive, and stops when another run
    finished it); ``provisional``: its frames are numbered in order (keyframes, scene) and written at
    provisional indexes until the segment is renumbered."""

    media_id: int
    queue: WorkQueue
    batch_frames: int
    max_reuse_s: float = 0.0  # read a whole frame at least this often (0: only when the detector says)
    segment: int | None = None
    provisional: bool = False
    changes: ChangeDetector = field(default_factory=ChangeDetector)
    ref_index: int | None = None  # the last frame that is read (in full or in bands)
    last_full_s: float | None = None  # time of the last frame read in full
    pending: list[dict[str, Any]] = field(default_factory=list)
    written: int = 0
    flushed_at: float = field(default_factory=time.monotonic)

    def add(self, frame: SampledFrame) -> None:
        root = get_settings().media_root
        index = frame.index
        if self.provisional:
            index = segments.provisional_index(self.segment or 0, frame.index)
        dest = storage.frame_path(root, self.media_id, index)
        write_jpeg(dest, frame.image)
        h, w = frame.image.shape[:2]
        due = (
            self.max_reuse_s > 0
            and self.last_full_s is not None
            and frame.time_s - self.last_full_s >= self.max_reuse_s - 1e-6
        )
        change = self.changes.observe(frame.image, full=due)
        if change.bands is None:
            self.last_full_s = frame.time_s
        bands = None if change.bands is None else [list(b) for b in change.bands]
        self.pending.append(
            {
                "video_id": self.media_id,
                "index": index,
                "time_s": frame.time_s,
                "path": str(dest.relative_to(root)),
                "width": w,
                "height": h,
                "ref_index": None if bands is None else self.ref_index,
                "bands": bands,
            }
        )
        if not change.unchanged:
            self.ref_index = index
        self.written += 1
        # a batch of frames to read is full; or many unchanged frames wait (a static hour of video):
        # written now, so no transaction grows with the length of the video
        to_read = sum(1 for r in self.pending if r["bands"] != [])
        if (
            to_read >= self.batch_frames
            or len(self.pending) >= rows.FRAME_ROWS_PER_STATEMENT
            or time.monotonic() - self.flushed_at >= FLUSH_EVERY_S
        ):
            self.flush()

    def flush(self) -> None:
        """Write the pending frame rows. Their frames to read go to OCR as one ``OCR_FRAMES`` task
        when they fill a batch; fewer wait in the OCR pool (``dva_ocr.pipeline.pool``, written in the
        same transaction as the rows) to be read with other items' frames by an ``OCR_POOL`` task."""
        self.flushed_at = time.monotonic()
        if not self.pending:
            return
        woken: list[int] = []
        with session_scope() as s:
            if self.segment is not None:
                segments.keep_alive(s, self.media_id, self.segment)
            written = rows.upsert_frames(s, self.media_id, self.pending)
            to_read = [fid for fid, bands in written if bands != []]
            if 0 < len(to_read) < self.batch_frames:
                woken = pool.put_frames(s, to_read)
        if len(to_read) >= self.batch_frames:
            self.queue.send(OCR_FRAMES, self.media_id, to_read)
        for model_version_id in woken:  # after the commit: the task must see the rows
            self.queue.send(OCR_POOL, model_version_id)
        self.pending = []


@dataclass(frozen=True)
class _Item:
    """What extraction needs of a media item."""

    src: Path
    sampling: Sampling
    max_reuse_s: float
    stream: int | None


def _load(media_id: int) -> _Item | None:
    """The item to extract; None when it is gone, finished (done, failed, cancelled) or extracted."""
    settings = get_settings()
    with session_scope() as s:
        video = s.get(Video, media_id)
        if video is None:
            log.info("media %s is gone; nothing to extract", media_id)
            return None
        if video.status not in rows.UNFINISHED or video.extracted:  # done, failed or cancelled
            return None
        max_reuse = settings.max_reuse_s if video.max_reuse_s is None else video.max_reuse_s
        return _Item(settings.media_root / video.path, video_sampling(video), max_reuse, video.video_stream)


def _probe(media_id: int, item: _Item) -> MediaInfo | None:
    try:
        return probe(item.src, item.stream)
    except MediaError as exc:
        rows.fail_media(media_id, str(exc), retryable=False)  # the file itself: a retry reads it the same
        return None


def extract_video(media_id: int, *, queue: WorkQueue) -> int:
    """Probe, sample frames to JPEG, create frame rows and queue OCR batches. Returns frames written.
    A video longer than ``EXTRACT_SEGMENT_S``: its segments are planned and queued (returns 0).

    What went wrong on the way without stopping it (spans ffmpeg could not decode, the choice among
    several video streams) is written on the item as notes; the rest of the video is read."""
    settings = get_settings()
    item = _load(media_id)
    info = None if item is None else _probe(media_id, item)
    if item is None or info is None:
        return 0
    notes = [n for n in (info.stream_note(),) if n]
    plan = segments.plan(info.duration if info.media_type == "video" else None, settings.extract_segment_s)
    _start(media_id, info, expected_frames(info, item.sampling), notes)
    if len(plan) > 1:
        for seq in segments.create(media_id, plan):  # committed first: a worker must see the rows
            queue.send(EXTRACT_SEGMENT, media_id, seq)
        return 0
    sink = FrameSink(media_id, queue, settings.ocr_batch_frames, item.max_reuse_s)
    report = DecodeReport()
    try:
        for frame in sample_frames(item.src, info, item.sampling, report):
            sink.add(frame)
        sink.flush()
    except MediaError as exc:
        rows.fail_media(media_id, str(exc))
        return sink.written
    except rows.ItemStopped as exc:  # cancelled (or failed, reset) while decoding: ffmpeg is stopped
        log.info("%s", exc)
        return sink.written
    with session_scope() as s:
        rows.touch(
            s,
            media_id,
            extracted=True,
            frames_total=sink.written,
            frames_extracted=sink.written,
            notes=notes + report.notes(),
        )
    if report.spans or report.stopped:
        log.warning("media %s: %s", media_id, " ".join(report.notes()))
    maybe_finalize(media_id, queue)
    return sink.written


def extract_segment(media_id: int, seq: int, *, queue: WorkQueue) -> int:
    """Extract one segment of a long video (its frames, written and queued for OCR as in
    ``extract_video``); the run that ends the last segment ends the item's extraction. Returns
    frames written. Safe to run twice, also at the same time (a redelivered task)."""
    settings = get_settings()
    item = _load(media_id)
    span = None if item is None else segments.begin(media_id, seq, settings.sweep_max_requeues + 2)
    info = None if item is None or span is None else _probe(media_id, item)
    if item is None or span is None or info is None:
        return 0
    numbered = item.sampling.policy != "fixed"  # frames numbered in order: provisional indexes
    sink = FrameSink(
        media_id, queue, settings.ocr_batch_frames, item.max_reuse_s, segment=seq, provisional=numbered
    )
    report = DecodeReport()
    try:
        for frame in sample_frames(item.src, info, item.sampling, report, span):
            sink.add(frame)
        sink.flush()
    except MediaError as exc:
        rows.fail_media(media_id, str(exc))
        return sink.written
    except (rows.ItemStopped, segments.SegmentDone) as exc:  # ffmpeg is stopped
        log.info("%s", exc)
        return sink.written
    if report.spans or report.stopped:
        what = f"media {media_id} segment {seq} ({segments.describe(span)})"
        log.warning("%s: %s", what, " ".join(report.notes()))
    if segments.finish(media_id, seq, sink.written, report, renumber=numbered):
        maybe_finalize(media_id, queue)
    return sink.written


def _start(media_id: int, info: MediaInfo, frames_total: int | None, notes: list[str]) -> None:
    with session_scope() as s:
        s.execute(
            update(Video)
            .where(Video.id == media_id, Video.status.in_(rows.UNFINISHED))  # not if cancelled meanwhile
            .values(
                media_type=info.media_type,
                width=info.width,
                height=info.height,
                duration=info.duration,
                fps=info.fps,
                frames_total=frames_total,
                notes=notes,
                status=VideoStatus.processing,
                started_at=func.coalesce(Video.started_at, func.now()),
                touched_at=func.now(),
            )
        )
