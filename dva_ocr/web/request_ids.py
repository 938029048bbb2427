"""A request id per HTTP request: taken from the client's ``X-Request-ID`` when it is sane (a proxy or
a script that already has one), else made here; returned in the ``X-Request-ID`` response header, bound
to the log context (``dva_ocr.logs``) so every line logged for the request carries it, and sent with the
tasks the request queues (``workers.queue.CeleryQueue``), so a failure can be followed from the API call
into the workers' logs."""

from __future__ import annotations

import re
import uuid

from fastapi import FastAPI
from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from dva_ocr import logs

HEADER = "X-Request-ID"
# what a sane id looks like: a UUID, a hex or base64url token, a proxy's id; no spaces, quotes or
# control characters that could forge log lines or headers, and short
SANE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:@+=/-]{0,127}")


def request_id_of(incoming: str | None) -> str:
    """The client's id when it is sane, else a new one."""
    if incoming and SANE.fullmatch(incoming):
        return incoming
    return uuid.uuid4().hex


class RequestIds:
    """Pure ASGI middleware (no task of its own, so the context it binds is the request's)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = request_id_of(Headers(scope=scope).get(HEADER))
        scope.setdefault("state", {})["request_id"] = request_id

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                MutableHeaders(scope=message)[HEADER] = request_id
            await send(message)

        token = logs.bind(request_id=request_id)
        # Reset only after a normal end: an error leaving this middleware is logged by the server's
        # error handler further out, in this same context, and that line should carry the id too.
        # (Each request runs in a task of its own, so nothing outlives the request.)
        await self.app(scope, receive, send_with_id)
        logs.reset(token)


def install(app: FastAPI) -> None:
    """Outermost of the app's own middleware: call it after adding the others."""
    app.add_middleware(RequestIds)
