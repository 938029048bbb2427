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
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

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
_LEVEL = re.compile(rb"^(?:\[[^\]]*@ 0x[0-9a-f]+\] )?\[(\w+)\] ")  # "[h264 @ 0x55..] [error] ..."
_DECODED = b"Parsed_showinfo_0 "  # the first filter: every decoded frame, before sampling
_SELECTED = b"Parsed_showinfo_2 "  # keyframes/scene: after ``select``, the frames it picked


@dataclass
class DecodeReport:
    """The trouble ffmpeg reported while decoding a video, to be told on the media item: the spans of
    the video where it logged errors (damaged data: those frames are missing, or decoded in part), and
    whether it stopped early. ``sample_frames`` fills it as it goes; it is complete once the frames
    are all read.

    ffmpeg's error lines carry no timestamp; each is placed after the last frame decoded before it
    (every decoded frame is logged by a ``showinfo`` filter ahead of the sampling). A span runs from
    there to the first frame decoded after the errors stop and the frames are regular again, so frames
    that were dropped are inside it. ffmpeg reads a little ahead, so a span may start up to a few
    frames early: it is a close bound, not a frame-exact one."""

    frame_interval_s: float = 1.0  # the video's own frame spacing: a longer gap after errors is a hole
    spans: list[tuple[float, float | None]] = field(default_factory=list)  # (start, end; None: to the end)
    errors: int = 0
    first_error: str | None = None
    stopped: str | None = None  # ffmpeg exited with an error after some frames: its last message
    _open: list[float] | None = None
    _dirty: bool = False
    _first_pts: float | None = None
    _last: float | None = None

    def decoded(self, pts: float) -> None:
        if self._first_pts is None:
            self._first_pts = pts
        t = max(0.0, pts - self._first_pts)
        if self._open is not None:
            gap = self._last is not None and t - self._last > 1.5 * self.frame_interval_s + 1e-6
            if self._dirty or gap:
                self._open[1] = t
                self._dirty = False
            else:
                self.spans.append((self._open[0], self._open[1]))
                self._open = None
        self._last = t

    def error(self, message: str) -> None:
        self.errors += 1
        self.first_error = self.first_error or message
        if self._open is None:
            start = self._last or 0.0
            self._open = [start, start]
        self._dirty = True

    def end(self) -> None:
        if self._open is not None:
            self.spans.append((self._open[0], None if self._dirty else self._open[1]))
            self._open = None

    def notes(self) -> list[str]:
        """One sentence per problem, for a person (``videos.notes``)."""
        out: list[str] = []
        if self.spans:
            shown = [_span_words(a, b) for a, b in self.spans[:5]]
            more = f" and {len(self.spans) - 5} more span(s)" if len(self.spans) > 5 else ""
            out.append(
                f"frames {', '.join(shown)}{more} could not be decoded (damaged data; ffmpeg reported "
                f"{self.errors} error(s), the first: {self.first_error}); the rest of the video was read"
            )
        if self.stopped:
            at = f" at {self._last:.0f} s" if self._last is not None else ""
            out.append(f"decoding stopped early{at} ({self.stopped}); the frames before were read")
        return out


def _span_words(start: float, end: float | None) -> str:
    if end is None:
        return f"from {math.floor(start)} s to the end"
    return f"between {math.floor(start)} s and {max(math.ceil(end), math.floor(start) + 1)} s"


