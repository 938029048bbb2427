"""A reprocessing job's item rows (SQL only; each function takes the session it runs in): progress
counted from the rows, the end of an item, and of its job when that was its last item."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from dva_ocr.db.tables import Job, JobItem, JobStatus, Video
from dva_ocr.pipeline.rows import frames_read_by, unread_frames
from dva_ocr.pipeline.track_rows import build_video_tracks

TERMINAL_ITEM = (JobStatus.done, JobStatus.failed, JobStatus.cancelled)


def set_item(session: Session, job_id: int, media_id: int, **values: Any) -> None:
    session.execute(
        update(JobItem).where(JobItem.job_id == job_id, JobItem.video_id == media_id).values(**values)
    )


def count_frames(session: Session, job_id: int, media_id: int, model_version_id: int) -> None:
    """The item's progress: frames of the media item its job's version has read (counted)."""
    set_item(session, job_id, media_id, frames_done=frames_read_by(media_id, model_version_id))


def finish_item(session: Session, job_id: int, media_id: int, status: str, error: str | None = None) -> str:
    """End a job item; the job ends with its last item (failed when one of them failed)."""
    set_item(session, job_id, media_id, status=status, error=error and error[:2000], finished_at=func.now())
    job = session.get(Job, job_id, with_for_update=True)
    if job is None or job.status == JobStatus.cancelled:
        return status
    statuses = list(session.scalars(select(JobItem.status).where(JobItem.job_id == job_id)))
    if all(st in TERMINAL_ITEM for st in statuses):
        job.status = JobStatus.failed if JobStatus.failed in statuses else JobStatus.done
        job.finished_at = func.now()
    return status


def finish_if_read(session: Session, job_id: int, media_id: int, model_version_id: int) -> str:
    """The item's status, once it is counted; when every frame it reads is read, its text tracks of the
    job's version are built and it is done. Safe to run twice and at once (the item's row is locked)."""
    status = session.scalar(
        select(JobItem.status).where(JobItem.job_id == job_id, JobItem.video_id == media_id).with_for_update()
    )
    if status is None or status in TERMINAL_ITEM:
        return status or "gone"
    count_frames(session, job_id, media_id, model_version_id)
    if unread_frames(session, media_id, model_version_id, limit=1):
        return status
    video = session.get(Video, media_id)
    if video is not None:
        build_video_tracks(session, video, model_version_id)
    return finish_item(session, job_id, media_id, JobStatus.done)
