"""Generated test media: ffmpeg drawtext videos with known text at known times, broken files."""

from __future__ import annotations

import struct
import subprocess
import zlib
from dataclasses import dataclass
from pathlib import Path

FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf"


@dataclass(frozen=True)
class Caption:
    text: str
    start: float
    end: float
    x: int = 80
    y: int = 300
    size: int = 56


def _escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("'", "\\'").replace(":", "\\:").replace("%", "\\%")


def make_video(
    path: Path,
    captions: list[Caption],
    *,
    duration: float,
    size: str = "1280x720",
    rate: int = 10,
    background: str = "0x1d2b3a",
) -> Path:
    """An H.264 MP4 whose frames show each caption exactly while start <= t <= end."""
    filters = []
    for c in captions:
        filters.append(
            f"drawtext=fontfile={FONT}:text='{_escape(c.text)}':fontsize={c.size}:fontcolor=white"
            f":x={c.x}:y={c.y}:box=1:boxcolor=black@0.35:boxborderw=12"
            f":enable='between(t,{c.start},{c.end})'"
        )
    vf = ",".join(filters) or "null"
    _ffmpeg(
        "-f", "lavfi", "-i", f"color=c={background}:s={size}:r={rate}:d={duration}", "-vf", vf,
        "-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv420p", str(path),
    )  # fmt: skip
    return path


def make_counter_video(path: Path, *, seconds: int, size: str = "64x64", change_s: int = 600) -> Path:
    """A long H.264 video made fast: a dark picture whose drawn number changes every ``change_s``
    seconds (prefixed "Caption number" from 320 px wide), 1 fps below 320 px wide, else 25 fps;
    keyframes every minute. Ten hours at 64x64 encode in seconds."""
    w = int(size.split("x")[0])
    rate = 1 if w < 320 else 25
    label = "" if w < 320 else "Caption number "
    font = max(12, w // 4) if w < 320 else 40
    number = f"%{{eif\\:floor(t/{change_s})\\:d}}"
    _ffmpeg(
        "-f", "lavfi", "-i", f"color=c=0x1d2b3a:s={size}:r={rate}:d={seconds}",
        "-vf", f"drawtext=fontfile={FONT}:text='{label}{number}':fontsize={font}:fontcolor=white:x=8:y=h/3",
        "-c:v", "libx264", "-preset", "ultrafast", "-g", str(60 * rate), "-pix_fmt", "yuv420p", str(path),
    )  # fmt: skip
    return path


def make_audio_only(path: Path, duration: float = 2.0) -> Path:
    _ffmpeg("-f", "lavfi", "-i", f"sine=frequency=440:duration={duration}", "-c:a", "aac", str(path))
    return path


def make_corrupt(path: Path, seed: int = 7) -> Path:
    import random

    rnd = random.Random(seed)
    path.write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(rnd.randrange(256) for _ in range(20000)))
    return path


def make_empty(path: Path) -> Path:
    path.write_bytes(b"")
    return path


def make_rotated(src: Path, dest: Path, degrees: int = 90) -> Path:
    """The same stream with rotation metadata (players turn it on display)."""
    _ffmpeg("-i", str(src), "-c", "copy", "-metadata:s:v:0", f"rotate={degrees}", str(dest))
    return dest


def _ffmpeg(*args: str) -> None:
    subprocess.run(["ffmpeg", "-v", "error", "-y", *args], check=True)


def png_header(width: int, height: int) -> bytes:
    """A PNG whose header says ``width`` x ``height``; its pixel data is a stub, never to be decoded
    (for size limits checked from the header: a real 30000 x 30000 image would not fit in memory)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(b"\0" * 64))
        + chunk(b"IEND", b"")
    )
