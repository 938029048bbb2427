"""Thin tasks: take ids, call dva_ocr, queue the next stage through ``CeleryQueue``.

Retries: an outage that passes (the database restarting or unreachable, a lock or statement timeout,
a deadlock, the broker unreachable while a task queues the next stage: ``is_transient_error``) is
retried ``TASK_MAX_RETRIES`` times, waiting 1, 2, 4 ... seconds up to ``TASK_RETRY_BACKOFF_MAX_S``,
each wait jittered within its upper half (never near 0 s, so the retries really spread over minutes:
the defaults wait at least four minutes in all, a PostgreSQL restart of a minute or two is outlasted).
An error that will repeat (a statement PostgreSQL refuses, bad data, a bug) fails the item at once with
its message. When the retries run out, ``on_failure`` marks the media item (or the job item) failed
with the last error; if the database is still unreachable then, the stuck-work sweep
(``dva_ocr.pipeline.sweep``, triggered from the qdefault worker) finds the item later.
"""

from __future__ import annotations

import functools
import logging
import os
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

import kombu.exceptions
import redis.exceptions
from celery import Task
from celery.signals import worker_process_init, worker_ready
from sqlalchemy.exc import OperationalError

from dva_ocr import pipeline
from dva_ocr.db import transient
from dva_ocr.filters import ENGINE_FLOOR
from dva_ocr.pipeline.contracts import Reader
from dva_ocr.pipeline.read import describe, model_name, model_name_of
from dva_ocr.settings import get_settings
from dva_ocr.work import queues
from workers.app import app
from workers.queue import CeleryQueue

log = logging.getLogger(__name__)
queue = CeleryQueue(app)

STAGES = {
    queues.EXTRACT.name: "frame extraction",
    queues.EXTRACT_SEGMENT.name: "frame extraction",
    queues.OCR_FRAMES.name: "OCR",
    queues.OCR_POOL.name: "OCR",
    queues.FINALIZE.name: "the roll-up",
    queues.REPROCESS_ITEM.name: "reprocessing",
}


class StageTask(Task):
    """A task whose failure (its retries exhausted, or an error nothing caught) is recorded on the
    media item or job item it was for."""

    def on_failure(self, exc: BaseException, task_id: str, args: Any, kwargs: Any, einfo: Any) -> None:
        from dva_ocr import jobs

        stage = STAGES.get(self.name, self.name)
        retried = f" after {self.request.retries} retries" if self.request.retries else ""
        first_line = (str(exc).strip().splitlines() or [""])[0][:500]
        message = f"{stage} failed{retried}: {type(exc).__name__}: {first_line}"
        try:
            if self.name == queues.REPROCESS_ITEM.name:
                jobs.fail_item(int(args[0]), int(args[1]), message)
            elif self.name == queues.OCR_POOL.name:  # its frames stay pooled: the sweep wakes it again
                log.warning("an OCR pool batch of model version %s gave up: %s", args[0], message)
            else:
                pipeline.fail_media(int(args[0]), message)
        except Exception:
            log.exception("could not record that %s %s gave up; the stuck-work sweep will", self.name, args)


# the broker unreachable while a task queues the next stage (Celery gives up publishing after its own
# short retries); the work done so far is kept, every stage is safe to run again
BROKER_ERRORS = (
    kombu.exceptions.OperationalError,
    redis.exceptions.ConnectionError,
    redis.exceptions.TimeoutError,
)
T = TypeVar("T")


def is_transient_error(exc: BaseException) -> bool:
    """An outage worth waiting out: the database's (``dva_ocr.db.transient``) or the broker's."""
    return isinstance(exc, BROKER_ERRORS) or transient.is_transient(exc)


def _with_retries(task: Task, work: Callable[[], T]) -> T:
    """Run a task's work; a transient error is retried later (the backoff of the module doc), and
    when the retries run out it is raised, so ``on_failure`` records it. Other errors go on up."""
    try:
        return work()
    except Exception as exc:
        if not is_transient_error(exc):
            raise
        s = get_settings()
        delay = transient.backoff_s(
            task.request.retries, cap=s.task_retry_backoff_max_s, jitter=s.task_retry_jitter
        )
        raise task.retry(exc=exc, countdown=delay, max_retries=s.task_max_retries) from exc


@functools.lru_cache(maxsize=3)
def get_reader(model: str | None = None) -> Reader:
    """The OCR engine of a model version (default: OCR_MODEL or the bundled one), loaded once per
    worker process and kept (the few most recently used)."""
    from dva_ocr.engines import load_engine

    s = get_settings()
    # the engine keeps lines down to the floor; each item's filters decide (default MIN_LINE_CONFIDENCE)
    return load_engine(model, device=s.ocr_device, threads=s.ocr_threads, min_confidence=ENGINE_FLOOR)


@worker_process_init.connect
def _warm_up(**_: object) -> None:
    # Only the qocr worker loads models; DVA_WORKER_QUEUE is set by `manage.py worker`.
    if os.environ.get("DVA_WORKER_QUEUE") == queues.QOCR:
        engine = get_reader()
        spec = getattr(engine, "model_spec", None)
        log.info(
            "qocr process %d reads with model %s on %s, onnxruntime threads per model: %s",
            os.getpid(),
            getattr(spec, "name", "?"),
            getattr(engine, "device", "?"),
            getattr(engine, "threads", None) or "all cores",
        )


