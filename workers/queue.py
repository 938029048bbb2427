"""``CeleryQueue``: the ``dva_ocr.work.WorkQueue`` of a real deployment (Celery on Redis)."""

from __future__ import annotations

import base64
import json
import logging
from typing import Any

import redis
from celery import Celery

from dva_ocr import logs
from dva_ocr.work.queues import BY_NAME, QUEUES, Sent, Task
from workers.telemetry import REQUEST_ID_HEADER

log = logging.getLogger(__name__)


class CeleryQueue:
    def __init__(self, app: Celery) -> None:
        self.app = app

    def send(self, task: Task, *args: int | list[int]) -> None:
        """Queue a task; the request id of the work at hand (an HTTP request, or the task that queues
        this one) goes with it as a message header, for the worker's log lines."""
        request_id = logs.context().get("request_id")
        headers = {REQUEST_ID_HEADER: str(request_id)} if request_id else None
        self.app.send_task(task.name, args=list(args), queue=task.queue, headers=headers)

    def pending(self) -> list[Sent]:
        """Every task message in the broker: waiting in a queue, or delivered and not yet acknowledged
        (reserved by a worker, held for a retry's countdown, or running: tasks are acked late)."""
        prefix = self.app.conf.broker_transport_options["global_keyprefix"]  # "dva:"
        r = redis.Redis.from_url(self.app.conf.broker_url, socket_timeout=10, socket_connect_timeout=5)
        envelopes: list[Any] = []
        for q in QUEUES:
            for key in r.scan_iter(match=f"{prefix}{q}*"):  # the queue and its priority lists
                if r.type(key) == b"list":
                    envelopes.extend(_json(m) for m in r.lrange(key, 0, -1))
        for value in r.hvals(f"{prefix}unacked"):  # [envelope, exchange, routing key]
            entry = _json(value)
            envelopes.append(entry[0] if isinstance(entry, list) and entry else None)
        return [sent for e in envelopes if (sent := _decode(e)) is not None]


def default_queue() -> CeleryQueue:
    """The queue of this deployment (settings' broker and key prefix), for processes that only submit
    work (the CLI, the web server): no task modules are imported."""
    from workers.app import app

    return CeleryQueue(app)


def _json(value: bytes | str) -> Any:
    try:
        return json.loads(value)
    except ValueError:
        log.warning("unreadable message in the broker: %.200r", value)
        return None


def _decode(envelope: Any) -> Sent | None:
    """A kombu message (JSON envelope, base64 body ``[args, kwargs, embed]``) as the task it carries."""
    if not isinstance(envelope, dict):
        return None
    try:
        task = BY_NAME.get(envelope.get("headers", {}).get("task", ""))
        if task is None:
            return None
        body = envelope["body"]
        if envelope.get("properties", {}).get("body_encoding") == "base64":
            body = base64.b64decode(body)
        args = json.loads(body)[0]
        return Sent(task, tuple(args))
    except (ValueError, KeyError, TypeError, IndexError):
        log.warning("unreadable message in the broker: %.200r", envelope)
        return None
