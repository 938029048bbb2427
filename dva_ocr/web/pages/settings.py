"""Settings: the user's API tokens (created and shown once, listed, revoked), password, logins."""

from __future__ import annotations

from fastapi import Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from dva_ocr.errors import DvaOcrError
from dva_ocr.sessions import end_sessions, live_sessions
from dva_ocr.users import authenticate, issue_token, list_tokens, revoke_token, set_password
from dva_ocr.web.auth import SESSION_KEY, get_db
from dva_ocr.web.pages.common import page_router, render
from dva_ocr.web.params import Id

router = page_router()


def _settings_page(request: Request, db: Session, status_code: int = 200, **context: object) -> HTMLResponse:
    user = request.state.user
    return render(
        request,
        "settings.html",
        status_code,
        active="settings",
        tokens=list_tokens(session=db, user=user),
        live_sessions=live_sessions(db, user.id),
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
def revoke(request: Request, token_id: Id, db: Session = Depends(get_db)) -> Response:
    revoke_token(session=db, user=request.state.user, token_id=token_id)
    db.commit()
    return RedirectResponse("/settings", status_code=303)


@router.post("/settings/password", response_model=None)
def change_password(
    request: Request, current: str = Form(...), new: str = Form(...), db: Session = Depends(get_db)
) -> Response:
    user = request.state.user
    if authenticate(session=db, name=user.name, password=current) is None:
        return _settings_page(request, db, 400, password_error="The current password is wrong.")
    try:
        ended = set_password(
            session=db, user=user, password=new, keep_session=request.session.get(SESSION_KEY)
        )
    except DvaOcrError as exc:
        return _settings_page(request, db, 400, password_error=str(exc))
    db.commit()
    return _settings_page(
        request,
        db,
        password_message=f"Password changed; {ended} other login{'' if ended == 1 else 's'} ended.",
    )


@router.post("/settings/logout-others", response_model=None)
def logout_others(request: Request, db: Session = Depends(get_db)) -> Response:
    ended = end_sessions(db, request.state.user.id, keep=request.session.get(SESSION_KEY))
    db.commit()
    return _settings_page(
        request, db, password_message=f"{ended} other login{'' if ended == 1 else 's'} ended."
    )
