"""Media files for logged-in users: originals (with HTTP range requests, so players can seek) and frames."""

from __future__ import annotations

import mimetypes

from fastapi import APIRouter, Depends
from fastapi.responses import FileResponse, Response
from sqlalchemy.orm import Session

from dva_ocr import media_admin
from dva_ocr.errors import NotFound
from dva_ocr.settings import get_settings
from dva_ocr.web.auth import current_user, get_db

router = APIRouter(prefix="/files", dependencies=[Depends(current_user)])


@router.get("/media/{media_id}/original")
def original(media_id: int, db: Session = Depends(get_db)) -> FileResponse:
    v = media_admin.get_media(db, media_id)
    path = get_settings().media_root / v.path
    if not path.is_file():
        raise NotFound(f"the file of media {media_id} is missing from MEDIA_ROOT")
    media_type = mimetypes.guess_type(v.source_name)[0] or "application/octet-stream"
    return FileResponse(path, media_type=media_type, headers={"Cache-Control": "private, max-age=3600"})


@router.get("/media/{media_id}/frames/{index}.jpg")
def frame(media_id: int, index: int, db: Session = Depends(get_db)) -> Response:
    path = media_admin.frame_path(db, media_id, index)
    if not path.is_file():
        raise NotFound(f"frame {index} of media {media_id} is missing from MEDIA_ROOT")
    return FileResponse(path, media_type="image/jpeg", headers={"Cache-Control": "private, max-age=86400"})
