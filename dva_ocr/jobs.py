"""Reprocessing jobs: run a model version over media already ingested, compare, promote.

A job has one item per media item, and each item a ``qocr`` task (``run_item``). Creating the job
puts its items' frames that the job's version has not read (those extraction kept: unchanged frames
stay skipped, band frames are read in their bands; nothing is decoded again) into the OCR pool
(``dva_ocr.pipeline.pool``). An item's task reads them from there in batches of
``OCR_BATCH_FRAMES``, its own frames first, each batch topped up with other job items' pooled frames
of the same version (a job over a folder of images reads eight of them per engine call, and most
items' tasks find their frames already read). An item with more than one batch of frames also
wakes the other qocr workers (``OCR_POOL``), which claim batches of it too: a long video is read in
chunks by every worker at once, and whichever batch reads its last frame builds the version's text
tracks and ends it.
Regions are stored beside the other versions' (never deleting them); frames already read by the
version are not read again, so a re-run, a retry or a redelivered task changes nothing. Progress is
counted in the rows (it survives restarts); cancelling stops items between batches. Pausing stops
them between batches too (pooled frames of a paused job are not claimed), puts them back in the
queue (``queued``) and frees the workers; resuming sends their tasks again and wakes the pool.
Promoting points the media items at the job's version: search and exports follow it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from sqlalchemy import exists, func, select, update
from sqlalchemy.orm import Session

from dva_ocr.db.session import session_scope
from dva_ocr.db.tables import Frame, FrameOcr, Job, JobItem, JobStatus, Region, TextTrack, Video, VideoStatus
from dva_ocr.errors import DvaOcrError, NotFound
from dva_ocr.model_registry import get_or_create_model_version
from dva_ocr.pipeline import job_items, pool
from dva_ocr.pipeline.contracts import Reader
from dva_ocr.pipeline.job_items import TERMINAL_ITEM
from dva_ocr.pipeline.read import ocr_pool
from dva_ocr.pipeline.rows import is_read
from dva_ocr.settings import get_settings
from dva_ocr.work.queues import OCR_POOL, WorkQueue

log = logging.getLogger(__name__)

PAUSED = "paused"  # what run_item returns for an item its paused job put back in the queue


def select_media(
    session: Session, model_version_id: int, *, media: list[int] | None = None, missing: bool = False
) -> list[int]:
    """Ids of finished media items: the given ones, all, or those the version has not read yet."""
    q = select(Video.id).where(Video.status == VideoStatus.done).order_by(Video.id)
    if media:
        found = set(session.scalars(select(Video.id).where(Video.id.in_(media))))
        unknown = sorted(set(media) - found)
        if unknown:
            raise NotFound(f"no media item {', '.join(map(str, unknown))}")
        not_done = list(session.scalars(select(Video.id).where(Video.id.in_(media), Video.status != "done")))
        if not_done:
            raise DvaOcrError(f"media {', '.join(map(str, not_done))} not finished ingesting yet")
        q = q.where(Video.id.in_(media))
    if missing:
        read = exists().where(
            FrameOcr.model_version_id == model_version_id,
            FrameOcr.frame_id == Frame.id,
            Frame.video_id == Video.id,
        )
        q = q.where(~read)
    return list(session.scalars(q))


def create_job(
    session: Session,
    model: str,
    *,
    media: list[int] | None = None,
    all_media: bool = False,
    missing: bool = False,
) -> Job:
    """A job row with one queued item per selected media item (the caller queues ``run_item`` each);
    their frames to read are put in the OCR pool, in this transaction."""
    if sum(bool(x) for x in (media, all_media, missing)) != 1:
        raise DvaOcrError("choose the media: --media ID... , --all or --missing")
    mv = get_or_create_model_version(session, model)
    ids = select_media(session, mv.id, media=media, missing=missing)
    selection = {"media": media} if media else {"all": True} if all_media else {"missing": True}
    job = Job(model_version_id=mv.id, selection=selection, status=JobStatus.queued if ids else JobStatus.done)
    session.add(job)
    session.flush()
    if not ids:
        job.finished_at = func.now()
    totals = dict(
        session.execute(
            select(Frame.video_id, func.count(Frame.id))
            .where(Frame.video_id.in_(ids), is_read())
            .group_by(Frame.video_id)
        ).all()
    )
    previous = dict(session.execute(select(Video.id, Video.model_version_id).where(Video.id.in_(ids))).all())
    for vid in ids:
        session.add(
            JobItem(
                job_id=job.id,
                video_id=vid,
                frames_total=totals.get(vid, 0),
                previous_model_version_id=previous[vid],
            )
        )
    session.flush()
    pool.put_job_items(session, job.id, mv.id, ids)  # every item's frames, so batches mix items
    return job


def get_job(session: Session, job_id: int) -> Job:
    job = session.get(Job, job_id)
    if job is None:
        raise NotFound(f"no job {job_id}")
    return job


def item_media_ids(session: Session, job_id: int) -> list[int]:
    """The media ids of a job's items, in order."""
    return list(
        session.scalars(select(JobItem.video_id).where(JobItem.job_id == job_id).order_by(JobItem.video_id))
    )


