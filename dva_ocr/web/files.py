"""Media files for logged-in users: originals (with HTTP range requests, so players can seek) and frames.

The type an original is served with comes from its bytes (``sniff``), never from the name it was
uploaded under: a valid MP4 uploaded as ``notes.html`` is served as ``video/mp4``. Only types the
player or an ``<img>`` shows are served inline; anything else is an attachment. Every response under
``/files/`` carries ``nosniff`` and a sandboxing Content-Security-Policy (``web.guards``).
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, Depends
from fastapi.responses import FileResponse, Response
from sqlalchemy.orm import Session

from dva_ocr import media_admin
from dva_ocr.errors import NotFound
from dva_ocr.settings import get_settings
from dva_ocr.web.auth import current_user, get_db
from dva_ocr.web.params import Id, Index

router = APIRouter(prefix="/files", dependencies=[Depends(current_user)])

# Media types a browser shows inline in <video> or <img>, found from the first bytes of a file.
_SIGNATURES: tuple[tuple[int, bytes, str], ...] = (
    (0, b"\xff\xd8\xff", "image/jpeg"),
    (0, b"\x89PNG\r\n\x1a\n", "image/png"),
    (0, b"GIF87a", "image/gif"),
    (0, b"GIF89a", "image/gif"),
    (0, b"BM", "image/bmp"),
    (0, b"\x1a\x45\xdf\xa3", "video/webm"),  # Matroska / WebM (EBML)
    (0, b"OggS", "video/ogg"),
)
INLINE = frozenset(
    {
        "image/jpeg",
        "image/png",
        "image/gif",
        "image/webp",
        "image/bmp",
        "video/mp4",
        "video/webm",
        "video/ogg",
    }
)


def sniff(path: Path) -> str:
    """The media type of a file from its first bytes; ``application/octet-stream`` when unknown."""
    with path.open("rb") as f:
        head = f.read(64)
    for offset, magic, media_type in _SIGNATURES:
        if head[offset : offset + len(magic)] == magic:
            return media_type
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    if head[:4] == b"RIFF" and head[8:12] == b"AVI ":
        return "video/x-msvideo"
    if head[4:8] == b"ftyp":
        brand = head[8:12]
        return "video/quicktime" if brand == b"qt  " else "video/mp4"
    if head[:4] in (b"II*\x00", b"MM\x00*"):
        return "image/tiff"
    return "application/octet-stream"


@router.get("/media/{media_id}/original")
def original(media_id: Id, db: Session = Depends(get_db)) -> FileResponse:
    v = media_admin.get_media(db, media_id)
    path = get_settings().media_root / v.path
    if not path.is_file():
        raise NotFound(f"the file of media {media_id} is missing from MEDIA_ROOT")
    media_type = sniff(path)
    headers = {"Cache-Control": "private, max-age=3600"}
    if media_type not in INLINE:
        return FileResponse(
            path,
            media_type=media_type,
            headers=headers,
            filename=v.source_name,
            content_disposition_type="attachment",
        )
    return FileResponse(path, media_type=media_type, headers=headers)


@router.get("/media/{media_id}/frames/{index}.jpg")
def frame(media_id: Id, index: Index, db: Session = Depends(get_db)) -> Response:
    path = media_admin.frame_path(db, media_id, index)
    if not path.is_file():
        raise NotFound(f"frame {index} of media {media_id} is missing from MEDIA_ROOT")
    return FileResponse(path, media_type="image/jpeg", headers={"Cache-Control": "private, max-age=86400"})
