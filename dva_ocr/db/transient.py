"""Which database errors are worth retrying: the ones a restart, a failover or contention causes.

A task that retries an error that will repeat wastes the whole backoff (the same INSERT over
PostgreSQL's 65,535 bind parameters failed six times, 45 minutes of decoding) and leaves the item
unanswered; a task that does not retry a restart loses the item. So errors are classified by their
SQLSTATE, as PostgreSQL documents them (Appendix A, "PostgreSQL Error Codes"):

- class 08 (connection exception), 57P01 admin shutdown, 57P02 crash shutdown, 57P03 cannot connect
  now (starting up or shutting down), 53300 too many connections: the server is going or coming back;
- 40001 serialization failure, 40P01 deadlock, 55P03 lock not available (``lock_timeout``), 57014
  query cancelled (``statement_timeout``: the same statement behind a lock): contention, which passes;
- no SQLSTATE at all: libpq failed on the client side. That is a connection that could not be made
  or was lost (refused, reset, closed by the server), which passes; or psycopg refusing a statement
  before sending it (too many parameters), which does not. Told apart by the connection being
  invalidated or by what the message is about.

Everything else (data errors, integrity and programming errors, statements too large) is
permanent: the item is failed at once with the message.
"""

from __future__ import annotations

import random
from collections.abc import Callable

from sqlalchemy import exc as sa_exc

TRANSIENT_SQLSTATES = frozenset({"57P01", "57P02", "57P03", "53300", "40001", "40P01", "55P03", "57014"})
TRANSIENT_CLASSES = ("08",)
# what libpq says when a connection cannot be made or is lost (psycopg passes it on, with no SQLSTATE)
_CONNECTION_WORDS = (
    "connection",
    "server closed",
    "could not connect",
    "could not receive",
    "could not send",
    "terminating",
    "timeout expired",
    "timed out",
    "ssl syscall",
    "no route to host",
    "network is unreachable",
    "name or service not known",
    "temporary failure in name resolution",
)


def sqlstate(exc: BaseException) -> str | None:
    """The SQLSTATE of a database error (SQLAlchemy's wrapper or psycopg's own), if it has one."""
    orig = getattr(exc, "orig", exc)
    code = getattr(orig, "sqlstate", None)
    return code if isinstance(code, str) else None


def is_transient(exc: BaseException) -> bool:
    """True for a database error that may well not happen again in a while (see the module doc)."""
    if isinstance(exc, sa_exc.TimeoutError):  # the connection pool was exhausted for a while
        return True
    if not isinstance(exc, sa_exc.DBAPIError):
        # an error raised from one (``raise DvaOcrError(...) from exc``, as a custom model's lookup
        # does) is as passing as its cause
        return exc.__cause__ is not None and is_transient(exc.__cause__)
    if exc.connection_invalidated:
        return True
    code = sqlstate(exc)
    if code is not None:
        return code in TRANSIENT_SQLSTATES or code.startswith(TRANSIENT_CLASSES)
    if not isinstance(exc, sa_exc.OperationalError | sa_exc.InterfaceError):
        return False
    message = str(getattr(exc, "orig", exc)).lower()
    return any(word in message for word in _CONNECTION_WORDS)


def backoff_s(
    retries: int, *, cap: float, jitter: bool = True, rand: Callable[[], float] = random.random
) -> float:
    """The wait before retry number ``retries + 1``: 1, 2, 4 ... seconds up to ``cap``; jittered, a
    random point in the upper half of that (so retries of many tasks spread out, yet a wait is never
    cut to nothing: Celery's full jitter turned a 7 s restart into waits of 1, 1, 2, 0, 0 s)."""
    delay = min(float(cap), 2.0 ** max(0, retries))
    return delay * (0.5 + 0.5 * rand()) if jitter else delay


def total_backoff_s(retries: int, *, cap: float) -> tuple[float, float]:
    """The shortest and longest total wait of ``retries`` jittered retries (how long an outage may last)."""
    longest = sum(backoff_s(k, cap=cap, jitter=False) for k in range(retries))
    return longest / 2, longest
