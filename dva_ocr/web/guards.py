"""ASGI middleware that guards every response and request body: security headers and body size.

``SecurityHeaders``: ``nosniff``, no framing, a same-origin referrer, and a Content-Security-Policy
that allows only this origin (the dashboard loads nothing from elsewhere); inline scripts carry the
per-request nonce ``request.state.csp_nonce``. Files under ``/files/`` get a sandboxing policy, so a
file that a browser renders as a document can run nothing.

``RefuseNul``: a NUL byte in the path or query string is a 400.

``LimitBody``: a request body over its limit is refused with 413 while it streams, whether it says
its length or comes chunked; the upload route's limit is ``UPLOAD_MAX_BYTES``, every other route's
``OTHER_MAX_BYTES``.
"""

from __future__ import annotations

import json
import secrets

from starlette.types import ASGIApp, Message, Receive, Scope, Send

OTHER_MAX_BYTES = 2 << 20
ENVELOPE = 1 << 16  # room for the multipart boundary and the form fields of an upload
UPLOAD_ROUTES = {("POST", "/api/media")}

PAGE_CSP = (
    "default-src 'self'; script-src 'self' 'nonce-{nonce}'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data: blob:; media-src 'self' blob:; connect-src 'self'; object-src 'none'; "
    "base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
FILE_CSP = (
    "sandbox; default-src 'none'; img-src 'self'; media-src 'self'; style-src 'unsafe-inline'; "
    "frame-ancestors 'none'"
)


class SecurityHeaders:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        nonce = secrets.token_urlsafe(16)
        scope.setdefault("state", {})["csp_nonce"] = nonce
        path: str = scope["path"]
        csp = FILE_CSP if path.startswith("/files/") else PAGE_CSP.format(nonce=nonce)
        extra = [
            (b"x-content-type-options", b"nosniff"),
            (b"x-frame-options", b"DENY"),
            (b"referrer-policy", b"same-origin"),
            (b"content-security-policy", csp.encode()),
        ]

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                names = {k.lower() for k, _ in message.get("headers", [])}
                message["headers"] = list(message.get("headers", [])) + [
                    h for h in extra if h[0] not in names
                ]
            await send(message)

        await self.app(scope, receive, send_with_headers)


class RefuseNul:
    """A NUL byte in the path or query string is a 400: no text column can hold one, and no name has one."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and (
            "\x00" in scope["path"] or b"%00" in scope.get("query_string", b"").lower()
        ):
            await send_json(send, 400, {"error": "invalid request: a NUL byte (%00) is not allowed"})
            return
        await self.app(scope, receive, send)


class LimitBody:
    def __init__(self, app: ASGIApp, upload_max_bytes: int) -> None:
        self.app = app
        self.upload_max_bytes = upload_max_bytes

    def limits(self, scope: Scope) -> tuple[int, str]:
        """The byte limit of this request's body, and how to say it."""
        if (scope["method"], scope["path"]) in UPLOAD_ROUTES:
            return self.upload_max_bytes + ENVELOPE, f"the upload limit of {_size(self.upload_max_bytes)}"
        return OTHER_MAX_BYTES, f"the limit of {_size(OTHER_MAX_BYTES)} for this request"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        limit, said = self.limits(scope)
        length = dict(scope["headers"]).get(b"content-length", b"")
        if length.isdigit() and int(length) > limit:
            await self._refuse(send, said)
            return
        seen = 0
        over = False
        started = False

        async def counted() -> Message:
            nonlocal seen, over
            if over:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    over = True  # the parser sees the client go away; the answer below says why
                    return {"type": "http.disconnect"}
            return message

        async def guarded(message: Message) -> None:
            nonlocal started
            if over:
                if not started:
                    started = True
                    await self._refuse(send, said)
                return
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        await self.app(scope, counted, guarded)
        if over and not started:
            await self._refuse(send, said)

    async def _refuse(self, send: Send, said: str) -> None:
        error = {"error": f"the request body is larger than {said}"}
        await send_json(send, 413, error, [(b"connection", b"close")])


def _size(n: int) -> str:
    return f"{n / (1 << 20):g} MiB" if n >= 1 << 20 else f"{n} bytes"


async def send_json(
    send: Send, status: int, body: dict[str, str], headers: list[tuple[bytes, bytes]] | None = None
) -> None:
    """A whole JSON answer from ASGI middleware (which has no Response objects at hand)."""
    data = json.dumps(body).encode()
    start = [(b"content-type", b"application/json"), (b"content-length", str(len(data)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": start + (headers or [])})
    await send({"type": "http.response.body", "body": data})
