"""Metrics and logs against real Celery workers (one per queue, `manage.py worker`, LOG_FORMAT=json) on
broker keys of this module's own: the workers' counters reach /metrics, survive a delete, feed every
panel of the Grafana dashboard, and an upload's request id is on the worker log lines of its tasks."""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from fastapi.testclient import TestClient
from mediagen import Caption, make_corrupt, make_video
from servers import worker
from test_metrics import samples

from dva_ocr.db.session import session_scope
from dva_ocr.pipeline import register_media
from dva_ocr.settings import get_settings
from dva_ocr.users import create_user, issue_token
from dva_ocr.web import create_app
from dva_ocr.work import EXTRACT

ROOT = Path(__file__).resolve().parents[1]
QUEUES = ("qextract", "qocr", "qdefault")
DASHBOARD = ROOT / "compose" / "grafana" / "dva-ocr.json"
# gauges may fall (they say what is now); everything else exported is a counter or histogram sample
GAUGES = ("dva_media{", "dva_queue_depth{")


@pytest.fixture(scope="module")
def json_workers(service_env, tmp_path_factory) -> Iterator[dict[str, Path]]:
    """One worker per queue with JSON logs, on broker (and metrics) keys of this module; this process'
    settings point at the same keys, so the web app below queues to them and reads their metrics."""
    prefix = f"{service_env['BROKER_PREFIX']}-obs"
    logs_dir = tmp_path_factory.mktemp("obs")
    mp = pytest.MonkeyPatch()
    mp.setenv("BROKER_PREFIX", prefix)
    get_settings.cache_clear()
    # OCR_BATCH_FRAMES=1: each item's frames are OCR tasks of its own, named by its id (fewer frames
    # than a batch wait in the OCR pool and are read in batches across items: tests/test_batches.py)
    env = os.environ.copy() | {"LOG_FORMAT": "json", "SWEEP_INTERVAL_S": "0", "OCR_BATCH_FRAMES": "1"}
    procs, logs = [], {}
    try:
        for q in QUEUES:
            logs[q] = logs_dir / f"{q}.log"
            with logs[q].open("wb") as out:
                procs.append(
                    subprocess.Popen(
                        [
                            sys.executable,
                            str(ROOT / "manage.py"),
                            "worker",
                            "--queue",
                            q,
                            "--concurrency",
                            "1",
                        ],
                        stdout=out,
                        stderr=subprocess.STDOUT,
                        cwd=ROOT,
                        env=env,
                    )
                )
        deadline = time.monotonic() + 90
        for q, proc in zip(QUEUES, procs, strict=True):
            while " ready." not in logs[q].read_text(errors="replace"):
                assert proc.poll() is None and time.monotonic() < deadline, logs[q].read_text()
                time.sleep(0.2)
        yield logs
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
        mp.undo()
        get_settings.cache_clear()
        r = redis.Redis.from_url(service_env["BROKER_URL"])
        keys = list(r.scan_iter(match=f"{prefix}:*"))
        if keys:
            r.delete(*keys)


@pytest.fixture()
def client(json_workers, db) -> TestClient:
    from workers.app import make_app
    from workers.queue import CeleryQueue

    with session_scope() as s:
        user = create_user(session=s, name="ana", password="correct horse", is_admin=True)
        _, token = issue_token(session=s, user=user, name="tests")
    app = create_app(queue=CeleryQueue(make_app()))
    return TestClient(app, headers={"Authorization": f"Bearer {token}"}, follow_redirects=False)


def _upload(client: TestClient, path: Path, **headers: str) -> tuple[int, dict]:
    res = client.post(
        "/api/media", files={"file": (path.name, io.BytesIO(path.read_bytes()), "video/mp4")}, headers=headers
    )
    assert res.status_code == 201, res.text
    return res.json()["id"], dict(res.headers)


def _wait_final(client: TestClient, media_id: int, logs: dict[str, Path], timeout: float = 120) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        item = client.get(f"/api/media/{media_id}").json()
        if item["status"] in ("done", "failed"):
            return item
        if time.monotonic() > deadline:
            tails = "\n".join(p.read_text(errors="replace")[-2000:] for p in logs.values())
            raise AssertionError(f"media {media_id} still {item['status']}:\n{tails}")
        time.sleep(0.3)


def _video(tmp_path: Path, name: str, text: str) -> Path:
    return make_video(tmp_path / name, [Caption(text, 0, 1.5)], duration=3)


def _json_lines(logs: dict[str, Path]) -> list[dict]:
    """Every line the workers wrote, each of which must be one JSON object."""
    out = []
    for q, path in logs.items():
        for n, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
            try:
                record = json.loads(line)
            except ValueError:
                raise AssertionError(f"{q} log line {n} is not JSON: {line!r}") from None
            assert isinstance(record, dict) and {"time", "level", "logger", "message"} <= set(record), line
            out.append(record)
    return out


