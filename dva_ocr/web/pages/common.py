"""What every page shares: the templates (with their ``clock`` filter), rendering with the user and CSRF
token, the router of pages that need a user, and the not-found page."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from dva_ocr.web.auth import CSRF_FIELD, csrf_token, current_user

templates = Jinja2Templates(directory=Path(__file__).resolve().parent.parent / "templates")


def clock(seconds: float | None) -> str:
    """0:05, 1:02:03."""
    if seconds is None:
        return "–"
    s = int(seconds)
    h, m, sec = s // 3600, s % 3600 // 60, s % 60
    return f"{h}:{m:02d}:{sec:02d}" if h else f"{m}:{sec:02d}"


templates.env.filters["clock"] = clock


def page_router() -> APIRouter:
    """A router whose every page needs a user (pages redirect to /login without one)."""
    return APIRouter(dependencies=[Depends(current_user)])


def render(request: Request, name: str, status_code: int = 200, **context: object) -> HTMLResponse:
    context.setdefault("user", getattr(request.state, "user", None))
    context.setdefault("active", "")
    context["csrf_token"] = csrf_token(request)
    context["csrf_field"] = CSRF_FIELD
    context["csp_nonce"] = getattr(request.state, "csp_nonce", "")  # set by web.guards.SecurityHeaders
    return templates.TemplateResponse(request, name, context, status_code=status_code)


def not_found(request: Request, message: str) -> HTMLResponse:
    return render(request, "not_found.html", 404, message=message)
