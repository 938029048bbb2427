"""Gzip for the answers that pages poll: the REST API's JSON and the live parts of pages (``.../live``).

Their JSON and HTML shrink about tenfold (bench/bench_live.py); media files, frames and zips are
left alone (already compressed, and the player's range requests must stay byte ranges of the file).
"""

from __future__ import annotations

from starlette.middleware.gzip import GZipMiddleware
from starlette.types import ASGIApp, Receive, Scope, Send

MINIMUM_BYTES = 1024


def compressible(path: str) -> bool:
    return (path.startswith("/api/") and not path.endswith(".zip")) or path.endswith("/live")


class CompressPolled:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.gzip = GZipMiddleware(app, minimum_size=MINIMUM_BYTES)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and compressible(scope["path"]):
            await self.gzip(scope, receive, send)
        else:
            await self.app(scope, receive, send)
