"""Who may call what, and logins that end: roles on every route (declared in one table that a new
route must join), server-side sessions (logout, password change, disable, idle and absolute expiry),
throttled logins and tokens, the users/createtoken commands. Real PostgreSQL, the real app."""

from __future__ import annotations

import re
import time

import pytest
from factories import make_video_row
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from runcli import run_cli
from sqlalchemy import select
from starlette.routing import Mount

from dva_ocr.db.session import session_scope
from dva_ocr.db.tables import User, Video
from dva_ocr.settings import Settings
from dva_ocr.users import create_user, issue_token
from dva_ocr.web import create_app
from dva_ocr.web.auth import PUBLIC_PATHS, admin, current_user
from dva_ocr.work import RecordingQueue

PASSWORD = "correct horse battery"

# Every route and who may call it. A route missing here (or one here that is gone) fails
# test_every_route_declares_who_may_call_it: adding a route means deciding this.
ACCESS: dict[tuple[str, str], str] = {
    ("GET", "/api/health"): "public",
    ("GET", "/login"): "public",
    ("POST", "/login"): "public",
    ("GET", "/docs"): "member",
    ("GET", "/docs/assets/{name}"): "member",
    ("GET", "/openapi.json"): "member",
    ("GET", "/metrics"): "member",
    ("GET", "/api/me"): "member",
    ("POST", "/api/media"): "member",
    ("GET", "/api/media"): "member",
    ("GET", "/api/media/{media_id}"): "member",
    ("DELETE", "/api/media/{media_id}"): "owner",
    ("POST", "/api/media/{media_id}/retry"): "owner",
    ("POST", "/api/media/{media_id}/cancel"): "owner",
    ("POST", "/api/media/bulk"): "member",  # each item: its uploader or an admin (said per item)
    ("GET", "/api/media/export.zip"): "member",
    ("GET", "/api/media/{media_id}/regions"): "member",
    ("GET", "/api/media/{media_id}/tracks"): "member",
    ("GET", "/api/media/{media_id}/export"): "member",
    ("GET", "/api/media/{media_id}/frames/at"): "member",
    ("GET", "/api/search"): "member",
    ("GET", "/api/models"): "member",
    ("POST", "/api/models/{name}/activate"): "admin",
    ("POST", "/api/jobs"): "admin",
    ("GET", "/api/jobs"): "member",
    ("GET", "/api/jobs/{job_id}"): "member",
    ("POST", "/api/jobs/{job_id}/cancel"): "admin",
    ("POST", "/api/jobs/{job_id}/retry"): "admin",
    ("POST", "/api/jobs/{job_id}/pause"): "admin",
    ("POST", "/api/jobs/{job_id}/resume"): "admin",
    ("GET", "/api/jobs/{job_id}/compare"): "member",
    ("POST", "/api/jobs/{job_id}/promote"): "admin",
    ("GET", "/api/users"): "admin",
    ("PATCH", "/api/users/{user_id}"): "admin",
    ("POST", "/api/users/{user_id}/logout"): "admin",
    ("POST", "/api/users/{user_id}/unlock"): "admin",
    ("GET", "/api/tokens"): "member",
    ("POST", "/api/tokens"): "member",
    ("DELETE", "/api/tokens/{token_id}"): "member",
    ("GET", "/files/media/{media_id}/original"): "member",
    ("GET", "/files/media/{media_id}/frames/{index}.jpg"): "member",
    ("GET", "/"): "member",
    ("GET", "/upload"): "member",
    ("GET", "/media/{media_id}"): "member",
    ("GET", "/search"): "member",
    ("GET", "/jobs"): "member",
    ("GET", "/jobs/live"): "member",
    ("GET", "/jobs/{job_id}/live"): "member",
    ("POST", "/models/{name}/activate"): "admin",
    ("POST", "/jobs/reprocess"): "admin",
    ("GET", "/jobs/{job_id}"): "member",
    ("POST", "/jobs/{job_id}/{action}"): "admin",
    ("GET", "/settings"): "member",
    ("POST", "/settings/tokens"): "member",
    ("POST", "/settings/tokens/{token_id}/revoke"): "member",
    ("POST", "/settings/password"): "member",
    ("POST", "/settings/logout-others"): "member",
    ("POST", "/logout"): "member",
}


