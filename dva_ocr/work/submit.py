"""The one way work is submitted: each function writes its rows, commits, then enqueues.

Committing first means a worker never gets an id whose row it cannot see yet. A crash between the
commit and the enqueue leaves an item queued with no task: the stuck-work sweep
(``dva_ocr.pipeline.sweep``) finds it and queues it again.
"""

from __future__ import annotations

from pathlib import Path
from typing import BinaryIO

from sqlalchemy.orm import Session

from dva_ocr import jobs, media_admin
from dva_ocr.db.session import session_scope
from dva_ocr.db.tables import Job, Video
from dva_ocr.pipeline import pool
from dva_ocr.pipeline.register import IngestOptions, Registered, register_media
from dva_ocr.work.queues import EXTRACT, OCR_POOL, REPROCESS_ITEM, WorkQueue


def submit_upload(
    session: Session,
    queue: WorkQueue,
    stream: BinaryIO,
    filename: str,
    *,
    max_bytes: int,
    options: IngestOptions | None = None,
) -> media_admin.Upload:
    """An uploaded file: saved in chunks, checked, registered, committed, queued for extraction."""
    up = media_admin.save_upload(session, stream, filename, max_bytes=max_bytes, options=options)
    session.commit()
    if up.registered.created:
        queue.send(EXTRACT, up.registered.media_id)
    return up


def submit_file(queue: WorkQueue, path: Path, options: IngestOptions | None = None) -> Registered:
    """A file on a disk the workers share (``ingest PATH``): registered, committed, queued."""
    with session_scope() as s:
        reg = register_media(s, path, options)
    if reg.created:
        queue.send(EXTRACT, reg.media_id)
    return reg


def retry_media(session: Session, queue: WorkQueue, media_id: int) -> Video:
    """A failed media item, or an unfinished one nothing is working on (its tasks lost in a restart),
    reset and queued again from the start; one that is running is refused with the reason."""
    video = media_admin.reset_for_retry(session, media_id, queue)
    session.commit()
    queue.send(EXTRACT, video.id)
    return video


def submit_job(
    session: Session,
    queue: WorkQueue,
    model: str,
    *,
    media: list[int] | None = None,
    all_media: bool = False,
    missing: bool = False,
) -> Job:
    """A reprocessing job: its rows, committed, then one task per media item."""
    job = jobs.create_job(session, model, media=media, all_media=all_media, missing=missing)
    ids = jobs.item_media_ids(session, job.id)
    session.commit()
    for media_id in ids:
        queue.send(REPROCESS_ITEM, job.id, media_id)
    return job


def retry_job(session: Session, queue: WorkQueue, job_id: int) -> list[int]:
    """A job's failed and cancelled items, queued again; returns their media ids."""
    ids = jobs.retry_job(session, job_id)
    session.commit()
    for media_id in ids:
        queue.send(REPROCESS_ITEM, job_id, media_id)
    return ids


def resume_job(session: Session, queue: WorkQueue, job_id: int) -> list[int]:
    """A paused job resumed: its waiting items queued again (not those with a task still in the
    broker), and the OCR pool woken for the frames it left there; returns the items' media ids."""
    from dva_ocr.pipeline.sweep import live_work

    busy = {media_id for job, media_id in live_work(queue.pending())[1] if job == job_id}
    ids = jobs.resume_job(session, job_id, busy)
    model_version_id = jobs.get_job(session, job_id).model_version_id
    pool.arm(session, model_version_id, force=True)  # its pooled frames are claimable again
    session.commit()
    queue.send(OCR_POOL, model_version_id)
    for media_id in ids:
        queue.send(REPROCESS_ITEM, job_id, media_id)
    return ids