def run_item(
    job_id: int, media_id: int, *, reader_for: Callable[[str], Reader], queue: WorkQueue | None = None
) -> str:
    """Read one media item with the job's model version; returns the item's status: ``running`` when
    batches that other workers claimed still read its last frames (the last of them ends it). Without
    a ``queue`` no other worker is woken and nothing but job items is read (tests, scripts)."""
    with session_scope() as s:
        job = s.get(Job, job_id)
        item = s.get(JobItem, (job_id, media_id))
        if job is None or item is None:
            return "gone"
        if job.status == JobStatus.cancelled:
            item.status = JobStatus.cancelled if item.status not in TERMINAL_ITEM else item.status
            return item.status
        if item.status in (JobStatus.done, JobStatus.cancelled):
            return item.status
        if job.status == JobStatus.paused:
            item.status = JobStatus.queued  # waits for the resume, which sends its task again
            return PAUSED
        item.status = JobStatus.running
        item.error = None
        item.started_at = func.coalesce(JobItem.started_at, func.now())
        if job.status == JobStatus.queued:
            job.status = JobStatus.running
            job.started_at = func.now()
        mv_id, model = job.model_version_id, job.model_version.name
    me = pool.Owner(media_id, job_id)
    try:
        reader = reader_for(model)
        with session_scope() as s:
            waiting = pool.put_job_items(s, job_id, mv_id, [media_id])  # again: a retry, a resume
            fan_out = waiting > get_settings().ocr_batch_frames and queue is not None and pool.arm(s, mv_id)
        if fan_out and queue is not None:  # the other workers take batches of it too
            queue.send(OCR_POOL, mv_id)
        while True:
            with session_scope() as s:
                now = s.scalar(select(Job.status).where(Job.id == job_id))
                if now == JobStatus.cancelled:
                    pool.remove_item(s, me)
                    return job_items.finish_item(s, job_id, media_id, JobStatus.cancelled)
                if now == JobStatus.paused:
                    job_items.set_item(s, job_id, media_id, status=JobStatus.queued)
                    return PAUSED
            if not ocr_pool(mv_id, reader=reader, queue=queue, first=me, jobs_only=True).first:
                break
        with session_scope() as s:
            return job_items.finish_if_read(s, job_id, media_id, mv_id)
    except Exception as exc:
        from dva_ocr.db.transient import is_transient

        if is_transient(exc):
            raise  # a database outage: the task waits it out and runs the item again (workers/tasks.py)
        log.exception("job %s: media %s failed", job_id, media_id)
        return _finish_item(job_id, media_id, JobStatus.failed, f"{type(exc).__name__}: {exc}")