def sample_frames(
    path: str | Path, info: MediaInfo, sampling: Sampling | float, report: DecodeReport | None = None
) -> Iterator[SampledFrame]:
    """Yield the frames a sampling policy picks, in order, with their times; rotation metadata applied.

    A bare number is the fixed policy at that many frames per second (frame k at k / fps seconds).
    An image is one frame at 0 s, EXIF orientation applied; a multi-page TIFF one frame per page, page
    k (from 0) at k seconds. A video is read from its stream ``info.stream_index`` (the one ``probe``
    was asked for); errors ffmpeg reports on the way go to ``report``."""
    if isinstance(sampling, int | float):
        sampling = Sampling(fps=float(sampling))
    if info.media_type == "image":
        try:
            for k, page in enumerate(read_pages(path)):
                yield SampledFrame(k, float(k), page)
        except UnreadableImage as exc:  # the stored file's path means nothing to the user
            raise MediaError(f"not an image that can be read: {exc.reason}") from exc
        return
    report = report if report is not None else DecodeReport()
    if info.fps:
        report.frame_interval_s = 1 / info.fps
    w, h = info.width, info.height
    stream = [] if info.stream_index is None else ["-map", f"0:{info.stream_index}"]
    out_args = [*stream, "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{w}x{h}", "pipe:"]
    # every decoded frame is logged (no checksums: cheap), so that errors can be placed in time
    head = ["ffmpeg", "-nostdin", "-hide_banner", "-nostats", "-loglevel", "level+info", "-i", str(path)]
    decoded = "showinfo=checksum=0"
    if sampling.policy == "fixed":
        fps = effective_fps(info, sampling.fps)
        # frame k = the last one shown at or before k/fps
        cmd = [*head, "-vf", f"{decoded},fps={fps}:round=up", *out_args]
        yield from _read_frames(cmd, w, h, lambda k: round(k / fps, 3), None, report)
        return
    times: list[float] = []
    cmd = [
        *head, "-vf", f"{decoded},select={sampling.select_expr()},showinfo=checksum=0",
        "-fps_mode", "passthrough", *out_args,
    ]  # fmt: skip
    yield from _read_frames(cmd, w, h, lambda k: times[k], times, report)


class _FfmpegLog:
    """Reads ffmpeg's log as it comes (so a chatty ffmpeg never blocks): decoded frames and errors go
    to the report, selected frames' timestamps to ``times``, the last error lines are kept."""

    def __init__(self, stderr: IO[bytes], times: list[float] | None, report: DecodeReport) -> None:
        self.stderr, self.times, self.report = stderr, times, report
        self.ready = threading.Condition()
        self.errors: list[str] = []  # the last few error lines, for a message
        self.ended = False
        self.thread = threading.Thread(target=self._run, name="ffmpeg-log", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        for line in self.stderr:
            with self.ready:
                self._line(line)
                self.ready.notify_all()
        with self.ready:
            self.ended = True
            self.ready.notify_all()

    def _line(self, line: bytes) -> None:
        if _DECODED in line or (_SELECTED in line and self.times is not None):
            m = _PTS_TIME.search(line)
            if m is None:  # showinfo's other lines (colour, side data)
                return
            pts = float(m.group(2))
            if _DECODED in line:
                self.report.decoded(pts)
            else:
                self.times.append(round(max(0.0, pts), 3))  # type: ignore[union-attr]
            return
        level = _LEVEL.match(line)
        if level is not None and level.group(1) in (b"error", b"fatal", b"panic"):
            message = line[level.end() :].decode(errors="replace").strip()
            self.errors[:] = [*self.errors[-4:], message]
            self.report.error(message[:200].rstrip("."))

    def has_time(self, index: int) -> bool:
        """ffmpeg reported selected frame ``index``'s time, or its log ended."""
        return self.times is not None and len(self.times) > index or self.ended

    def last_error(self, code: int) -> str:
        return self.errors[-1] if self.errors else f"ffmpeg exited with code {code}"


def _read_frames(
    cmd: list[str], w: int, h: int, time_of, times: list[float] | None, report: DecodeReport
) -> Iterator[SampledFrame]:
    """Run ffmpeg, yield its raw frames; ``times`` given: frame timestamps come from ``showinfo``."""
    frame_bytes = w * h * 3
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout is not None and proc.stderr is not None
    log = _FfmpegLog(proc.stderr, times, report)
    index = 0
    finished = False  # ffmpeg ran to its end (not stopped because the reader stopped)
    try:
        while True:
            buf = proc.stdout.read(frame_bytes)
            if len(buf) < frame_bytes:
                finished = True
                break
            if times is not None:
                with log.ready:  # showinfo logs a frame before ffmpeg writes it out
                    log.ready.wait_for(functools.partial(log.has_time, index), 30)
                if len(times) <= index:
                    raise MediaError("ffmpeg did not report a timestamp for a selected frame")
            image = np.frombuffer(buf, np.uint8).reshape(h, w, 3)
            yield SampledFrame(index, time_of(index), image)
            index += 1
    finally:
        proc.stdout.close()
        if proc.poll() is None and not finished:
            proc.kill()
        code = proc.wait()
        log.thread.join(timeout=30)
        proc.stderr.close()
    with log.ready:
        report.end()
        if index == 0:
            raise MediaError(f"no frames could be decoded from this video ({log.last_error(code)})")
        if code != 0:
            report.stopped = log.last_error(code)


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
