"""Batches across media: small items' frames wait in the OCR pool (PostgreSQL) and are read in batches
of OCR_BATCH_FRAMES whatever item they belong to, each item with its own filters and model version,
failing, finishing and counting on its own; a reprocessing job reads through the same pool.

The stages run in this process here (as the Celery tasks call them); tests/test_batch_workers.py runs
them in real workers (a folder of images, a corrupt frame, workers killed mid-batch, a long video's
reprocessing on two processes)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import cv2
import numpy as np
import pytest
from factories import frame_row, make_video_row
from PIL import Image
from sqlalchemy import func, select, text, update
from test_jobs import copy_model, engines  # noqa: F401 - fixtures: a second model version, engines
from textgen import SENTENCES, render_lines

from dva_ocr import jobs, media_admin
from dva_ocr.db.session import session_scope
from dva_ocr.db.tables import Frame, FrameOcr, JobItem, OcrAttempt, OcrPending, Region, Video
from dva_ocr.filters import RegionFilter
from dva_ocr.media.frames import read_jpeg
from dva_ocr.pipeline import (
    IngestOptions,
    extract_video,
    finalize_video,
    ocr_frames,
    ocr_pool,
    pool,
    register_media,
    rows,
)
from dva_ocr.pipeline.sweep import still_running, sweep_stuck
from dva_ocr.settings import get_settings
from dva_ocr.work import FINALIZE, OCR_FRAMES, OCR_POOL, RecordingQueue

BATCH = 4  # OCR_BATCH_FRAMES of the test environment (tests/conftest.py)


class Counting:
    """A reader that records the size of every engine call (and can stand in for a failing one)."""

    def __init__(self, reader, fail_on: Callable[[np.ndarray], bool] | None = None, hook=None) -> None:
        self.reader, self.fail_on, self.hook = reader, fail_on, hook
        self.calls: list[int] = []

    def batch(self, images: Sequence[np.ndarray]):
        self.calls.append(len(images))
        if self.hook is not None:
            self.hook()
        if self.fail_on is not None and any(self.fail_on(im) for im in images):
            raise ValueError("the engine choked on this picture (simulated)")
        return self.reader.batch(images)


def make_images(folder: Path, sizes: Sequence[tuple[int, int]], seed: int = 0) -> list[Path]:
    """One picture per size, two or three lines of distinct text each (distinct content: one item each)."""
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for n, size in enumerate(sizes):
        k = seed + n
        lines = [SENTENCES[(3 * k + j) % len(SENTENCES)] for j in range(2 + k % 2)]
        image, _ = render_lines(lines, size=size, seed=k, font_sizes=(26, 40))
        path = folder / f"photo_{k:03d}.png"
        Image.fromarray(image).save(path)
        out.append(path)
    return out


def register(paths: Sequence[Path], options: Sequence[IngestOptions | None] | None = None) -> list[int]:
    ids = []
    for n, path in enumerate(paths):
        with session_scope() as s:
            ids.append(register_media(s, path, (options or [None] * len(paths))[n]).media_id)
    return ids


def extracted(folder: Path, sizes: Sequence[tuple[int, int]], seed: int) -> tuple[list[int], RecordingQueue]:
    """Images made, registered and extracted: their ids, and the queue that holds their OCR work."""
    ids = register(make_images(folder, sizes, seed=seed))
    queue = RecordingQueue()
    for vid in ids:
        extract_video(vid, queue=queue)
    return ids, queue


def drain(queue: RecordingQueue, reader_for) -> list[int]:
    """Run every pool wake-up and roll-up sent (and those they send), as the qocr and qdefault workers
    would; returns the model version of each wake-up run, in order."""
    from dva_ocr.pipeline.read import model_name

    ran = []
    while True:
        wakeups = queue.pool_wakeups()
        rollups = queue.take(FINALIZE)
        if not wakeups and not rollups:
            return ran
        for mv in wakeups:
            ocr_pool(mv, reader=reader_for(model_name(mv)), queue=queue)
            ran.append(mv)
        for (media_id,) in rollups:
            finalize_video(int(media_id))


def regions_of(media_id: int) -> list[tuple[str, tuple[int, int, int, int]]]:
    with session_scope() as s:
        v = s.get(Video, media_id)
        found = s.execute(
            select(Region.text, Region.x, Region.y, Region.w, Region.h).where(
                Region.video_id == media_id, Region.model_version_id == v.model_version_id
            )
        ).all()
    return sorted((t, (x, y, w, h)) for t, x, y, w, h in found)


def one_by_one(media_id: int, reader) -> list[tuple[str, tuple[int, int, int, int]]]:
    """The item's regions read the way a batch of one reads them: its frame's JPEG alone, its filters."""
    with session_scope() as s:
        v = s.get(Video, media_id)
        keep = RegionFilter.from_json(v.filters).keep
        (frame,) = s.scalars(select(Frame).where(Frame.video_id == media_id))
        path, w, h = get_settings().media_root / frame.path, frame.width, frame.height
    (found,) = reader.batch([read_jpeg(path)])
    return sorted((r.text, tuple(int(c) for c in r.box)) for r in found if keep(r.box, r.confidence, w, h))


def status_of(media_id: int) -> tuple[str, str | None]:
    with session_scope() as s:
        v = s.get(Video, media_id)
        return v.status, v.error


def pooled() -> int:
    with session_scope() as s:
        return s.scalar(select(func.count()).select_from(OcrPending)) or 0


def test_small_items_are_read_in_batches_across_media_with_their_own_filters_and_models(
    db,
    tmp_path,
    engines,  # noqa: F811
    copy_model,  # noqa: F811
):
    sizes = [(640, 360)] * 6 + [(480, 320), (800, 300), (640, 360), (560, 420)]
    paths = make_images(tmp_path / "folder", sizes)
    options: list[IngestOptions | None] = [None] * len(paths)
    options[1] = IngestOptions(filters=RegionFilter(roi=((0.0, 0.0, 1.0, 0.2),)))  # the top fifth only
    options[2] = IngestOptions(filters=RegionFilter(min_confidence=0.97))
    options[3] = IngestOptions(filters=RegionFilter(ignore=((0.0, 0.0, 1.0, 0.3),)))
    options[4] = IngestOptions(model=copy_model)  # another model version: another pool
    ids = register(paths, options)
    queue = RecordingQueue()
    for vid in ids:
        assert extract_video(vid, queue=queue) == 1
    assert queue.take(OCR_FRAMES) == []  # no image is a task of its own
    with session_scope() as s:
        mvs = {vid: s.get(Video, vid).model_version_id for vid in ids}
    main, other = mvs[ids[0]], mvs[ids[4]]
    # one wake-up per model version, not one per image (the first pooled frame sends it)
    assert [s.args for s in queue.sent] == [(main,), (other,)] and pooled() == len(ids)

    counted = {}

    def reader_for(name):
        return counted.setdefault(name, Counting(engines(name)))

    ran = drain(queue, reader_for)
    calls = counted["ppocrv4"].calls
    assert calls == [BATCH, BATCH, 1]  # 9 images of the bundled model: batches of 4, 4 and 1
    assert counted[copy_model].calls == [1]
    assert sorted(ran) == sorted([main] * 3 + [other])  # each batch woke the next while frames were left
    assert pooled() == 0
    for vid in ids:
        assert status_of(vid) == ("done", None)
        got = regions_of(vid)
        assert got == one_by_one(vid, engines("ppocrv4")), vid  # the same regions as read alone
        with session_scope() as s:
            v = s.get(Video, vid)
            assert (v.frames_ocr, v.regions_count) == (1, len(got)) and (v.tracks_count > 0) == bool(got)
    assert regions_of(ids[0]) and regions_of(ids[1]) and regions_of(ids[3])
    with session_scope() as s:
        assert set(s.scalars(select(Region.model_version_id).where(Region.video_id == ids[4]))) == {other}
        frame_ids = list(s.scalars(select(Frame.id).where(Frame.video_id.in_(ids))))
        assert s.scalar(select(func.count()).select_from(FrameOcr)) == len(frame_ids)  # each read once
    # the filters made a difference: the unfiltered reading of those items has more
    with session_scope() as s:
        assert s.scalar(select(func.min(Region.confidence)).where(Region.video_id == ids[2])) >= 0.97
    unfiltered = engines("ppocrv4")
    for vid in (ids[1], ids[3]):
        with session_scope() as s:
            (frame,) = s.scalars(select(Frame).where(Frame.video_id == vid))
        (everything,) = unfiltered.batch([read_jpeg(get_settings().media_root / frame.path)])
        assert len([r for r in everything if r.confidence >= 0.7]) > len(regions_of(vid)), vid


def test_a_bad_picture_in_a_batch_fails_its_item_alone(db, tmp_path, engines):  # noqa: F811
    ids, queue = extracted(tmp_path / "folder", [(640, 360)] * 4 + [(333, 222)] + [(640, 360)] * 2, 20)
    with session_scope() as s:
        (damaged,) = s.scalars(select(Frame).where(Frame.video_id == ids[1]))
    (get_settings().media_root / damaged.path).write_bytes(b"\xff\xd8\xff\xe0 not the rest of a JPEG")
    # the engine fails on the 333x222 picture (in whatever batch it is read)
    reader = Counting(engines("ppocrv4"), fail_on=lambda im: im.shape[:2] == (222, 333))
    drain(queue, lambda _name: reader)
    for n, vid in enumerate(ids):
        status, error = status_of(vid)
        if n == 1:
            assert status == "failed"
            assert error.startswith("OCR failed: MediaError: frame image missing or unreadable"), error
        elif n == 4:
            assert (status, error) == (
                "failed",
                "OCR failed: ValueError: the engine choked on this picture (simulated)",
            )
        else:
            assert (status, error) == ("done", None), vid
            assert regions_of(vid) == one_by_one(vid, engines("ppocrv4"))
    assert regions_of(ids[1]) == regions_of(ids[4]) == []
    # the first batch read its three good pictures; the one with the failing picture was read
    # together once, then each of its items alone
    assert reader.calls == [3, 3, 1, 1, 1] and pooled() == 0  # 3 good of 4, then 3 together, then alone


def test_items_deleted_or_cancelled_before_or_during_a_batch_are_passed_over(db, tmp_path, engines):  # noqa: F811
    ids, queue = extracted(tmp_path / "folder", [(640, 360)] * 5, 40)
    with session_scope() as s:
        media_admin.cancel_media(s, ids[0])
    with session_scope() as s:
        media_admin.delete_media(s, ids[1])

    def cancel_during_the_read() -> None:
        with session_scope() as s:
            media_admin.cancel_media(s, ids[2])

    reader = Counting(engines("ppocrv4"), hook=cancel_during_the_read)
    (mv,) = queue.pool_wakeups()
    batch = ocr_pool(mv, reader=reader, queue=queue)
    assert reader.calls == [3] and batch.frames == 2  # ids 2, 3, 4 read; 2 cancelled meanwhile: not stored
    assert status_of(ids[0]) == ("cancelled", None) and status_of(ids[2]) == ("cancelled", None)
    assert regions_of(ids[0]) == regions_of(ids[2]) == []
    with session_scope() as s:
        assert s.get(Video, ids[1]) is None
        assert s.scalar(select(func.count()).select_from(FrameOcr)) == 2
    assert pooled() == 0  # the passed-over frames left the pool with the batch
    queue.take(OCR_POOL)
    drain(queue, lambda _name: engines("ppocrv4"))
    assert [status_of(v)[0] for v in ids[3:]] == ["done", "done"]


class Died(Exception):
    """A worker killed mid-batch: its transaction never commits."""


def test_a_batch_whose_worker_died_is_read_again_alone_and_a_frame_that_kills_every_batch_fails_its_item(
    db,
    tmp_path,
    engines,  # noqa: F811
):
    ids, queue = extracted(tmp_path / "folder", [(640, 360)] * 5, 60)
    (mv,) = queue.pool_wakeups()
    with pytest.raises(Died), session_scope() as s:
        held = pool.claim(s, mv, BATCH)
        assert [c.owner.media_id for c in held.read] == ids[:4]
        raise Died
    with session_scope() as s:
        assert s.scalar(select(func.count()).select_from(OcrPending)) == 5  # nothing lost
        assert sorted(s.scalars(select(OcrAttempt.attempts))) == [1, 1, 1, 1]  # the claim was counted
    # the first frame "kills" every batch it is in: three more deaths, each time read alone
    for attempt in (2, 3, 4):
        with pytest.raises(Died), session_scope() as s:
            held = pool.claim(s, mv, BATCH)
            assert [(c.owner.media_id, c.attempts) for c in held.read] == [(ids[0], attempt)]
            raise Died
    reader = Counting(engines("ppocrv4"))
    drain(_wake(mv), lambda _n: reader)
    status, error = status_of(ids[0])
    assert status == "failed" and "claimed by 4 batches that never finished" in error, error
    assert [status_of(v) for v in ids[1:]] == [("done", None)] * 4
    assert reader.calls == [1, 1, 1, 1]  # the other three of the dead batch alone, then the fresh one
    assert pooled() == 0


def _wake(mv: int) -> RecordingQueue:
    queue = RecordingQueue()
    queue.send(OCR_POOL, mv)
    return queue


def test_the_sweep_wakes_a_pool_whose_wakeup_was_lost_and_leaves_its_items_alone(db, tmp_path, engines):  # noqa: F811
    paths = make_images(tmp_path / "folder", [(640, 360)] * 2, seed=80)
    ids = register(paths)
    for vid in ids:
        extract_video(vid, queue=RecordingQueue())  # the wake-ups are lost (Redis restarted)
    with session_scope() as s:
        s.execute(update(OcrPending).values(created_at=text("now() - interval '30 minutes'")))
        s.execute(update(Video).values(touched_at=text("now() - interval '30 minutes'")))
    with session_scope() as s:
        assert still_running(s, s.get(Video, ids[0]), RecordingQueue()) == (
            "its frames wait in the OCR pool to be read"
        )
    queue = RecordingQueue()
    actions = sweep_stuck(queue, stale_after_s=600, max_requeues=0)
    (mv,) = queue.pool_wakeups()
    assert [(a.kind, a.media_id, a.action) for a in actions] == [("ocr_pool", ids[0], "requeued")]
    assert "2 frame(s) waited in the OCR pool" in actions[0].message
    assert queue.sent == []  # the items themselves were not queued again, nor failed
    drain(_wake(mv), lambda _n: engines("ppocrv4"))
    assert [status_of(v) for v in ids] == [("done", None)] * 2
    with session_scope() as s:
        assert {s.get(Video, v).requeues for v in ids} == {0}
    # a pool a batch is reading is not stale: the sweep leaves it to that batch
    (late,) = register(make_images(tmp_path / "more", [(640, 360)], seed=90))
    extract_video(late, queue=RecordingQueue())
    with session_scope() as s:
        s.execute(update(OcrPending).values(created_at=text("now() - interval '30 minutes'")))
    with session_scope() as s:
        held = pool.claim(s, mv, BATCH)
        assert len(held.read) == 1
        assert sweep_stuck(RecordingQueue(), stale_after_s=600) == []


def test_a_frame_pooled_twice_is_one_row_and_a_frame_already_read_is_not_pooled(db, tmp_path, engines):  # noqa: F811
    (path,) = make_images(tmp_path / "folder", [(640, 360)], seed=95)
    (vid,) = register([path])
    queue = RecordingQueue()
    extract_video(vid, queue=queue)
    with session_scope() as s:
        s.get(Video, vid).status = "processing"
    extract_video(vid, queue=queue)  # delivered twice: the same frame row, pooled once
    assert pooled() == 1 and len(queue.pool_wakeups()) == 1  # the second one found it sent, not taken
    drain(_wake(queue_mv(vid)), lambda _n: engines("ppocrv4"))
    with session_scope() as s:
        frame_ids = list(s.scalars(select(Frame.id).where(Frame.video_id == vid)))
        assert pool.put_frames(s, frame_ids) == [] and s.scalar(select(func.count(OcrPending.id))) == 0


def queue_mv(media_id: int) -> int:
    with session_scope() as s:
        return s.get(Video, media_id).model_version_id


def test_reprocessing_reads_small_items_together_and_pauses_between_batches(
    db,
    tmp_path,
    engines,  # noqa: F811
    copy_model,  # noqa: F811
):
    ids, queue = extracted(tmp_path / "folder", [(640, 360)] * 6, 100)
    drain(queue, lambda _n: engines("ppocrv4"))
    with session_scope() as s:
        job = jobs.create_job(s, copy_model, media=ids)
        job_id, new_mv = job.id, job.model_version_id
    reader = Counting(engines(copy_model))
    statuses = [jobs.run_item(job_id, vid, reader_for=lambda _n: reader) for vid in ids]
    assert statuses == ["done"] * 6
    assert reader.calls == [BATCH, 2]  # the first item's task read it and three others; the fifth, two
    with session_scope() as s:
        job = jobs.get_job(s, job_id)
        p = jobs.progress(s, job)
        assert job.status == "done" and (p["done"], p["frames_done"], p["frames_total"]) == (6, 6, 6)
        for vid in ids:
            assert s.scalar(
                select(func.count(Region.id)).where(Region.video_id == vid, Region.model_version_id == new_mv)
            ) == len(regions_of(vid))
    assert pooled() == 0

    # paused: the rows of its items wait in the pool, and no wake-up claims them until the resume
    more = register(make_images(tmp_path / "more", [(640, 360)] * 3, seed=120))
    for vid in more:
        extract_video(vid, queue=queue)
    drain(queue, lambda _n: engines("ppocrv4"))
    with session_scope() as s:
        job_id = jobs.create_job(s, copy_model, media=more).id
    with session_scope() as s:
        jobs.pause_job(s, job_id)  # its items' frames were pooled with the job
    assert ocr_pool(new_mv, reader=reader, queue=None).frames == 0 and pooled() == 3
    from dva_ocr.work import submit

    resumed = RecordingQueue()
    with session_scope() as s:
        assert sorted(submit.resume_job(s, resumed, job_id)) == more
    assert resumed.pool_wakeups() == [new_mv]
    assert ocr_pool(new_mv, reader=reader, queue=None).frames == 3
    assert [jobs.run_item(job_id, vid, reader_for=lambda _n: reader) for vid in more] == ["done"] * 3
    with session_scope() as s:
        assert {i.status for i in s.scalars(select(JobItem).where(JobItem.job_id == job_id))} == {"done"}


class Nothing:
    """A reader that finds nothing (the test is about counting)."""

    def batch(self, images):
        return [[] for _ in images]


def test_two_batches_of_one_item_ending_at_once_count_every_frame(db, monkeypatch):
    """Two qocr batches of one item commit at the same time (a full batch and its pooled tail on two
    processes): the second waits for the first's lock on the item and counts its frames too. Counted
    in the statement that waited, it came out one batch short and the item never reached its roll-up."""
    with session_scope() as s:
        v = make_video_row(s, "race.mp4", status="processing")
        v.frames_total, vid = 2, v.id
        frames = [frame_row(s, v, k) for k in range(2)]
    for f in frames:
        dest = get_settings().media_root / f.path
        dest.parent.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(dest), np.full((72, 128, 3), 200, np.uint8))
    first_counted = threading.Event()
    claim = rows.claim_finalize

    def slow_first(session, media_id):
        if not first_counted.is_set():
            first_counted.set()
            time.sleep(1.0)  # the second batch reaches its count meanwhile, and waits for this one
        return claim(session, media_id)

    monkeypatch.setattr(rows, "claim_finalize", slow_first)
    queues = [RecordingQueue(), RecordingQueue()]

    def run(n: int) -> None:
        if n == 1:
            first_counted.wait(10)
        ocr_frames(vid, [frames[n].id], reader=Nothing(), queue=queues[n])

    threads = [threading.Thread(target=run, args=(n,)) for n in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    with session_scope() as s:
        v = s.get(Video, vid)
        assert (v.frames_ocr, v.status) == (2, "finalizing")
    assert [q.ids_sent(FINALIZE) for q in queues] == [[], [vid]]  # the second one queued the roll-up


def test_a_model_that_cannot_be_loaded_fails_the_items_waiting_for_it(db, tmp_path, monkeypatch):
    import workers.tasks as tasks
    from dva_ocr.errors import DvaOcrError

    ids, queue = extracted(tmp_path / "folder", [(640, 360)] * 3, 140)

    def missing(model=None):
        raise DvaOcrError("model file models/ab12.onnx not found under MEDIA_ROOT")

    monkeypatch.setattr(tasks, "get_reader", missing)
    assert tasks.ocr_pool(*queue.pool_wakeups()) == 0  # the Celery task body: nothing read
    for vid in ids:
        assert status_of(vid) == (
            "failed",
            "OCR failed: DvaOcrError: model file models/ab12.onnx not found under MEDIA_ROOT",
        )
    assert pooled() == 0


def test_a_claim_bounds_how_long_a_vanished_worker_can_hold_its_frames(db, tmp_path):
    (vid,) = register(make_images(tmp_path / "folder", [(640, 360)], seed=150))
    queue = RecordingQueue()
    extract_video(vid, queue=queue)
    with session_scope() as s:
        held = pool.claim(s, queue_mv(vid), BATCH)
        assert len(held.read) == 1
        timeout = s.execute(text("SHOW idle_in_transaction_session_timeout")).scalar_one()
    assert timeout == "10min"  # STUCK_AFTER_S (600 s): its connection is cut, the rows come back
