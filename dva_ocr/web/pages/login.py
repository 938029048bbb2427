"""Logging in (the one page without a user) and out."""

from __future__ import annotations

from urllib.parse import urlparse

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from dva_ocr.users import authenticate
from dva_ocr.web.auth import CSRF_FIELD, csrf_token, get_db
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


@public.post("/login")
async def login(
    request: Request,
    username: str = Form(...),
    password: str = Form(...),
    next: str = Form("/"),
    csrf_token_field: str = Form("", alias=CSRF_FIELD),
    db: Session = Depends(get_db),
) -> Response:
    if not csrf_token_field or csrf_token_field != request.session.get("csrf"):
        return render(
            request, "login.html", 403, next=safe_next(next), error="The form expired; please try again."
        )
    user = authenticate(session=db, name=username, password=password)
    if user is None:
        return render(request, "login.html", 401, next=safe_next(next), error="Wrong user name or password.")
    request.session.clear()
    request.session["user_id"] = user.id
    csrf_token(request)
    return RedirectResponse(safe_next(next), status_code=303)


@router.post("/logout")
def logout(request: Request) -> Response:
    request.session.clear()
    return RedirectResponse("/login", status_code=303)
