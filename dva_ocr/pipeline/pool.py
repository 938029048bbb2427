"""The OCR pool: frames waiting to be read, kept in PostgreSQL, read in batches across media items.

A batch of one item's frames that fills ``OCR_BATCH_FRAMES`` is an ``OCR_FRAMES`` task of its own.
Anything less (an image's one frame, a short clip, the last frames of a video) is written here, in
the transaction that writes its frame rows, and so are the frames a reprocessing job's item reads.
``OCR_POOL`` tasks (``read.ocr_pool``) each claim up to ``OCR_BATCH_FRAMES`` of the oldest waiting
frames of one model version, whichever items they belong to, read them in one engine call, and
delete them in the transaction that stores their regions.

At least once, with nothing held in a process's memory: a claim locks its rows (``FOR NO KEY UPDATE
SKIP LOCKED``: other claims pass them by) for as long as the batch runs, and the rows go only when its
regions are committed. A worker that dies mid-batch has its transaction rolled back by PostgreSQL (its
connection closes; a host that vanishes is cut off by ``idle_in_transaction_session_timeout``), so
the rows are claimable again at once. Each claim is also counted in a transaction of its own
(``ocr_attempts``): a frame whose batch died is read alone next time, and its item fails after
``SWEEP_MAX_REQUEUES + 2`` claims, so a frame that kills its worker cannot take a batch of others
down with it for ever.

Wake-ups: ``OCR_POOL`` messages carry only the model version. The transaction that pools frames
sends one unless one was sent and not taken in the last ``REARM_S`` seconds (``ocr_wakeups``); a task
clears that mark as it starts, and sends the next one itself if frames are left after its claim, so
every idle worker gets one while there is work and a folder of images is a few tasks, not one per
image. A wake-up lost with the broker, or whose worker died whole, is made good by the stuck-work
sweep (``stale``: frames waiting longer than ``STUCK_AFTER_S`` that nobody has claimed).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import ColumnElement, and_, delete, exists, func, literal, or_, select, text, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import InstrumentedAttribute, Session

from dva_ocr.db.session import session_scope
from dva_ocr.db.tables import (
    Frame,
    FrameOcr,
    Job,
    JobItem,
    JobStatus,
    OcrAttempt,
    OcrPending,
    OcrWakeup,
    Video,
    VideoStatus,
)
from dva_ocr.pipeline import rows
from dva_ocr.settings import get_settings

log = logging.getLogger(__name__)

REARM_S = 10  # a wake-up sent this long ago and not taken yet counts as lost: pooling sends another
LIVE_JOB = (JobStatus.queued, JobStatus.running, JobStatus.paused)
LIVE_ITEM = (JobStatus.queued, JobStatus.running)


@dataclass(frozen=True)
class Owner:
    """Whose frame a pooled frame is: the media item being ingested (``job_id`` None), or a job's item."""

    media_id: int
    job_id: int | None = None


@dataclass(frozen=True)
class Claimed:
    pending_id: int
    frame: Frame
    owner: Owner
    attempts: int  # claims of this frame so far, this one included


@dataclass
class Claim:
    """What one claim took: ``read`` (to read now), ``done`` (the version has read them already: only
    their items' counts are due), ``dropped`` (their item is gone, stopped or finished: not read),
    ``worn`` (claimed too often: their items fail). All are deleted with the batch."""

    read: list[Claimed] = field(default_factory=list)
    done: list[Claimed] = field(default_factory=list)
    dropped: list[Claimed] = field(default_factory=list)
    worn: list[Claimed] = field(default_factory=list)
    cancelled: set[Owner] = field(default_factory=set)  # job items whose job was cancelled

    @property
    def all(self) -> list[Claimed]:
        return [*self.read, *self.done, *self.dropped, *self.worn]

    def owners(self) -> set[Owner]:
        """The items whose counts are due: those read, or whose frames were read already."""
        return {c.owner for c in (*self.read, *self.done)}


def _not_read(model_version_id: ColumnElement[int] | InstrumentedAttribute[int] | int) -> ColumnElement[bool]:
    return ~exists().where(FrameOcr.frame_id == Frame.id, FrameOcr.model_version_id == model_version_id)


