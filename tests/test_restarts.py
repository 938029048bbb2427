"""Restarts lose nothing: real Celery workers on a Redis and a PostgreSQL that the test starts on its own
ports (tests/servers.py) and restarts with work in flight.

- Redis without persistence loses the queued OCR tasks in a restart: the stuck-work sweep finds the
  items (processing, untouched, nothing in the broker) and queues the OCR of their unread frames again.
- Redis as compose runs it (``appendonly yes``) loses nothing: the same restart, no sweep, all done.
- PostgreSQL stopped for several seconds while extraction and OCR tasks run: the tasks retry through
  the outage (waits of 1, 2, 4 s ... capped, jittered but never near 0 s) and the item ends done.

Settings are short (STUCK_AFTER_S, SWEEP_INTERVAL_S, the backoff cap) and passed to the workers by
environment, so each test takes well under a minute.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from mediagen import Caption, make_video
from servers import PostgresServer, RedisServer, worker
from sqlalchemy import select

from dva_ocr.db.migrate import upgrade
from dva_ocr.db.session import session_scope
from dva_ocr.db.tables import Region, Video
from dva_ocr.pipeline import register_media
from dva_ocr.work import EXTRACT, OCR_FRAMES

# the servers are the test's own (no service fixture marks these): integration, not `make test-fast`
servers = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[1]


def _clear_caches() -> None:
    from dva_ocr.db import session
    from dva_ocr.settings import get_settings

    session.get_engine.cache_clear()
    session._factory.cache_clear()
    get_settings.cache_clear()


@dataclass
class Stack:
    redis: RedisServer
    pg: PostgresServer
    env: dict[str, str]  # the workers' environment
    tmp: Path

    @property
    def queue(self):
        from workers.app import make_app
        from workers.queue import CeleryQueue

        return CeleryQueue(make_app())

    def worker(self, queue: str, **env: str):
        return worker(self.tmp / f"{queue}.log", queue, self.env | env)


@pytest.fixture()
def own_servers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, request) -> Iterator[Stack]:
    """A Redis and a PostgreSQL of this test's own, migrated; this process and its workers use them."""
    redis_args = getattr(request, "param", None)
    redis = RedisServer(tmp_path / "redis", redis_args)
    pg = PostgresServer()
    redis.start()
    try:
        pg.start()
        env = {
            "DATABASE_URL": pg.url,
            "BROKER_URL": redis.url,
            "BROKER_PREFIX": "restarts",
            "MEDIA_ROOT": str(tmp_path / "media"),
            # every frame to read a batch of its own: an OCR task per batch in Redis (fewer frames wait
            # in the OCR pool in PostgreSQL: tests/test_batch_workers.py restarts Redis with those)
            "OCR_BATCH_FRAMES": "1",
            "OCR_THREADS": "1",
            "SWEEP_INTERVAL_S": "0",
            "TASK_RETRY_BACKOFF_MAX_S": "4",
            "TASK_MAX_RETRIES": "12",
        }
        for k, v in env.items():
            monkeypatch.setenv(k, v)
        _clear_caches()
        upgrade(pg.url)
        yield Stack(redis, pg, os.environ.copy(), tmp_path)
    finally:
        from dva_ocr.db.session import get_engine

        get_engine().dispose()
        redis.stop()
        pg.remove()
        monkeypatch.undo()
        _clear_caches()


def _media(tmp: Path, *names: str) -> list[int]:
    ids = []
    for name in names:
        video = make_video(
            tmp / f"{name}.mp4", [Caption(f"Platform {name}", 0, 3, y=120)], duration=3, size="640x360"
        )
        with session_scope() as s:
            ids.append(register_media(s, video).media_id)
    return ids


def _videos(ids: list[int]) -> list[Video]:
    with session_scope() as s:
        return list(s.scalars(select(Video).where(Video.id.in_(ids)).order_by(Video.id)))


