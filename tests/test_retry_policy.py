"""What is retried and for how long: database errors classified from real PostgreSQL errors, the backoff
(minutes in all, never a wait near 0 s), frame rows written in batches under the parameter limit, and a
real worker that fails an item at once on an error that will repeat."""

from __future__ import annotations

import os
import time

import pytest
from factories import count_rows, make_video_row
from mediagen import Caption, make_video
from run_queued import frames_to_read
from servers import worker
from sqlalchemy import create_engine, text

from dva_ocr.db.session import session_scope
from dva_ocr.db.tables import Frame, Video
from dva_ocr.db.transient import backoff_s, is_transient, total_backoff_s
from dva_ocr.pipeline import register_media, rows
from dva_ocr.pipeline.extract import FrameSink
from dva_ocr.settings import Settings
from dva_ocr.work import EXTRACT, RecordingQueue


def test_the_default_retries_wait_minutes_in_all_and_each_wait_at_least_half_its_step():
    s = Settings()
    shortest, longest = total_backoff_s(s.task_max_retries, cap=s.task_retry_backoff_max_s)
    assert shortest >= 4 * 60 and longest <= 10 * 60, (shortest, longest)  # a 1-2 min restart is outlasted
    steps = [backoff_s(k, cap=120, jitter=False) for k in range(10)]
    assert steps == [1, 2, 4, 8, 16, 32, 64, 120, 120, 120]
    # jittered: within the upper half of each step, whatever the random draw (0 s came out before)
    assert [backoff_s(k, cap=120, rand=lambda: 0.0) for k in range(4)] == [0.5, 1, 2, 4]
    assert [backoff_s(k, cap=120, rand=lambda: 0.999999) for k in (0, 9)] == pytest.approx([1, 120])


def _error(sql: str, url: str | None = None, **params) -> BaseException:
    engine = create_engine(url or os.environ["DATABASE_URL"])
    try:
        with engine.connect() as conn:
            conn.execute(text(sql), params)
    except Exception as exc:  # noqa: BLE001 - the error is what the test looks at
        return exc
    finally:
        engine.dispose()
    raise AssertionError(f"{sql!r} did not fail")


def test_database_errors_are_told_apart_transient_or_for_good(db):
    # what a restart or contention causes: retried
    assert is_transient(_error("SELECT 1", "postgresql+psycopg://postgres@127.0.0.1:1/x"))  # refused
    assert is_transient(_error("SELECT pg_terminate_backend(pg_backend_pid())"))  # 57P01
    assert is_transient(_error("SET statement_timeout = 10; SELECT pg_sleep(1)"))  # 57014
    # what will repeat: failed at once
    limit = {f"p{i}": i for i in range(70_000)}
    too_many = _error("SELECT " + ",".join(f":p{i}" for i in range(70_000)), **limit)
    assert "65535" in str(too_many) and not is_transient(too_many)
    assert not is_transient(_error("SELECT 'x'::int"))  # 22P02 invalid input
    assert not is_transient(_error("SELECT * FROM no_such_table"))  # 42P01
    assert not is_transient(_error("INSERT INTO model_versions (id, name) VALUES (1, NULL)"))  # 23502
    assert not is_transient(ValueError("not a database error"))
    # an error raised from one is what its cause is (a custom model looked up while PostgreSQL is down)
    from dva_ocr.errors import DvaOcrError

    refused = _error("SELECT 1", "postgresql+psycopg://postgres@127.0.0.1:1/x")
    for cause, transient in ((refused, True), (_error("SELECT 'x'::int"), False)):
        try:
            raise DvaOcrError("model 'mine' is looked up in the database, which is unreachable") from cause
        except DvaOcrError as wrapped:
            assert is_transient(wrapped) is transient


def test_a_lock_held_by_another_session_is_transient(db):
    holder = create_engine(os.environ["DATABASE_URL"]).connect()
    try:
        holder.execute(text("LOCK TABLE frames IN ACCESS EXCLUSIVE MODE"))
        exc = _error("SET lock_timeout = 100; SELECT count(*) FROM frames")
        assert "lock timeout" in str(exc) and is_transient(exc)  # 55P03
    finally:
        holder.rollback()
        holder.close()


def test_forty_thousand_frame_rows_are_written_in_statements_under_the_parameter_limit(db):
    """A 10-hour video at 1 fps is 36,000 frames: one INSERT of them all was over PostgreSQL's 65,535
    bind parameters (and, taken for a transient error, retried for 45 minutes)."""
    with session_scope() as s:
        video = make_video_row(s, "ten-hours.mp4", status="processing")
        vid = video.id
    frames = [
        {
            "video_id": vid,
            "index": k,
            "time_s": float(k),
            "path": f"{vid}/frames/{k:06d}.jpg",
            "width": 64,
            "height": 64,
            "ref_index": None if k % 100 == 0 else k - k % 100,
            "bands": None if k % 100 == 0 else [],
        }
        for k in range(40_000)
    ]
    with session_scope() as s:
        written = rows.upsert_frames(s, vid, frames)
    assert len(written) == 40_000 and count_rows(Frame, video_id=vid) == 40_000
    with session_scope() as s:
        v = s.get(Video, vid)
        assert (v.frames_extracted, v.frames_total, v.frames_skipped) == (40_000, 40_000, 39_600)
    with session_scope() as s:  # written again (a redelivered extraction): upserted, not doubled
        assert len(rows.upsert_frames(s, vid, frames)) == 40_000
    assert count_rows(Frame, video_id=vid) == 40_000


