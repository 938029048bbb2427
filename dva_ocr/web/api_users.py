"""REST API for users and tokens (under /api): each user their own tokens; admins every user's
role, disabled state, logins, throttle locks and tokens."""

from __future__ import annotations

from fastapi import APIRouter, Depends
from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from dva_ocr import throttle
from dva_ocr.db.tables import ApiToken, User
from dva_ocr.errors import NotFound
from dva_ocr.sessions import end_sessions, live_sessions
from dva_ocr.users import issue_token, list_tokens, list_users, revoke_token, set_disabled, set_role
from dva_ocr.web import schemas
from dva_ocr.web.auth import admin, current_user, get_db
from dva_ocr.web.params import Id

router = APIRouter(prefix="/api", dependencies=[Depends(current_user)], responses=schemas.errors(401))
ADMIN = [Depends(admin)]
WRITE = schemas.errors(403)
ITEM = schemas.errors(404)


def _user_json(db: Session, u: User) -> dict:
    return {
        "id": u.id,
        "name": u.name,
        "role": u.role,
        "disabled": u.disabled_at is not None,
        "created_at": u.created_at.isoformat() if u.created_at else None,
        "live_sessions": live_sessions(db, u.id),
    }


def _token_json(t: ApiToken) -> dict:
    return {
        "id": t.id,
        "user_id": t.user_id,
        "name": t.name,
        "prefix": t.prefix,
        "created_at": t.created_at.isoformat() if t.created_at else None,
        "last_used_at": t.last_used_at.isoformat() if t.last_used_at else None,
        "revoked": t.revoked_at is not None,
    }


def _user(db: Session, user_id: int) -> User:
    u = db.get(User, user_id)
    if u is None:
        raise NotFound(f"no user {user_id}")
    return u


@router.get("/users", response_model=schemas.Users, dependencies=ADMIN)
def users(db: Session = Depends(get_db)) -> dict:
    return {"users": [_user_json(db, u) for u in list_users(db)]}


class UserChange(BaseModel):
    role: str | None = Field(None, pattern="^(admin|member)$")
    disabled: bool | None = Field(None, description="a disabled user cannot log in; their logins end")


@router.patch("/users/{user_id}", response_model=schemas.UserInfo, responses=WRITE | ITEM, dependencies=ADMIN)
def change_user(user_id: Id, body: UserChange, db: Session = Depends(get_db)) -> dict:
    u = _user(db, user_id)
    if body.role is not None:
        set_role(session=db, user=u, role=body.role)
    if body.disabled is not None:
        set_disabled(session=db, user=u, disabled=body.disabled)
    db.commit()
    db.refresh(u)
    return _user_json(db, u)


@router.post(
    "/users/{user_id}/logout", response_model=schemas.Ended, responses=WRITE | ITEM, dependencies=ADMIN
)
def logout_everywhere(user_id: Id, db: Session = Depends(get_db)) -> dict:
    """End every dashboard login of the user (their tokens stay: revoke those separately)."""
    n = end_sessions(db, _user(db, user_id).id)
    db.commit()
    return {"ended": n}


@router.post(
    "/users/{user_id}/unlock", response_model=schemas.Ended, responses=WRITE | ITEM, dependencies=ADMIN
)
def unlock(user_id: Id, db: Session = Depends(get_db)) -> dict:
    """Clear the failed-login lock of the user's account."""
    n = throttle.clear(db, [throttle.user_key(_user(db, user_id).name)])
    db.commit()
    return {"ended": n}


@router.get("/tokens", response_model=schemas.Tokens)
def tokens(user: User = Depends(current_user), db: Session = Depends(get_db)) -> dict:
    """Your tokens; an admin sees everyone's."""
    rows = (
        list(db.scalars(select(ApiToken).order_by(ApiToken.id)))
        if user.is_admin
        else list_tokens(session=db, user=user)
    )
    return {"tokens": [_token_json(t) for t in rows]}


class TokenRequest(BaseModel):
    name: str = Field(min_length=1, max_length=100)


@router.post("/tokens", status_code=201, response_model=schemas.NewToken, responses=WRITE)
def new_token(body: TokenRequest, user: User = Depends(current_user), db: Session = Depends(get_db)) -> dict:
    """A token for yourself; the response is the only time it is shown."""
    row, token = issue_token(session=db, user=user, name=body.name)
    db.commit()
    return _token_json(row) | {"token": token}


@router.delete("/tokens/{token_id}", status_code=204, responses=WRITE | ITEM)
def delete_token(token_id: Id, user: User = Depends(current_user), db: Session = Depends(get_db)) -> None:
    """Revoke one of your tokens (an admin: anyone's)."""
    revoke_token(session=db, user=user, token_id=token_id)
    db.commit()
