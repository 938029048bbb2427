"""Dashboard pages through the real app on the test database: rendering, search page, API tokens, CSRF."""

from __future__ import annotations

import re
import uuid

import pytest
from factories import add_frame, make_video_row
from fastapi.testclient import TestClient
from sqlalchemy import select

from dva_ocr.db.session import session_scope
from dva_ocr.db.tables import User, Video
from dva_ocr.users import create_user

PASSWORD = "correct horse battery"


def _csrf(html: str) -> str:
    m = re.search(r'<meta name="csrf-token" content="([^"]+)"', html)
    assert m, "no CSRF meta tag on the page"
    return m.group(1)


@pytest.fixture()
def app(db):
    from dva_ocr.web import create_app
    from dva_ocr.work import RecordingQueue

    return create_app(queue=RecordingQueue())


@pytest.fixture()
def user_name(db) -> str:
    name = f"pages-{uuid.uuid4().hex[:8]}"
    with session_scope() as s:
        create_user(session=s, name=name, password=PASSWORD)
    return name


@pytest.fixture()
def client(app, user_name) -> TestClient:
    """A browser-like client logged in through the form."""
    c = TestClient(app, follow_redirects=False)
    page = c.get("/login")
    r = c.post(
        "/login",
        data={"username": user_name, "password": PASSWORD, "next": "/", "csrf_token": _csrf(page.text)},
    )
    assert r.status_code == 303, r.text
    return c


@pytest.fixture()
def corpus(db):
    with session_scope() as s:
        a = make_video_row(s, "news.mp4")
        b = make_video_row(s, "trains.mp4")
        add_frame(s, a, 3, ["Breaking news from the harbour"])
        add_frame(s, a, 4, ["Exit 14 next right", "Invoice number 48213"])
        add_frame(s, b, 7, ["Platform nine departures"])
        failed = make_video_row(s, "broken.mp4", status="failed")
        failed.error = "not a media file: the file is empty (0 bytes)"
        return a.id, b.id, failed.id


def test_every_page_renders_for_a_logged_in_user(client, corpus, user_name):
    a, b, failed = corpus
    for path, marker in [
        ("/", 'id="media-table"'),
        ("/upload", 'id="dropzone"'),
        ("/search", 'name="q"'),
        ("/search?q=harbour", "Breaking news"),
        ("/jobs", 'id="queues"'),
        ("/settings", "API tokens"),
        (f"/media/{a}", 'id="media-view"'),
        (f"/media/{a}?t=4", 'data-frame="4"'),
    ]:
        r = client.get(path)
        assert r.status_code == 200, (path, r.text[:500])
        assert r.headers["content-type"].startswith("text/html")
        assert marker in r.text, path
        for link in ('href="/upload"', 'href="/search"', 'href="/jobs"', 'href="/settings"'):
            assert link in r.text, (path, link)
        assert user_name in r.text
    # the media page points the player at the original and the seek time at the script
    page = client.get(f"/media/{a}?t=3.5").text
    assert f'src="/files/media/{a}/original"' in page and 'data-t="3.5"' in page
    assert 'data-frame="4"' in page or 'data-frame="3"' in page  # nearest sampled frame
    missing = client.get("/media/999999")
    assert missing.status_code == 404 and "no media item 999999" in missing.text


def test_pages_redirect_to_login_without_a_session(app, corpus):
    c = TestClient(app, follow_redirects=False)
    for path in ("/", "/upload", "/search?q=x", "/jobs", "/settings", f"/media/{corpus[0]}"):
        r = c.get(path)
        assert r.status_code == 303, path
        assert r.headers["location"].startswith("/login?next=%2F"), path
    assert c.get("/login").status_code == 200


def test_search_page_groups_highlights_links_and_crops(client, corpus):
    a, b, _ = corpus
    page = client.get("/search", params={"q": "departure OR harbour"}).text
    groups = re.findall(r'<section class="hit-group" data-media="(\d+)">', page)
    assert sorted(map(int, groups)) == sorted([a, b])
    assert "<mark>departures</mark>" in page  # stemmed match highlighted
    assert "<mark>harbour</mark>" in page
    assert f'href="/media/{b}?t=7"' in page
    assert f"background-image:url(/files/media/{b}/frames/7.jpg)" in page
    assert "95%" in page  # confidence
    assert "typo-tolerant" not in page
    # no exact word: the typo-tolerant fallback, marked as such
    fuzzy = client.get("/search", params={"q": "Invoise"}).text
    assert "typo-tolerant" in fuzzy and "<mark>Invoice</mark>" in fuzzy
    # text is escaped, never injected
    evil = client.get("/search", params={"q": "<script>alert(1)</script>"}).text
    assert "<script>alert(1)</script>" not in evil


