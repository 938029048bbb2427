"""Who is asking, and what they may do.

Who: a dashboard login (a signed cookie carrying a server-side session token, ``dva_ocr.sessions``)
or a bearer token (scripts). ``AuthenticateFirst``, an ASGI middleware, finds the user before any
route runs and before a byte of the request body is read: a request without a user gets 401 JSON
(API, files, metrics, API docs) or a redirect to the login form (pages), so an anonymous upload
cannot fill the disk. Wrong bearer tokens are throttled per client address (``dva_ocr.throttle``).

What: every route declares who may call it with one of the dependencies ``member`` (any active
user), ``admin`` (admins only) or ``PUBLIC_PATHS``; ``tests/test_roles.py`` walks the route table,
so a new route that declares nothing fails. Cookie-authenticated writes need the CSRF token.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from fastapi import Depends, HTTPException, Request
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Receive, Scope, Send

from dva_ocr import throttle
from dva_ocr.db.session import session_scope
from dva_ocr.db.tables import User, Video
from dva_ocr.errors import Forbidden
from dva_ocr.sessions import user_for_session
from dva_ocr.settings import Settings
from dva_ocr.users import user_for_token
from dva_ocr.web.guards import send_json

PUBLIC_PATHS = {"/login", "/api/health"}
PUBLIC_PREFIXES = ("/static/",)
API_PREFIXES = ("/api/", "/files/", "/metrics", "/docs", "/openapi.json")
CSRF_HEADER = "X-CSRF-Token"
CSRF_FIELD = "csrf_token"
SESSION_KEY = "sid"  # the server-side session token inside the signed cookie


class LoginRequired(Exception):
    """Raised for a page request without a user; the app turns it into a redirect to /login."""

    def __init__(self, next_url: str) -> None:
        self.next_url = next_url


@dataclass(frozen=True)
class Auth:
    """How the request authenticated: ``kind`` is token, session or None (anonymous)."""

    user_id: int | None
    kind: str | None
    retry_after: int | None = None  # throttled: wrong tokens from this address


def get_db() -> Iterator[Session]:
    with session_scope() as s:
        yield s


def csrf_token(request: Request) -> str:
    token = request.session.get("csrf")
    if not token:
        token = secrets.token_urlsafe(24)
        request.session["csrf"] = token
    return token


def bearer(headers: Any) -> str | None:
    header = headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    return value.strip() if scheme.lower() == "bearer" and value.strip() else None


def client_address(scope: Scope) -> str:
    client = scope.get("client")
    return str(client[0]) if client else "unknown"


def resolve(settings: Settings, token: str | None, sid: str | None, address: str) -> Auth:
    """The user behind a bearer token or a session token (blocking: run it in a thread). One short
    transaction of its own, committed before the request's: it never holds a connection while
    asking the pool for another."""
    with session_scope() as s:
        if token is not None:
            user = user_for_token(session=s, token=token)
            if user is not None:
                return Auth(user.id, "token")
            key = throttle.address_key(address, "token-addr")
            try:
                throttle.check(s, [key])
            except throttle.Throttled as exc:
                return Auth(None, "token", exc.retry_after)
            policy = throttle.Policy(
                settings.token_free_failures, settings.login_lock_s, settings.login_lock_max_s
            )
            lock = throttle.record_failure(s, [(key, policy)])
            return Auth(None, "token", None if lock is None else throttle.Throttled(lock).retry_after)
        if sid is not None:
            user = user_for_session(s, sid, idle_s=settings.session_idle_s, max_s=settings.session_max_s)
            if user is not None:
                return Auth(user.id, "session")
    return Auth(None, None)


def is_public(path: str) -> bool:
    return path in PUBLIC_PATHS or path.startswith(PUBLIC_PREFIXES)


class AuthenticateFirst:
    """Finds the user of every request that is not public, before the app (and its body parser)
    sees it; answers 401 / 429 / a login redirect itself when there is none. It runs inside the
    session middleware, which decodes the cookie."""

    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        self.settings = settings

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or is_public(scope["path"]):
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        token = bearer(headers)
        sid = scope.get("session", {}).get(SESSION_KEY)
        auth = await run_in_threadpool(resolve, self.settings, token, sid, client_address(scope))
        scope["dva_auth"] = auth
        if auth.user_id is not None:
            await self.app(scope, receive, send)
            return
        if auth.retry_after is not None:
            await send_json(
                send,
                429,
                {"error": f"too many wrong tokens; try again in {auth.retry_after} s"},
                [(b"retry-after", str(auth.retry_after).encode())],
            )
        elif scope["path"].startswith(API_PREFIXES) or token is not None:
            await send_json(
                send, 401, {"error": "authentication required: log in, or send 'Authorization: Bearer TOKEN'"}
            )
        else:
            query = scope.get("query_string", b"").decode("latin-1")
            target = scope["path"] + (f"?{query}" if query else "")
            location = f"/login?next={quote(target, safe='')}"
            await send(
                {
                    "type": "http.response.start",
                    "status": 303,
                    "headers": [(b"location", location.encode("latin-1")), (b"content-length", b"0")],
                }
            )
            await send({"type": "http.response.body", "body": b""})


def _authenticated(request: Request, db: Session = Depends(get_db)) -> User | None:
    """The request's user, or None. A plain function: FastAPI runs it in its thread pool, so its
    database work never blocks the event loop (an ``async`` one did, and two overlapping requests
    with one token then stopped the whole server)."""
    auth: Auth | None = request.scope.get("dva_auth")
    if auth is None:  # an app mounted without AuthenticateFirst
        sid = request.session.get(SESSION_KEY)
        auth = resolve(
            request.app.state.settings, bearer(request.headers), sid, client_address(request.scope)
        )
    request.state.auth = auth.kind
    return None if auth.user_id is None else db.get(User, auth.user_id)


async def current_user(request: Request, user: User | None = Depends(_authenticated)) -> User:
    """Any active user (the ``member`` role and up)."""
    if user is None:
        if request.url.path.startswith(API_PREFIXES) or bearer(request.headers) is not None:
            raise HTTPException(401, "authentication required: log in, or send 'Authorization: Bearer TOKEN'")
        raise LoginRequired(str(request.url.path) + (f"?{request.url.query}" if request.url.query else ""))
    if request.state.auth == "session" and request.method not in ("GET", "HEAD", "OPTIONS"):
        await _check_csrf(request)
    request.state.user = user
    return user


member = current_user


def admin(user: User = Depends(current_user)) -> User:
    """Admins only: activating models, reprocessing jobs, managing users and others' tokens."""
    if not user.is_admin:
        raise HTTPException(403, "only an admin may do this")
    return user


def may_change(user: User, video: Video) -> bool:
    """Members change (delete, retry, cancel) only the media they uploaded; admins any."""
    return user.is_admin or video.owner_id == user.id


def check_may_change(user: User, video: Video) -> None:
    if not may_change(user, video):
        raise Forbidden(
            f"media {video.id} was uploaded by someone else; only its uploader or an admin may change it"
        )


async def _check_csrf(request: Request) -> None:
    """Cookie-authenticated writes must carry the session's CSRF token (header or form field)."""
    expected = request.session.get("csrf")
    sent = request.headers.get(CSRF_HEADER)
    if sent is None and request.headers.get("content-type", "").startswith(
        "application/x-www-form-urlencoded"
    ):
        field = (await request.form()).get(CSRF_FIELD)
        sent = field if isinstance(field, str) else None
    if not expected or not sent or not secrets.compare_digest(str(sent), expected):
        raise HTTPException(403, "CSRF check failed: reload the page and try again")
