"""Work that can never finish is found: retries that run out fail the item with the last error, and the
sweep queues again (or fails) unfinished items that no task is queued or running for."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from factories import frame_row, make_video_row
from mediagen import Caption, make_video
from servers import worker
from sqlalchemy import create_engine, text, update

from dva_ocr.db.session import session_scope
from dva_ocr.db.tables import FrameOcr, Job, JobItem, Video
from dva_ocr.pipeline import register_media
from dva_ocr.pipeline.sweep import sweep_stuck
from dva_ocr.work import EXTRACT, FINALIZE, OCR_FRAMES, RecordingQueue

ROOT = Path(__file__).resolve().parents[1]


def _age(*media_ids: int, minutes: float = 30) -> None:
    """Pretend no stage has touched these items for a while."""
    with session_scope() as s:
        s.execute(
            update(Video)
            .where(Video.id.in_(media_ids))
            .values(touched_at=text(f"now() - interval '{minutes} minutes'"))
        )


def test_sweep_queues_each_stuck_item_at_the_stage_it_stopped_then_fails_it(db):
    with session_scope() as s:
        queued = make_video_row(s, "queued.mp4", status="queued")
        queued.extracted = False
        decoding = make_video_row(s, "decoding.mp4", status="processing")
        decoding.extracted = False
        reading = make_video_row(s, "reading.mp4", status="processing")
        read_frame, unread_frame = frame_row(s, reading, 0), frame_row(s, reading, 1, bands=[[10, 40]])
        frame_row(s, reading, 2, bands=[])  # unchanged: never read
        s.add(
            FrameOcr(
                frame_id=read_frame.id,
                model_version_id=reading.model_version_id,
                regions_count=0,
                elapsed_ms=1.0,
            )
        )
        all_read = make_video_row(s, "all-read.mp4", status="processing")
        rolling = make_video_row(s, "rolling.mp4", status="finalizing")
        waiting = make_video_row(s, "waiting.mp4", status="processing")  # its task waits in the queue
        fresh = make_video_row(s, "fresh.mp4", status="processing")  # touched just now
        done = make_video_row(s, "done.mp4", status="done")
        ids = (queued.id, decoding.id, reading.id, all_read.id, rolling.id, waiting.id, done.id)
        unread_id = unread_frame.id
        names = {v.id: v.source_name for v in (queued, decoding, reading, all_read, rolling, waiting, fresh)}
    _age(*ids)
    queue = RecordingQueue()
    queue.send(OCR_FRAMES, waiting.id, [123])

    actions = sweep_stuck(queue, stale_after_s=600, max_requeues=1)
    acted = {a.media_id: a for a in actions}
    assert set(acted) == {queued.id, decoding.id, reading.id, all_read.id, rolling.id}, [
        names[i] for i in acted
    ]
    assert all(a.action == "requeued" for a in actions)
    assert [s.args for s in queue.sent[1:]] == [
        (queued.id,),
        (decoding.id,),
        (reading.id, [unread_id]),  # only the frame the model has not read
        (all_read.id,),
        (rolling.id,),
    ]
    assert [s.task for s in queue.sent[1:]] == [EXTRACT, EXTRACT, OCR_FRAMES, FINALIZE, FINALIZE]
    with session_scope() as s:
        assert s.get(Video, all_read.id).status == "finalizing"  # so the roll-up accepts it
        assert {s.get(Video, i).requeues for i in acted} == {1}

    # just queued again: touched, so not stuck
    only_waiting = RecordingQueue()
    only_waiting.send(OCR_FRAMES, waiting.id, [123])
    assert sweep_stuck(only_waiting, stale_after_s=600, max_requeues=1) == []
    # still no progress a while later: failed, with a message saying why and what to do
    _age(*acted)
    failed = sweep_stuck(only_waiting, stale_after_s=600, max_requeues=1)
    assert {a.media_id for a in failed} == set(acted) and {a.action for a in failed} == {"failed"}
    assert len(only_waiting.sent) == 1  # nothing queued
    with session_scope() as s:
        v = s.get(Video, reading.id)
        assert v.status == "failed" and v.finished_at is not None
        assert v.error.startswith("stuck while processing for 30 min with no task queued or running")
        assert "queued again 1 time(s)" in v.error and "retry it" in v.error
        assert s.get(Video, waiting.id).status == "processing"
        assert s.get(Video, fresh.id).status == "processing"


def test_sweep_fails_a_job_item_whose_task_is_gone(db):
    with session_scope() as s:
        video = make_video_row(s, "a.mp4")
        other = make_video_row(s, "b.mp4")
        job = Job(model_version_id=video.model_version_id, selection={"all": True}, status="running")
        s.add(job)
        s.flush()
        s.add(JobItem(job_id=job.id, video_id=video.id, status="running", frames_total=3))
        s.add(JobItem(job_id=job.id, video_id=other.id, status="queued", frames_total=3))
        s.execute(text("UPDATE jobs SET created_at = now() - interval '1 hour'"))
        job_id, a, b = job.id, video.id, other.id
    queue = RecordingQueue()
    from dva_ocr.work import REPROCESS_ITEM

    queue.send(REPROCESS_ITEM, job_id, b)  # b's task is still waiting
    actions = sweep_stuck(queue, stale_after_s=600)
    assert [(x.kind, x.job_id, x.media_id, x.action) for x in actions] == [("job_item", job_id, a, "failed")]
    with session_scope() as s:
        item = s.get(JobItem, (job_id, a))
        assert item.status == "failed" and "retry the job" in item.error
        assert s.get(JobItem, (job_id, b)).status == "queued"
        assert s.get(Job, job_id).status == "running"  # b is not finished


# --- with a real Celery worker ------------------------------------------------------------------------


@pytest.fixture()
def own_broker(service_env, request):
    """A queue on broker keys of this test's own (the session's stack must not take its tasks)."""
    import redis

    from workers.app import make_app
    from workers.queue import CeleryQueue

    prefix = f"{service_env['BROKER_PREFIX']}-{request.node.name[-24:]}"
    yield prefix, CeleryQueue(make_app(prefix))
    r = redis.Redis.from_url(service_env["BROKER_URL"])
    keys = list(r.scan_iter(match=f"{prefix}:*"))
    if keys:
        r.delete(*keys)


@contextmanager
def _worker(tmp_path: Path, prefix: str, queue: str = "qextract", **env: str) -> Iterator[Path]:
    """One worker (`manage.py worker --queue QUEUE`) on the broker keys ``prefix`` with these settings;
    yields its log file."""
    log = tmp_path / "worker.log"
    full = os.environ.copy() | {
        "BROKER_PREFIX": prefix,
        "TASK_RETRY_BACKOFF_MAX_S": "1",
        "SWEEP_INTERVAL_S": "0",
    }
    full |= env
    with worker(log, queue, full, timeout=60) as started:
        yield started


def _wait_for(predicate, what: str, log: Path, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, (
            f"timed out waiting for {what}:\n{log.read_text(errors='replace')[-3000:]}"
        )
        time.sleep(0.2)


def _status(media_id: int) -> tuple[str, str | None]:
    with session_scope() as s:
        v = s.get(Video, media_id)
        return v.status, v.error


def _media(tmp_path: Path, name: str) -> int:
    video = make_video(tmp_path / name, [Caption(f"Platform {name}", 0, 3)], duration=3)
    with session_scope() as s:
        return register_media(s, video).media_id


@pytest.mark.slow
def test_retries_run_out_while_the_database_is_locked_the_item_fails_with_the_last_error(
    db, tmp_path, own_broker
):
    """The worker reaches the database, but every write of frames times out on a lock held longer
    than the whole retry backoff: when the retries run out the media item is failed with that error."""
    prefix, queue = own_broker

    vid = _media(tmp_path, "locked.mp4")
    url = os.environ["DATABASE_URL"]
    holder = create_engine(url).connect()
    try:
        holder.execute(text("LOCK TABLE frames IN ACCESS EXCLUSIVE MODE"))  # until the rollback below
        sep = "&" if "?" in url else "?"
        env = {"DATABASE_URL": f"{url}{sep}options=-c%20lock_timeout%3D300", "TASK_MAX_RETRIES": "2"}
        with _worker(tmp_path, prefix, **env) as log:
            queue.send(EXTRACT, vid)
            _wait_for(lambda: _status(vid)[0] == "failed", "the item to fail", log)
    finally:
        holder.rollback()
        holder.close()
    status, error = _status(vid)
    assert error.startswith("frame extraction failed after 2 retries: OperationalError:"), error
    assert "lock timeout" in error
    assert "Retry in" in log.read_text()  # it was retried, not failed at the first error


@pytest.mark.slow
def test_database_unreachable_for_all_retries_the_sweep_fails_the_item(db, tmp_path, own_broker):
    """The worker cannot reach the database at all, not even to record that it gave up: the item
    stays queued with no task, which the sweep (with the database back) finds and fails."""
    prefix, queue = own_broker

    vid = _media(tmp_path, "unreachable.mp4")
    queue.send(EXTRACT, vid)
    # waiting in the queue: live, so the sweep leaves it alone however old it is
    assert any(s.task == EXTRACT and s.args == (vid,) for s in queue.pending())
    _age(vid)
    assert sweep_stuck(queue, stale_after_s=1, max_requeues=0) == []
    dead = "postgresql+psycopg://postgres@127.0.0.1:1/nowhere"  # nothing listens on port 1
    env = {
        "DATABASE_URL": dead,
        "TASK_MAX_RETRIES": "2",
        "TASK_RETRY_BACKOFF_MAX_S": "2",
        "TASK_RETRY_JITTER": "0",
    }
    with _worker(tmp_path, prefix, **env) as log:
        seen_unacked = False

        def gone() -> bool:
            nonlocal seen_unacked
            mine = [s for s in queue.pending() if s.task == EXTRACT and s.args == (vid,)]
            seen_unacked |= bool(mine) and " received" in log.read_text(errors="replace")
            return not mine and "raised unexpected: OperationalError" in log.read_text(errors="replace")

        _wait_for(gone, "the task to give up", log)
    assert seen_unacked, "a task held by the worker (retrying) must count as live"
    assert _status(vid) == ("queued", None)  # the worker could not record anything
    actions = sweep_stuck(queue, stale_after_s=1, max_requeues=0)
    assert [(a.media_id, a.action) for a in actions] == [(vid, "failed")]
    status, error = _status(vid)
    assert status == "failed" and "with no task queued or running" in error and "retry it" in error


@pytest.mark.slow
def test_the_roll_up_worker_sweeps_on_its_own(db, tmp_path, own_broker):
    """The qdefault worker queues the sweep every SWEEP_INTERVAL_S (as `make up` runs it): an item
    registered but never queued is queued again without anyone asking."""
    prefix, queue = own_broker
    with session_scope() as s:
        vid = make_video_row(s, "lost.mp4", status="queued").id
    _age(vid)
    env = {"SWEEP_INTERVAL_S": "1", "STUCK_AFTER_S": "60"}
    with _worker(tmp_path, prefix, "qdefault", **env) as log:
        _wait_for(
            lambda: any(s.task == EXTRACT and s.args == (vid,) for s in queue.pending()),
            "the periodic sweep to queue the item again",
            log,
        )
    with session_scope() as s:
        v = s.get(Video, vid)
        assert (v.status, v.requeues) == ("queued", 1)
    assert "dva_ocr.sweep_stuck" in log.read_text()


def test_sweep_command(db):
    import json

    from runcli import run_cli

    with session_scope() as s:
        vid = make_video_row(s, "lost.mp4", status="queued").id
    _age(vid, minutes=5)
    quiet = run_cli("sweep", "--stuck-after", "600")
    assert quiet.returncode == 0 and "nothing is stuck" in quiet.stderr
    proc = run_cli("sweep", "--stuck-after", "60", "--max-requeues", "0", "--json")
    assert proc.returncode == 0, proc.stderr
    (action,) = [json.loads(line) for line in proc.stdout.splitlines()]
    assert (action["media_id"], action["was"], action["action"]) == (vid, "queued", "failed")
    assert _status(vid)[0] == "failed"
