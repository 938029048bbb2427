"""Who is asking: a signed session cookie (dashboard) or a bearer token (scripts), and CSRF checks.

Every route needs a user unless it is listed in ``PUBLIC_PATHS`` or served under ``/static``.
API requests without a user get 401 JSON; pages redirect to the login form.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator

from fastapi import Depends, HTTPException, Request
from sqlalchemy.orm import Session

from dva_ocr.db.session import session_scope
from dva_ocr.db.tables import User
from dva_ocr.users import user_for_token

PUBLIC_PATHS = {"/login", "/api/health"}
CSRF_HEADER = "X-CSRF-Token"
CSRF_FIELD = "csrf_token"


class LoginRequired(Exception):
    """Raised for a page request without a user; the app turns it into a redirect to /login."""

    def __init__(self, next_url: str) -> None:
        self.next_url = next_url


def get_db() -> Iterator[Session]:
    with session_scope() as s:
        yield s


def csrf_token(request: Request) -> str:
    token = request.session.get("csrf")
    if not token:
        token = secrets.token_urlsafe(24)
        request.session["csrf"] = token
    return token


def _bearer(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    return value.strip() if scheme.lower() == "bearer" and value.strip() else None


def _authenticated(request: Request, db: Session = Depends(get_db)) -> User | None:
    """The request's user, or None. A plain function: FastAPI runs it in its thread pool, so its
    database work never blocks the event loop (an ``async`` one did, and two overlapping requests
    with one token then stopped the whole server)."""
    token = _bearer(request)
    if token is not None:
        request.state.auth = "token"
        return user_for_token(session=db, token=token)
    if (uid := request.session.get("user_id")) is not None:
        request.state.auth = "session"
        return db.get(User, uid)
    return None


async def current_user(request: Request, user: User | None = Depends(_authenticated)) -> User:
    if user is None:
        if request.url.path.startswith(("/api/", "/files/", "/metrics")) or _bearer(request) is not None:
            raise HTTPException(401, "authentication required: log in, or send 'Authorization: Bearer TOKEN'")
        raise LoginRequired(str(request.url.path) + (f"?{request.url.query}" if request.url.query else ""))
    if request.state.auth == "session" and request.method not in ("GET", "HEAD", "OPTIONS"):
        await _check_csrf(request)
    request.state.user = user
    return user


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
