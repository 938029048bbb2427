"""Settings: the user's API tokens (created and shown once, listed, revoked)."""

from __future__ import annotations

from fastapi import Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from dva_ocr.users import issue_token, list_tokens, revoke_token
from dva_ocr.web.auth import get_db
from dva_ocr.web.pages.common import page_router, render

router = page_router()


def _settings_page(request: Request, db: Session, status_code: int = 200, **context: object) -> HTMLResponse:
    user = request.state.user
    return render(
        request,
        "settings.html",
        status_code,
        active="settings",
        tokens=list_tokens(session=db, user=user),
        **context,
    )


@router.get("/settings", response_class=HTMLResponse)
def settings_page(request: Request, db: Session = Depends(get_db)) -> HTMLResponse:
    # A token just created is handed over once, through the session, then forgotten.
    fresh = request.session.pop("new_token", None) or {}
    return _settings_page(request, db, new_token=fresh.get("token"), new_token_name=fresh.get("name"))


@router.post("/settings/tokens", response_model=None)
def create_token(request: Request, name: str = Form(""), db: Session = Depends(get_db)) -> Response:
    name = name.strip()
    if not name:
        return _settings_page(request, db, 400, error="Give the token a name.")
    row, token = issue_token(session=db, user=request.state.user, name=name)
    db.commit()
    # The database keeps only its hash. Post/redirect/get: reloading the page cannot make a second token.
    request.session["new_token"] = {"token": token, "name": row.name}
    return RedirectResponse("/settings", status_code=303)


@router.post("/settings/tokens/{token_id}/revoke")
def revoke(request: Request, token_id: int, db: Session = Depends(get_db)) -> Response:
    revoke_token(session=db, user=request.state.user, token_id=token_id)
    db.commit()
    return RedirectResponse("/settings", status_code=303)
