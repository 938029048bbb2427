"""Users and API tokens: creation, password checks, token issue/verify/revoke."""

from __future__ import annotations

import hashlib
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from dva_ocr.db.tables import ApiToken, User
from dva_ocr.errors import DvaOcrError, NotFound

_hasher = PasswordHasher()
TOKEN_PREFIX = "dva_"


def create_user(*, session: Session, name: str, password: str, is_admin: bool = False) -> User:
    name = name.strip()
    if not name or len(name) > 100:
        raise DvaOcrError("a user name is 1 to 100 characters")
    if len(password) < 8:
        raise DvaOcrError("a password needs at least 8 characters")
    if session.scalar(select(User).where(User.name == name)) is not None:
        raise DvaOcrError(f"user {name!r} exists already")
    user = User(name=name, password_hash=_hasher.hash(password), is_admin=is_admin)
    session.add(user)
    session.flush()
    return user


def authenticate(*, session: Session, name: str, password: str) -> User | None:
    user = session.scalar(select(User).where(User.name == name.strip()))
    if user is None:
        _hasher.hash(password)  # same work either way, so timing does not tell which names exist
        return None
    try:
        _hasher.verify(user.password_hash, password)
    except (VerificationError, InvalidHashError):
        return None
    return user


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def issue_token(*, session: Session, user: User, name: str) -> tuple[ApiToken, str]:
    """Create a token; returns the row and the token itself, which is never stored or shown again."""
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    row = ApiToken(
        user_id=user.id, name=name.strip()[:100] or "token", token_hash=_digest(token), prefix=token[:10]
    )
    session.add(row)
    session.flush()
    return row, token


TOKEN_USE_RESOLUTION_S = 60  # last_used_at is written at most this often per token


def user_for_token(*, session: Session, token: str) -> User | None:
    """The user of a live token. Its ``last_used_at`` is written in a transaction of its own, at most
    once a minute: a write inside the request's transaction held the token row's lock until the
    request ended, so two overlapping requests with one token waited on each other."""
    row = session.scalar(
        select(ApiToken).where(ApiToken.token_hash == _digest(token), ApiToken.revoked_at.is_(None))
    )
    if row is None:
        return None
    last, now = row.last_used_at, session.scalar(select(func.now()))
    stale = last is None or now is None or (now - last).total_seconds() >= TOKEN_USE_RESOLUTION_S
    if stale:
        _touch_token(row.id)
    return session.get(User, row.user_id)


def _touch_token(token_id: int) -> None:
    from dva_ocr.db.session import session_scope

    with session_scope() as s:  # committed at once: the row lock lasts one statement
        s.execute(
            update(ApiToken)
            .where(ApiToken.id == token_id)
            .values(last_used_at=func.now())
            .execution_options(synchronize_session=False)
        )


def revoke_token(*, session: Session, user: User, token_id: int) -> None:
    row = session.get(ApiToken, token_id)
    if row is None or row.user_id != user.id:
        raise NotFound(f"no token {token_id}")
    row.revoked_at = func.now()


def list_tokens(*, session: Session, user: User) -> list[ApiToken]:
    return list(session.scalars(select(ApiToken).where(ApiToken.user_id == user.id).order_by(ApiToken.id)))
