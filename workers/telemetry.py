"""Celery signal handlers: the logging of worker processes, each task's log context, and the task
counters and durations (``dva_ocr.telemetry``). Connected when ``workers.app`` is imported, so any way
of starting a worker (``manage.py worker``, ``celery worker``) gets them; ``workers/tasks.py`` stays
free of bookkeeping.

Every line a task logs carries ``task_id``, ``task``, ``queue``, ``media_id`` (a stage task's first
argument; for a reprocessing item its second, with ``job_id``) and the ``request_id`` of the HTTP request
that queued it, read from the message header ``CeleryQueue.send`` attached (tasks queued by a task pass
it on, so one upload's extraction, OCR batches and roll-up all carry the upload's id).
"""

from __future__ import annotations

import logging
import time
from contextvars import Token
from typing import Any

from celery import Task
from celery.signals import celeryd_init, setup_logging, task_postrun, task_prerun, worker_process_init

from dva_ocr import logs, telemetry
from dva_ocr.settings import get_settings
from dva_ocr.work.queues import BY_NAME, EXTRACT, FINALIZE, OCR_FRAMES, REPROCESS_ITEM

REQUEST_ID_HEADER = "dva_request_id"
OUTCOMES = {"SUCCESS": "succeeded", "FAILURE": "failed", "RETRY": "retried"}
MEDIA_FIRST = frozenset({EXTRACT.name, OCR_FRAMES.name, FINALIZE.name})


class _Running:
    """Tasks running in this process: when each started and the log context it bound."""

    started: dict[str, tuple[float, Token[Any]]] = {}


@celeryd_init.connect
def _worker_starts(instance: Any = None, **_: object) -> None:
    """The worker's main process, before its pool forks: record metrics from here on (the children
    inherit it). With JSON logs, no start-up banner: it is not a log line."""
    telemetry.enable()
    if instance is not None and get_settings().log_format == "json":
        instance.quiet = True


@worker_process_init.connect
def _child_starts(**_: object) -> None:
    if not telemetry.recording():
        telemetry.enable()


@setup_logging.connect
def _configure_logging(loglevel: int | str | None = None, **_: object) -> None:
    """Celery configures no logging of its own when this signal has a receiver: ours, as everywhere."""
    logs.configure_logging(loglevel or logging.INFO)


def queue_of(task: Task) -> str:
    delivery = getattr(task.request, "delivery_info", None) or {}
    routed = delivery.get("routing_key")
    if routed:
        return str(routed)
    known = BY_NAME.get(task.name)
    return known.queue if known else "unknown"


def ids_of(task_name: str, args: Any) -> dict[str, Any]:
    """The media item (and job) a task is for, from its arguments (tasks carry ids only)."""
    args = list(args or ())
    if task_name == REPROCESS_ITEM.name and len(args) >= 2:
        return {"job_id": args[0], "media_id": args[1]}
    if task_name in MEDIA_FIRST and args:
        return {"media_id": args[0]}
    return {}


def request_id_of(task: Task) -> str | None:
    request = task.request
    value = getattr(request, REQUEST_ID_HEADER, None) or (getattr(request, "headers", None) or {}).get(
        REQUEST_ID_HEADER
    )
    return str(value) if value else None


@task_prerun.connect
def _task_starts(task_id: str = "", task: Task | None = None, args: Any = None, **_: object) -> None:
    if task is None:
        return
    token = logs.bind(
        task_id=task_id,
        task=task.name,
        queue=queue_of(task),
        request_id=request_id_of(task),
        **ids_of(task.name, args),
    )
    _Running.started[task_id] = (time.perf_counter(), token)


@task_postrun.connect
def _task_ends(task_id: str = "", task: Task | None = None, state: str | None = None, **_: object) -> None:
    entry = _Running.started.pop(task_id, None)
    if task is None:
        return
    labels = {"task": task.name, "queue": queue_of(task)}
    if entry is not None:
        telemetry.observe(telemetry.TASK_DURATION, time.perf_counter() - entry[0], **labels)
    outcome = OUTCOMES.get(state or "", (state or "unknown").lower())
    telemetry.count(telemetry.TASKS, outcome=outcome, **labels)
    if entry is not None:
        logs.reset(entry[1])
