"""Thin tasks: take ids, call dva_ocr, queue the next stage by name."""

from __future__ import annotations

import functools
import logging
import os
import time
from collections.abc import Callable

from celery.signals import worker_process_init, worker_ready
from sqlalchemy.exc import OperationalError

from dva_ocr import pipeline
from dva_ocr.settings import get_settings
from workers.app import app

log = logging.getLogger(__name__)

TRANSIENT = {
    "autoretry_for": (OperationalError,),
    "retry_backoff": True,
    "retry_jitter": True,
    "max_retries": 5,
}


@functools.lru_cache(maxsize=3)
def get_reader(model: str | None = None):
    """The OCR engine of a model version (default: OCR_MODEL or the bundled one), loaded once per
    worker process and kept (the few most recently used)."""
    from dva_ocr.model_registry import load_engine

    s = get_settings()
    return load_engine(model, device=s.ocr_device, threads=s.ocr_threads)


@worker_process_init.connect
def _warm_up(**_: object) -> None:
    # Only the qocr worker loads models; DVA_WORKER_QUEUE is set by `manage.py worker`.
    if os.environ.get("DVA_WORKER_QUEUE") == "qocr":
        get_reader()


def enqueue_ocr(video_id: int, frame_ids: list[int]) -> None:
    app.send_task("dva_ocr.ocr_frames", args=[video_id, frame_ids], queue="qocr")


def enqueue_finalize(video_id: int) -> None:
    app.send_task("dva_ocr.finalize_video", args=[video_id], queue="qdefault")


def enqueue_extract(video_id: int) -> None:
    app.send_task("dva_ocr.extract_video", args=[video_id], queue="qextract")


def enqueue_job_items(job_id: int, video_ids: list[int]) -> None:
    for vid in video_ids:
        app.send_task("dva_ocr.reprocess_item", args=[job_id, vid], queue="qocr")


def _run_stage(video_id: int, stage: str, work: Callable[[], int]) -> int:
    """Run a stage; a database hiccup is retried (TRANSIENT), any other error fails the video with a
    message and returns, so the worker goes on with the next task."""
    try:
        return work()
    except OperationalError:
        raise
    except Exception as exc:
        log.exception("%s failed for video %s", stage, video_id)
        pipeline.mark_failed(video_id, f"{stage} failed: {type(exc).__name__}: {exc}")
        return 0


@app.task(name="dva_ocr.extract_video", **TRANSIENT)
def extract_video(video_id: int) -> int:
    return _run_stage(
        video_id,
        "frame extraction",
        lambda: pipeline.extract_video(video_id, enqueue_ocr=enqueue_ocr, enqueue_finalize=enqueue_finalize),
    )


@app.task(name="dva_ocr.ocr_frames", **TRANSIENT)
def ocr_frames(video_id: int, frame_ids: list[int]) -> int:
    return _run_stage(
        video_id,
        "OCR",
        lambda: pipeline.ocr_frames(
            video_id,
            frame_ids,
            reader=get_reader(pipeline.model_name_of(video_id)),
            enqueue_finalize=enqueue_finalize,
        ),
    )


@app.task(name="dva_ocr.reprocess_item", **TRANSIENT)
def reprocess_item(job_id: int, video_id: int) -> str:
    """One media item of a reprocessing job (its failures are recorded on the job item)."""
    from dva_ocr import jobs

    return jobs.run_item(job_id, video_id, reader_for=get_reader)


@app.task(name="dva_ocr.finalize_video", **TRANSIENT)
def finalize_video(video_id: int) -> None:
    pipeline.finalize_video(video_id)


@worker_ready.connect
def _start_heartbeat(sender: object = None, **_: object) -> None:
    """Tell the dashboard this worker is alive: a Redis key that expires 30 s after the last beat."""
    import threading

    import redis

    s = get_settings()
    queue = os.environ.get("DVA_WORKER_QUEUE", "?")
    host = getattr(sender, "hostname", None) or f"{queue}@{os.uname().nodename}"
    key = f"{s.broker_prefix}:alive:{host}"
    client = redis.Redis.from_url(s.broker_url)

    def beat() -> None:
        while True:
            try:
                client.set(key, f"{queue}|{host}", ex=30)
            except redis.RedisError:
                log.warning("heartbeat to Redis failed", exc_info=True)
            time.sleep(10)

    threading.Thread(target=beat, name="dva-heartbeat", daemon=True).start()
