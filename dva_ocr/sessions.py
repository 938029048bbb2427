"""Dashboard logins kept on the server (table ``web_sessions``).

The signed cookie holds only a random token; the row says whether the login still holds. It ends
at logout, when the user's password changes, when an admin logs the user out everywhere or disables
the account, after ``SESSION_IDLE_S`` without a request, and ``SESSION_MAX_S`` after it began.
"""

from __future__ import annotations

import hashlib
import secrets

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from dva_ocr.db.tables import User, WebSession

SEEN_RESOLUTION_S = 60  # last_seen_at is written at most this often per session


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def start_session(session: Session, user: User, client: str = "") -> str:
    """A new login for ``user``; returns the token for the cookie (only its hash is stored)."""
    token = secrets.token_urlsafe(32)
    session.add(WebSession(user_id=user.id, token_hash=_digest(token), client=client[:300]))
    session.flush()
    return token


def user_for_session(session: Session, token: str, *, idle_s: float, max_s: float) -> User | None:
    """The user of a live login, or None (ended, expired, or the user disabled). Writes
    ``last_seen_at`` (at most once a minute) or ``ended_at`` in ``session``: the caller commits at once,
    as the web app's short lookup transaction does."""
    row = session.scalar(
        select(WebSession).where(WebSession.token_hash == _digest(token), WebSession.ended_at.is_(None))
    )
    if row is None:
        return None
    now = session.scalar(select(func.now()))
    assert now is not None
    if (now - row.created_at).total_seconds() > max_s or (now - row.last_seen_at).total_seconds() > idle_s:
        row.ended_at = now
        return None
    user = session.get(User, row.user_id)
    if user is None or user.disabled_at is not None:
        return None
    if (now - row.last_seen_at).total_seconds() >= SEEN_RESOLUTION_S:
        session.execute(
            update(WebSession)
            .where(WebSession.id == row.id, WebSession.last_seen_at < now)
            .values(last_seen_at=func.now())
            .execution_options(synchronize_session=False)
        )
    return user


def end_session(session: Session, token: str) -> None:
    session.execute(
        update(WebSession)
        .where(WebSession.token_hash == _digest(token), WebSession.ended_at.is_(None))
        .values(ended_at=func.now())
        .execution_options(synchronize_session=False)
    )


def end_sessions(session: Session, user_id: int, *, keep: str | None = None) -> int:
    """End every login of a user (but ``keep``, a token); how many were live."""
    stmt = update(WebSession).where(WebSession.user_id == user_id, WebSession.ended_at.is_(None))
    if keep is not None:
        stmt = stmt.where(WebSession.token_hash != _digest(keep))
    result = session.execute(stmt.values(ended_at=func.now()).execution_options(synchronize_session=False))
    return result.rowcount or 0  # type: ignore[attr-defined]


def live_sessions(session: Session, user_id: int) -> int:
    return (
        session.scalar(
            select(func.count()).where(WebSession.user_id == user_id, WebSession.ended_at.is_(None))
        )
        or 0
    )
