"""The real web server under overlapping requests with one bearer token: no request waits on another's
transaction and the event loop never blocks (issue: two overlapping searches with one token used to
stop the server for good)."""

from __future__ import annotations

import concurrent.futures
import time

import httpx

from dva_ocr.db.session import session_scope
from dva_ocr.db.tables import User
from dva_ocr.users import create_user, issue_token


def test_overlapping_requests_with_one_token_all_answer(web_url, db):
    base = web_url
    with session_scope() as s:
        user = s.query(User).filter(User.name == "pool").one_or_none() or create_user(
            session=s, name="pool", password="pool-password-123"
        )
        _, token = issue_token(session=s, user=user, name="threads")
    headers = {"Authorization": f"Bearer {token}"}

    routes = ["/api/search?q=harbour", "/api/media", "/api/me", "/api/models", "/api/jobs", "/api/tokens"]

    def call(i: int) -> int:
        return httpx.get(base + routes[i % len(routes)], headers=headers, timeout=15).status_code

    started = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(max_workers=16) as pool:
        futures = [pool.submit(call, i) for i in range(48)]
        # the server keeps answering other requests meanwhile
        assert httpx.get(base + "/api/health", timeout=5).status_code == 200
        codes = [f.result(timeout=30) for f in futures]
    assert codes == [200] * 48
    assert time.monotonic() - started < 30
    with session_scope() as s:
        from sqlalchemy import text

        stuck = s.execute(
            text(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                " AND state = 'idle in transaction' AND now() - state_change > interval '5 seconds'"
            )
        ).scalar()
    assert stuck == 0
