"""Frame sampling: ffmpeg decodes and pipes only the sampled frames as raw RGB."""

from __future__ import annotations

import math
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import ffmpeg
import numpy as np

from dva_ocr.errors import MediaError
from dva_ocr.media.images import read_image
from dva_ocr.media.probe import MediaInfo

JPEG_QUALITY = 92


@dataclass(frozen=True)
class SampledFrame:
    index: int
    time_s: float
    image: np.ndarray  # H x W x 3, uint8, RGB


def effective_fps(info: MediaInfo, sample_fps: float) -> float:
    """Never sample faster than the video's own frame rate."""
    return min(sample_fps, info.fps) if info.fps else sample_fps


def expected_frames(info: MediaInfo, sample_fps: float) -> int | None:
    if info.media_type == "image":
        return 1
    if not info.duration:
        return None
    return max(1, math.ceil(info.duration * effective_fps(info, sample_fps) - 1e-6))


def sample_frames(path: str | Path, info: MediaInfo, sample_fps: float) -> Iterator[SampledFrame]:
    """Yield frames at ``sample_fps`` (frame k at k / fps seconds), rotation metadata applied."""
    if info.media_type == "image":
        yield SampledFrame(0, 0.0, read_image(path))
        return
    fps = effective_fps(info, sample_fps)
    w, h = info.width, info.height
    frame_bytes = w * h * 3
    stream = (
        ffmpeg.input(str(path))
        .filter("fps", fps=fps, round="up")  # frame k = the last one shown at or before k/fps
        .output("pipe:", format="rawvideo", pix_fmt="rgb24", s=f"{w}x{h}")
        .global_args("-nostdin", "-hide_banner", "-loglevel", "error")
    )
    # stderr goes to a file, not a pipe: a chatty ffmpeg must never block on a full pipe.
    with tempfile.TemporaryFile() as err:
        proc = subprocess.Popen(stream.compile(), stdout=subprocess.PIPE, stderr=err)
        assert proc.stdout is not None
        index = 0
        try:
            while True:
                buf = proc.stdout.read(frame_bytes)
                if len(buf) < frame_bytes:
                    break
                image = np.frombuffer(buf, np.uint8).reshape(h, w, 3)
                yield SampledFrame(index, round(index / fps, 3), image)
                index += 1
        finally:
            proc.stdout.close()
            if proc.poll() is None:
                proc.kill()
            code = proc.wait()
        if index == 0:
            err.seek(0)
            detail = err.read().decode(errors="replace").strip().splitlines()
            msg = detail[-1] if detail else f"ffmpeg exited with code {code}"
            raise MediaError(f"no frames could be decoded from this video ({msg})")


def write_jpeg(path: Path, image: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    ok, data = cv2.imencode(
        ".jpg", cv2.cvtColor(image, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY]
    )
    if not ok:
        raise MediaError(f"could not encode frame as JPEG: {path}")
    tmp = path.with_suffix(".tmp")
    tmp.write_bytes(data.tobytes())
    tmp.replace(path)


def read_jpeg(path: str | Path) -> np.ndarray:
    data = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if data is None:
        raise MediaError(f"frame image missing or unreadable: {path}")
    return cv2.cvtColor(data, cv2.COLOR_BGR2RGB)
