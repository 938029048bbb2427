"""The REST API on real PostgreSQL and Redis: auth on every route, media lifecycle, search, errors."""

from __future__ import annotations

import dataclasses
import io

import pytest
from factories import add_frame, make_video_row
from fastapi.testclient import TestClient
from mediagen import Caption, make_video

from dva_ocr.db.session import session_scope
from dva_ocr.db.tables import Frame, Region, Video
from dva_ocr.users import create_user, issue_token
from dva_ocr.web import create_app
from dva_ocr.work import EXTRACT, RecordingQueue


@pytest.fixture()
def queued() -> RecordingQueue:
    return RecordingQueue()


@pytest.fixture()
def app(db, queued):
    return create_app(queue=queued)


@pytest.fixture()
def anon(app):
    return TestClient(app, follow_redirects=False)


@pytest.fixture()
def client(app):
    with session_scope() as s:
        user = create_user(session=s, name="ana", password="correct horse", is_admin=True)
        _, token = issue_token(session=s, user=user, name="tests")
    return TestClient(app, headers={"Authorization": f"Bearer {token}"}, follow_redirects=False)


def test_login_health_and_static_need_no_user(anon):
    """Every other route needs one: tests/test_web_access.py walks the route table."""
    assert anon.get("/api/health").status_code == 200
    assert anon.get("/login").status_code == 200
    assert anon.get("/static/app.js").status_code == 200


def test_a_wrong_or_revoked_token_is_refused(client, anon):
    assert anon.get("/api/media", headers={"Authorization": "Bearer dva_nope"}).status_code == 401
    assert client.get("/api/me").json()["name"] == "ana"


def test_upload_lists_shows_and_deletes_media(client, queued, tmp_path):
    video = make_video(tmp_path / "clip.mp4", [Caption("Harbour", 0, 1)], duration=2, size="320x240")
    with video.open("rb") as f:
        res = client.post(
            "/api/media", files={"file": ("clip.mp4", f, "video/mp4")}, data={"fps": "2", "max_reuse": "5"}
        )
    assert res.status_code == 201, res.text
    body = res.json()
    media_id = body["id"]
    assert body["media"]["sampling"]["max_reuse_s"] == 5.0  # the change detector's floor, per item
    assert body["created"] and queued.ids_sent(EXTRACT) == [media_id]
    assert body["media"]["name"] == "clip.mp4" and body["media"]["sample_fps"] == 2.0
    assert body["media"]["status"] == "queued"
    # the same bytes again: the same item, nothing queued twice
    with video.open("rb") as f:
        again = client.post("/api/media", files={"file": ("copy.mp4", f, "video/mp4")}).json()
    assert again["id"] == media_id and not again["created"] and queued.ids_sent(EXTRACT) == [media_id]

    listed = client.get("/api/media").json()["items"]
    assert [m["id"] for m in listed] == [media_id]
    one = client.get(f"/api/media/{media_id}").json()
    assert one["progress"] == {
        "frames_total": None,
        "frames_extracted": 0,
        "frames_ocr": 0,
        "frames_skipped": 0,
        "frames_partial": 0,
        "fraction": 0.0,
    }

    # the original is served with range support, so players can seek
    full = client.get(f"/files/media/{media_id}/original")
    assert full.status_code == 200 and full.content == video.read_bytes()
    part = client.get(f"/files/media/{media_id}/original", headers={"Range": "bytes=10-19"})
    assert part.status_code == 206 and part.content == video.read_bytes()[10:20]

    assert client.delete(f"/api/media/{media_id}").status_code == 204
    assert client.get(f"/api/media/{media_id}").status_code == 404
    with session_scope() as s:
        assert s.query(Video).count() == 0


def _small_limit_client(client, limit: int, queued: RecordingQueue) -> TestClient:
    from dva_ocr.settings import get_settings

    settings = dataclasses.replace(get_settings(), upload_max_bytes=limit)
    return TestClient(create_app(settings=settings, queue=queued), headers=client.headers)


def test_uploads_that_are_not_media_or_too_large_are_refused(client, queued):
    res = client.post(
        "/api/media", files={"file": ("notes.mp4", io.BytesIO(b"hello world" * 100), "video/mp4")}
    )
    assert res.status_code == 415
    assert res.json()["error"].startswith("notes.mp4: not a media file")
    # over the limit while streaming to disk (the declared length is within the envelope allowance)
    small = _small_limit_client(client, 1000, queued)
    res = small.post("/api/media", files={"file": ("big.mp4", io.BytesIO(b"x" * 5000), "video/mp4")})
    assert res.status_code == 413 and "upload limit" in res.json()["error"]
    # declared too large: refused before the body is read
    res = small.post("/api/media", files={"file": ("big.mp4", io.BytesIO(b"x" * 200_000), "video/mp4")})
    assert res.status_code == 413
    assert res.json()["error"] == "the request body is larger than the upload limit of 1000 bytes"
    assert queued.sent == []
    assert client.get("/api/media").json()["items"] == []


