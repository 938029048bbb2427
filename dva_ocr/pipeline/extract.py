"""The ``qextract`` stage: probe, sample frames by the item's policy, store them, queue OCR batches.

Each sampled frame is compared with the last frame that was read (media.changes): unchanged frames
are stored but not read again, frames that changed only in some row bands are read only there.
Frames are written and queued for OCR in batches as they are decoded, so OCR starts at once.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, update

from dva_ocr.db.session import session_scope
from dva_ocr.db.tables import Video, VideoStatus
from dva_ocr.errors import MediaError
from dva_ocr.media import storage
from dva_ocr.media.changes import ChangeDetector
from dva_ocr.media.frames import DecodeReport, SampledFrame, expected_frames, sample_frames, write_jpeg
from dva_ocr.media.probe import MediaInfo, probe
from dva_ocr.pipeline import rows
from dva_ocr.pipeline.finalize import maybe_finalize
from dva_ocr.pipeline.register import video_sampling
from dva_ocr.settings import get_settings
from dva_ocr.work.queues import OCR_FRAMES, WorkQueue

log = logging.getLogger(__name__)


@dataclass
class FrameSink:
    """Turns sampled frames into frame rows (JPEG on disk, change decision) and writes them in batches
    of ``batch_frames`` frames to read, queueing each batch's frames for OCR once its rows exist."""

    media_id: int
    queue: WorkQueue
    batch_frames: int
    max_reuse_s: float = 0.0  # read a whole frame at least this often (0: only when the detector says)
    changes: ChangeDetector = field(default_factory=ChangeDetector)
    ref_index: int | None = None  # the last frame that is read (in full or in bands)
    last_full_s: float | None = None  # time of the last frame read in full
    pending: list[dict[str, Any]] = field(default_factory=list)
    written: int = 0

    def add(self, frame: SampledFrame) -> None:
        root = get_settings().media_root
        dest = storage.frame_path(root, self.media_id, frame.index)
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
                "index": frame.index,
                "time_s": frame.time_s,
                "path": str(dest.relative_to(root)),
                "width": w,
                "height": h,
                "ref_index": None if bands is None else self.ref_index,
                "bands": bands,
            }
        )
        if not change.unchanged:
            self.ref_index = frame.index
        self.written += 1
        # a batch of frames to read is full; or many unchanged frames wait (a static hour of video):
        # written now, so no transaction grows with the length of the video
        to_read = sum(1 for r in self.pending if r["bands"] != [])
        if to_read >= self.batch_frames or len(self.pending) >= rows.FRAME_ROWS_PER_STATEMENT:
            self.flush()

    def flush(self) -> None:
        if not self.pending:
            return
        with session_scope() as s:
            written = rows.upsert_frames(s, self.media_id, self.pending)
        to_read = [fid for fid, bands in written if bands != []]
        if to_read:
            self.queue.send(OCR_FRAMES, self.media_id, to_read)
        self.pending = []


def extract_video(media_id: int, *, queue: WorkQueue) -> int:
    """Probe, sample frames to JPEG, create frame rows and queue OCR batches. Returns frames written.

    What went wrong on the way without stopping it (spans ffmpeg could not decode, the choice among
    several video streams) is written on the item as notes; the rest of the video is read."""
    settings = get_settings()
    with session_scope() as s:
        video = s.get(Video, media_id)
        if video is None:
            log.info("media %s is gone; nothing to extract", media_id)
            return 0
        if video.status not in rows.UNFINISHED:  # done, failed or cancelled
            return 0
        src = settings.media_root / video.path
        sampling = video_sampling(video)
        max_reuse = settings.max_reuse_s if video.max_reuse_s is None else video.max_reuse_s
        stream = video.video_stream
    try:
        info = probe(src, stream)
    except MediaError as exc:
        rows.fail_media(media_id, str(exc), retryable=False)  # the file itself: a retry reads it the same
        return 0
    notes = [n for n in (info.stream_note(),) if n]
    _start(media_id, info, expected_frames(info, sampling), notes)
    sink = FrameSink(media_id, queue, settings.ocr_batch_frames, max_reuse)
    report = DecodeReport()
    try:
        for frame in sample_frames(src, info, sampling, report):
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
