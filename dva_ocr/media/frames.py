"""Frame sampling: ffmpeg decodes and pipes only the sampled frames as raw RGB.

Policies (``Sampling``): ``fixed`` takes frame k at k / fps seconds; ``keyframes`` takes the
stream's I-frames and ``scene`` the frames whose ffmpeg scene score exceeds a threshold, both with a
floor (a frame at least every ``max_gap_s`` seconds, so static text is still seen). For the last
two ffmpeg's ``select`` filter picks the frames and ``showinfo`` reports their timestamps.
"""

from __future__ import annotations

import functools
import math
import re
import subprocess
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from dva_ocr.errors import MediaError
from dva_ocr.media.images import UnreadableImage, read_pages
from dva_ocr.media.probe import MediaInfo

JPEG_QUALITY = 92


@dataclass(frozen=True)
class SampledFrame:
    index: int
    time_s: float
    image: np.ndarray  # H x W x 3, uint8, RGB


POLICIES = ("fixed", "keyframes", "scene")


@dataclass(frozen=True)
class Sampling:
    policy: str = "fixed"
    fps: float = 1.0  # fixed: frames per second
    scene_threshold: float = 0.3  # scene: ffmpeg scene score (0-1) that counts as a cut
    max_gap_s: float = 2.0  # keyframes/scene: the floor, a frame at least this often

    def __post_init__(self) -> None:
        if self.policy not in POLICIES:
            raise MediaError(f"sampling policy must be one of {', '.join(POLICIES)}, got {self.policy!r}")
        if not 0 < self.fps <= 60:
            raise MediaError(f"sampling fps must be in (0, 60], got {self.fps}")
        if not 0 < self.scene_threshold < 1:
            raise MediaError(f"scene threshold must be between 0 and 1, got {self.scene_threshold}")
        if not 0 < self.max_gap_s <= 3600:
            raise MediaError(f"max gap must be in (0, 3600] seconds, got {self.max_gap_s}")

    def select_expr(self) -> str:
        """The ffmpeg ``select`` expression of a keyframes/scene policy (commas escaped for -vf)."""
        floor = f"gte(t-prev_selected_t\\,{self.max_gap_s})+isnan(prev_selected_t)"
        if self.policy == "keyframes":
            return f"eq(pict_type\\,PICT_TYPE_I)+{floor}"
        return f"gt(scene\\,{self.scene_threshold})+{floor}"


def effective_fps(info: MediaInfo, sample_fps: float) -> float:
    """Never sample faster than the video's own frame rate."""
    return min(sample_fps, info.fps) if info.fps else sample_fps


def expected_frames(info: MediaInfo, sampling: Sampling | float) -> int | None:
    """How many frames a policy yields, where that is known before decoding (fixed fps, images)."""
    if info.media_type == "image":
        return info.pages
    if isinstance(sampling, int | float):
        sampling = Sampling(fps=float(sampling))
    if not info.duration or sampling.policy != "fixed":
        return None
    return max(1, math.ceil(info.duration * effective_fps(info, sampling.fps) - 1e-6))


_PTS_TIME = re.compile(rb"\bn:\s*(\d+).*?\bpts_time:\s*([-\d.e+]+)")


def sample_frames(path: str | Path, info: MediaInfo, sampling: Sampling | float) -> Iterator[SampledFrame]:
    """Yield the frames a sampling policy picks, in order, with their times; rotation metadata applied.

    A bare number is the fixed policy at that many frames per second (frame k at k / fps seconds).
    An image is one frame at 0 s, EXIF orientation applied; a multi-page TIFF one frame per page, page
    k (from 0) at k seconds."""
    if isinstance(sampling, int | float):
        sampling = Sampling(fps=float(sampling))
    if info.media_type == "image":
        try:
            for k, page in enumerate(read_pages(path)):
                yield SampledFrame(k, float(k), page)
        except UnreadableImage as exc:  # the stored file's path means nothing to the user
            raise MediaError(f"not an image that can be read: {exc.reason}") from exc
        return
    w, h = info.width, info.height
    out_args = ["-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{w}x{h}", "pipe:"]
    head = ["ffmpeg", "-nostdin", "-hide_banner", "-nostats", "-i", str(path)]
    if sampling.policy == "fixed":
        fps = effective_fps(info, sampling.fps)
        # frame k = the last one shown at or before k/fps
        cmd = [*head, "-loglevel", "error", "-vf", f"fps={fps}:round=up", *out_args]
        yield from _read_frames(cmd, w, h, lambda k: round(k / fps, 3), None)
        return
    times: list[float] = []
    cmd = [
        *head, "-loglevel", "info", "-vf", f"select={sampling.select_expr()},showinfo",
        "-fps_mode", "passthrough", *out_args,
    ]  # fmt: skip
    yield from _read_frames(cmd, w, h, lambda k: times[k], times)


def _read_frames(
    cmd: list[str], w: int, h: int, time_of, times: list[float] | None
) -> Iterator[SampledFrame]:
    """Run ffmpeg, yield its raw frames. ``times`` given: frame timestamps come from ``showinfo`` on
    stderr, read by a thread; otherwise stderr goes to a file (a chatty ffmpeg must never block)."""
    frame_bytes = w * h * 3
    with tempfile.TemporaryFile() as err:
        ready = threading.Condition()
        tail: list[bytes] = []
        if times is None:
            proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=err)
        else:
            proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)

            def read_stderr() -> None:
                assert proc.stderr is not None
                for line in proc.stderr:
                    m = _PTS_TIME.search(line) if b"Parsed_showinfo" in line else None
                    with ready:
                        if m:
                            times.append(round(max(0.0, float(m.group(2))), 3))
                        else:
                            tail[:] = [*tail[-5:], line]
                        ready.notify_all()
                with ready:
                    tail.append(b"")  # end marker
                    ready.notify_all()

            threading.Thread(target=read_stderr, name="ffmpeg-stderr", daemon=True).start()
        assert proc.stdout is not None
        index = 0
        try:
            while True:
                buf = proc.stdout.read(frame_bytes)
                if len(buf) < frame_bytes:
                    break
                if times is not None:
                    with ready:  # showinfo logs a frame before ffmpeg writes it out
                        ready.wait_for(functools.partial(_has_time, times, tail, index), 30)
                    if len(times) <= index:
                        raise MediaError("ffmpeg did not report a timestamp for a selected frame")
                image = np.frombuffer(buf, np.uint8).reshape(h, w, 3)
                yield SampledFrame(index, time_of(index), image)
                index += 1
        finally:
            proc.stdout.close()
            if proc.poll() is None:
                proc.kill()
            code = proc.wait()
        if index == 0:
            err.seek(0)
            lines = err.read().splitlines() if times is None else [t for t in tail if t]
            detail = [x.decode(errors="replace").strip() for x in lines if x.strip()]
            msg = detail[-1] if detail else f"ffmpeg exited with code {code}"
            raise MediaError(f"no frames could be decoded from this video ({msg})")


def _has_time(times: list[float], tail: list[bytes], index: int) -> bool:
    """ffmpeg reported frame ``index``'s time, or its log ended."""
    return len(times) > index or bool(tail and tail[-1] == b"")


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