def put_frames(session: Session, frame_ids: Sequence[int]) -> list[int]:
    """Pool frames of items being ingested (their items' model version; a frame already pooled or read
    is left out). Returns the model versions whose workers are to be woken (``arm``ed)."""
    if not frame_ids:
        return []
    chosen = (
        select(Frame.id, Frame.video_id, Video.model_version_id)
        .join(Video, Video.id == Frame.video_id)
        .where(Frame.id.in_(frame_ids), _not_read(Video.model_version_id))
    )
    added = session.scalars(
        insert(OcrPending)
        .from_select(["frame_id", "video_id", "model_version_id"], chosen)
        .on_conflict_do_nothing(constraint="uq_ocr_pending")
        .returning(OcrPending.model_version_id)
    ).all()
    return [mv for mv in sorted(set(added)) if arm(session, mv)]


def put_job_items(session: Session, job_id: int, model_version_id: int, media_ids: Sequence[int]) -> int:
    """Pool the frames of a job's items that the job's version has not read (a frame pooled already is
    left as it is). Returns how many of these items' frames wait in the pool now."""
    if not media_ids:
        return 0
    chosen = select(Frame.id, Frame.video_id, literal(model_version_id), literal(job_id)).where(
        Frame.video_id.in_(media_ids), rows.is_read(), _not_read(model_version_id)
    )
    session.execute(
        insert(OcrPending)
        .from_select(["frame_id", "video_id", "model_version_id", "job_id"], chosen)
        .on_conflict_do_nothing(constraint="uq_ocr_pending")
    )
    waiting = select(func.count(OcrPending.id)).where(
        OcrPending.video_id.in_(media_ids), OcrPending.job_id == job_id
    )
    return session.scalar(waiting) or 0


def arm(session: Session, model_version_id: int, *, force: bool = False) -> bool:
    """Note that a wake-up for the version's pool is being sent; false when one was sent in the last
    ``REARM_S`` seconds and no task has taken it yet (then it will see the frames pooled meanwhile).
    ``force``: send one whatever was sent (the sweep)."""
    session.execute(
        insert(OcrWakeup).values(model_version_id=model_version_id, woken_at=None).on_conflict_do_nothing()
    )
    stale = func.now() - func.make_interval(0, 0, 0, 0, 0, 0, REARM_S)
    cond = [] if force else [or_(OcrWakeup.woken_at.is_(None), OcrWakeup.woken_at < stale)]
    won = session.scalar(
        update(OcrWakeup)
        .where(OcrWakeup.model_version_id == model_version_id, *cond)
        .values(woken_at=func.now())
        .returning(OcrWakeup.model_version_id)
    )
    return won is not None


def disarm(model_version_id: int) -> None:
    """A wake-up was taken: frames pooled from now on send another."""
    with session_scope() as s:
        s.execute(
            update(OcrWakeup).where(OcrWakeup.model_version_id == model_version_id).values(woken_at=None)
        )


def _claimable(model_version_id: int) -> list[ColumnElement[bool]]:
    """Rows of the version that a claim may take: not those of a paused job (they wait for its resume)."""
    return [
        OcrPending.model_version_id == model_version_id,
        or_(OcrPending.job_id.is_(None), Job.status != JobStatus.paused),
    ]


def _lock(
    session: Session, model_version_id: int, limit: int, *where: ColumnElement[bool]
) -> list[tuple[int, int, int, int | None, int]]:
    """Lock up to ``limit`` claimable rows (oldest first), passing over rows other claims hold."""
    if limit <= 0:
        return []
    q = (
        select(
            OcrPending.id,
            OcrPending.frame_id,
            OcrPending.video_id,
            OcrPending.job_id,
            func.coalesce(OcrAttempt.attempts, 0),
        )
        .outerjoin(Job, Job.id == OcrPending.job_id)
        .outerjoin(OcrAttempt, OcrAttempt.pending_id == OcrPending.id)
        .where(*_claimable(model_version_id), *where)
        .order_by(OcrPending.id)
        .limit(limit)
        .with_for_update(of=OcrPending, skip_locked=True, key_share=True)  # FOR NO KEY UPDATE
    )
    return [(int(a), int(b), int(c), d, int(e)) for a, b, c, d, e in session.execute(q).all()]


