"""The media library (list) and the upload page: shells whose scripts read the REST API for live state."""

from __future__ import annotations

from fastapi import Depends, Request
from fastapi.responses import HTMLResponse
from sqlalchemy.orm import Session

from dva_ocr import media_admin, model_registry
from dva_ocr.db.tables import VideoStatus
from dva_ocr.exports import FORMATS
from dva_ocr.filters import MIN_LINE_CONFIDENCE
from dva_ocr.web.auth import get_db
from dva_ocr.web.pages.common import page_router, render

router = page_router()

SORT_LABELS = {
    "date": "date added",
    "name": "name",
    "duration": "duration",
    "texts": "texts found",
    "size": "size",
}


def _models(db: Session) -> list[dict[str, object]]:
    default = model_registry.default_model_name(db)
    return [{"name": mv.name, "active": mv.name == default} for mv, _ in model_registry.list_models(db)]


@router.get("/", response_class=HTMLResponse)
def media_list(request: Request, db: Session = Depends(get_db)) -> HTMLResponse:
    return render(
        request,
        "media_list.html",
        active="media",
        statuses=[s.value for s in VideoStatus],
        sorts=[(key, SORT_LABELS[key]) for key in media_admin.SORTS],
        formats=list(FORMATS),
        models=_models(db),
    )


@router.get("/upload", response_class=HTMLResponse)
def upload(request: Request, db: Session = Depends(get_db)) -> HTMLResponse:
    settings = request.app.state.settings
    return render(
        request,
        "upload.html",
        active="upload",
        max_bytes=settings.upload_max_bytes,
        sample_fps=settings.sample_fps,
        max_reuse_s=settings.max_reuse_s,
        min_confidence=MIN_LINE_CONFIDENCE,
        models=_models(db),
    )