def test_the_frame_sink_writes_a_long_static_video_as_it_goes(db, monkeypatch, tmp_path):
    """Unchanged frames are never read, so they would pile up until the end of a static video: the
    sink writes them every FRAME_ROWS_PER_STATEMENT rows."""
    import numpy as np

    from dva_ocr.media.frames import SampledFrame

    monkeypatch.setattr(rows, "FRAME_ROWS_PER_STATEMENT", 50)
    with session_scope() as s:
        vid = make_video_row(s, "static.mp4", status="processing").id
    queue = RecordingQueue()
    sink = FrameSink(vid, queue, batch_frames=8)
    image = np.full((32, 32, 3), 90, np.uint8)
    counts = []
    for k in range(120):
        sink.add(SampledFrame(k, float(k), image))
        counts.append(count_rows(Frame, video_id=vid))
    assert counts[48] == 0 and counts[49] == 50 and counts[99] == 100  # written at 50, 100 pending rows
    sink.flush()
    assert count_rows(Frame, video_id=vid) == 120
    assert len(frames_to_read(queue, vid)) == 1  # only the first frame is read


def test_an_error_that_will_repeat_fails_the_item_at_once_in_a_real_worker(db, tmp_path):
    """A database error that is not an outage (here PostgreSQL refusing every frame row with a program
    limit error, SQLSTATE 54000, an OperationalError like the parameter limit was) is not retried: the
    item fails at the first try with the message, and the worker goes on."""
    video = make_video(tmp_path / "limit.mp4", [Caption("Gate 9", 0, 2)], duration=2, size="320x240")
    with session_scope() as s:
        vid = register_media(s, video).media_id
        s.execute(
            text(
                "CREATE FUNCTION refuse_frames() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN"
                " RAISE EXCEPTION 'statement too large for the test' USING ERRCODE = '54000'; END $$;"
                " CREATE TRIGGER refuse_frames BEFORE INSERT ON frames"
                " FOR EACH ROW EXECUTE FUNCTION refuse_frames()"
            )
        )
    from workers.app import make_app
    from workers.queue import CeleryQueue

    prefix = f"{os.environ['BROKER_PREFIX']}-repeat"
    log = tmp_path / "worker.log"
    env = os.environ | {"BROKER_PREFIX": prefix, "TASK_MAX_RETRIES": "5", "TASK_RETRY_BACKOFF_MAX_S": "1"}
    try:
        with worker(log, "qextract", env):
            CeleryQueue(make_app(prefix)).send(EXTRACT, vid)
            deadline = time.monotonic() + 60
            while True:
                with session_scope() as s:
                    v = s.get(Video, vid)
                    status, error = v.status, v.error
                if status == "failed":
                    break
                assert time.monotonic() < deadline, log.read_text()
                time.sleep(0.2)
    finally:
        with session_scope() as s:
            s.execute(text("DROP TRIGGER refuse_frames ON frames; DROP FUNCTION refuse_frames()"))
        _flush(prefix)
    assert error == "frame extraction failed: OperationalError: statement too large for the test", error
    assert "Retry in" not in log.read_text()


def _flush(prefix: str) -> None:
    import redis

    r = redis.Redis.from_url(os.environ["BROKER_URL"])
    keys = list(r.scan_iter(match=f"{prefix}:*"))
    if keys:
        r.delete(*keys)


def _raising(sql: str):
    """A ``reader_for`` whose model load hits a real PostgreSQL error (the error is PostgreSQL's own)."""

    def reader_for(_model: str):
        raise _error(sql)

    return reader_for


def test_a_reprocessing_item_raises_an_outage_for_its_task_to_retry_and_fails_on_the_rest(db):
    from dva_ocr import jobs
    from dva_ocr.db.tables import JobItem

    with session_scope() as s:
        vid = make_video_row(s, "again.mp4").id
        job_id = jobs.create_job(s, "ppocrv4", media=[vid]).id
    terminated = _raising("SELECT pg_terminate_backend(pg_backend_pid())")
    with pytest.raises(Exception, match="terminating connection") as err:
        jobs.run_item(job_id, vid, reader_for=terminated)
    assert is_transient(err.value)
    with session_scope() as s:
        assert s.get(JobItem, (job_id, vid)).status == "running"  # left to the retry
    assert jobs.run_item(job_id, vid, reader_for=_raising("SELECT 'x'::int")) == "failed"
    with session_scope() as s:
        assert "invalid input syntax" in s.get(JobItem, (job_id, vid)).error
