"""Thin tasks: take ids, call dva_ocr, queue the next stage through ``CeleryQueue``.

Retries: a database hiccup (``OperationalError``) is retried with backoff (``TASK_MAX_RETRIES``,
``TASK_RETRY_BACKOFF_MAX_S``). When the retries run out, ``on_failure`` marks the media item (or the
job item) failed with the last error; if the database is still unreachable then, the stuck-work sweep
(``dva_ocr.pipeline.sweep``, triggered from the qdefault worker) finds the item later.
"""

from __future__ import annotations

import functools
import logging
import os
import threading
import time
from collections.abc import Callable
from typing import Any

from celery import Task
from celery.signals import worker_process_init, worker_ready
from sqlalchemy.exc import OperationalError

from dva_ocr import pipeline
from dva_ocr.filters import ENGINE_FLOOR
from dva_ocr.pipeline.contracts import Reader
from dva_ocr.pipeline.read import model_name_of
from dva_ocr.settings import get_settings
from dva_ocr.work import queues
from workers.app import app
from workers.queue import CeleryQueue

log = logging.getLogger(__name__)
queue = CeleryQueue(app)

STAGES = {
    queues.EXTRACT.name: "frame extraction",
    queues.OCR_FRAMES.name: "OCR",
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
            else:
                pipeline.fail_media(int(args[0]), message)
        except Exception:
            log.exception("could not record that %s %s gave up; the stuck-work sweep will", self.name, args)


def _settings_retry() -> dict[str, Any]:
    s = get_settings()
    return {
        "base": StageTask,
        "autoretry_for": (OperationalError,),
        "retry_backoff": True,
        "retry_backoff_max": s.task_retry_backoff_max_s,
        "retry_jitter": s.task_retry_jitter,
        "max_retries": s.task_max_retries,
    }


TRANSIENT = _settings_retry()


@functools.lru_cache(maxsize=3)
def get_reader(model: str | None = None) -> Reader:
    """The OCR engine of a model version (default: OCR_MODEL or the bundled one), loaded once per
    worker process and kept (the few most recently used)."""
    from dva_ocr.model_registry import load_engine

    s = get_settings()
    # the engine keeps lines down to the floor; each item's filters decide (default MIN_LINE_CONFIDENCE)
    return load_engine(model, device=s.ocr_device, threads=s.ocr_threads, min_confidence=ENGINE_FLOOR)


@worker_process_init.connect
def _warm_up(**_: object) -> None:
    # Only the qocr worker loads models; DVA_WORKER_QUEUE is set by `manage.py worker`.
    if os.environ.get("DVA_WORKER_QUEUE") == queues.QOCR:
        get_reader()


def _run_stage(media_id: int, task: queues.Task, work: Callable[[], int]) -> int:
    """Run a stage; a database hiccup is retried (TRANSIENT), any other error fails the item with a
    message and returns, so the worker goes on with the next task."""
    stage = STAGES[task.name]
    try:
        return work()
    except OperationalError:
        raise
    except Exception as exc:
        log.exception("%s failed for media %s", stage, media_id)
        pipeline.fail_media(media_id, f"{stage} failed: {type(exc).__name__}: {exc}")
        return 0


@app.task(name=queues.EXTRACT.name, **TRANSIENT)
def extract_video(media_id: int) -> int:
    return _run_stage(media_id, queues.EXTRACT, lambda: pipeline.extract_video(media_id, queue=queue))


@app.task(name=queues.OCR_FRAMES.name, **TRANSIENT)
def ocr_frames(media_id: int, frame_ids: list[int]) -> int:
    return _run_stage(
        media_id,
        queues.OCR_FRAMES,
        lambda: pipeline.ocr_frames(
            media_id, frame_ids, reader=get_reader(model_name_of(media_id)), queue=queue
        ),
    )


@app.task(name=queues.REPROCESS_ITEM.name, **TRANSIENT)
def reprocess_item(job_id: int, media_id: int) -> str:
    """One media item of a reprocessing job (its failures are recorded on the job item)."""
    from dva_ocr import jobs

    return jobs.run_item(job_id, media_id, reader_for=get_reader)


@app.task(name=queues.FINALIZE.name, **TRANSIENT)
def finalize_video(media_id: int) -> None:
    pipeline.finalize_video(media_id)


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
