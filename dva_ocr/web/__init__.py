"""The dashboard and REST API (FastAPI). ``create_app(enqueue_extract=...)`` builds it; the caller
supplies how work is queued, so this package needs no Celery."""

from dva_ocr.web.app import create_app

__all__ = ["create_app"]
