"""Logging in (the one page without a user) and out."""

from __future__ import annotations

from urllib.parse import urlparse

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from dva_ocr import throttle
from dva_ocr.sessions import end_session, start_session
from dva_ocr.users import authenticate
from dva_ocr.web.auth import CSRF_FIELD, SESSION_KEY, client_address, csrf_token, get_db
from dva_ocr.web.pages.common import page_router, render

public = APIRouter()
router = page_router()


def safe_next(url: str | None) -> str:
    """Only same-site paths, so the login form cannot be used to bounce users elsewhere."""
    if not url or not url.startswith("/") or url.startswith("//") or urlparse(url).netloc:
        return "/"
    return url


@public.get("/login", response_class=HTMLResponse)
def login_form(request: Request, next: str = "/") -> HTMLResponse:
    return render(request, "login.html", next=safe_next(next), error=None)


@public.post("/login", response_model=None)
def login(
    request: Request,
    username: str = Form(...),
    password: str = Form(...),
    next: str = Form("/"),
    csrf_token_field: str = Form("", alias=CSRF_FIELD),
    db: Session = Depends(get_db),
) -> Response:
    """A plain function (FastAPI runs it in its thread pool): the password hash takes about a second
    of CPU and the lookups are blocking, which must not stall the event loop."""
    if not csrf_token_field or csrf_token_field != request.session.get("csrf"):
        return render(
            request, "login.html", 403, next=safe_next(next), error="The form expired; please try again."
        )
    settings = request.app.state.settings
    keys = [throttle.user_key(username), throttle.address_key(client_address(request.scope))]
    try:
        throttle.check(db, keys)
    except throttle.Throttled as exc:
        return _throttled(request, next, exc.retry_after)
    user = authenticate(session=db, name=username, password=password)
    if user is None:
        account = throttle.Policy(
            settings.login_free_failures, settings.login_lock_s, settings.login_lock_max_s
        )
        # an address (an office behind one NAT) gets more room than one account
        address = throttle.Policy(
            4 * settings.login_free_failures, settings.login_lock_s, settings.login_lock_max_s
        )
        lock = throttle.record_failure(db, zip(keys, (account, address), strict=True))
        db.commit()  # counted even if what follows fails
        if lock is not None:
            return _throttled(request, next, throttle.Throttled(lock).retry_after)
        return render(request, "login.html", 401, next=safe_next(next), error="Wrong user name or password.")
    throttle.clear(db, keys[:1])
    agent = request.headers.get("user-agent", "")[:200]
    sid = start_session(db, user, client=f"{client_address(request.scope)} {agent}")
    db.commit()
    request.session.clear()
    request.session[SESSION_KEY] = sid
    csrf_token(request)
    return RedirectResponse(safe_next(next), status_code=303)


def _throttled(request: Request, next: str, retry_after: int) -> HTMLResponse:
    response = render(
        request,
        "login.html",
        429,
        next=safe_next(next),
        error=f"Too many failed logins. Try again in {retry_after} s, or ask an admin to unlock the account.",
    )
    response.headers["Retry-After"] = str(retry_after)
    return response


@router.post("/logout")
def logout(request: Request, db: Session = Depends(get_db)) -> Response:
    if (sid := request.session.get(SESSION_KEY)) is not None:
        end_session(db, sid)
        db.commit()
    request.session.clear()
    return RedirectResponse("/login", status_code=303)