def _run_stage(media_id: int, task: queues.Task, work: Callable[[], int]) -> int:
    """Run a stage; a transient outage is raised (to be retried), any other error fails the item with
    a message and returns, so the worker goes on with the next task."""
    stage = STAGES[task.name]
    try:
        return work()
    except Exception as exc:
        if is_transient_error(exc):
            raise
        log.exception("%s failed for media %s", stage, media_id)
        pipeline.fail_media(media_id, f"{stage} failed: {describe(exc)}")
        return 0


@app.task(name=queues.EXTRACT.name, base=StageTask, bind=True)
def extract_video(self: Task, media_id: int) -> int:
    return _with_retries(
        self,
        lambda: _run_stage(media_id, queues.EXTRACT, lambda: pipeline.extract_video(media_id, queue=queue)),
    )


@app.task(name=queues.EXTRACT_SEGMENT.name, base=StageTask, bind=True)
def extract_segment(self: Task, media_id: int, seq: int) -> int:
    """One time range of a long video (dva_ocr.pipeline.segments)."""
    return _with_retries(
        self,
        lambda: _run_stage(
            media_id, queues.EXTRACT_SEGMENT, lambda: pipeline.extract_segment(media_id, seq, queue=queue)
        ),
    )


@app.task(name=queues.OCR_FRAMES.name, base=StageTask, bind=True)
def ocr_frames(self: Task, media_id: int, frame_ids: list[int]) -> int:
    def work() -> int:
        reader = get_reader(model_name_of(media_id))
        return pipeline.ocr_frames(media_id, frame_ids, reader=reader, queue=queue)

    return _with_retries(self, lambda: _run_stage(media_id, queues.OCR_FRAMES, work))


@app.task(name=queues.OCR_POOL.name, base=StageTask, bind=True)
def ocr_pool(self: Task, model_version_id: int) -> int:
    """A batch of the OCR pool (dva_ocr.pipeline.pool): frames of any media items read by the version;
    returns the frames read. An item whose frames cannot be read fails on its own, in the batch; a model
    that cannot be loaded fails every item waiting for it."""

    def work() -> int:
        try:
            reader = get_reader(model_name(model_version_id))
        except Exception as exc:
            if is_transient_error(exc):
                raise
            failed = pipeline.fail_pool(model_version_id, describe(exc))
            log.exception("model version %s cannot be loaded: %d item(s) failed", model_version_id, failed)
            return 0
        return pipeline.ocr_pool(model_version_id, reader=reader, queue=queue).frames

    return _with_retries(self, work)


@app.task(name=queues.REPROCESS_ITEM.name, base=StageTask, bind=True)
def reprocess_item(self: Task, job_id: int, media_id: int) -> str:
    """One media item of a reprocessing job (its failures are recorded on the job item)."""
    from dva_ocr import jobs

    return _with_retries(self, lambda: jobs.run_item(job_id, media_id, reader_for=get_reader, queue=queue))


@app.task(name=queues.FINALIZE.name, base=StageTask, bind=True)
def finalize_video(self: Task, media_id: int) -> None:
    _with_retries(self, lambda: pipeline.finalize_video(media_id))


@app.task(name=queues.SWEEP.name, autoretry_for=(OperationalError,), max_retries=0)
def sweep_stuck() -> int:
    """Queue stuck work again or fail it (see dva_ocr.pipeline.sweep); returns the actions taken."""
    from dva_ocr.pipeline.sweep import sweep_stuck as sweep

    return len(sweep(queue))


@worker_ready.connect
def _start_background(sender: object = None, **_: object) -> None:
    """Every worker: a Redis heartbeat for the dashboard. The qdefault worker also triggers the sweep."""
    import redis

    s = get_settings()
    worker_queue = os.environ.get("DVA_WORKER_QUEUE", "?")
    host = getattr(sender, "hostname", None) or f"{worker_queue}@{os.uname().nodename}"
    client = redis.Redis.from_url(s.broker_url)
    threading.Thread(
        target=_heartbeat,
        args=(client, f"{s.broker_prefix}:alive:{host}", f"{worker_queue}|{host}"),
        daemon=True,
    ).start()
    if worker_queue == queues.QDEFAULT and s.sweep_interval_s > 0:
        threading.Thread(
            target=_sweep_trigger,
            args=(client, f"{s.broker_prefix}:sweep-lock", s.sweep_interval_s),
            daemon=True,
        ).start()


def _heartbeat(client: Any, key: str, value: str) -> None:
    """Tell the dashboard this worker is alive: a key that expires 30 s after the last beat."""
    import redis

    while True:
        try:
            client.set(key, value, ex=30)
        except redis.RedisError:
            log.warning("heartbeat to Redis failed", exc_info=True)
        time.sleep(10)


def _sweep_trigger(client: Any, lock: str, interval: float) -> None:
    """Queue one sweep per interval for the whole cluster (a Redis key taken with NX decides which
    qdefault worker sends it); the sweep itself runs as a task in a worker process."""
    import redis

    while True:
        time.sleep(interval)
        try:
            if client.set(lock, "1", nx=True, ex=max(1, int(interval))):
                queue.send(queues.SWEEP)
        except (redis.RedisError, OSError):
            log.warning("could not queue the stuck-work sweep", exc_info=True)
