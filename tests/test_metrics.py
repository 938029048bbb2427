"""Metrics on real Redis and PostgreSQL: counters recorded in Redis and read back by /metrics, the
pipeline counting its work where it happens (run in this process through ``InlineQueue``), and the
HTTP histogram's route labels. Counters fed by real Celery workers: tests/test_observability.py."""

from __future__ import annotations

import logging
import re

import pytest
import redis
from factories import FakeRegion
from fastapi.testclient import TestClient
from mediagen import Caption, make_video

from dva_ocr import telemetry
from dva_ocr.db.session import session_scope
from dva_ocr.pipeline import register_media
from dva_ocr.users import create_user, issue_token
from dva_ocr.web import create_app
from dva_ocr.work import EXTRACT, RecordingQueue
from dva_ocr.work.inline import InlineQueue


def _clear(prefix: str) -> None:
    r = redis.Redis.from_url("redis://127.0.0.1:6379/0")
    keys = list(r.scan_iter(match=f"{prefix}:metrics:*"))
    if keys:
        r.delete(*keys)


@pytest.fixture()
def recording(service_env):
    """Recording on in this process, into this run's (emptied) metrics keys."""
    _clear(service_env["BROKER_PREFIX"])
    store = telemetry.enable()
    yield store
    telemetry.disable()
    _clear(service_env["BROKER_PREFIX"])


@pytest.fixture()
def client(db):
    with session_scope() as s:
        user = create_user(session=s, name="ana", password="correct horse", is_admin=True)
        _, token = issue_token(session=s, user=user, name="tests")
    app = create_app(queue=RecordingQueue())
    return TestClient(app, headers={"Authorization": f"Bearer {token}"}, follow_redirects=False)


def samples(text: str) -> dict[str, float]:
    """``name{labels}`` -> value of every sample in a Prometheus text exposition."""
    out = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            key, _, value = line.rpartition(" ")
            out[key] = float(value)
    return out


def test_counters_and_histograms_round_trip_through_redis(recording):
    telemetry.count(telemetry.FRAMES_READ, 3, queue="qocr", model="ppocrv4")
    telemetry.count(telemetry.FRAMES_READ, 2, queue="qocr", model="ppocrv4")
    telemetry.count(telemetry.FRAMES_READ, 1, queue="qocr", model="mine")
    for seconds in (0.07, 0.3, 20000.0):
        telemetry.observe(telemetry.TASK_DURATION, seconds, task="dva_ocr.ocr_frames", queue="qocr")

    stored = telemetry.read(recording.client, recording.prefix)
    frames = {s.labels: s.value for s in stored[telemetry.FRAMES_READ]}
    assert frames == {("qocr", "mine"): 1.0, ("qocr", "ppocrv4"): 5.0}
    (durations,) = stored[telemetry.TASK_DURATION]
    assert durations.labels == ("dva_ocr.ocr_frames", "qocr")
    assert durations.count == 3 and durations.sum == pytest.approx(20000.37)
    buckets = dict(durations.buckets)  # cumulative, as Prometheus wants them
    assert (buckets["0.05"], buckets["0.1"], buckets["0.25"], buckets["0.5"]) == (0, 1, 1, 2)
    assert buckets["14400.0"] == 2 and buckets["+Inf"] == 3
    assert stored[telemetry.MODEL_LOAD] == []  # nothing recorded: no series


def test_recording_refuses_wrong_labels_and_falling_counters(recording):
    with pytest.raises(ValueError, match="takes the labels"):
        telemetry.count(telemetry.FRAMES_READ, 1, queue="qocr")
    with pytest.raises(ValueError, match="only grow"):
        telemetry.count(telemetry.MEDIA_INGESTED, -1)
    with pytest.raises(ValueError, match="histogram"):
        telemetry.count(telemetry.TASK_DURATION, task="t", queue="q")