def _flat(routes):
    """Every route, through included routers (newer FastAPI keeps them as nested objects; each of
    our routers carries its own prefix)."""
    for route in routes:
        if hasattr(route, "original_router"):
            assert route.include_context.prefix == ""
            yield from _flat(route.original_router.routes)
        else:
            yield route


def _routes(app):
    for route in _flat(app.routes):
        if isinstance(route, Mount):
            assert route.path == "/static"
            continue
        for method in sorted(route.methods - {"HEAD", "OPTIONS"}):
            yield method, route


def _calls(dependant) -> set:
    found = {dependant.call}
    for d in dependant.dependencies:
        found |= _calls(d)
    return found


def _concrete(path: str) -> str:
    for param, value in {"{name}": "ppocrv4", "{action}": "cancel", "{index}": "0"}.items():
        path = path.replace(param, value)
    return re.sub(r"\{\w+\}", "1", path)


@pytest.fixture()
def queued() -> RecordingQueue:
    return RecordingQueue()


def _settings(**changes) -> Settings:
    return Settings(**changes)


@pytest.fixture()
def app(db, queued):
    return create_app(queue=queued)


def _bearer(app, name: str, *, is_admin: bool) -> tuple[TestClient, int]:
    with session_scope() as s:
        user = create_user(session=s, name=name, password=PASSWORD, is_admin=is_admin)
        _, token = issue_token(session=s, user=user, name="tests")
        uid = user.id
    return TestClient(app, headers={"Authorization": f"Bearer {token}"}, follow_redirects=False), uid


def _login(app, name: str, password: str = PASSWORD, client: TestClient | None = None):
    c = client or TestClient(app, follow_redirects=False)
    page = c.get("/login")
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    return c, c.post("/login", data={"username": name, "password": password, "next": "/", "csrf_token": csrf})


def _csrf(html: str) -> str:
    return re.search(r'<meta name="csrf-token" content="([^"]+)"', html).group(1)


def test_every_route_declares_who_may_call_it(app):
    """The route table and ACCESS agree, and each route's dependencies say the same as ACCESS."""
    seen = set()
    for method, route in _routes(app):
        key = (method, route.path)
        assert key in ACCESS, f"{key} is a new route: add it to ACCESS (public, member, owner or admin)"
        seen.add(key)
        if not isinstance(route, APIRoute):
            continue  # /docs and /openapi.json: guarded by the AuthenticateFirst middleware
        calls = _calls(route.dependant)
        declared = ACCESS[key]
        if declared == "public":
            assert route.path in PUBLIC_PATHS and current_user not in calls, key
        elif declared == "admin":
            assert admin in calls, key
        else:
            assert current_user in calls and admin not in calls, key
    assert seen == set(ACCESS), f"routes gone: {set(ACCESS) - seen}"


def test_anonymous_member_and_admin_get_what_the_table_says(app, queued):
    anon = TestClient(app, follow_redirects=False)
    member, member_id = _bearer(app, "mia", is_admin=False)
    boss, _ = _bearer(app, "ana", is_admin=True)
    with session_scope() as s:
        other = make_video_row(s, "someone-elses.mp4").id  # no owner: uploaded by the CLI
    for (method, path), who in ACCESS.items():
        url = _concrete(path)
        if who == "public":
            continue
        res = anon.request(method, url)
        expected = 401 if path.startswith(("/api/", "/files/", "/metrics", "/docs", "/openapi")) else 303
        assert res.status_code == expected, (method, path, res.status_code)
        if who == "admin":
            res = member.request(method, url, json={})
            assert res.status_code == 403, (method, path, res.status_code, res.text)
            assert "admin" in res.json()["error"]
            assert boss.request(method, url, json={}).status_code != 403, (method, path)
    # owner routes: a member may not touch someone else's media, the admin may
    assert member.post(f"/api/media/{other}/retry").status_code == 403
    res = member.delete(f"/api/media/{other}")
    assert res.status_code == 403 and "uploaded by someone else" in res.json()["error"]
    with session_scope() as s:
        mine = make_video_row(s, "mine.mp4")
        mine.owner_id = member_id
        mine_id = mine.id
    assert member.delete(f"/api/media/{mine_id}").status_code == 204
    assert boss.delete(f"/api/media/{other}").status_code == 204
    # a member's upload is theirs
    assert member.get("/api/me").json() == {
        "id": member_id,
        "name": "mia",
        "is_admin": False,
        "role": "member",
    }


