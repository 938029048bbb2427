"""Throttling of failed logins and bearer tokens, per account and per client address.

The first ``free`` failures of a key are answered as usual; every failure after that locks the key
for ``base * 2**k`` seconds (k = failures past the free ones, capped at ``cap``), and while a key is
locked no password is even checked: the answer is 429 with ``Retry-After``. A success clears the
account's key; a key not failed for an hour starts again from zero. An admin clears a lock with
``./manage.py users unlock NAME`` (or ``--address IP``).

Failures are committed at once by the callers, so a request that ends in an error still counts; no
caller opens a second database connection while holding one (under load that exhausted the pool).
The state lives in PostgreSQL (table ``auth_failures``) so every web process of a cluster shares it.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import delete, func, select, text
from sqlalchemy.orm import Session

from dva_ocr.db.tables import AuthFailure
from dva_ocr.errors import DvaOcrError

FORGET_AFTER_S = 3600  # a key's count restarts when it has not failed for this long


class Throttled(DvaOcrError):
    """Too many failures: try again after ``retry_after`` seconds."""

    def __init__(self, retry_after: float) -> None:
        self.retry_after = max(1, math.ceil(retry_after))
        super().__init__(f"too many failed attempts; try again in {self.retry_after} s")


@dataclass(frozen=True)
class Policy:
    free: int  # failures answered without a lock
    base_s: float  # the first lock
    cap_s: float  # the longest lock


def user_key(name: str) -> str:
    return f"user:{name.strip().lower()}"


def address_key(address: str | None, kind: str = "addr") -> str:
    return f"{kind}:{address or 'unknown'}"


def check(session: Session, keys: Iterable[str]) -> None:
    """Raise ``Throttled`` when any of ``keys`` is locked now."""
    wait = session.scalar(
        select(func.max(func.extract("epoch", AuthFailure.locked_until - func.now()))).where(
            AuthFailure.key.in_(list(keys)), AuthFailure.locked_until > func.now()
        )
    )
    if wait is not None:
        raise Throttled(float(wait))


def record_failure(s: Session, keys_and_policies: Iterable[tuple[str, Policy]]) -> float | None:
    """Count one failure on each key; the longest lock it set, if any. The caller commits at once
    (so the count holds even when the request then fails), in a session that holds no other work."""
    longest: float | None = None
    for key, policy in keys_and_policies:
        failures: int = s.execute(
            text(
                "INSERT INTO auth_failures (key, failures, updated_at) VALUES (:key, 1, now()) "
                "ON CONFLICT (key) DO UPDATE SET failures = CASE WHEN auth_failures.updated_at "
                "< now() - make_interval(secs => :forget) THEN 1 ELSE auth_failures.failures + 1 END,"
                " updated_at = now() RETURNING failures"
            ),
            {"key": key, "forget": FORGET_AFTER_S},
        ).scalar_one()
        over = failures - policy.free
        if over > 0:
            lock = min(policy.cap_s, policy.base_s * 2 ** (over - 1))
            s.execute(
                text(
                    "UPDATE auth_failures SET locked_until = now() + make_interval(secs => :lock) "
                    "WHERE key = :key"
                ),
                {"key": key, "lock": lock},
            )
            longest = max(longest or 0.0, lock)
    return longest


def clear(session: Session, keys: Iterable[str]) -> int:
    """Forget the failures of ``keys`` (after a success, or an admin's unlock); how many were known."""
    result = session.execute(delete(AuthFailure).where(AuthFailure.key.in_(list(keys))))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def locked(session: Session) -> list[AuthFailure]:
    """Keys locked now (for ``users`` listings)."""
    return list(
        session.scalars(
            select(AuthFailure).where(AuthFailure.locked_until > func.now()).order_by(AuthFailure.key)
        )
    )
