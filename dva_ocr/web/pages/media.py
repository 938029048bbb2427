"""The media page: a shell whose script (static/media.js) reads the REST API for live state: the player
with the boxes of the text on screen drawn over it, the text timeline and list, progress while the item
is read, and what went wrong (Retry, Delete) when it failed."""

from __future__ import annotations

import mimetypes

from fastapi import Depends, Query, Request
from fastapi.responses import HTMLResponse
from sqlalchemy import select
from sqlalchemy.orm import Session

from dva_ocr import exports, media_admin
from dva_ocr.db.tables import Frame, Video
from dva_ocr.errors import NotFound
from dva_ocr.web.auth import get_db
from dva_ocr.web.pages.common import not_found, page_router, render
from dva_ocr.web.params import Id

router = page_router()


def is_image(v: Video) -> bool:
    if v.media_type:
        return v.media_type == "image"
    return (mimetypes.guess_type(v.source_name)[0] or "").startswith("image/")


def _frame_size(db: Session, v: Video) -> tuple[int, int] | None:
    """The sampled frames' size (the boxes' coordinates); the media's own until it has frames."""
    size = db.execute(
        select(Frame.width, Frame.height).where(Frame.video_id == v.id).order_by(Frame.index).limit(1)
    ).first()
    if size is not None:
        return size[0], size[1]
    return (v.width, v.height) if v.width and v.height else None


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
    image = is_image(video)
    frame_index = media_admin.nearest_frame_index(db, media_id, t if t is not None else 0.0)
    return render(
        request,
        "media.html",
        active="media",
        video=video,
        media=media_admin.media_json(video),
        is_image=image,
        t=t,
        frame_index=frame_index,
        frame_size=_frame_size(db, video),
        # an image has no timeline: no subtitle formats
        formats=[f for f in exports.FORMATS if not (image and f in exports.SUBTITLES)],
    )