def test_members_cannot_change_the_default_model_or_read_users(app):
    member, _ = _bearer(app, "mia", is_admin=False)
    boss, _ = _bearer(app, "ana", is_admin=True)
    default = boss.get("/api/models").json()["default"]
    assert member.post("/api/models/ppocrv5/activate").status_code == 403
    assert boss.get("/api/models").json()["default"] == default
    assert member.get("/api/users").status_code == 403
    names = [u["name"] for u in boss.get("/api/users").json()["users"]]
    assert names == ["mia", "ana"]
    # the jobs page shows no admin forms to a member
    with session_scope() as s:
        create_user(session=s, name="page-member", password=PASSWORD)
    browser, r = _login(app, "page-member")
    assert r.status_code == 303
    page = browser.get("/jobs").text
    assert 'action="/jobs/reprocess"' not in page and "Only an admin" in page


def test_logout_ends_the_session_on_the_server(app):
    with session_scope() as s:
        create_user(session=s, name="lou", password=PASSWORD)
    c, r = _login(app, "lou")
    assert r.status_code == 303
    saved = dict(c.cookies)  # what an attacker copied before the logout
    assert c.get("/api/media").status_code == 200
    assert c.post("/logout", data={"csrf_token": _csrf(c.get("/").text)}).status_code == 303
    replay = TestClient(app, follow_redirects=False, cookies=saved)
    assert replay.get("/api/media").status_code == 401
    assert replay.get("/").status_code == 303


def test_password_change_and_admin_logout_end_other_sessions(app):
    with session_scope() as s:
        create_user(session=s, name="pat", password=PASSWORD)
    laptop, _ = _login(app, "pat")
    phone, _ = _login(app, "pat")
    assert phone.get("/api/media").status_code == 200
    page = laptop.get("/settings").text
    assert "2 dashboard logins open" in page
    wrong = laptop.post(
        "/settings/password", data={"csrf_token": _csrf(page), "current": "nope", "new": "x" * 12}
    )
    assert wrong.status_code == 400 and "current password is wrong" in wrong.text
    done = laptop.post(
        "/settings/password", data={"csrf_token": _csrf(page), "current": PASSWORD, "new": "new password 42"}
    )
    assert done.status_code == 200 and "1 other login ended" in done.text
    assert phone.get("/api/media").status_code == 401  # the other login ended
    assert laptop.get("/api/media").status_code == 200  # this one holds
    _, old = _login(app, "pat")
    assert old.status_code == 401
    tablet, new = _login(app, "pat", "new password 42")
    assert new.status_code == 303
    # an admin logs pat out everywhere
    boss, _ = _bearer(app, "ana", is_admin=True)
    with session_scope() as s:
        pat = s.scalar(select(User.id).where(User.name == "pat"))
    assert boss.post(f"/api/users/{pat}/logout").json() == {"ended": 2}
    assert laptop.get("/api/media").status_code == 401 and tablet.get("/api/media").status_code == 401


def test_a_disabled_user_loses_logins_and_tokens_until_enabled(app):
    member, uid = _bearer(app, "dan", is_admin=False)
    boss, _ = _bearer(app, "ana", is_admin=True)
    browser, _ = _login(app, "dan")
    assert browser.get("/api/media").status_code == 200
    body = boss.patch(f"/api/users/{uid}", json={"disabled": True}).json()
    assert body["disabled"] is True and body["live_sessions"] == 0
    assert member.get("/api/media").status_code == 401
    assert browser.get("/api/media").status_code == 401
    assert _login(app, "dan")[1].status_code == 401
    boss.patch(f"/api/users/{uid}", json={"disabled": False, "role": "admin"})
    assert member.get("/api/users").status_code == 200  # the token works again, as an admin now
    # the last active admin cannot be demoted
    with session_scope() as s:
        admins = s.scalars(select(User).where(User.is_admin)).all()
        assert {u.name for u in admins} == {"ana", "dan"}
    assert boss.patch(f"/api/users/{uid}", json={"role": "member"}).status_code == 200
    res = member.patch(f"/api/users/{uid}", json={"role": "member"})  # dan is a member again: 403
    assert res.status_code == 403
    with session_scope() as s:
        ana = s.scalar(select(User.id).where(User.name == "ana"))
    res = boss.patch(f"/api/users/{ana}", json={"role": "member"})
    assert res.status_code == 400 and "last active admin" in res.json()["error"]


