"""The ``qdefault`` roll-up: once every frame is read, text tracks, counts and status done."""

from __future__ import annotations

from sqlalchemy import func, select

from dva_ocr import telemetry
from dva_ocr.db.session import session_scope
from dva_ocr.db.tables import Region, Video, VideoStatus
from dva_ocr.pipeline import rows
from dva_ocr.pipeline.track_rows import build_video_tracks
from dva_ocr.work.queues import FINALIZE, WorkQueue


def maybe_finalize(media_id: int, queue: WorkQueue) -> None:
    """Queue the roll-up once every frame is read. Exactly one caller wins the status change."""
    with session_scope() as s:
        won = rows.claim_finalize(s, media_id)
    if won:
        queue.send(FINALIZE, media_id)


def finalize_video(media_id: int) -> None:
    """Roll-ups after OCR: text tracks, region count, status done. Safe to run twice."""
    with session_scope() as s:
        video = s.get(Video, media_id, with_for_update=True)
        if video is None or video.status not in (VideoStatus.finalizing, VideoStatus.done):
            return
        first = video.status == VideoStatus.finalizing  # run twice, it counts once
        mv_id = video.model_version_id
        video.tracks_count = build_video_tracks(s, video, mv_id)
        video.regions_count = (
            s.scalar(
                select(func.count(Region.id)).where(
                    Region.video_id == media_id, Region.model_version_id == mv_id
                )
            )
            or 0
        )
        video.status = VideoStatus.done
        video.finished_at = func.now()
        video.touched_at = func.now()
    if first:
        telemetry.count(telemetry.MEDIA_INGESTED)
