"""Health, queue depths and live workers, read from PostgreSQL and Redis (no Celery import)."""

from __future__ import annotations

from typing import Any

import redis
from sqlalchemy import text

from dva_ocr.db.session import get_engine
from dva_ocr.settings import get_settings
from dva_ocr.work.queues import QUEUES

__all__ = ["QUEUES", "health", "queue_depths", "workers_alive"]


def _redis() -> redis.Redis:
    return redis.Redis.from_url(get_settings().broker_url, socket_timeout=2, socket_connect_timeout=2)


def queue_depths() -> dict[str, int]:
    """Messages waiting per queue (kombu keeps each queue as a Redis list under the key prefix)."""
    prefix = get_settings().broker_prefix
    r = _redis()
    return {q: int(r.llen(f"{prefix}:{q}")) for q in QUEUES}


def workers_alive() -> list[dict[str, Any]]:
    """Workers that sent a heartbeat in the last 30 s (workers/tasks.py writes them)."""
    prefix = get_settings().broker_prefix
    r = _redis()
    out = []
    for key in r.scan_iter(match=f"{prefix}:alive:*"):
        value = r.get(key)
        if value:
            queue, _, host = (value.decode() if isinstance(value, bytes) else str(value)).partition("|")
            out.append({"queue": queue, "name": host})
    return sorted(out, key=lambda w: (w["queue"], w["name"]))


def health() -> dict[str, Any]:
    out: dict[str, Any] = {"database": False, "broker": False}
    try:
        with get_engine().connect() as conn:
            conn.execute(text("SELECT 1"))
        out["database"] = True
    except Exception as exc:  # a health check reports, never raises
        out["database_error"] = str(exc).splitlines()[0]
    try:
        out["broker"] = bool(_redis().ping())
    except Exception as exc:
        out["broker_error"] = str(exc)
    out["status"] = "ok" if out["database"] and out["broker"] else "degraded"
    return out
