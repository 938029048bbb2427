"""The ``qocr`` stage: read frames (whole, or only their changed bands) and store their regions.

Frames are read in batches of ``OCR_BATCH_FRAMES``: a full batch of one media item's frames is an
``OCR_FRAMES`` task (``ocr_frames``); smaller ones wait in the OCR pool (``dva_ocr.pipeline.pool``)
and are read by ``OCR_POOL`` tasks (``ocr_pool``) in batches across media items, each item with its
own filters, failing, finishing and counting on its own. A reprocessing job's item reads its frames
through the pool too (``dva_ocr.jobs.run_item``). ``read_items`` is the one way frames are read.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from dva_ocr import logs, telemetry
from dva_ocr.db.session import session_scope
from dva_ocr.db.tables import Frame, JobStatus, ModelVersion, OcrPending, Video, VideoStatus
from dva_ocr.db.transient import is_transient
from dva_ocr.errors import MediaError
from dva_ocr.filters import RegionFilter
from dva_ocr.media.frames import read_jpeg
from dva_ocr.pipeline import bands, job_items, pool, rows
from dva_ocr.pipeline.contracts import FoundRegion, Keep, Reader
from dva_ocr.pipeline.pool import Owner
from dva_ocr.settings import get_settings
from dva_ocr.work.queues import FINALIZE, OCR_POOL, WorkQueue

log = logging.getLogger(__name__)


def read_frames(
    frames: Sequence[Frame],
    reader: Reader,
    keep: Keep | Sequence[Keep],
    pictures: Sequence[np.ndarray] | None = None,
) -> tuple[list[list[FoundRegion]], float]:
    """Regions of each frame (whole, or only its changed bands) that pass ``keep`` (one for all, or
    one per frame: frames of several media items, each with its own filters); ms per frame. The
    frames' JPEGs are read unless their ``pictures`` are given.
    A band read as a patch narrower than the frame whose lines run out at a side is read again across
    the frame's width (``bands.runs_out``), in a second batch."""
    root = get_settings().media_root
    keeps = [keep] * len(frames) if callable(keep) else list(keep)
    images: list[np.ndarray] = []
    owners: list[tuple[int, bands.Part]] = []  # frame position, part of the frame
    if pictures is None:
        pictures = [read_jpeg(root / f.path) for f in frames]
    for pos, f in enumerate(frames):
        for part in bands.parts_of(f.height, f.width, f.bands):
            images.append(bands.part_image(pictures[pos], part))
            owners.append((pos, part))
    started = time.perf_counter()
    results = list(reader.batch(images)) if images else []
    again = [
        j
        for j, ((pos, part), regions) in enumerate(zip(owners, results, strict=True))
        if any(bands.runs_out(part, frames[pos].width, r.box) for r in regions)
    ]
    if again:
        wide = [(owners[j][0], owners[j][1].widened(frames[owners[j][0]].width)) for j in again]
        for j, (pos, part), regions in zip(
            again,
            wide,
            reader.batch([bands.part_image(pictures[pos], part) for pos, part in wide]),
            strict=True,
        ):
            owners[j], results[j] = (pos, part), regions
    per_frame_ms = (time.perf_counter() - started) * 1000 / max(1, len(frames))
    found: list[list[FoundRegion]] = [[] for _ in frames]
    for (pos, part), regions in zip(owners, results, strict=True):
        frame = frames[pos]
        for r in regions:
            region = FoundRegion.of(r, part.top, part.left)
            if bands.owns(part, region.box) and keeps[pos](
                region.box, region.confidence, frame.width, frame.height
            ):
                found[pos].append(region)
    return found, per_frame_ms


def _count_work(model: str, frames: int, regions: int, per_frame_ms: float) -> None:
    """The cluster's work counters (``dva_ocr.telemetry``), once the regions are committed. ``queue`` is
    the worker queue the task came from (``inline`` when the pipeline runs in this process)."""
    labels = {"queue": logs.context().get("queue", "inline"), "model": model}
    telemetry.count(telemetry.FRAMES_READ, frames, **labels)
    telemetry.count(telemetry.OCR_SECONDS, per_frame_ms * frames / 1000, **labels)
    telemetry.count(telemetry.REGIONS_STORED, regions, **labels)


def describe(exc: BaseException) -> str:
    """An error as a person reads it: its type and first line (without SQLAlchemy's statement dump)."""
    text = str(getattr(exc, "orig", None) or exc).strip()
    return f"{type(exc).__name__}: {(text.splitlines() or [''])[0][:500]}"


@dataclass(frozen=True)
class ItemFrames:
    """Frames of one media item (being ingested, or a job's item) in a batch, and its filters."""

    owner: Owner
    frames: list[Frame]
    keep: Keep


