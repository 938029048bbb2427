"""Logs: one ``configure_logging`` for every process; LOG_FORMAT=json gives one JSON object per line with
the context of the work (the request id of an HTTP request). The worker side (task id, media id and the
request id that queued the task): tests/test_observability.py."""

from __future__ import annotations

import io
import json
import logging
import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from runcli import run_cli

from dva_ocr import logs
from dva_ocr.db.session import session_scope
from dva_ocr.users import create_user, issue_token
from dva_ocr.web import create_app
from dva_ocr.web.request_ids import request_id_of
from dva_ocr.work import RecordingQueue

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture()
def captured() -> Iterator[io.StringIO]:
    """The root logger writing JSON into a buffer at INFO, as a server process would; restored after."""
    root = logging.getLogger()
    level, stream = root.level, io.StringIO()
    handler = logs.configure_logging(logging.INFO, fmt="json", stream=stream)
    yield stream
    root.removeHandler(handler)
    root.setLevel(level)


def _records(stream: io.StringIO) -> list[dict]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_json_lines_have_time_level_logger_message_context_and_traceback(captured):
    log = logging.getLogger("dva_ocr.test")
    token = logs.bind(request_id="r-1", media_id=7, job_id=None)
    try:
        log.warning("two\nlines", extra={"frames": 3})
        try:
            raise ValueError("bad frame")
        except ValueError:
            log.exception("failed")
    finally:
        logs.reset(token)
    log.info("after")
    first, second, third = _records(captured)  # three records, three lines: newlines are escaped
    assert (
        first["level"] == "WARNING" and first["logger"] == "dva_ocr.test" and first["message"] == "two\nlines"
    )
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+00:00", first["time"])
    assert (first["request_id"], first["media_id"], first["frames"]) == ("r-1", 7, 3)
    assert "job_id" not in first  # None is left out
    assert second["level"] == "ERROR" and "ValueError: bad frame" in second["exc_info"]
    assert "request_id" not in third  # the context ended with the work


def test_text_format_puts_the_context_after_the_message():
    stream, level = io.StringIO(), logging.getLogger().level
    handler = logs.configure_logging(logging.INFO, fmt="text", stream=stream)
    try:
        token = logs.bind(task_id="t-9", media_id=4)
        logging.getLogger("dva_ocr.test").info("read %d frames", 8)
        logs.reset(token)
    finally:
        logging.getLogger().removeHandler(handler)
        logging.getLogger().setLevel(level)
    assert re.search(
        r" INFO dva_ocr\.test: read 8 frames \[task_id=t-9 media_id=4\]$", stream.getvalue().strip()
    )


def test_configure_logging_twice_keeps_one_handler():
    root = logging.getLogger()
    level = root.level
    first = logs.configure_logging(logging.WARNING)
    second = logs.configure_logging(logging.WARNING)
    try:
        assert first not in root.handlers and root.handlers.count(second) == 1
    finally:
        root.removeHandler(second)
        root.setLevel(level)


def test_a_request_id_is_taken_when_sane_else_made():
    assert request_id_of("4f1c2b9e-0d7a-4c51-9a5e-0c8e2f6b1a33") == "4f1c2b9e-0d7a-4c51-9a5e-0c8e2f6b1a33"
    assert request_id_of("trace.7/abc=") == "trace.7/abc="
    for insane in (None, "", "has space", 'quo"te', "x" * 129, "line\nbreak", "-leading-dash", "ünï"):
        made = request_id_of(insane)
        assert re.fullmatch(r"[0-9a-f]{32}", made), insane
    assert request_id_of(None) != request_id_of(None)


def test_every_line_logged_for_a_request_carries_its_id(db, captured):
    with session_scope() as s:
        user = create_user(session=s, name="ana", password="correct horse", is_admin=True)
        _, token = issue_token(session=s, user=user, name="tests")
    app = create_app(queue=RecordingQueue())
    work = logging.getLogger("dva_ocr.test.work")

    def works() -> dict:
        work.info("working")
        return {}

    def breaks() -> dict:
        raise RuntimeError("it broke")

    app.add_api_route("/api/test-works", works)
    app.add_api_route("/api/test-breaks", breaks)
    client = TestClient(app, headers={"Authorization": f"Bearer {token}"}, raise_server_exceptions=False)

    res = client.get("/api/test-works", headers={"X-Request-ID": "req-works-1"})
    assert res.status_code == 200 and res.headers["X-Request-ID"] == "req-works-1"
    res = client.get("/api/test-breaks", headers={"X-Request-ID": "req-breaks-2"})
    assert res.status_code == 500 and res.json()["error"].startswith("internal error")
    plain = client.get("/api/media")
    assert re.fullmatch(r"[0-9a-f]{32}", plain.headers["X-Request-ID"])
    assert client.get("/api/media").headers["X-Request-ID"] != plain.headers["X-Request-ID"]

    records = _records(captured)
    (worked,) = [r for r in records if r["message"] == "working"]
    assert worked["request_id"] == "req-works-1"
    (crashed,) = [r for r in records if r["message"].startswith("unhandled error")]
    assert crashed["request_id"] == "req-breaks-2" and "RuntimeError: it broke" in crashed["exc_info"]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_the_web_server_logs_json_lines_with_request_ids(service_env, tmp_path):
    """`manage.py web` with LOG_FORMAT=json: uvicorn's own lines (start-up, access) are JSON too, and a
    request's access line carries its id."""
    port = _free_port()
    log = tmp_path / "web.log"
    env = os.environ.copy() | {"LOG_FORMAT": "json"}
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, str(ROOT / "manage.py"), "web", "--port", str(port)],
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=ROOT,
            env=env,
        )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                res = httpx.get(f"http://127.0.0.1:{port}/api/health", headers={"X-Request-ID": "probe-42"})
                break
            except httpx.HTTPError:
                assert proc.poll() is None and time.monotonic() < deadline, log.read_text()
                time.sleep(0.3)
        assert res.headers["X-Request-ID"] == "probe-42"
        time.sleep(0.5)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    lines = [line for line in log.read_text().splitlines() if line.strip()]
    records = [json.loads(line) for line in lines]  # every line, start-up to shutdown, is JSON
    assert any(r["logger"] == "uvicorn.error" and "Uvicorn running" in r["message"] for r in records)
    access = [r for r in records if r["logger"] == "uvicorn.access" and "/api/health" in r["message"]]
    assert access and access[-1]["request_id"] == "probe-42", access


def test_commands_log_json_too(service_env, monkeypatch):
    monkeypatch.setenv("LOG_FORMAT", "json")
    monkeypatch.setenv("LOG_LEVEL", "INFO")
    proc = run_cli("migrate")
    assert proc.returncode == 0, proc.stderr
    logged = [json.loads(line) for line in proc.stderr.splitlines() if line.startswith("{")]
    assert any(r["logger"].startswith("alembic") and r["level"] == "INFO" for r in logged), proc.stderr
    assert not re.search(r"^(INFO|WARNING)\b", proc.stderr, re.M)  # no line in another format
