"""The media page: a shell whose script (static/media.js) reads the REST API for live state."""

from __future__ import annotations

import mimetypes

from fastapi import Depends, Query, Request
from fastapi.responses import HTMLResponse
from sqlalchemy.orm import Session

from dva_ocr import media_admin
from dva_ocr.db.tables import Video
from dva_ocr.errors import NotFound
from dva_ocr.web.auth import get_db
from dva_ocr.web.pages.common import not_found, page_router, render
from dva_ocr.web.params import Id

router = page_router()


def _is_image(v: Video) -> bool:
    if v.media_type:
        return v.media_type == "image"
    return (mimetypes.guess_type(v.source_name)[0] or "").startswith("image/")


@router.get("/media/{media_id}", response_class=HTMLResponse)
def media_page(
    request: Request,
    media_id: Id,
    t: float | None = Query(None, ge=0, description="open the player at this second"),
    db: Session = Depends(get_db),
) -> HTMLResponse:
    try:
        video = media_admin.get_media(db, media_id)
    except NotFound as exc:
        return not_found(request, str(exc))
    frame_index = media_admin.nearest_frame_index(db, media_id, t if t is not None else 0.0)
    return render(
        request,
        "media.html",
        active="media",
        video=video,
        media=media_admin.media_json(video),
        is_image=_is_image(video),
        t=t,
        frame_index=frame_index,
    )
