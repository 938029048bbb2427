"""Where media lives under MEDIA_ROOT.

MEDIA_ROOT/originals/ab/abcdef....mp4   uploaded files, content-addressed by sha256
MEDIA_ROOT/<video id>/frames/000001.jpg sampled frames
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from pathlib import Path

CHUNK = 1 << 20


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK):
            h.update(chunk)
    return h.hexdigest()


def original_path(media_root: Path, sha256: str, suffix: str) -> Path:
    return media_root / "originals" / sha256[:2] / f"{sha256}{suffix.lower()}"


def store_original(media_root: Path, src: Path) -> tuple[Path, str, int]:
    """Copy ``src`` into the content-addressed store; returns (stored path, sha256, size).

    The copy is hashed while it is written, then moved into place atomically, so a crash
    never leaves a half-written file under its final name and the same content is kept once.
    """
    tmp_dir = media_root / "originals" / "tmp"
    tmp_dir.mkdir(parents=True, exist_ok=True)
    h = hashlib.sha256()
    size = 0
    fd, tmp_name = tempfile.mkstemp(dir=tmp_dir)
    try:
        with os.fdopen(fd, "wb") as out, open(src, "rb") as f:
            while chunk := f.read(CHUNK):
                h.update(chunk)
                out.write(chunk)
                size += len(chunk)
        digest = h.hexdigest()
        dest = original_path(media_root, digest, src.suffix)
        dest.parent.mkdir(parents=True, exist_ok=True)
        if dest.exists():
            os.unlink(tmp_name)
        else:
            os.replace(tmp_name, dest)
        return dest, digest, size
    except BaseException:
        if os.path.exists(tmp_name):
            os.unlink(tmp_name)
        raise


def frames_dir(media_root: Path, video_id: int) -> Path:
    return media_root / str(video_id) / "frames"


def frame_path(media_root: Path, video_id: int, index: int) -> Path:
    return frames_dir(media_root, video_id) / f"{index:06d}.jpg"


def remove_video_files(media_root: Path, video_id: int) -> None:
    shutil.rmtree(media_root / str(video_id), ignore_errors=True)
