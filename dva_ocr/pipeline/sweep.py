"""The stuck-work sweep: unfinished media items with no live task are queued again, or failed.

An item is stuck when it is unfinished (queued, processing, finalizing), no stage has touched it for
``STUCK_AFTER_S`` and the queue holds no task for it (queued, reserved by a worker, waiting for a
retry, or running: ``WorkQueue.pending``). That happens when a task gave up after its retries while
the database was unreachable (so it could not even record the failure), or when a process died
between committing an item and queueing it. The sweep queues the stage the item stopped at again,
``SWEEP_MAX_REQUEUES`` times at most, then marks it failed with a message. A reprocessing job's item
that is queued or running with no task is marked failed (``jobs retry`` runs it again).

The decision is re-checked under a row lock (``touched_at`` unchanged), so two sweeps, or a sweep and
a worker, cannot both act on one item.

Frames waiting in the OCR pool (``dva_ocr.pipeline.pool``) are work queued in PostgreSQL: an item
(or job item) with frames there is not stuck. A pool whose oldest free frames have waited longer than
``STUCK_AFTER_S`` (its wake-up lost with the broker, or the worker that took it killed whole, its
message left unacknowledged for hours) gets a wake-up again, whatever the broker holds; a batch that
dies is rolled back by PostgreSQL, so its frames are free again at once.

A long video's segment (``dva_ocr.pipeline.segments``) that is running but has not written for
``STUCK_AFTER_S`` is queued again whatever the broker holds: its run writes every ``FLUSH_EVERY_S``
seconds while alive, and a worker killed outright (SIGKILL, out of memory, a host gone) leaves its
task unacknowledged in Redis until the visibility timeout (hours). A second run of a segment is
harmless (every write is idempotent; the first run to finish it wins).

``still_running`` is the same liveness test for one item, which a person's retry of an unfinished
item must pass (``dva_ocr.media_admin.reset_for_retry``).
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, exists, func, select, update
from sqlalchemy.orm import Session

from dva_ocr import telemetry
from dva_ocr.db.session import session_scope
from dva_ocr.db.tables import (
    Job,
    JobItem,
    JobStatus,
    OcrPending,
    SegmentStatus,
    Video,
    VideoSegment,
    VideoStatus,
)
from dva_ocr.pipeline import pool, rows
from dva_ocr.settings import get_settings
from dva_ocr.work.queues import (
    EXTRACT,
    EXTRACT_SEGMENT,
    FINALIZE,
    OCR_FRAMES,
    OCR_POOL,
    REPROCESS_ITEM,
    Sent,
    Task,
    WorkQueue,
)

log = logging.getLogger(__name__)

MEDIA_TASKS = (EXTRACT, EXTRACT_SEGMENT, OCR_FRAMES, FINALIZE)
LIVE_ITEM = (JobStatus.queued, JobStatus.running)


@dataclass(frozen=True)
class SweepAction:
    kind: str  # "media" | "job_item" | "ocr_pool" (media_id, job_id: of its oldest waiting frame)
    media_id: int
    job_id: int | None
    was: str  # the status it was stuck in
    action: str  # "requeued" | "failed"
    message: str

    def to_json(self) -> dict[str, object]:
        return asdict(self)


def live_work(pending: list[Sent]) -> tuple[set[int], set[tuple[int, int]]]:
    """Media ids and (job, media) pairs that have a task queued, reserved or running."""
    media: set[int] = set()
    items: set[tuple[int, int]] = set()
    for sent in pending:
        if sent.task in MEDIA_TASKS and isinstance(sent.args[0], int):
            media.add(sent.args[0])
        elif sent.task == REPROCESS_ITEM and isinstance(sent.args[0], int) and isinstance(sent.args[1], int):
            items.add((sent.args[0], sent.args[1]))
    return media, items


def still_running(
    session: Session, video: Video, queue: WorkQueue, *, stale_after_s: float | None = None
) -> str | None:
    """Why an unfinished item is not stuck (a stage touched it lately, or the broker holds a task for
    it), or None when it is stuck: nothing is working on it, and it can be run again."""
    stale_after = get_settings().stuck_after_s if stale_after_s is None else stale_after_s
    idle_s = (session.execute(select(func.now())).scalar_one() - video.touched_at).total_seconds()
    if idle_s < stale_after:
        return (
            f"a worker wrote to it {idle_s:.0f} s ago (it counts as stuck after {stale_after:.0f} s without)"
        )
    if pool.waiting(session, [video.id]):
        return "its frames wait in the OCR pool to be read"
    if video.id in live_work(queue.pending())[0]:
        return "a task for it is queued, waiting for a retry or running"
    return None


def sweep_stuck(
    queue: WorkQueue, *, stale_after_s: float | None = None, max_requeues: int | None = None
) -> list[SweepAction]:
    """Find stuck work and act on it; returns what was done (nothing when nothing is stuck)."""
    settings = get_settings()
    stale_after = settings.stuck_after_s if stale_after_s is None else stale_after_s
    requeues = settings.sweep_max_requeues if max_requeues is None else max_requeues
    cutoff = func.now() - func.make_interval(0, 0, 0, 0, 0, 0, stale_after)
    with session_scope() as s:
        pooled = exists().where(OcrPending.video_id == Video.id, OcrPending.job_id.is_(None))
        media = s.execute(
            select(Video.id, Video.touched_at).where(
                Video.status.in_(rows.UNFINISHED), Video.touched_at < cutoff, ~pooled
            )
        ).all()
        item_pooled = exists().where(
            OcrPending.video_id == JobItem.video_id, OcrPending.job_id == JobItem.job_id
        )
        items = s.execute(
            select(JobItem.job_id, JobItem.video_id, JobItem.status)
            .join(Job, Job.id == JobItem.job_id)
            .where(
                JobItem.status.in_(LIVE_ITEM),
                Job.status.in_(LIVE_ITEM),
                func.coalesce(JobItem.started_at, Job.created_at) < cutoff,
                ~item_pooled,
            )
        ).all()
    actions = _sweep_segments(queue, cutoff) + _sweep_pool(queue, cutoff)
    if not media and not items:
        return _logged(actions)
    live_media, live_items = live_work(queue.pending())  # read after the rows: a task sent since is seen
    for media_id, touched in media:
        if media_id not in live_media:
            done = _sweep_media(queue, media_id, touched, requeues)
            actions.extend([done] if done else [])
    for job_id, media_id, status in items:
        if (job_id, media_id) not in live_items:
            actions.append(_fail_item(job_id, media_id, status))
    return _logged(actions)


def _logged(actions: list[SweepAction]) -> list[SweepAction]:
    for a in actions:
        log.warning("sweep: %s %s (job %s) %s: %s", a.kind, a.media_id, a.job_id, a.action, a.message)
        if a.kind == "media" and a.action == "failed":  # committed: count it as a stage's failure is
            telemetry.count(telemetry.MEDIA_FAILED)
    return actions


def _sweep_segments(queue: WorkQueue, cutoff: ColumnElement[datetime]) -> list[SweepAction]:
    """Running segments of items being extracted whose run stopped writing: queued again (the segment's
    task counts its starts and fails the item after too many, ``segments.begin``)."""
    with session_scope() as s:
        stale = s.execute(
            select(VideoSegment.video_id, VideoSegment.seq)
            .join(Video, Video.id == VideoSegment.video_id)
            .where(
                VideoSegment.status == SegmentStatus.running,
                VideoSegment.touched_at < cutoff,
                Video.status == VideoStatus.processing,
            )
            .order_by(VideoSegment.video_id, VideoSegment.seq)
            .with_for_update(of=VideoSegment, skip_locked=True)  # not one a run is writing now
        ).all()
        for media_id, seq in stale:
            s.execute(
                update(VideoSegment)
                .where(VideoSegment.video_id == media_id, VideoSegment.seq == seq)
                .values(status=SegmentStatus.queued, touched_at=func.now())
            )
            rows.touch(s, media_id)
    for media_id, seq in stale:  # after the commit
        queue.send(EXTRACT_SEGMENT, media_id, seq)
    return [
        SweepAction(
            "media",
            media_id,
            None,
            VideoStatus.processing,
            "requeued",
            f"segment {seq} was running and wrote nothing for too long (its worker died?); queued it again",
        )
        for media_id, seq in stale
    ]


def _sweep_pool(queue: WorkQueue, cutoff: ColumnElement[datetime]) -> list[SweepAction]:
    """Pools whose oldest free frames have waited too long: their qocr workers woken again."""
    actions = []
    for st in pool.stale(cutoff):
        with session_scope() as s:
            pool.arm(s, st.model_version_id, force=True)
        queue.send(OCR_POOL, st.model_version_id)  # after the commit
        message = (
            f"{st.frames} frame(s) waited in the OCR pool of model version {st.model_version_id} for "
            f"{st.oldest_s / 60:.0f} min and no batch was reading them (a wake-up lost?); "
            "woke the qocr workers"
        )
        actions.append(SweepAction("ocr_pool", st.media_id, st.job_id, "waiting", "requeued", message))
    return actions


def _sweep_media(queue: WorkQueue, media_id: int, touched: datetime, max_requeues: int) -> SweepAction | None:
    batch = get_settings().ocr_batch_frames
    sends: list[tuple[Task, tuple[int | list[int], ...]]] = []
    with session_scope() as s:
        v = s.get(Video, media_id, with_for_update=True)
        if v is None or v.status not in rows.UNFINISHED or v.touched_at != touched:
            return None  # finished, or work on it went on since it was read
        was = v.status
        idle_min = (s.execute(select(func.now())).scalar_one() - touched).total_seconds() / 60
        if v.requeues >= max_requeues:
            message = (
                f"stuck while {was} for {idle_min:.0f} min with no task queued or running"
                + (f", after being queued again {v.requeues} time(s)" if v.requeues else "")
                + "; retry it to run it again from the start"
            )
            v.status, v.error, v.finished_at = VideoStatus.failed, message, func.now()
            return SweepAction("media", media_id, None, was, "failed", message)
        if was == VideoStatus.queued or not v.extracted:
            sends.append((EXTRACT, (media_id,)))
            stage = "frame extraction"
        elif was == VideoStatus.finalizing:
            sends.append((FINALIZE, (media_id,)))
            stage = "the roll-up"
        else:
            unread = [f.id for f in rows.unread_frames(s, media_id, v.model_version_id, limit=1_000_000)]
            for start in range(0, len(unread), batch):
                sends.append((OCR_FRAMES, (media_id, unread[start : start + batch])))
            if not unread:  # every frame read, the roll-up never queued
                v.status = VideoStatus.finalizing
                sends.append((FINALIZE, (media_id,)))
            stage = f"OCR of {len(unread)} frame(s)" if unread else "the roll-up"
        v.requeues += 1
        v.touched_at = func.now()
    for task, args in sends:  # after the commit: a worker must see the rows
        queue.send(task, *args)
    message = f"no task for {idle_min:.0f} min while {was}; queued {stage} again"
    return SweepAction("media", media_id, None, was, "requeued", message)


def _fail_item(job_id: int, media_id: int, was: str) -> SweepAction:
    from dva_ocr import jobs

    message = "no task was queued or running for this item; retry the job to run it again"
    jobs.fail_item(job_id, media_id, message)
    return SweepAction("job_item", media_id, job_id, was, "failed", message)