def _finish_item(job_id: int, media_id: int, status: str, error: str | None = None) -> str:
    with session_scope() as s:
        return job_items.finish_item(s, job_id, media_id, status, error)


def cancel_job(session: Session, job_id: int) -> Job:
    job = get_job(session, job_id)
    if job.status in (JobStatus.done, JobStatus.cancelled):
        return job
    job.status = JobStatus.cancelled
    job.finished_at = func.now()
    session.execute(
        update(JobItem)
        .where(JobItem.job_id == job_id, JobItem.status == JobStatus.queued)
        .values(status=JobStatus.cancelled)
    )
    pool.remove_job(session, job_id)  # what a batch holds now, that batch passes over
    return job


def pause_job(session: Session, job_id: int) -> Job:
    """Pause a queued or running job: each item stops after the chunk it is reading and waits."""
    job = session.get(Job, job_id, with_for_update=True)
    if job is None:
        raise NotFound(f"no job {job_id}")
    if job.status not in (JobStatus.queued, JobStatus.running):
        raise DvaOcrError(f"job {job_id} is {job.status}; only a queued or running job can be paused")
    job.status = JobStatus.paused
    return job


def resume_job(session: Session, job_id: int, busy: set[int]) -> list[int]:
    """Resume a paused job; returns the media ids of its waiting items for the caller to enqueue,
    leaving out ``busy`` ones (a task for them is still queued or running)."""
    job = session.get(Job, job_id, with_for_update=True)
    if job is None:
        raise NotFound(f"no job {job_id}")
    if job.status != JobStatus.paused:
        raise DvaOcrError(f"job {job_id} is {job.status}; only a paused job can be resumed")
    job.status = JobStatus.running if job.started_at else JobStatus.queued
    waiting = session.scalars(
        select(JobItem.video_id)
        .where(JobItem.job_id == job_id, JobItem.status == JobStatus.queued)
        .order_by(JobItem.video_id)
    )
    return [media_id for media_id in waiting if media_id not in busy]


def retry_job(session: Session, job_id: int) -> list[int]:
    """Queue the failed (and cancelled) items again; returns their media ids for the caller to enqueue."""
    job = get_job(session, job_id)
    ids = list(
        session.scalars(
            select(JobItem.video_id).where(
                JobItem.job_id == job_id, JobItem.status.in_((JobStatus.failed, JobStatus.cancelled))
            )
        )
    )
    if ids:
        session.execute(
            update(JobItem)
            .where(JobItem.job_id == job_id, JobItem.video_id.in_(ids))
            .values(status=JobStatus.queued, error=None, finished_at=None)
        )
        job.status = JobStatus.running if job.started_at else JobStatus.queued
        job.finished_at = None
    return ids


def progress(session: Session, job: Job) -> dict[str, Any]:
    """Counts, rate (frames/s) and ETA, all from the rows."""
    rows = session.execute(
        select(JobItem.status, func.count(), func.sum(JobItem.frames_done), func.sum(JobItem.frames_total))
        .where(JobItem.job_id == job.id)
        .group_by(JobItem.status)
    ).all()
    by = {st: n for st, n, _, _ in rows}
    frames_done = int(sum(d or 0 for _, _, d, _ in rows))
    frames_total = int(sum(t or 0 for _, _, _, t in rows))
    elapsed = None
    if job.started_at is not None:
        end = job.finished_at or session.execute(select(func.now())).scalar_one()
        elapsed = max(0.0, (end - job.started_at).total_seconds())
    rate = frames_done / elapsed if elapsed else None
    running = job.status in (JobStatus.queued, JobStatus.running)
    eta = (frames_total - frames_done) / rate if rate and running else None
    return {
        "total": sum(by.values()),
        "done": by.get(JobStatus.done, 0),
        "failed": by.get(JobStatus.failed, 0),
        "cancelled": by.get(JobStatus.cancelled, 0),
        "running": by.get(JobStatus.running, 0),
        "queued": by.get(JobStatus.queued, 0),
        "frames_done": frames_done,
        "frames_total": frames_total,
        "elapsed_s": round(elapsed, 1) if elapsed is not None else None,
        "rate_frames_s": round(rate, 2) if rate else None,
        "eta_s": round(eta, 1) if eta is not None else None,
    }