def test_nothing_is_recorded_while_off_and_an_unreachable_redis_does_not_stop_the_work(service_env, caplog):
    _clear(service_env["BROKER_PREFIX"])
    telemetry.disable()
    telemetry.count(telemetry.MEDIA_INGESTED)
    r = redis.Redis.from_url(service_env["BROKER_URL"])
    assert telemetry.read(r, service_env["BROKER_PREFIX"])[telemetry.MEDIA_INGESTED] == []

    telemetry.enable(url="redis://127.0.0.1:1/0")  # nothing listens on port 1
    try:
        with caplog.at_level(logging.WARNING, logger="dva_ocr.telemetry"):
            telemetry.count(telemetry.MEDIA_INGESTED)
            telemetry.observe(telemetry.MODEL_LOAD, 1.0, model="ppocrv4")
    finally:
        telemetry.disable()
    warnings = [r for r in caplog.records if "metrics not recorded" in r.getMessage()]
    assert len(warnings) == 1  # said once, not per record


def test_the_pipeline_counts_its_work_and_metrics_exports_it(recording, client, tmp_path):
    """A video through the real stages (in this process): frames read, regions, one ingest; the old
    counters that were database counts are gone."""

    class Reader:
        def batch(self, images):
            return [[FakeRegion("Platform nine")] for _ in images]

    video = make_video(tmp_path / "a.mp4", [Caption("Platform nine", 0, 2)], duration=4)
    queue = InlineQueue(reader_for=lambda _name: Reader())
    with session_scope() as s:
        media_id = register_media(s, video).media_id
    queue.send(EXTRACT, media_id)

    got = samples(client.get("/metrics").text)
    frames = got['dva_frames_read_total{model="ppocrv4",queue="inline"}']
    assert frames >= 1
    assert got['dva_regions_stored_total{model="ppocrv4",queue="inline"}'] == frames  # one per frame
    assert got['dva_ocr_seconds_total{model="ppocrv4",queue="inline"}'] > 0
    assert got["dva_media_ingested_total"] == 1
    assert got['dva_media{status="done"}'] == 1
    for gone in (
        "dva_frames_processed",
        "dva_regions_found",
        "dva_task_failures",
        "dva_http_request_seconds",
    ):
        assert not any(k.startswith(gone) for k in got), gone

    queue.send(EXTRACT, media_id)  # done already: the roll-up is not run again, nothing new ingested
    assert samples(client.get("/metrics").text)["dva_media_ingested_total"] == 1


def test_http_durations_are_labelled_by_route_template_static_or_unmatched(client):
    assert client.get("/api/media").status_code == 200
    assert client.get("/api/media/424242").status_code == 404  # a route that matched, no such item
    assert client.get("/static/app.css").status_code == 200
    assert client.get("/static/no-such-file.css").status_code == 404
    assert client.get("/no/such/page/31337").status_code == 404  # no route at all
    text = client.get("/metrics").text
    got = samples(text)

    def count(route: str, status: str) -> float:
        return got.get(
            f'dva_http_request_duration_seconds_count{{method="GET",route="{route}",status="{status}"}}', 0
        )

    assert count("/api/media", "200") == 1
    assert count("/api/media/{media_id}", "404") == 1
    assert count("static", "200") == 1 and count("static", "404") == 1
    assert count("unmatched", "404") == 1
    routes = set(re.findall(r'dva_http_request_duration_seconds_count\{[^}]*route="([^"]*)"', text))
    assert not any(re.search(r"424242|31337|app\.css", r) for r in routes), routes  # no raw paths


def test_an_item_the_sweep_fails_is_counted_as_failed(recording, client):
    from factories import make_video_row
    from sqlalchemy import text

    from dva_ocr.pipeline.sweep import sweep_stuck

    with session_scope() as s:
        stuck = make_video_row(s, "lost.mp4", status="queued").id
        s.execute(
            text("UPDATE videos SET touched_at = now() - interval '1 hour' WHERE id = :id"), {"id": stuck}
        )
    assert samples(client.get("/metrics").text).get("dva_media_failed_total", 0) == 0
    actions = sweep_stuck(RecordingQueue(), stale_after_s=60, max_requeues=0)
    assert [(a.media_id, a.action) for a in actions] == [(stuck, "failed")]
    assert samples(client.get("/metrics").text)["dva_media_failed_total"] == 1
