"""``python -m workers.health``: exit 0 while a worker of this host is alive (its heartbeat key is in
Redis: written every 10 s and kept 30 s by ``workers.tasks``), else 1 with the reason: the compose
healthcheck of every worker service."""

from __future__ import annotations

import os
import sys

import redis

from dva_ocr.settings import get_settings


def alive_here() -> str | None:
    """None when a worker on this host beats, else why not."""
    s = get_settings()
    host = os.uname().nodename
    try:
        client = redis.Redis.from_url(s.broker_url, socket_timeout=5, socket_connect_timeout=5)
        beating = any(client.scan_iter(match=f"{s.broker_prefix}:alive:*@{host}"))
    except redis.RedisError as exc:
        return f"Redis at {s.broker_url} cannot be reached: {exc}"
    return None if beating else f"no worker on {host} has beaten in the last 30 s ({s.broker_prefix}:alive:*)"


def main() -> int:
    why = alive_here()
    if why:
        print(why, file=sys.stderr)
    return 1 if why else 0


if __name__ == "__main__":
    sys.exit(main())