def _wait_for(predicate: Callable[[], bool], what: str, logs: list[Path], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            tails = "\n".join(f"--- {p.name}\n{p.read_text(errors='replace')[-2500:]}" for p in logs)
            raise AssertionError(f"timed out waiting for {what}:\n{tails}")
        time.sleep(0.3)


def _texts(media_id: int) -> set[str]:
    with session_scope() as s:
        return set(s.scalars(select(Region.text).where(Region.video_id == media_id)))


def _ocr_tasks(stack: Stack, ids: list[int]) -> list:
    return [s for s in stack.queue.pending() if s.task == OCR_FRAMES and s.args[0] in ids]


def _extract_then_restart_redis(stack: Stack, names: tuple[str, ...]) -> tuple[list[int], int]:
    """Extract the items (no OCR worker yet, so their OCR tasks wait in Redis), restart Redis; returns
    the ids and how many OCR tasks were waiting before the restart."""
    ids = _media(stack.tmp, *names)
    with stack.worker("qextract") as log:
        for vid in ids:
            stack.queue.send(EXTRACT, vid)
        _wait_for(lambda: all(v.extracted for v in _videos(ids)), "extraction", [log])
    waiting = len(_ocr_tasks(stack, ids))
    assert waiting >= len(ids), "each item's OCR tasks wait in the queue"
    time.sleep(1.2)  # appendfsync everysec: what was queued has reached the disk
    stack.redis.restart()
    return ids, waiting


@servers
@pytest.mark.slow
def test_a_redis_restart_without_persistence_loses_tasks_and_the_sweep_queues_them_again(own_servers):
    stack = own_servers
    ids, _ = _extract_then_restart_redis(stack, ("alpha", "beta"))
    assert _ocr_tasks(stack, ids) == []  # lost with Redis: the "media stuck for ever"
    assert {v.status for v in _videos(ids)} == {"processing"}
    sweep = {"SWEEP_INTERVAL_S": "1", "STUCK_AFTER_S": "3"}
    with stack.worker("qocr") as ocr, stack.worker("qdefault", **sweep) as default:
        _wait_for(lambda: {v.status for v in _videos(ids)} == {"done"}, "the items to finish", [ocr, default])
    for v in _videos(ids):
        assert v.requeues == 1 and v.error is None  # the sweep queued its OCR again, once
        assert any("platform" in t.lower() for t in _texts(v.id)), _texts(v.id)


def _compose_redis_args() -> list[str]:
    """The persistence arguments of compose's Redis (``command: [redis-server, ...]``)."""
    doc = yaml.safe_load((ROOT / "compose" / "docker-compose.yml").read_text())
    command = doc["services"]["redis"]["command"]
    assert command[0] == "redis-server"
    return command[1:]


def test_compose_runs_redis_with_an_append_only_file_on_a_volume():
    doc = yaml.safe_load((ROOT / "compose" / "docker-compose.yml").read_text())
    redis = doc["services"]["redis"]
    args = _compose_redis_args()
    assert args[args.index("--appendonly") + 1] == "yes"
    assert any(v.endswith(":/data") for v in redis["volumes"])  # where the image keeps its files
    assert redis["volumes"][0].split(":")[0] in doc["volumes"]


@servers
@pytest.mark.slow
@pytest.mark.parametrize("own_servers", [_compose_redis_args()], indirect=True, ids=["appendonly"])
def test_a_redis_restart_with_appendonly_as_compose_runs_it_loses_nothing(own_servers):
    stack = own_servers
    ids, waiting = _extract_then_restart_redis(stack, ("gamma",))
    assert len(_ocr_tasks(stack, ids)) == waiting  # every queued task came back from the append-only file
    with stack.worker("qocr") as ocr, stack.worker("qdefault") as default:  # no sweep runs
        _wait_for(lambda: _videos(ids)[0].status == "done", "the item to finish", [ocr, default])
    (v,) = _videos(ids)
    assert v.requeues == 0 and any("platform" in t.lower() for t in _texts(v.id))


@servers
@pytest.mark.slow
def test_a_postgres_restart_during_extraction_and_ocr_is_outlasted_by_the_retries(own_servers):
    """PostgreSQL goes down with tasks to run: an extraction, then (the OCR worker started during a
    second outage) OCR tasks. Each outage lasts 8 s, longer than the 7 s that exhausted the old
    retries in 4 s; the waits (cap 4 s, jittered) add up to more, and every item ends done."""
    stack = own_servers
    (first,) = _media(stack.tmp, "delta")
    with stack.worker("qextract") as extract, stack.worker("qdefault") as default:
        stack.pg.stop()
        down = time.monotonic()
        stack.queue.send(EXTRACT, first)
        _wait_for(lambda: "Retry in" in extract.read_text(errors="replace"), "a retry", [extract])
        time.sleep(max(0.0, 8 - (time.monotonic() - down)))
        stack.pg.start()
        _wait_for(lambda: _videos([first])[0].extracted, "extraction after the restart", [extract])
        assert len(_ocr_tasks(stack, [first])) >= 1

        stack.pg.stop()
        down = time.monotonic()
        with stack.worker("qocr") as ocr:
            _wait_for(lambda: "Retry in" in ocr.read_text(errors="replace"), "an OCR retry", [ocr])
            time.sleep(max(0.0, 8 - (time.monotonic() - down)))
            stack.pg.start()
            _wait_for(lambda: _videos([first])[0].status == "done", "the item to finish", [ocr, default])
    (v,) = _videos([first])
    assert v.error is None and v.requeues == 0
    assert any("platform" in t.lower() for t in _texts(first))
    retries = [line for line in extract.read_text().splitlines() if "Retry in" in line]
    waits = [float(line.split("Retry in ")[1].split("s")[0]) for line in retries]
    assert waits and min(waits) >= 0.5, waits  # jittered, never collapsed to 0 s