def test_worker_tasks_count_and_time_themselves(client, json_workers, tmp_path):
    before = samples(client.get("/metrics").text)
    media_id, _ = _upload(client, _video(tmp_path, "count.mp4", "Platform nine"))
    item = _wait_final(client, media_id, json_workers)
    assert item["status"] == "done", item
    time.sleep(0.5)  # the roll-up's task_postrun records after the status is committed
    after = samples(client.get("/metrics").text)

    def grew(key: str) -> float:
        return after.get(key, 0) - before.get(key, 0)

    ocr_tasks = {
        r["task_id"]
        for r in _json_lines(json_workers)
        if r.get("task") == "dva_ocr.ocr_frames" and r.get("media_id") == media_id
    }
    assert ocr_tasks, "no worker line names an OCR task of this media item"
    for task, queue, n in (
        ("dva_ocr.extract_video", "qextract", 1),
        ("dva_ocr.ocr_frames", "qocr", len(ocr_tasks)),
        ("dva_ocr.finalize_video", "qdefault", 1),
    ):
        assert grew(f'dva_tasks_total{{outcome="succeeded",queue="{queue}",task="{task}"}}') == n, task
        assert grew(f'dva_task_duration_seconds_count{{queue="{queue}",task="{task}"}}') == n, task
        assert grew(f'dva_task_duration_seconds_sum{{queue="{queue}",task="{task}"}}') > 0, task
        assert grew(f'dva_task_duration_seconds_bucket{{le="+Inf",queue="{queue}",task="{task}"}}') == n
    frames = item["progress"]["frames_ocr"]
    assert frames >= 1 and grew('dva_frames_read_total{model="ppocrv4",queue="qocr"}') == frames
    assert grew('dva_regions_stored_total{model="ppocrv4",queue="qocr"}') >= 1
    assert grew('dva_ocr_seconds_total{model="ppocrv4",queue="qocr"}') > 0
    assert grew("dva_media_ingested_total") == 1
    # the qocr worker process loaded the model as it started (before `before`, so not a delta)
    assert after['dva_model_load_seconds_count{model="ppocrv4"}'] >= 1
    assert after['dva_model_load_seconds_sum{model="ppocrv4"}'] > 0


def test_counters_do_not_fall_when_media_is_deleted(client, json_workers, tmp_path):
    """The finding: a failure counter fell from 1 to 0 when the failed item was deleted."""
    from workers.app import make_app
    from workers.queue import CeleryQueue

    good, _ = _upload(client, _video(tmp_path, "kept.mp4", "Coffee shop"))
    with session_scope() as s:  # not a media file: ingest accepts it and the worker fails it
        bad = register_media(s, make_corrupt(tmp_path / "broken.mp4")).media_id
    CeleryQueue(make_app()).send(EXTRACT, bad)
    assert _wait_final(client, good, json_workers)["status"] == "done"
    assert _wait_final(client, bad, json_workers)["status"] == "failed"
    time.sleep(0.5)
    worked = samples(client.get("/metrics").text)
    assert worked["dva_media_failed_total"] >= 1 and worked['dva_media{status="failed"}'] == 1
    assert worked['dva_media{status="done"}'] == 1

    for media_id in (good, bad):
        assert client.delete(f"/api/media/{media_id}").status_code == 204
    deleted = samples(client.get("/metrics").text)
    assert deleted['dva_media{status="done"}'] == 0 and deleted['dva_media{status="failed"}'] == 0
    counters = [k for k in worked if k.startswith("dva_") and not k.startswith(GAUGES)]
    assert any(k.startswith("dva_frames_read_total") for k in counters)
    fell = {k: (worked[k], deleted.get(k)) for k in counters if deleted.get(k, -1) < worked[k]}
    assert fell == {}, fell


def test_the_dashboard_queries_only_metrics_that_are_exported(client, json_workers, tmp_path):
    media_id, _ = _upload(client, _video(tmp_path, "panels.mp4", "Exit 14"))
    assert _wait_final(client, media_id, json_workers)["status"] == "done"
    time.sleep(0.5)
    exported = {re.sub(r"\{.*", "", k) for k in samples(client.get("/metrics").text)}

    dashboard = json.loads(DASHBOARD.read_text())
    exprs = [t["expr"] for p in dashboard["panels"] for t in p.get("targets", [])]
    assert len(exprs) >= 8
    queried = {name for e in exprs for name in re.findall(r"\bdva_[a-z_]+", e)}
    assert queried - exported == set(), sorted(exported)
    # and every family of work the cluster exports has a panel
    families = {re.sub(r"_(total|bucket|count|sum|created)$", "", n) for n in exported}
    shown = {re.sub(r"_(total|bucket|count|sum|created)$", "", n) for n in queried}
    assert families - shown == set()