def job_json(session: Session, job: Job) -> dict[str, Any]:
    return {
        "id": job.id,
        "model": job.model_version.name,
        "selection": job.selection,
        "status": job.status,
        "created_at": job.created_at.isoformat() if job.created_at else None,
        "finished_at": job.finished_at.isoformat() if job.finished_at else None,
        "promoted_at": job.promoted_at.isoformat() if job.promoted_at else None,
        "progress": progress(session, job),
    }


def list_jobs(session: Session, limit: int = 50) -> list[Job]:
    return list(session.scalars(select(Job).order_by(Job.id.desc()).limit(limit)))


def _summary(session: Session, video_id: int, mv_id: int | None) -> dict[str, Any]:
    if mv_id is None:
        return {"regions": 0, "tracks": 0, "words": set()}
    regions = session.scalar(
        select(func.count(Region.id)).where(Region.video_id == video_id, Region.model_version_id == mv_id)
    )
    texts = list(
        session.scalars(
            select(TextTrack.text).where(TextTrack.video_id == video_id, TextTrack.model_version_id == mv_id)
        )
    )
    words = {w.lower() for t in texts for w in t.split()}
    return {"regions": regions or 0, "tracks": len(texts), "words": words}


def compare(session: Session, job_id: int, *, sample: int = 8) -> list[dict[str, Any]]:
    """Per media item: regions, tracks and distinct words of the previous version vs the job's."""
    job = get_job(session, job_id)
    out = []
    for item in session.scalars(select(JobItem).where(JobItem.job_id == job_id).order_by(JobItem.video_id)):
        video = session.get(Video, item.video_id)
        old = _summary(session, item.video_id, item.previous_model_version_id)
        new = _summary(session, item.video_id, job.model_version_id)
        out.append(
            {
                "media_id": item.video_id,
                "name": video.source_name if video else None,
                "status": item.status,
                "old": {"regions": old["regions"], "tracks": old["tracks"], "words": len(old["words"])},
                "new": {"regions": new["regions"], "tracks": new["tracks"], "words": len(new["words"])},
                "only_new": sorted(new["words"] - old["words"])[:sample],
                "only_old": sorted(old["words"] - new["words"])[:sample],
            }
        )
    return out


def promote(session: Session, job_id: int) -> int:
    """Make the job's version the active one of every media item it finished. Returns items promoted."""
    job = get_job(session, job_id)
    ids = list(
        session.scalars(
            select(JobItem.video_id).where(JobItem.job_id == job_id, JobItem.status == JobStatus.done)
        )
    )
    if not ids:
        raise DvaOcrError(f"job {job_id} has no finished media items to promote")
    mv_id = job.model_version_id
    regions = (
        select(func.count(Region.id))
        .where(Region.video_id == Video.id, Region.model_version_id == mv_id)
        .scalar_subquery()
    )
    tracks = (
        select(func.count(TextTrack.id))
        .where(TextTrack.video_id == Video.id, TextTrack.model_version_id == mv_id)
        .scalar_subquery()
    )
    session.execute(
        update(Video)
        .where(Video.id.in_(ids))
        .values(model_version_id=mv_id, regions_count=regions, tracks_count=tracks)
        .execution_options(synchronize_session=False)
    )
    job.promoted_at = func.now()
    return len(ids)


def fail_item(job_id: int, media_id: int, message: str) -> None:
    """Record a job item as failed (a task that gave up on it)."""
    _finish_item(job_id, media_id, JobStatus.failed, message)
