"""Request dependencies shared by the API and the pages."""

from __future__ import annotations

from fastapi import Request

from dva_ocr.work.queues import WorkQueue


def get_queue(request: Request) -> WorkQueue:
    """Where this app submits work (``create_app(queue=...)``)."""
    queue: WorkQueue = request.app.state.queue
    return queue