def test_an_uploads_request_id_is_on_the_worker_lines_of_its_tasks(client, json_workers, tmp_path):
    media_id, headers = _upload(
        client, _video(tmp_path, "trace.mp4", "Invoice 4471"), **{"X-Request-ID": "upload-7f3a"}
    )
    assert headers["x-request-id"] == "upload-7f3a"  # given back
    assert _wait_final(client, media_id, json_workers)["status"] == "done"
    time.sleep(0.5)

    mine = [r for r in _json_lines(json_workers) if r.get("request_id") == "upload-7f3a"]
    assert {r["task"] for r in mine} == {
        "dva_ocr.extract_video",
        "dva_ocr.ocr_frames",
        "dva_ocr.finalize_video",
    }, mine
    assert all(r["media_id"] == media_id and r["task_id"] for r in mine)
    # the task ids on the lines are those Celery names in its own messages about the tasks
    for r in mine:
        assert r["queue"] == {"dva_ocr.extract_video": "qextract", "dva_ocr.finalize_video": "qdefault"}.get(
            r["task"], "qocr"
        )
    done = [r for r in mine if "succeeded" in r["message"]]
    assert {r["task"] for r in done} == {r["task"] for r in mine}
    assert all(r["task_id"] in r["message"] for r in done)

    # a request without a sane id of its own gets a new one, which its tasks carry too
    media2, headers2 = _upload(
        client, _video(tmp_path, "trace2.mp4", "Gate 9"), **{"X-Request-ID": 'bad id"{}'}
    )
    new_id = headers2["x-request-id"]
    assert re.fullmatch(r"[0-9a-f]{32}", new_id)
    assert _wait_final(client, media2, json_workers)["status"] == "done"
    time.sleep(0.5)
    assert {r.get("media_id") for r in _json_lines(json_workers) if r.get("request_id") == new_id} == {media2}


def test_retried_and_failed_runs_are_counted_and_keep_the_request_id(service_env, tmp_path):
    """A worker that cannot reach the database: the extraction is retried, then gives up. Each run is
    counted with its outcome and timed, and the retried message still carries the request id."""
    from dva_ocr import logs, telemetry
    from workers.app import make_app
    from workers.queue import CeleryQueue

    prefix = f"{service_env['BROKER_PREFIX']}-obs-retry"
    log = tmp_path / "worker.log"
    env = os.environ.copy() | {
        "BROKER_PREFIX": prefix,
        "LOG_FORMAT": "json",
        "SWEEP_INTERVAL_S": "0",
        "DATABASE_URL": "postgresql+psycopg://postgres@127.0.0.1:1/nowhere",  # nothing listens on port 1
        "TASK_MAX_RETRIES": "1",
        "TASK_RETRY_BACKOFF_MAX_S": "1",
        "TASK_RETRY_JITTER": "0",
    }
    r = redis.Redis.from_url(service_env["BROKER_URL"])
    try:
        with worker(log, "qextract", env, timeout=60):
            deadline = time.monotonic() + 60
            token = logs.bind(request_id="retry-me-1")
            try:
                CeleryQueue(make_app(prefix)).send(EXTRACT, 999)
            finally:
                logs.reset(token)

            def outcomes() -> dict[str, float]:
                stored = telemetry.read(r, prefix)[telemetry.TASKS]
                return {s.labels[2]: s.value for s in stored if s.labels[0] == "dva_ocr.extract_video"}

            while outcomes().get("failed", 0) < 1:
                assert time.monotonic() < deadline + 30, log.read_text()
                time.sleep(0.2)
            assert outcomes() == {"retried": 1.0, "failed": 1.0}
            (durations,) = telemetry.read(r, prefix)[telemetry.TASK_DURATION]
            assert durations.labels == ("dva_ocr.extract_video", "qextract") and durations.count == 2
            lines = [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]
            runs = {x["task_id"] for x in lines if x.get("request_id") == "retry-me-1"}
            assert len(runs) == 1  # a retry is the same task id, and it kept the request id
            assert any("Retry in" in x["message"] and x.get("media_id") == 999 for x in lines)
            assert any(
                "raised unexpected" in x["message"] and x.get("request_id") == "retry-me-1" for x in lines
            )
    finally:
        keys = list(r.scan_iter(match=f"{prefix}:*"))
        if keys:
            r.delete(*keys)