def test_sessions_expire_when_idle_and_after_their_maximum(db):
    with session_scope() as s:
        create_user(session=s, name="ida", password=PASSWORD)
    idle_app = create_app(settings=_settings(session_idle_s=1), queue=RecordingQueue())
    c, _ = _login(idle_app, "ida")
    assert c.get("/api/media").status_code == 200
    time.sleep(1.5)
    assert c.get("/api/media").status_code == 401
    short_app = create_app(settings=_settings(session_max_s=2), queue=RecordingQueue())
    c, _ = _login(short_app, "ida")
    for _ in range(2):  # used all along, it still ends at its maximum age
        assert c.get("/api/media").status_code == 200
        time.sleep(0.8)
    time.sleep(0.6)
    assert c.get("/api/media").status_code == 401


def test_failed_logins_are_throttled_per_account_with_retry_after(db):
    app = create_app(settings=_settings(login_free_failures=2, login_lock_s=1.0), queue=RecordingQueue())
    with session_scope() as s:
        create_user(session=s, name="tom", password=PASSWORD)
    c = TestClient(app, follow_redirects=False)
    assert [_login(app, "tom", "wrong", c)[1].status_code for _ in range(2)] == [401, 401]
    third = _login(app, "tom", "wrong", c)[1]
    assert third.status_code == 429 and third.headers["Retry-After"] == "1"
    locked = _login(app, "tom", PASSWORD, c)[1]  # even the right password waits
    assert locked.status_code == 429 and "Too many failed logins" in locked.text
    time.sleep(1.1)
    again = _login(app, "tom", "wrong", c)[1]
    assert again.status_code == 429 and again.headers["Retry-After"] == "2"  # the wait doubles
    # an admin clears the lock
    out = run_cli("users", "unlock", "tom")
    assert out.returncode == 0 and "cleared 1 lock" in out.stdout
    assert _login(app, "tom", PASSWORD, c)[1].status_code == 303


def test_wrong_tokens_are_throttled_per_address(db):
    app = create_app(settings=_settings(token_free_failures=3, login_lock_s=5.0), queue=RecordingQueue())
    c = TestClient(app)
    codes = [
        c.get("/api/media", headers={"Authorization": f"Bearer dva_guess{i}"}).status_code for i in range(5)
    ]
    assert codes == [401, 401, 401, 429, 429]
    res = c.get("/api/media", headers={"Authorization": "Bearer dva_guess9"})
    assert int(res.headers["Retry-After"]) >= 1
    # a real token is not held up by the lock
    with session_scope() as s:
        user = create_user(session=s, name="tia", password=PASSWORD)
        _, token = issue_token(session=s, user=user, name="ok")
    assert c.get("/api/media", headers={"Authorization": f"Bearer {token}"}).status_code == 200


def test_createtoken_and_users_commands(db):
    with session_scope() as s:
        create_user(session=s, name="cli-user", password=PASSWORD)
    out = run_cli("createtoken", "cli-user", "nightly")
    assert out.returncode == 0, out.stderr
    token = out.stdout.strip()
    assert token.startswith("dva_") and "shown only now" in out.stderr
    client = TestClient(create_app(queue=RecordingQueue()))
    assert client.get("/api/me", headers={"Authorization": f"Bearer {token}"}).json()["name"] == "cli-user"
    assert run_cli("users", "role", "cli-user", "admin").returncode == 0
    listed = run_cli("users", "list", "--json")
    assert listed.returncode == 0
    assert '"role": "admin"' in listed.stdout
    assert run_cli("users", "disable", "cli-user").returncode == 2  # the only admin: refused, said why
    assert run_cli("users", "role", "cli-user", "member").returncode == 2
    missing = run_cli("createtoken", "nobody", "x")
    assert missing.returncode == 2 and "no user 'nobody'" in missing.stderr
    with session_scope() as s:
        assert s.scalar(select(Video).limit(1)) is None  # nothing else touched
