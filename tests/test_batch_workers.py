"""Batches across media in real workers (`manage.py worker`, Redis, PostgreSQL, SIGKILL):

- a folder of images is read in far fewer qocr tasks than it has items, in batches of
  OCR_BATCH_FRAMES, each item with the regions it gets read alone;
- one corrupt picture in a batch fails its item alone;
- a qocr worker killed mid-batch loses nothing: its pool process (Celery puts the task back), or the
  whole worker (the sweep wakes the pool for a second worker);
- a long video's reprocessing is read in chunks by two worker processes at once;
- a Redis restart without persistence loses only the pool's wake-up: its frames are in PostgreSQL, and
  the sweep wakes the pool again.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import time
from pathlib import Path

import pytest
from mediagen import Caption, make_video
from servers import worker
from sqlalchemy import func, select, text
from test_batches import make_images, one_by_one, regions_of, status_of
from test_restarts import _wait_for, own_servers  # noqa: F401 - the fixture: Redis of its own
from test_segment_crash import _children
from test_stuck_work import own_broker  # noqa: F401 - the fixture: broker keys of this test's own

from dva_ocr import jobs
from dva_ocr import model_registry as reg
from dva_ocr.db.session import session_scope
from dva_ocr.db.tables import Frame, FrameOcr, JobItem, OcrAttempt, OcrPending, Region, Video
from dva_ocr.engines import load_engine
from dva_ocr.pipeline import IngestOptions, register_media
from dva_ocr.work import EXTRACT, submit
from dva_ocr.work.inline import InlineQueue

pytestmark = pytest.mark.slow
BATCH = 4  # OCR_BATCH_FRAMES of the test environment


def _env(prefix: str, **extra: str) -> dict[str, str]:
    return (
        os.environ.copy()
        | {"BROKER_PREFIX": prefix, "OCR_THREADS": "1", "SWEEP_INTERVAL_S": "0"}
        | {"TASK_RETRY_BACKOFF_MAX_S": "1"}
        | extra
    )


@pytest.fixture(scope="module")
def engine():
    return load_engine(None)


def _submit(queue, paths: list[Path]) -> list[int]:
    return [submit.submit_file(queue, p).media_id for p in paths]


def _final(ids: list[int]) -> bool:
    return all(status_of(v)[0] in ("done", "failed") for v in ids)


def _extracted(ids: list[int]) -> bool:
    with session_scope() as s:
        return all(s.get(Video, v).extracted for v in ids)


def _tasks(log: Path, name: str) -> int:
    return len(re.findall(rf"Task {re.escape(name)}\[[0-9a-f-]+\] received", log.read_text(errors="replace")))


def _batches(log: Path) -> list[tuple[int, int]]:
    """(frames read, worker pid) of each pooled batch the worker logged."""
    found = re.findall(r"pooled batch: (\d+) frame\(s\) .*pid=(\d+)", log.read_text(errors="replace"))
    return [(int(n), int(pid)) for n, pid in found]


def _held() -> int:
    """Pooled frames a batch is reading now (locked rows)."""
    with session_scope() as s:
        every = s.scalar(select(func.count()).select_from(OcrPending)) or 0
        free = s.execute(text("SELECT count(*) FROM (SELECT id FROM ocr_pending FOR UPDATE SKIP LOCKED) f"))
        return every - int(free.scalar_one())


def _counted() -> int:
    with session_scope() as s:
        return s.scalar(select(func.count()).select_from(OcrAttempt)) or 0


def _wait_mid_batch(log: Path) -> None:
    """Until a batch is being read: its rows locked and its claim counted (the engine runs next)."""
    deadline = time.monotonic() + 120
    while _held() == 0 or _counted() == 0:
        assert time.monotonic() < deadline, log.read_text(errors="replace")[-3000:]
        time.sleep(0.01)


def _read_once(ids: list[int]) -> None:
    """Every frame of the items read exactly once by their version (no frame lost, none twice)."""
    with session_scope() as s:
        frames = list(s.scalars(select(Frame.id).where(Frame.video_id.in_(ids))))
        read = list(s.scalars(select(FrameOcr.frame_id).where(FrameOcr.frame_id.in_(frames))))
        assert sorted(read) == sorted(frames)
        assert s.scalar(select(func.count()).select_from(OcrPending)) == 0


def test_a_folder_of_images_is_read_in_fewer_qocr_tasks_than_items_with_the_regions_read_alone(
    db,
    tmp_path,
    own_broker,  # noqa: F811
    engine,
):
    prefix, queue = own_broker
    sizes = [(640, 360)] * 30 + [(480, 320), (800, 450), (560, 420), (1024, 576), (400, 300)] * 2
    ids = _submit(queue, make_images(tmp_path / "folder", sizes, seed=200))
    env = _env(prefix)
    with (
        worker(tmp_path / "qextract.log", "qextract", env) as extract,
        worker(tmp_path / "qocr.log", "qocr", env, concurrency=2) as ocr,
        worker(tmp_path / "qdefault.log", "qdefault", env) as default,
    ):
        _wait_for(lambda: _final(ids), "the folder to be read", [extract, ocr, default], 300)
    assert [status_of(v) for v in ids] == [("done", None)] * len(ids)
    pooled, direct = _tasks(ocr, "dva_ocr.ocr_pool"), _tasks(ocr, "dva_ocr.ocr_frames")
    batches = _batches(ocr)
    assert direct == 0 and pooled < len(ids) / 2, (pooled, batches)
    assert sum(n for n, _ in batches) == len(ids) and max(n for n, _ in batches) == BATCH
    assert len({pid for _, pid in batches}) == 2  # both processes read batches
    _read_once(ids)
    for vid in ids:
        assert regions_of(vid) == one_by_one(vid, engine), vid
    assert sum(bool(regions_of(v)) for v in ids) == len(ids)  # every picture has text found


def test_one_corrupt_picture_in_a_batch_fails_its_item_alone(db, tmp_path, own_broker):  # noqa: F811
    prefix, queue = own_broker
    ids = _submit(queue, make_images(tmp_path / "folder", [(640, 360)] * 6, seed=260))
    env = _env(prefix)
    with (
        worker(tmp_path / "qextract.log", "qextract", env) as extract,
        worker(tmp_path / "qdefault.log", "qdefault", env) as default,
    ):
        _wait_for(lambda: _extracted(ids), "extraction", [extract], 120)
        with session_scope() as s:  # its frame damaged on the shared disk before any OCR worker runs
            (frame,) = s.scalars(select(Frame).where(Frame.video_id == ids[2]))
        path = Path(os.environ["MEDIA_ROOT"]) / frame.path
        path.write_bytes(path.read_bytes()[:300])
        with worker(tmp_path / "qocr.log", "qocr", env) as ocr:
            _wait_for(lambda: _final(ids), "the items to end", [ocr, default], 180)
    status, error = status_of(ids[2])
    assert status == "failed" and error.startswith("OCR failed: MediaError: frame image missing"), error
    assert [status_of(v) for n, v in enumerate(ids) if n != 2] == [("done", None)] * 5
    assert _tasks(ocr, "dva_ocr.ocr_pool") <= 3  # six items, four to a batch
    assert all(regions_of(v) for n, v in enumerate(ids) if n != 2) and regions_of(ids[2]) == []


def _kill_mid_batch(tmp_path: Path, own: tuple, n_images: int, whole: bool) -> tuple[list[int], Path, Path]:
    """Images extracted, then a qocr worker killed while a batch is being read: its pool process
    (``whole`` False: Celery puts the task back) or all of it (a second worker takes over, after the
    sweep wakes the pool). Returns the items and the logs of the qocr worker(s) and qdefault."""
    prefix, queue = own
    ids = _submit(queue, make_images(tmp_path / "folder", [(1280, 720)] * n_images, seed=300))
    env = _env(prefix)
    sweep = {"SWEEP_INTERVAL_S": "1", "STUCK_AFTER_S": "4"} if whole else {}
    with (
        worker(tmp_path / "qextract.log", "qextract", env) as extract,
        worker(tmp_path / "qdefault.log", "qdefault", env | sweep) as default,
    ):
        _wait_for(lambda: _extracted(ids), "extraction", [extract], 120)
        with worker(tmp_path / "qocr-1.log", "qocr", env) as first:
            main = int(first.read_text(errors="replace").split("qocr.", 1)[1].split("@", 1)[0])
            _wait_mid_batch(first)
            (child,) = _children(main)
            os.kill(child, signal.SIGKILL)
            if whole:
                os.kill(main, signal.SIGKILL)  # the host is gone: nothing is acknowledged or put back
                with worker(tmp_path / "qocr-2.log", "qocr", env) as second:
                    _wait_for(lambda: _final(ids), "the items to end", [second, default], 180)
                return ids, second, default
            _wait_for(lambda: _final(ids), "the items to end", [first, default], 180)
    return ids, first, default


def test_a_qocr_pool_process_killed_mid_batch_loses_nothing(db, tmp_path, own_broker, engine):  # noqa: F811
    ids, log, _ = _kill_mid_batch(tmp_path, own_broker, 10, whole=False)
    assert [status_of(v) for v in ids] == [("done", None)] * len(ids)
    assert "WorkerLostError" in log.read_text() or "signal 9" in log.read_text()
    _read_once(ids)
    for vid in ids:
        assert regions_of(vid) == one_by_one(vid, engine)  # stored once, as read alone


def test_a_whole_qocr_worker_killed_mid_batch_the_sweep_wakes_the_pool_for_another(
    db,
    tmp_path,
    own_broker,  # noqa: F811
    engine,
):
    ids, second, default = _kill_mid_batch(tmp_path, own_broker, BATCH, whole=True)
    assert [status_of(v) for v in ids] == [("done", None)] * len(ids)
    assert "waited in the OCR pool" in default.read_text()  # the sweep woke it (the message is unacked)
    # the dead batch's frames were read again one by one (a frame that kills its batch fails alone)
    assert [n for n, _ in _batches(second)] == [1] * BATCH
    _read_once(ids)
    for vid in ids:
        assert regions_of(vid) == one_by_one(vid, engine)
    with session_scope() as s:
        assert {s.get(Video, v).requeues for v in ids} == {0}  # no item was stuck


def test_a_long_videos_reprocessing_is_read_in_chunks_by_two_processes(
    db,
    tmp_path,
    own_broker,  # noqa: F811
    engine,
):
    from dva_ocr.ocr.spec import REC_FILE, model_dir

    prefix, queue = own_broker
    words = ["Harbour", "Platform", "Invoice", "Tickets", "Departures", "Museum", "Library", "Station"]
    captions = [
        Caption(f"{words[k % 8]} {100 + k}", k, k + 1, y=60 + 20 * (k % 5), size=36) for k in range(24)
    ]
    path = make_video(tmp_path / "long.mp4", captions, duration=24, size="640x360")
    with session_scope() as s:
        vid = register_media(s, path, IngestOptions(fps=1)).media_id
    InlineQueue(lambda _model: engine).send(EXTRACT, vid)  # ingested in this process
    rec = tmp_path / "my-rec.onnx"
    shutil.copyfile(model_dir() / REC_FILE, rec)
    with session_scope() as s:
        reg.add_model(s, "rec-copy", rec=rec)
    with session_scope() as s:
        v = s.get(Video, vid)
        assert v.status == "done" and v.frames_ocr >= 20, (v.status, v.error, v.frames_ocr)
        job_id = submit.submit_job(s, queue, "rec-copy", media=[vid]).id
    env = _env(prefix)
    with worker(tmp_path / "qocr.log", "qocr", env, concurrency=2) as ocr:

        def ended() -> bool:
            with session_scope() as s:
                return jobs.get_job(s, job_id).status in ("done", "failed")

        _wait_for(ended, "the job to end", [ocr], 240)
    with session_scope() as s:
        job = jobs.get_job(s, job_id)
        item = s.get(JobItem, (job_id, vid))
        assert (job.status, item.status) == ("done", "done") and item.frames_done == item.frames_total
        old, new = v.model_version_id, job.model_version_id
        of = select(func.count(Region.id)).where(Region.video_id == vid)
        counts = [s.scalar(of.where(Region.model_version_id == m)) for m in (old, new)]
        assert counts[0] == counts[1] > 0  # the same weights: the same regions, under the new version
    batches = _batches(ocr)
    assert sum(n for n, _ in batches) == item.frames_total and max(n for n, _ in batches) == BATCH
    assert len({pid for _, pid in batches}) == 2, batches  # the one video read by both processes


@pytest.mark.integration
def test_a_redis_restart_loses_only_the_pools_wakeup_and_the_sweep_sends_another(
    own_servers,  # noqa: F811
    tmp_path,
    engine,
):
    stack = own_servers
    pooled = {"OCR_BATCH_FRAMES": str(BATCH)}  # the fixture's stack makes every frame a batch of its own
    ids = _submit(stack.queue, make_images(tmp_path / "folder", [(640, 360)] * 3, seed=400))
    with stack.worker("qextract", **pooled) as log:
        _wait_for(lambda: _extracted(ids), "extraction", [log], 120)
    waiting = [s for s in stack.queue.pending() if s.task.name == "dva_ocr.ocr_pool"]
    assert len(waiting) == 1 and stack.queue.pending() == waiting  # one wake-up for the three images
    time.sleep(1.2)
    stack.redis.restart()  # no persistence: the wake-up is gone, the frames are in PostgreSQL
    assert stack.queue.pending() == []
    sweep = {"SWEEP_INTERVAL_S": "1", "STUCK_AFTER_S": "3"}
    with stack.worker("qocr", **pooled) as ocr, stack.worker("qdefault", **pooled, **sweep) as default:
        _wait_for(lambda: _final(ids), "the items to end", [ocr, default], 120)
    assert [status_of(v) for v in ids] == [("done", None)] * 3
    assert "waited in the OCR pool" in default.read_text()
    with session_scope() as s:
        assert {s.get(Video, v).requeues for v in ids} == {0}  # the items were never stuck
    assert [n for n, _ in _batches(ocr)] == [3]  # one batch of the three
    for vid in ids:
        assert regions_of(vid) == one_by_one(vid, engine)
