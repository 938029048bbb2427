"""Dashboard pages (Jinja templates). Every page needs a user except /login."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlparse

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from sqlalchemy.orm import Session

from dva_ocr.db.models import User
from dva_ocr.users import authenticate
from dva_ocr.web.auth import CSRF_FIELD, csrf_token, current_user, get_db

templates = Jinja2Templates(directory=Path(__file__).resolve().parent / "templates")
router = APIRouter()
pages = APIRouter(dependencies=[Depends(current_user)])


def render(request: Request, name: str, status_code: int = 200, **context: object) -> HTMLResponse:
    context.setdefault("user", getattr(request.state, "user", None))
    context["csrf_token"] = csrf_token(request)
    context["csrf_field"] = CSRF_FIELD
    return templates.TemplateResponse(request, name, context, status_code=status_code)


def _safe_next(url: str | None) -> str:
    """Only same-site paths, so the login form cannot be used to bounce users elsewhere."""
    if not url or not url.startswith("/") or url.startswith("//") or urlparse(url).netloc:
        return "/"
    return url


@router.get("/login", response_class=HTMLResponse)
def login_form(request: Request, next: str = "/") -> HTMLResponse:
    return render(request, "login.html", next=_safe_next(next), error=None)


@router.post("/login")
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
            request, "login.html", 403, next=_safe_next(next), error="The form expired; please try again."
        )
    user = authenticate(session=db, name=username, password=password)
    if user is None:
        return render(request, "login.html", 401, next=_safe_next(next), error="Wrong user name or password.")
    request.session.clear()
    request.session["user_id"] = user.id
    csrf_token(request)
    return RedirectResponse(_safe_next(next), status_code=303)


@pages.post("/logout")
def logout(request: Request) -> Response:
    request.session.clear()
    return RedirectResponse("/login", status_code=303)


@pages.get("/", response_class=HTMLResponse)
def media_list(request: Request, user: User = Depends(current_user)) -> HTMLResponse:
    return render(request, "media_list.html")


router.include_router(pages)
