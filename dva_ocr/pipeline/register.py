"""Registering media: content-addressed storage, the media row, and how it is to be read."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from dva_ocr.db.tables import Frame, TextTrack, Video, VideoSegment, VideoStatus
from dva_ocr.errors import MediaError
from dva_ocr.filters import RegionFilter
from dva_ocr.media import storage
from dva_ocr.media.frames import Sampling
from dva_ocr.model_registry import default_model_name, get_or_create_model_version
from dva_ocr.settings import get_settings


@dataclass(frozen=True)
class Registered:
    media_id: int
    created: bool  # False when the same content was already known


@dataclass(frozen=True)
class IngestOptions:
    """How one upload is read: sampling policy (fps defaults to SAMPLE_FPS), filters, model version."""

    sampling: str = "fixed"
    fps: float | None = None
    scene_threshold: float = 0.3
    max_gap_s: float = 2.0
    max_reuse_s: float | None = None  # None: MAX_REUSE_S
    filters: RegionFilter = RegionFilter()
    model: str | None = None
    owner_id: int | None = None  # the user who uploaded it (members may change only their own)
    video_stream: int | None = None  # which of a file's video streams to read (0: the first; None: 0)

    def sampler(self) -> Sampling:
        """The checked sampling policy (MediaError on bad values)."""
        if self.video_stream is not None and not 0 <= self.video_stream <= 255:
            raise MediaError(f"video stream must be a number from 0 (the first), got {self.video_stream}")
        if self.max_reuse_s is not None and self.max_reuse_s < 0:
            raise MediaError(f"max reuse must be 0 (never) or a number of seconds, got {self.max_reuse_s}")
        fps = self.fps or get_settings().sample_fps
        return Sampling(self.sampling, fps, self.scene_threshold, self.max_gap_s)


def video_sampling(video: Video) -> Sampling:
    return Sampling(video.sampling, video.sample_fps, video.scene_threshold, video.max_gap_s)


def register_media(session: Session, src: Path, options: IngestOptions | None = None) -> Registered:
    """Store ``src`` content-addressed and create its media row (status queued); nothing is queued
    (``dva_ocr.work.submit`` commits, then queues).

    The same content registered twice is one media item; a failed one is reset so it runs again.
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
            reset_media(session, existing)
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
        max_reuse_s=options.max_reuse_s,
        filters=options.filters.to_json(),
        model_version_id=mv.id,
        status=VideoStatus.queued,
        owner_id=options.owner_id,
        video_stream=options.video_stream,
    )
    session.add(video)
    session.flush()
    return Registered(video.id, created=True)


def reset_media(session: Session, video: Video) -> None:
    """Forget a media item's frames and results so it can run again from the start."""
    session.query(TextTrack).filter(TextTrack.video_id == video.id).delete()
    session.query(Frame).filter(Frame.video_id == video.id).delete()
    session.query(VideoSegment).filter(VideoSegment.video_id == video.id).delete()
    storage.remove_video_files(get_settings().media_root, video.id)
    video.status = VideoStatus.queued
    video.error = None
    video.retryable = True
    video.extracted = False
    video.frames_total = None
    video.frames_extracted = 0
    video.frames_ocr = 0
    video.regions_count = 0
    video.frames_skipped = video.frames_partial = video.tracks_count = 0
    video.started_at = video.finished_at = None
    video.requeues = 0
    video.notes = []
    video.touched_at = func.now()