def test_search_page_filters_and_pagination(client, db):
    with session_scope() as s:
        v = make_video_row(s, "long.mp4")
        other = make_video_row(s, "other.mp4")
        for i in range(25):
            add_frame(s, v, i, [f"Harbour lights {i}"])
        add_frame(s, other, 2, ["Harbour lights elsewhere"])
        vid, oid = v.id, other.id
    first = client.get("/search", params={"q": "harbour", "media": vid}).text
    assert first.count('class="hit"') == 20
    assert 'rel="next"' in first and 'rel="prev"' not in first
    assert f'data-media="{oid}"' not in first
    next_url = re.search(r'<a class="button" rel="next" href="([^"]+)"', first).group(1).replace("&amp;", "&")
    assert "offset=20" in next_url and f"media={vid}" in next_url
    second = client.get(next_url).text
    assert second.count('class="hit"') == 5
    assert 'rel="prev"' in second and 'rel="next"' not in second
    # time range and minimum confidence (the generated regions have 0.95)
    ranged = client.get("/search", params={"q": "harbour", "media": vid, "time_from": 3, "time_to": 5}).text
    assert sorted(re.findall(r'data-time="([\d.]+)"', ranged)) == ["3.0", "4.0", "5.0"]
    assert 'class="hit"' not in client.get("/search", params={"q": "harbour", "min_confidence": "0.99"}).text
    assert (
        client.get("/search", params={"q": "harbour", "min_confidence": "0.9"}).text.count('class="hit"')
        == 20
    )


def test_jobs_page_shows_queues_and_recent_failures(client, corpus):
    page = client.get("/jobs").text
    for q in ("qextract", "qocr", "qdefault"):
        assert f'data-queue="{q}"' in page
    assert "broken.mp4" in page and "the file is empty (0 bytes)" in page
    assert f'data-id="{corpus[2]}"' in page  # retry button


def test_api_token_is_shown_once_works_as_bearer_and_revoking_stops_it(client, app):
    settings = client.get("/settings").text
    r = client.post("/settings/tokens", data={"name": "nightly export", "csrf_token": _csrf(settings)})
    assert r.status_code == 303 and r.headers["location"] == "/settings"  # a reload cannot re-post
    shown = client.get("/settings").text
    token = re.search(r'<code id="new-token">([^<]+)</code>', shown).group(1)
    assert token.startswith("dva_")
    # listed afterwards by name and prefix, never in full again
    again = client.get("/settings").text
    assert "nightly export" in again and token[:10] in again and token not in again

    bearer = TestClient(app, follow_redirects=False)
    assert bearer.get("/api/media").status_code == 401
    ok = bearer.get("/api/media", headers={"Authorization": f"Bearer {token}"})
    assert ok.status_code == 200 and "items" in ok.json()
    assert "never" not in client.get("/settings").text.split("nightly export")[1].split("</tr>")[0]

    token_id = re.search(r'action="/settings/tokens/(\d+)/revoke"', again).group(1)
    r = client.post(f"/settings/tokens/{token_id}/revoke", data={"csrf_token": _csrf(again)})
    assert r.status_code == 303 and r.headers["location"] == "/settings"
    assert bearer.get("/api/media", headers={"Authorization": f"Bearer {token}"}).status_code == 401
    assert "revoked" in client.get("/settings").text


def test_cookie_authenticated_writes_need_the_csrf_token(client, corpus, user_name):
    _, _, failed = corpus
    with session_scope() as s:  # a member changes only what they uploaded
        s.get(Video, failed).owner_id = s.scalar(select(User.id).where(User.name == user_name))
    assert client.post("/settings/tokens", data={"name": "x"}).status_code == 403
    assert client.post("/settings/tokens", data={"name": "x", "csrf_token": "wrong"}).status_code == 403
    assert client.post("/logout").status_code == 403
    assert client.post(f"/api/media/{failed}/retry").status_code == 403
    assert client.delete(f"/api/media/{failed}").status_code == 403
    token = _csrf(client.get("/").text)
    r = client.post(f"/api/media/{failed}/retry", headers={"X-CSRF-Token": token})
    assert r.status_code == 200 and r.json()["status"] == "queued"
    assert client.post("/logout", data={"csrf_token": token}).status_code == 303
    assert client.get("/").status_code == 303  # logged out
