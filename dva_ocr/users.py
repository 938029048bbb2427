"""Users and API tokens: creation, roles, disabling, password checks and changes, token
issue/verify/revoke.

Two roles: ``admin`` (``is_admin``) and ``member``. The media library is shared by the team: every
user searches, views, uploads and exports all media; members change (delete, retry) only what they
uploaded; admins change anything, activate models, run and promote reprocessing jobs, and manage
users and everyone's tokens (see ``dva_ocr.web.auth``).
"""

from __future__ import annotations

import hashlib
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import func, or_, select, text, update
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
    """The user with this name and password, unless disabled."""
    user = session.scalar(select(User).where(User.name == name.strip()))
    if user is None:
        _hasher.hash(password)  # same work either way, so timing does not tell which names exist
        return None
    try:
        _hasher.verify(user.password_hash, password)
    except (VerificationError, InvalidHashError):
        return None
    return None if user.disabled_at is not None else user


def get_user(session: Session, name: str) -> User:
    user = session.scalar(select(User).where(User.name == name.strip()))
    if user is None:
        raise NotFound(f"no user {name!r}")
    return user


def list_users(session: Session) -> list[User]:
    return list(session.scalars(select(User).order_by(User.id)))


def set_password(*, session: Session, user: User, password: str, keep_session: str | None = None) -> int:
    """A new password; every dashboard login of the user but ``keep_session`` ends. Returns how many."""
    from dva_ocr.sessions import end_sessions

    if len(password) < 8:
        raise DvaOcrError("a password needs at least 8 characters")
    user.password_hash = _hasher.hash(password)
    return end_sessions(session, user.id, keep=keep_session)


def set_role(*, session: Session, user: User, role: str) -> None:
    if role not in ("admin", "member"):
        raise DvaOcrError(f"a role is admin or member, not {role!r}")
    if user.is_admin and role == "member" and _admins_left(session, user) == 0:
        raise DvaOcrError(f"{user.name} is the last active admin; make another admin first")
    user.is_admin = role == "admin"


def set_disabled(*, session: Session, user: User, disabled: bool) -> None:
    """A disabled user cannot log in; their logins end and their tokens stop working (not revoked:
    enabling the user again brings the tokens back)."""
    from dva_ocr.sessions import end_sessions

    if disabled and user.is_admin and _admins_left(session, user) == 0:
        raise DvaOcrError(f"{user.name} is the last active admin; make another admin first")
    user.disabled_at = func.now() if disabled else None
    if disabled:
        end_sessions(session, user.id)


def _admins_left(session: Session, without: User) -> int:
    return (
        session.scalar(
            select(func.count()).where(User.is_admin, User.disabled_at.is_(None), User.id != without.id)
        )
        or 0
    )


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
    """The user of a live token. Its ``last_used_at`` is written at most once a minute, by an UPDATE
    whose condition makes overlapping requests write it once; the caller commits at once (the web
    app looks users up in a short transaction of its own, never the request's: a write inside the
    request's transaction held the token row's lock until the request ended, and opening a second
    connection for it while holding one exhausted the pool under 32 clients)."""
    row = session.scalar(
        select(ApiToken).where(ApiToken.token_hash == _digest(token), ApiToken.revoked_at.is_(None))
    )
    if row is None:
        return None
    last, now = row.last_used_at, session.scalar(select(func.now()))
    if last is None or now is None or (now - last).total_seconds() >= TOKEN_USE_RESOLUTION_S:
        session.execute(
            update(ApiToken)
            .where(
                ApiToken.id == row.id,
                or_(
                    ApiToken.last_used_at.is_(None),
                    ApiToken.last_used_at < func.now() - text(f"interval '{TOKEN_USE_RESOLUTION_S} seconds'"),
                ),
            )
            .values(last_used_at=func.now())
            .execution_options(synchronize_session=False)
        )
    user = session.get(User, row.user_id)
    return None if user is None or user.disabled_at is not None else user


def revoke_token(*, session: Session, user: User, token_id: int) -> None:
    """Revoke one of ``user``'s tokens (an admin may revoke anyone's)."""
    row = session.get(ApiToken, token_id)
    if row is None or (row.user_id != user.id and not user.is_admin):
        raise NotFound(f"no token {token_id}")
    row.revoked_at = func.now()


def list_tokens(*, session: Session, user: User) -> list[ApiToken]:
    return list(session.scalars(select(ApiToken).where(ApiToken.user_id == user.id).order_by(ApiToken.id)))