def read_items(
    items: Sequence[ItemFrames], reader: Reader
) -> tuple[dict[int, list[FoundRegion]], float, dict[Owner, str]]:
    """Read the frames of several items in one batch: regions by frame id, ms per frame, and the items
    that failed with why. An item whose frames cannot be read (a JPEG missing or damaged, the engine
    failing on it) fails alone: when the batch fails, each item is read again on its own. A database
    outage is raised (the task waits it out)."""
    root = get_settings().media_root
    failed: dict[Owner, str] = {}
    ok: list[tuple[ItemFrames, list[np.ndarray]]] = []
    for item in items:
        try:
            ok.append((item, [read_jpeg(root / f.path) for f in item.frames]))
        except MediaError as exc:
            failed[item.owner] = describe(exc)
    found: dict[int, list[FoundRegion]] = {}
    started = time.perf_counter()

    def read(chosen: list[tuple[ItemFrames, list[np.ndarray]]]) -> None:
        frames = [f for item, _ in chosen for f in item.frames]
        keeps = [item.keep for item, _ in chosen for _f in item.frames]
        regions, _ = read_frames(frames, reader, keeps, [p for _, pics in chosen for p in pics])
        found.update({f.id: r for f, r in zip(frames, regions, strict=True)})

    try:
        if ok:
            read(ok)
    except Exception as exc:
        if is_transient(exc):
            raise
        if len(ok) == 1:
            failed[ok[0][0].owner] = describe(exc)
        else:
            log.warning("a batch of %d media items failed (%s); reading each alone", len(ok), describe(exc))
            for one in ok:
                try:
                    read([one])
                except Exception as alone:
                    if is_transient(alone):
                        raise
                    failed[one[0].owner] = describe(alone)
    per_frame_ms = (time.perf_counter() - started) * 1000 / max(1, len(found))
    return found, per_frame_ms, failed


def _keeps(session: Session, media_ids: set[int]) -> dict[int, Keep]:
    """Each media item's own filters (minimum confidence, regions of interest, ignored areas)."""
    filters = session.execute(select(Video.id, Video.filters).where(Video.id.in_(media_ids))).all()
    return {row[0]: RegionFilter.from_json(row[1]).keep for row in filters}


def _store(
    session: Session,
    model_version_id: int,
    frames: Sequence[Frame],
    found: dict[int, list[FoundRegion]],
    ms: float,
) -> int:
    """Replace the frames' regions of the version; returns regions written."""
    for frame in frames:
        rows.save_frame_regions(session, frame, model_version_id, found[frame.id], ms)
    return sum(len(found[f.id]) for f in frames)


def _settle(session: Session, model_version_id: int, owners: set[Owner]) -> list[int]:
    """Count the items' frames read (from the rows); an item being ingested whose every frame is read
    moves to the roll-up (returned: the caller queues it after the commit), a job's item whose every
    frame is read gets its tracks and is done. Items in media id order (two batches lock alike)."""
    winners = []
    for o in sorted(owners, key=lambda o: (o.media_id, o.job_id or 0)):
        if o.job_id is None:
            # the row locked first, counted in the next statement: it sees every batch of the item that
            # committed while this one waited (one UPDATE's own subquery would not: a count one short)
            session.execute(select(Video.id).where(Video.id == o.media_id).with_for_update(key_share=True))
            rows.touch(session, o.media_id, frames_ocr=rows.frames_read_by(o.media_id, model_version_id))
            if rows.claim_finalize(session, o.media_id):
                winners.append(o.media_id)
        else:
            job_items.finish_if_read(session, o.job_id, o.media_id, model_version_id)
    return winners


def _fail(failures: dict[Owner, str]) -> None:
    """Record items that failed in a batch, each with its reason; their frames left in the pool go."""
    for owner, why in sorted(failures.items(), key=lambda kv: (kv[0].media_id, kv[0].job_id or 0)):
        if owner.job_id is None:
            rows.fail_media(owner.media_id, f"OCR failed: {why}")
        else:
            with session_scope() as s:
                job_items.finish_item(s, owner.job_id, owner.media_id, JobStatus.failed, why)
        with session_scope() as s:
            pool.remove_item(s, owner)


def ocr_frames(media_id: int, frame_ids: list[int], *, reader: Reader, queue: WorkQueue) -> int:
    """Read a full batch of one media item's frames (an ``OCR_FRAMES`` task), count them, and queue the
    roll-up once every frame is read. Frames that cannot be read fail the item. Returns regions
    written."""
    with session_scope() as s:
        video = s.get(Video, media_id)
        if video is None or video.status in (VideoStatus.failed, VideoStatus.cancelled):
            log.info("media %s is gone, failed or cancelled; skipping %d frames", media_id, len(frame_ids))
            return 0
        mv_id = video.model_version_id
        item = ItemFrames(
            Owner(media_id),
            [
                f
                for f in s.scalars(select(Frame).where(Frame.id.in_(frame_ids)).order_by(Frame.index))
                if f.bands != []
            ],
            RegionFilter.from_json(video.filters).keep,
        )
    if not item.frames:
        return 0
    found, per_frame_ms, failed = read_items([item], reader)
    if failed:
        rows.fail_media(media_id, f"OCR failed: {failed[item.owner]}")
        return 0
    with session_scope() as s:
        regions = _store(s, mv_id, item.frames, found, per_frame_ms)
        winners = _settle(s, mv_id, {item.owner})
    for won in winners:
        queue.send(FINALIZE, won)
    _count_work(model_name(mv_id) or str(mv_id), len(item.frames), regions, per_frame_ms)
    return regions


