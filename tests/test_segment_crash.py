"""Killing a qextract worker in the middle of a segment loses nothing (real workers, SIGKILL):

- the pool process running the segment is killed: Celery's main process sees the worker lost and puts
  the task back (``task_acks_late`` + ``task_reject_on_worker_lost``); a new pool process runs the
  segment again;
- the whole worker is killed (main process and pool, as when a host or container dies): the task
  stays unacknowledged in Redis until the visibility timeout (hours), so the sweep of the qdefault
  worker finds the running segment that stopped writing and queues it again for another worker.

Either way the item ends done with exactly the frames of one pass, each frame to read read once.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest
from servers import worker
from sqlalchemy import func, select
from test_restarts import _wait_for
from test_segments import make_cut_video
from test_stuck_work import own_broker  # noqa: F401 - the fixture: broker keys of this test's own

from dva_ocr.db.session import session_scope
from dva_ocr.db.tables import Frame, FrameOcr, Video, VideoSegment
from dva_ocr.media.frames import Sampling, sample_frames
from dva_ocr.media.probe import probe
from dva_ocr.pipeline import IngestOptions, register_media, segments
from dva_ocr.work import EXTRACT

FPS = 5  # 201 frames of the 40.04 s video, about 40 per segment of 10 s


def _env(prefix: str, **extra: str) -> dict[str, str]:
    return (
        os.environ.copy()
        | {
            "BROKER_PREFIX": prefix,
            "EXTRACT_SEGMENT_S": "10",
            "OCR_BATCH_FRAMES": "2",
            "OCR_THREADS": "1",
            "SWEEP_INTERVAL_S": "0",
            "TASK_RETRY_BACKOFF_MAX_S": "1",
        }
        | extra
    )


def _segment_being_written(media_id: int, log: Path) -> int:
    """Wait (polling fast: a segment takes a second or two) until one of the item's segments is
    being written; returns it."""
    deadline = time.monotonic() + 120
    while (seq := _running_segment(media_id)) is None:
        assert time.monotonic() < deadline, log.read_text(errors="replace")[-3000:]
        time.sleep(0.01)
    return seq


def _main_pid(log: Path) -> int:
    """The worker's main process (its node name is ``qextract.PID@host``)."""
    text = log.read_text(errors="replace")
    return int(text.split("qextract.", 1)[1].split("@", 1)[0])


def _children(pid: int) -> list[int]:
    return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]


def _running_segment(media_id: int) -> int | None:
    """A segment of the item being written now: running, with some of its frames written."""
    with session_scope() as s:
        for seg in s.scalars(select(VideoSegment).where(VideoSegment.video_id == media_id)):
            if seg.status != "running":
                continue
            written = select(func.count()).select_from(Frame).where(Frame.video_id == media_id)
            written = written.where(Frame.time_s >= seg.start_s)
            if seg.end_s is not None:
                written = written.where(Frame.time_s < seg.end_s)
            if s.scalar(written):
                return seg.seq
    return None


def _status(media_id: int) -> str:
    with session_scope() as s:
        return s.get(Video, media_id).status


def _check_one_pass(media_id: int, path: Path) -> list[VideoSegment]:
    """The item is done with the one pass's frames, each frame to read read once; returns its segments."""
    want = [(f.index, f.time_s) for f in sample_frames(path, probe(path), Sampling(fps=FPS))]
    with session_scope() as s:
        v = s.get(Video, media_id)
        assert v.status == "done" and v.error is None, v.error
        frames = list(s.scalars(select(Frame).where(Frame.video_id == media_id).order_by(Frame.index)))
        assert [(f.index, f.time_s) for f in frames] == want  # none missing, none twice
        assert v.frames_total == v.frames_extracted == len(want)
        to_read = {f.id for f in frames if f.bands != []}
        read = set(s.scalars(select(FrameOcr.frame_id).where(FrameOcr.frame_id.in_([f.id for f in frames]))))
        assert read == to_read and v.frames_ocr == len(to_read)
        segs = list(s.scalars(select(VideoSegment).where(VideoSegment.video_id == media_id)))
        assert len(segs) == len(segments.plan(v.duration, 10)) == 5 and {g.status for g in segs} == {"done"}
        return segs


@pytest.fixture()
def clip(db, tmp_path) -> tuple[Path, int]:
    """The video and its media item, registered."""
    path = make_cut_video(tmp_path / "crash.mp4")
    with session_scope() as s:
        return path, register_media(s, path, IngestOptions(fps=FPS)).media_id


@pytest.mark.slow
def test_the_pool_process_killed_mid_segment_the_segment_runs_again(tmp_path, own_broker, clip):  # noqa: F811
    (prefix, queue), (path, vid) = own_broker, clip
    env = _env(prefix)
    with (
        worker(tmp_path / "qocr.log", "qocr", env | {"OCR_THREADS": "1"}) as ocr,
        worker(tmp_path / "qdefault.log", "qdefault", env) as default,
        worker(tmp_path / "qextract.log", "qextract", env) as extract,
    ):
        main = _main_pid(extract)
        queue.send(EXTRACT, vid)
        killed: list[int] = []
        while not killed:
            seq = _segment_being_written(vid, extract)
            (child,) = _children(main)
            os.kill(child, signal.SIGKILL)
            with session_scope() as s:  # killed mid-way, not just after it ended
                if s.get(VideoSegment, (vid, seq)).status == "running":
                    killed.append(seq)
        _wait_for(lambda: _status(vid) == "done", "the item to finish", [extract, ocr, default], 180)
    segs = {g.seq: g for g in _check_one_pass(vid, path)}
    assert segs[killed[0]].attempts == 2  # run again once, by the redelivered task
    assert "WorkerLostError" in extract.read_text() or "signal 9" in extract.read_text()


@pytest.mark.slow
def test_the_whole_worker_killed_mid_segment_the_sweep_runs_it_again(tmp_path, own_broker, clip):  # noqa: F811
    (prefix, queue), (path, vid) = own_broker, clip
    env = _env(prefix)
    sweep = {"SWEEP_INTERVAL_S": "1", "STUCK_AFTER_S": "4"}
    with (
        worker(tmp_path / "qocr.log", "qocr", env) as ocr,
        worker(tmp_path / "qdefault.log", "qdefault", env | sweep) as default,
    ):
        with worker(tmp_path / "qextract-1.log", "qextract", env) as first:
            main = _main_pid(first)
            queue.send(EXTRACT, vid)
            _segment_being_written(vid, first)
            for pid in [*_children(main), main]:  # the host is gone: nothing is acknowledged or put back
                os.kill(pid, signal.SIGKILL)
            seq = _running_segment(vid)
        assert seq is not None
        with session_scope() as s:
            assert s.get(VideoSegment, (vid, seq)).attempts == 1
        with worker(tmp_path / "qextract-2.log", "qextract", env) as second:
            _wait_for(lambda: _status(vid) == "done", "the item to finish", [second, ocr, default], 180)
    segs = {g.seq: g for g in _check_one_pass(vid, path)}
    assert segs[seq].attempts == 2
    assert f"segment {seq} was running and wrote nothing for too long" in default.read_text()