def claim(
    session: Session,
    model_version_id: int,
    limit: int,
    *,
    first: Owner | None = None,
    jobs_only: bool = False,
) -> Claim:
    """Claim a batch of the version's pooled frames in ``session``'s transaction (held until it ends):
    a frame whose earlier batch died, alone; else ``first``'s frames, then the oldest others (of jobs
    only: ``jobs_only``), up to ``limit`` frames to read. Rows whose item no longer wants them are taken
    too (to be deleted with the batch) and more are claimed in their place."""
    s = get_settings()
    # a worker's host that vanishes mid-batch must not keep its rows locked for ever
    timeout_ms = int(max(s.stuck_after_s, 60) * 1000)
    session.execute(text(f"SET LOCAL idle_in_transaction_session_timeout = {timeout_ms}"))
    max_attempts = s.sweep_max_requeues + 2
    out = Claim()
    only = [OcrPending.job_id.is_not(None)] if jobs_only else []
    suspect = _lock(session, model_version_id, 1, OcrAttempt.pending_id.is_not(None), *only)
    if suspect:
        _sort(session, model_version_id, suspect, out, max_attempts)
    else:
        fresh = [OcrAttempt.pending_id.is_(None), *only]
        mine = [and_(OcrPending.video_id == first.media_id, _same_job(first.job_id))] if first else []
        for scope in [*([mine] if mine else []), []]:
            while len(out.read) < limit:
                taken = [c.pending_id for c in out.all]
                left = [~OcrPending.id.in_(taken)] if taken else []  # this transaction's own locks
                got = _lock(session, model_version_id, limit - len(out.read), *fresh, *scope, *left)
                if not got:
                    break
                _sort(session, model_version_id, got, out, max_attempts)
    _count_attempts([c.pending_id for c in out.read])
    return out


def _same_job(job_id: int | None) -> ColumnElement[bool]:
    return OcrPending.job_id.is_(None) if job_id is None else OcrPending.job_id == job_id


def _sort(
    session: Session,
    model_version_id: int,
    got: list[tuple[int, int, int, int | None, int]],
    out: Claim,
    max_attempts: int,
) -> None:
    """Sort locked rows into ``out`` by what their items want."""
    frames = {f.id: f for f in session.scalars(select(Frame).where(Frame.id.in_([g[1] for g in got])))}
    read = set(
        session.scalars(
            select(FrameOcr.frame_id).where(
                FrameOcr.frame_id.in_(list(frames)), FrameOcr.model_version_id == model_version_id
            )
        )
    )
    wanted, cancelled = wanting(session, {Owner(g[2], g[3]) for g in got})
    out.cancelled |= cancelled
    for pending_id, frame_id, media_id, job_id, attempts in got:
        c = Claimed(pending_id, frames[frame_id], Owner(media_id, job_id), attempts + 1)
        if c.owner not in wanted:
            out.dropped.append(c)
        elif frame_id in read:
            out.done.append(c)
        elif c.attempts > max_attempts:
            out.worn.append(c)
        else:
            out.read.append(c)


def wanting(session: Session, owners: set[Owner]) -> tuple[set[Owner], set[Owner]]:
    """Of these items, those that still want their frames read (an item being ingested: processing; a
    job's item: queued or running, its job not finished), and the job items whose job was cancelled."""
    media_ids = {o.media_id for o in owners if o.job_id is None}
    job_ids = {o.job_id for o in owners if o.job_id is not None}
    processing = set(
        session.scalars(
            select(Video.id).where(Video.id.in_(media_ids), Video.status == VideoStatus.processing)
        )
        if media_ids
        else []
    )
    items: dict[Owner, tuple[str, str]] = {}
    if job_ids:
        found = session.execute(
            select(JobItem.job_id, JobItem.video_id, JobItem.status, Job.status)
            .join(Job, Job.id == JobItem.job_id)
            .where(JobItem.job_id.in_(job_ids))
        ).all()
        items = {Owner(v, j): (item, job) for j, v, item, job in found}
    wanted, cancelled = set(), set()
    for o in owners:
        if o.job_id is None:
            if o.media_id in processing:
                wanted.add(o)
            continue
        item, job = items.get(o, ("gone", "gone"))
        if item in LIVE_ITEM and job in LIVE_JOB:
            wanted.add(o)
        elif item in LIVE_ITEM and job == JobStatus.cancelled:
            cancelled.add(o)
    return wanted, cancelled