def test_regions_frames_and_search(client):
    with session_scope() as s:
        v = make_video_row(s, "news.mp4")
        add_frame(s, v, 3, ["Breaking news from the harbour"])
        add_frame(s, v, 4, ["Invoice number 48213"])
        vid = v.id
    regions = client.get(f"/api/media/{vid}/regions").json()["regions"]
    assert [(r["frame_index"], r["time"], r["text"]) for r in regions] == [
        (3, 3.0, "Breaking news from the harbour"),
        (4, 4.0, "Invoice number 48213"),
    ]
    assert regions[0]["box"] == [10, 20, 200, 40] and len(regions[0]["polygon"]) == 4

    hits = client.get("/api/search", params={"q": "harbour"}).json()["hits"]
    assert [(h["media_id"], h["time"], h["match"]) for h in hits] == [(vid, 3.0, "fulltext")]
    fuzzy = client.get("/api/search", params={"q": "Invoise"}).json()["hits"]
    assert fuzzy[0]["match"] == "fuzzy"
    # a track matches a time range it overlaps: on screen from 3.0 until the next sample at 4.0
    assert len(client.get("/api/search", params={"q": "harbour", "time_from": 3.5}).json()["hits"]) == 1
    assert client.get("/api/search", params={"q": "harbour", "time_from": 4.5}).json()["hits"] == []
    assert client.get("/api/search", params={"q": "harbour", "min_confidence": 0.99}).json()["hits"] == []
    assert client.get("/api/search", params={"q": "harbour OR invoice", "limit": 1, "offset": 1}).json()[
        "hits"
    ]


@pytest.mark.parametrize(
    "q",
    ['"unclosed', "((", "a & | ! b", "-", "OR", "%", "\\", "':*", "x\x00y", "the", "a " * 20, "x" * 10_000],
)
def test_bad_query_syntax_is_never_a_server_error(client, q):
    res = client.get("/api/search", params={"q": q})
    if res.status_code == 400:  # refused with a reason: too long, too many terms
        assert res.json()["error"]
    else:
        assert res.status_code == 200 and isinstance(res.json()["hits"], list)
        assert isinstance(res.json()["notes"], list)


def test_search_limits_are_400s_with_a_reason(client):
    assert client.get("/api/search", params={"q": "x" * 501}).status_code == 400
    many = client.get("/api/search", params={"q": " ".join(f"w{i}" for i in range(20))})
    assert many.status_code == 400 and "terms" in many.json()["error"]
    deep = client.get("/api/search", params={"q": "harbour", "offset": 5001})
    assert deep.status_code == 400
    common = client.get("/api/search", params={"q": "of the"}).json()
    assert common["notes"] and "common words" in common["notes"][0]


def test_errors_are_json_messages(client):
    assert client.get("/api/media/999").json() == {"error": "no media item 999"}
    res = client.get("/api/search", params={"q": "x", "limit": 0})
    assert res.status_code == 400 and res.json()["error"] == "invalid request"
    res = client.get("/api/search")
    assert res.status_code == 400 and any("q" in p for p in res.json()["problems"])
    assert client.get("/files/media/999/frames/0.jpg").status_code == 404


def test_retry_requeues_only_failed_items(client, queued):
    with session_scope() as s:
        v = make_video_row(s, "bad.mp4", status="failed")
        v.error = "not a video"
        vid = v.id
    res = client.post(f"/api/media/{vid}/retry")
    assert res.status_code == 200 and res.json()["status"] == "queued" and queued.ids_sent(EXTRACT) == [vid]
    assert client.post(f"/api/media/{vid}/retry").status_code == 400  # now queued, not failed


def test_metrics_in_prometheus_text_format(client):
    with session_scope() as s:
        v = make_video_row(s, "m.mp4")
        add_frame(s, v, 0, ["hello"])
    client.get("/api/media")
    text = client.get("/metrics").text
    assert "# TYPE dva_frames_read_total counter" in text  # counted by the workers (tests/test_metrics.py)
    assert 'dva_queue_depth{queue="qocr"}' in text
    assert 'dva_http_request_duration_seconds_count{method="GET",route="/api/media",status="200"}' in text
    assert 'dva_media{status="done"} 1.0' in text


def test_health_reports_services(anon):
    body = anon.get("/api/health").json()
    assert body == {"database": True, "broker": True, "status": "ok"}


def test_openapi_documents_the_api(anon, client):
    assert anon.get("/openapi.json").status_code == 401  # the API description is for users too
    paths = client.get("/openapi.json").json()["paths"]
    for p in (
        "/api/media",
        "/api/media/{media_id}",
        "/api/media/{media_id}/regions",
        "/api/search",
        "/api/health",
    ):
        assert p in paths
    with session_scope() as s:  # keep the unused-model imports honest: tables exist
        assert s.query(Frame).count() == 0 and s.query(Region).count() == 0


def test_search_hits_say_which_characters_matched(client):
    with session_scope() as s:
        v = make_video_row(s, "trains.mp4")
        add_frame(s, v, 4, ["Exit 14 next right", "Invoice number 48213"])
        add_frame(s, v, 7, ["Platform nine departures"])

    def marked(q):
        hits = client.get("/api/search", params={"q": q}).json()["hits"]
        return [(h["match"], [h["text"][a:b] for a, b in h["highlights"]]) for h in hits]

    stemmed = client.get("/api/search", params={"q": "departure"}).json()["hits"]
    assert [h["highlights"] for h in stemmed] == [[[14, 24]]]  # "departures"
    assert marked('"next right"') == [("fulltext", ["next", "right"])]
    assert marked("Invoise") == [("fuzzy", ["Invoice"])]
    regions = client.get("/api/search", params={"q": "departure", "level": "regions"}).json()["hits"]
    assert [h["highlights"] for h in regions] == [[[14, 24]]]
