"""REST API for the media page's player (under /api): which sampled frame was on screen at a time.

The player draws the boxes of the text tracks (``/api/media/{id}/tracks``) over the playing video; its
"sampled frame" view shows the frame OCR read instead, which is the latest frame sampled at or before
the player's time (frames are sampled at their own times, which only the frame rows know).
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from dva_ocr import media_admin
from dva_ocr.db.tables import Frame
from dva_ocr.errors import NotFound
from dva_ocr.web import schemas
from dva_ocr.web.auth import current_user, get_db
from dva_ocr.web.params import Id

router = APIRouter(prefix="/api", dependencies=[Depends(current_user)], responses=schemas.errors(401))


class FrameAt(BaseModel):
    media_id: int
    index: int = Field(description="frame index (its image: /files/media/{media_id}/frames/{index}.jpg)")
    time: float = Field(description="seconds: when the frame was sampled")
    width: int = Field(description="pixels; track and region boxes are in these coordinates")
    height: int


def frame_at(session: Session, media_id: int, time_s: float) -> Frame:
    """The frame on screen at ``time_s``: the latest sampled at or before it (the first before any)."""
    media_admin.get_media(session, media_id)
    base = select(Frame).where(Frame.video_id == media_id)
    frame = session.scalar(base.where(Frame.time_s <= time_s).order_by(Frame.time_s.desc()).limit(1))
    frame = frame or session.scalar(base.order_by(Frame.time_s).limit(1))
    if frame is None:
        raise NotFound(f"media {media_id} has no sampled frames (yet)")
    return frame


@router.get("/media/{media_id}/frames/at", response_model=FrameAt, responses=schemas.errors(404))
def sampled_frame_at(
    media_id: Id,
    t: float = Query(0.0, ge=0, le=10**7, description="seconds into the media"),
    db: Session = Depends(get_db),
) -> dict:
    """The sampled frame that was on screen at second ``t``."""
    f = frame_at(db, media_id, t)
    return {"media_id": media_id, "index": f.index, "time": f.time_s, "width": f.width, "height": f.height}
