"""Media metadata, with errors a person can act on: still images from their headers (PIL), videos and
animated GIF/PNG from ffprobe."""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

from dva_ocr.errors import MediaError
from dva_ocr.media.images import inspect_image

_IMAGE_CODECS = {"mjpeg", "png", "bmp", "tiff", "webp", "jpeg2000", "pgm", "ppm", "pam", "jpegls"}


@dataclass(frozen=True)
class MediaInfo:
    media_type: str  # "video" | "image"
    width: int  # display size, after rotation metadata is applied
    height: int
    duration: float | None
    fps: float | None
    rotation: int  # display-matrix rotation in degrees, as ffprobe reports it
    codec: str
    format_name: str
    pages: int = 1  # frames of an image item: the pages of a multi-page TIFF
    stream_index: int | None = None  # the file's stream that is read (ffmpeg ``-map 0:N``); None: images
    # every video stream of the file, described ("0: h264 1280x720"); the one read is ``video_stream``
    video_streams: tuple[str, ...] = ()
    video_stream: int = 0  # which of them is read (0: the first)

    def stream_note(self) -> str | None:
        """What a person should know when the file has several video streams: which one is read."""
        if len(self.video_streams) < 2:
            return None
        return (
            f"the file has {len(self.video_streams)} video streams ({'; '.join(self.video_streams)}); "
            f"video stream {self.video_stream} was read (choose another with the video_stream upload "
            "field or ingest --video-stream N)"
        )


def _rotation(stream: dict) -> int:
    tags_rot = stream.get("tags", {}).get("rotate")
    if tags_rot is not None:
        return int(tags_rot) % 360
    for side in stream.get("side_data_list", []):
        if "rotation" in side:
            return int(float(side["rotation"])) % 360
    return 0


def _rate(value: str | None) -> float | None:
    if not value or value in ("0/0", "0"):
        return None
    try:
        r = float(Fraction(value))
    except (ValueError, ZeroDivisionError):
        return None
    return r if r > 0 else None


def probe(path: str | Path, video_stream: int | None = None) -> MediaInfo:
    """What the file is; ``video_stream`` picks which of a file's video streams is read (0, the
    default, is the first; cover pictures are not counted)."""
    path = Path(path)
    if not path.is_file():
        raise MediaError(f"file not found: {path}")
    if path.stat().st_size == 0:
        raise MediaError("not a media file: the file is empty (0 bytes)")
    facts = inspect_image(path)
    if facts is not None and not facts.animated:  # an animated GIF/PNG is a video: ffmpeg reads it
        fmt = facts.format.lower()
        return MediaInfo("image", facts.width, facts.height, None, None, 0, fmt, fmt, facts.pages)
    proc = subprocess.run(
        ["ffprobe", "-v", "error", "-print_format", "json", "-show_format", "-show_streams", str(path)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    if proc.returncode != 0:
        detail = proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else "unknown error"
        detail = detail.replace(str(path) + ": ", "")
        raise MediaError(f"not a media file: ffprobe could not read it ({detail})")
    data = json.loads(proc.stdout or "{}")
    streams = data.get("streams", [])
    fmt = data.get("format", {})
    video = [
        s
        for s in streams
        if s.get("codec_type") == "video" and s.get("disposition", {}).get("attached_pic") != 1
    ]
    if not video:
        kinds = sorted({s.get("codec_type", "?") for s in streams}) or ["none"]
        raise MediaError(f"not a video: ffprobe found no video stream (streams: {', '.join(kinds)})")
    chosen = video_stream or 0
    if not 0 <= chosen < len(video):
        raise MediaError(
            f"the file has {len(video)} video stream(s), numbered from 0; there is no video stream {chosen}"
        )
    s = video[chosen]
    width, height = int(s.get("width") or 0), int(s.get("height") or 0)
    if width <= 0 or height <= 0:
        raise MediaError("not a video: the video stream has no picture size (corrupt header?)")
    rotation = _rotation(s)
    if rotation in (90, 270):
        width, height = height, width
    format_name = fmt.get("format_name", "")
    codec = s.get("codec_name", "")
    is_image = codec in _IMAGE_CODECS and (
        format_name == "image2" or format_name.endswith("_pipe") or format_name in ("webp",)
    )
    duration = None if is_image else _float(fmt.get("duration")) or _float(s.get("duration"))
    return MediaInfo(
        media_type="image" if is_image else "video",
        width=width,
        height=height,
        duration=duration,
        fps=None if is_image else _rate(s.get("avg_frame_rate")) or _rate(s.get("r_frame_rate")),
        rotation=rotation,
        codec=codec,
        format_name=format_name,
        stream_index=int(s.get("index", 0)),
        video_streams=tuple(_describe(k, v) for k, v in enumerate(video)),
        video_stream=chosen,
    )


def _describe(number: int, stream: dict) -> str:
    """A video stream as a person tells it apart: number, codec, size, language or title if tagged."""
    tags = stream.get("tags", {})
    label = " ".join(str(tags[k]) for k in ("language", "title") if tags.get(k) and tags[k] != "und")
    size = f"{stream.get('width', '?')}x{stream.get('height', '?')}"
    return f"{number}: {stream.get('codec_name', '?')} {size}" + (f" {label}" if label else "")


def _float(v: object) -> float | None:
    try:
        f = float(v)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return f if f > 0 else None
