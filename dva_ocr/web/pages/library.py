"""The media library (list) and the upload page: shells whose scripts read the REST API for live state."""

from __future__ import annotations

from fastapi import Request
from fastapi.responses import HTMLResponse

from dva_ocr.web.pages.common import page_router, render

router = page_router()


@router.get("/", response_class=HTMLResponse)
def media_list(request: Request) -> HTMLResponse:
    return render(request, "media_list.html", active="media")


@router.get("/upload", response_class=HTMLResponse)
def upload(request: Request) -> HTMLResponse:
    return render(
        request, "upload.html", active="upload", max_bytes=request.app.state.settings.upload_max_bytes
    )