@dataclass(frozen=True)
class PoolBatch:
    """What one ``ocr_pool`` run did."""

    frames: int  # frames read
    regions: int  # regions written
    items: int  # media items (or job items) whose frames it took
    first: bool  # it took frames of the ``first`` item it was asked for


def ocr_pool(
    model_version_id: int,
    *,
    reader: Reader,
    queue: WorkQueue | None,
    first: Owner | None = None,
    jobs_only: bool = False,
) -> PoolBatch:
    """Claim a batch of frames from the version's pool (``dva_ocr.pipeline.pool``), whichever media
    items they belong to, read them in one engine call with each item's own filters, store their
    regions and delete them from the pool in one transaction, and count each item; items whose every
    frame is read go on to their roll-up. An item whose frames cannot be read fails alone; an item
    deleted, cancelled or failed meanwhile is passed over. Wakes another worker first when frames are
    left after the claim. ``first``/``jobs_only``: a job item's own task (``dva_ocr.jobs.run_item``)."""
    settings = get_settings()
    if first is None:  # this run is the wake-up: frames pooled from now on send another
        pool.disarm(model_version_id)
    with session_scope() as s:
        claim = pool.claim(s, model_version_id, settings.ocr_batch_frames, first=first, jobs_only=jobs_only)
        if not claim.all:
            return PoolBatch(0, 0, 0, False)
        if queue is not None and pool.claimable(model_version_id):  # another worker takes the rest
            with session_scope() as wake:
                woken = pool.arm(wake, model_version_id)
            if woken:
                queue.send(OCR_POOL, model_version_id)
        keeps = _keeps(s, {c.owner.media_id for c in claim.read})
        by_owner: dict[Owner, list[Frame]] = {}
        for c in claim.read:
            by_owner.setdefault(c.owner, []).append(c.frame)
        items = [
            ItemFrames(o, frames, keeps[o.media_id]) for o, frames in by_owner.items() if o.media_id in keeps
        ]
        found, per_frame_ms, failed = read_items(items, reader)
        wanted, cancelled = pool.wanting(s, set(by_owner))  # again: stopped while it was read?
        stored = [f for i in items if i.owner in wanted and i.owner not in failed for f in i.frames]
        regions = _store(s, model_version_id, stored, found, per_frame_ms)
        pool.remove(s, claim.all)
        for o in sorted(claim.cancelled | cancelled, key=lambda o: (o.media_id, o.job_id or 0)):
            job_items.finish_item(s, o.job_id or 0, o.media_id, JobStatus.cancelled)
        for c in claim.worn:
            failed.setdefault(
                c.owner,
                f"frame {c.frame.index} was claimed by {c.attempts - 1} batches that never finished (their "
                "worker died, or an error stopped them: see the qocr workers' log)",
            )
        winners = _settle(s, model_version_id, claim.owners() - set(failed))
    _fail(failed)
    for won in winners:
        if queue is not None:
            queue.send(FINALIZE, won)
    if stored:
        _count_work(model_name(model_version_id) or str(model_version_id), len(stored), regions, per_frame_ms)
    owners = claim.owners() | {c.owner for c in claim.worn}
    log.info(
        "pooled batch: %d frame(s) of %d item(s) read (media %s)",
        len(stored),
        len(owners),
        ", ".join(str(m) for m in sorted({o.media_id for o in owners})),
        extra={"pid": os.getpid()},  # which worker process read it
    )
    return PoolBatch(len(stored), regions, len(owners), first is not None and first in by_owner)


def fail_pool(model_version_id: int, why: str) -> int:
    """Fail every item whose frames wait in the version's pool (its model cannot be loaded, so none of
    them can be read); returns how many items failed."""
    with session_scope() as s:
        found = s.execute(
            select(OcrPending.video_id, OcrPending.job_id)
            .where(OcrPending.model_version_id == model_version_id)
            .distinct()
        ).all()
        wanted, _ = pool.wanting(s, {Owner(v, j) for v, j in found})
    _fail(dict.fromkeys(wanted, why))
    return len(wanted)


def model_name(model_version_id: int) -> str | None:
    with session_scope() as s:
        return s.scalar(select(ModelVersion.name).where(ModelVersion.id == model_version_id))


def model_name_of(media_id: int) -> str | None:
    """The name of the model version a media item is read with (None when it is gone)."""
    with session_scope() as s:
        return s.scalar(
            select(ModelVersion.name)
            .join(Video, Video.model_version_id == ModelVersion.id)
            .where(Video.id == media_id)
        )
