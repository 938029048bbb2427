"""Fixtures on real services: a fresh PostgreSQL database per run, a Redis key prefix per run,
real Celery workers started as subprocesses, a temporary MEDIA_ROOT."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _clear_caches() -> None:
    from dva_ocr.db import session
    from dva_ocr.settings import get_settings

    session.get_engine.cache_clear()
    session._factory.cache_clear()
    get_settings.cache_clear()


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def service_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """Environment of this test run: own database, own broker key prefix, own media root."""
    from dva_ocr.db.migrate import drop_database, upgrade

    tag = f"t{os.getpid()}"
    env = {
        "DATABASE_URL": f"postgresql+psycopg://postgres:postgres@127.0.0.1:5432/dva_ocr_test_{tag}",
        "BROKER_URL": os.environ.get("BROKER_URL", "redis://127.0.0.1:6379/0"),
        "BROKER_PREFIX": f"dvatest-{tag}",
        "MEDIA_ROOT": str(tmp_path_factory.mktemp("media")),
        "OCR_BATCH_FRAMES": "4",
        "OCR_THREADS": "0",
        # no periodic sweep in the test stack: it would act on rows the sweep tests age on purpose, and
        # its reads deadlock with the TRUNCATE of the `db` fixture (tests/test_stuck_work.py runs a
        # roll-up worker with the sweep on, on broker keys of its own)
        "SWEEP_INTERVAL_S": "0",
        # the web app that `manage.py up` starts listens here (the browser test talks to it)
        "WEB_HOST": "127.0.0.1",
        "WEB_PORT": str(_free_port()),
    }
    with pytest.MonkeyPatch.context() as mp:
        for k, v in env.items():
            mp.setenv(k, v)
        _clear_caches()
        drop_database(env["DATABASE_URL"])
        upgrade(env["DATABASE_URL"])
        yield env
        from dva_ocr.db.session import get_engine

        get_engine().dispose()
        drop_database(env["DATABASE_URL"])
        _flush_redis_prefix(env)
    _clear_caches()


def _flush_redis_prefix(env: dict[str, str]) -> None:
    import redis

    r = redis.Redis.from_url(env["BROKER_URL"])
    keys = list(r.scan_iter(match=f"{env['BROKER_PREFIX']}:*"))
    if keys:
        r.delete(*keys)


@pytest.fixture()
def db(service_env: dict[str, str]) -> Iterator[None]:
    """An empty schema for one test (tables truncated before it runs). The session's stack may still be
    finishing an earlier test's task: a TRUNCATE chosen as the victim of a deadlock with it is run again."""
    from psycopg import errors
    from sqlalchemy import text
    from sqlalchemy.exc import OperationalError

    from dva_ocr.db.session import session_scope

    for attempt in range(5):
        try:
            with session_scope() as s:
                s.execute(
                    text(
                        "TRUNCATE regions, frame_ocr, text_tracks, frames, job_items, jobs, videos,"
                        " model_versions, api_tokens, users, search_words, web_sessions, auth_failures"
                        " RESTART IDENTITY CASCADE"
                    )
                )
            break
        except OperationalError as exc:
            if not isinstance(exc.orig, errors.DeadlockDetected) or attempt == 4:
                raise
            time.sleep(0.5)
    yield


@pytest.fixture(scope="session")
def workers(service_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The real stack as a user starts it: `./manage.py up` (one Celery worker per queue)."""
    from stack import running_stack

    with running_stack(tmp_path_factory.mktemp("stack") / "up.log") as log:
        yield log


SERVICE_FIXTURES = frozenset({"service_env", "db", "workers"})


@pytest.hookimpl(tryfirst=True)  # before `-m` deselects by marker
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark ``integration`` every test that needs the services (through any of its fixtures); tests that
    load the OCR models or train without them carry the marker in their own files. `make test-fast`
    runs the rest: ``pytest -m "not integration"``."""
    for item in items:
        if SERVICE_FIXTURES.intersection(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.integration)


@pytest.fixture()
def web_url(workers: Path, service_env: dict[str, str]) -> str:
    """The base URL of the real web server that ``workers`` (``manage.py up``) started, once it answers."""
    import time

    import httpx

    url = f"http://{service_env['WEB_HOST']}:{service_env['WEB_PORT']}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/api/health", timeout=2).status_code == 200:
                return url
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise RuntimeError(f"the web app at {url} did not answer")