def _count_attempts(pending_ids: list[int]) -> None:
    """Count a claim of these rows, committed at once (a worker that dies mid-batch leaves it counted).
    Advisory: a lock it would wait for (a delete of the item) skips the count instead."""
    if not pending_ids:
        return
    try:
        with session_scope() as s:
            s.execute(text("SET LOCAL lock_timeout = '2s'"))
            values = insert(OcrAttempt).values([{"pending_id": p, "attempts": 1} for p in pending_ids])
            s.execute(
                values.on_conflict_do_update(
                    index_elements=["pending_id"], set_={"attempts": OcrAttempt.attempts + 1}
                )
            )
    except OperationalError:
        log.warning("could not count the claim of %d pooled frame(s); reading them anyway", len(pending_ids))


def remove(session: Session, claimed: Sequence[Claimed]) -> None:
    """Delete a batch's rows (in the transaction that stores its regions)."""
    if claimed:
        session.execute(delete(OcrPending).where(OcrPending.id.in_([c.pending_id for c in claimed])))


def remove_item(session: Session, owner: Owner) -> None:
    """Delete an item's pooled frames that no batch holds (a job item cancelled)."""
    locked = (
        select(OcrPending.id)
        .where(OcrPending.video_id == owner.media_id, _same_job(owner.job_id))
        .with_for_update(skip_locked=True)
    )
    session.execute(delete(OcrPending).where(OcrPending.id.in_(locked.scalar_subquery())))


def remove_job(session: Session, job_id: int) -> None:
    """Delete a job's pooled frames that no batch holds (the job cancelled)."""
    locked = select(OcrPending.id).where(OcrPending.job_id == job_id).with_for_update(skip_locked=True)
    session.execute(delete(OcrPending).where(OcrPending.id.in_(locked.scalar_subquery())))


def claimable(model_version_id: int) -> bool:
    """Whether a claim of the version's pool would find a row now (rows other batches hold passed by)."""
    with session_scope() as s:
        q = (
            select(OcrPending.id)
            .outerjoin(Job, Job.id == OcrPending.job_id)
            .where(*_claimable(model_version_id))
            .limit(1)
            .with_for_update(of=OcrPending, skip_locked=True, key_share=True)
        )
        return s.scalar(q) is not None


def waiting(session: Session, media_ids: Sequence[int]) -> set[int]:
    """Of these media items, those with frames waiting in the pool to be ingested."""
    if not media_ids:
        return set()
    return set(
        session.scalars(
            select(OcrPending.video_id)
            .where(OcrPending.video_id.in_(media_ids), OcrPending.job_id.is_(None))
            .distinct()
        )
    )


def waiting_items(session: Session, job_id: int) -> set[int]:
    """The media ids of a job's items that have frames waiting in the pool."""
    return set(session.scalars(select(OcrPending.video_id).where(OcrPending.job_id == job_id).distinct()))


@dataclass(frozen=True)
class Stale:
    model_version_id: int
    frames: int  # frames pooled before the cutoff
    oldest_s: float  # how long the oldest of them has waited
    media_id: int  # the item of the oldest
    job_id: int | None


def stale(cutoff: ColumnElement[datetime]) -> list[Stale]:
    """Model versions whose pool holds frames pooled before ``cutoff``, one of them at least in no batch
    being read now (its wake-up lost with the broker, or its worker died whole)."""
    out = []
    with session_scope() as s:
        old = [OcrPending.created_at < cutoff]
        for mv in list(s.scalars(select(OcrPending.model_version_id).where(*old).distinct())):
            free = s.scalar(
                select(OcrPending.id)
                .outerjoin(Job, Job.id == OcrPending.job_id)
                .where(*_claimable(mv), *old)
                .limit(1)
                .with_for_update(of=OcrPending, skip_locked=True, key_share=True)
            )
            if free is None:
                continue
            frames = s.scalar(
                select(func.count(OcrPending.id)).where(OcrPending.model_version_id == mv, *old)
            )
            since, media_id, job_id = s.execute(
                select(
                    func.extract("epoch", func.now() - OcrPending.created_at),
                    OcrPending.video_id,
                    OcrPending.job_id,
                )
                .where(OcrPending.model_version_id == mv)
                .order_by(OcrPending.id)
                .limit(1)
            ).one()
            out.append(Stale(mv, int(frames or 0), float(since), media_id, job_id))
    return out
