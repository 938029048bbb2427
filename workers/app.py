"""The Celery app: configured from dva-ocr settings, the queues and routes of ``dva_ocr.work``,
hardened defaults."""

from __future__ import annotations

from celery import Celery
from kombu import Queue

from dva_ocr.settings import get_settings
from dva_ocr.work.queues import QDEFAULT, QUEUES, TASKS

# Connects the signal handlers every worker needs (logging, each task's log context, task metrics)
# whichever way it is started; they must be connected before the worker starts, so not via `include`.
from workers import telemetry  # noqa: F401


def make_app(broker_prefix: str | None = None) -> Celery:
    """The app of this deployment (``broker_prefix``: another deployment's keys on the same Redis)."""
    s = get_settings()
    prefix = broker_prefix or s.broker_prefix
    app = Celery("dva_ocr", broker=s.broker_url, include=["workers.tasks"])
    app.conf.update(
        task_serializer="json",
        accept_content=["json"],
        result_serializer="json",
        task_ignore_result=True,
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_track_started=True,
        task_default_queue=QDEFAULT,
        task_queues=[Queue(q, routing_key=q) for q in QUEUES],
        task_routes={t.name: {"queue": t.queue} for t in TASKS},
        # A long video's extract task runs for as long as ffmpeg decodes: give it hours.
        task_time_limit=6 * 3600,
        task_soft_time_limit=6 * 3600 - 60,
        # OCR services grow memory over time: recycle worker processes.
        worker_max_tasks_per_child=200,
        worker_max_memory_per_child=3_000_000,  # KiB
        broker_connection_retry_on_startup=True,
        # Keys carry a prefix so that several deployments (or test runs) share one Redis.
        broker_transport_options={"global_keyprefix": f"{prefix}:", "visibility_timeout": 7 * 3600},
        worker_hijack_root_logger=False,
    )
    return app


app = make_app()
