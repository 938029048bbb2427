"""Frame sampling: ffmpeg decodes and pipes only the sampled frames as raw RGB.

Policies (``Sampling``): ``fixed`` takes frame k at k / fps seconds; ``keyframes`` takes the
stream's I-frames and ``scene`` the frames whose ffmpeg scene score exceeds a threshold, both with a
floor (a frame at least every ``max_gap_s`` seconds, so static text is still seen: the first frame at
or after each multiple of it). For the last
two ffmpeg's ``select`` filter picks the frames and ``showinfo`` reports their timestamps.

A ``Span`` of a video is sampled exactly as a pass over the whole video samples it there (same
frames, indexes and times), so a long video can be extracted in segments on several workers.
"""

from __future__ import annotations

import functools
import logging
import math
import os
import re
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import IO

import cv2
import numpy as np

from dva_ocr.errors import MediaError
from dva_ocr.media.decoding import DecodeReport
from dva_ocr.media.images import UnreadableImage, read_pages
from dva_ocr.media.probe import MediaInfo

log = logging.getLogger(__name__)

JPEG_QUALITY = 92


@dataclass(frozen=True)
class SampledFrame:
    index: int
    time_s: float
    image: np.ndarray  # H x W x 3, uint8, RGB


POLICIES = ("fixed", "keyframes", "scene")
__all__ = ["WHOLE", "DecodeReport", "SampledFrame", "Sampling", "Span", "expected_frames", "sample_frames"]


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
        """The ffmpeg ``select`` expression of a keyframes/scene policy (commas escaped for -vf).

        The floor is kept by the clock: the first frame at or after each multiple of ``max_gap_s``
        seconds, so whether a frame is taken depends on it and the frame before it only, and a span
        of the video decoded on its own takes exactly the frames the whole pass takes there."""
        g = self.max_gap_s
        floor = f"gt(floor(t/{g})\\,floor(prev_t/{g}))+isnan(prev_t)"
        if self.policy == "keyframes":
            return f"eq(pict_type\\,PICT_TYPE_I)+{floor}"
        return f"gt(scene\\,{self.scene_threshold})+{floor}"


def effective_fps(info: MediaInfo, sample_fps: float) -> float:
    """Never sample faster than the video's own frame rate."""
    return min(sample_fps, info.fps) if info.fps else sample_fps


@dataclass(frozen=True)
class Span:
    """A stretch of a video's timeline, ``[start_s, end_s)`` (``end_s`` None: to the end), sampled as
    the whole video is: the frames a pass over the whole video takes at those times."""

    start_s: float = 0.0
    end_s: float | None = None

    def slots(self, fps: float) -> tuple[int, int | None]:
        """The fixed policy's frame numbers k (frame k at k / fps seconds) in the span: [first, stop)."""
        return _slot(self.start_s, fps), None if self.end_s is None else _slot(self.end_s, fps)


WHOLE = Span()


def _slot(t: float, fps: float) -> int:
    return max(0, math.ceil(t * fps - 1e-6))


def expected_frames(info: MediaInfo, sampling: Sampling | float) -> int | None:
    """How many frames a policy yields, where that is known before decoding (fixed fps, images)."""
    if info.media_type == "image":
        return info.pages
    if isinstance(sampling, int | float):
        sampling = Sampling(fps=float(sampling))
    if not info.duration or sampling.policy != "fixed":
        return None
    return max(1, math.ceil(info.duration * effective_fps(info, sampling.fps) - 1e-6))


# showinfo's line of a frame: its number, its timestamp in the filter's time base, and the time base
_FRAME = re.compile(rb"\bn:\s*(\d+)\s+pts:\s*(-?\d+)\b")
_TIME_BASE = re.compile(rb"config in time_base: (\d+)/(\d+)")
_LEVEL = re.compile(rb"^(?:\[[^\]]*@ 0x[0-9a-f]+\] )?\[(\w+)\] ")  # "[h264 @ 0x55..] [error] ..."
_DECODED = b"Parsed_showinfo_0 "  # the first filter: every decoded frame, before sampling
_SAMPLED = b"Parsed_showinfo_2 "  # after ``fps`` or ``select``: the frames the policy took
SEEK_MARGIN_S = 5.0  # a span is decoded from the keyframe before this long ahead of its start


class _SeekMissed(Exception):
    """ffmpeg's seek landed too late for a span to be sampled as the whole pass samples it."""


def sample_frames(
    path: str | Path,
    info: MediaInfo,
    sampling: Sampling | float,
    report: DecodeReport | None = None,
    span: Span = WHOLE,
) -> Iterator[SampledFrame]:
    """Yield the frames a sampling policy picks, in order, with their times; rotation metadata applied.

    A bare number is the fixed policy at that many frames per second (frame k at k / fps seconds).
    An image is one frame at 0 s, EXIF orientation applied; a multi-page TIFF one frame per page, page
    k (from 0) at k seconds. A video is read from its stream ``info.stream_index`` (the one ``probe``
    was asked for); errors ffmpeg reports on the way go to ``report``.

    ``span``: only the frames a pass over the whole video takes at times in the span, decoded from a
    seek to a keyframe a little before it (``SEEK_MARGIN_S``; further back if the seek landed too late).
    The fixed policy's indexes are the frame numbers k; the other policies number the span's frames
    from 0 (their place in the whole video is known once the spans before are sampled)."""
    if isinstance(sampling, int | float):
        sampling = Sampling(fps=float(sampling))
    if info.media_type == "image":
        if span != WHOLE:
            raise ValueError("an image is sampled whole")
        try:
            for k, page in enumerate(read_pages(path)):
                yield SampledFrame(k, float(k), page)
        except UnreadableImage as exc:  # the stored file's path means nothing to the user
            raise MediaError(f"not an image that can be read: {exc.reason}") from exc
        return
    report = report if report is not None else DecodeReport()
    if info.fps:
        report.frame_interval_s = 1 / info.fps
    margin = SEEK_MARGIN_S + 2 / (info.fps or 1)
    while True:
        seek = max(0.0, span.start_s - margin)
        try:
            yield from _sample_video(path, info, sampling, report, span, seek)
            return
        except _SeekMissed:  # nothing was yielded or reported yet: seek further back
            log.info(
                "%s: the seek to %.1f s landed after %.1f s; seeking further back",
                path,
                seek,
                span.start_s,
            )
            margin = margin * 4 + 1


def _sample_video(
    path: str | Path, info: MediaInfo, sampling: Sampling, report: DecodeReport, span: Span, seek: float
) -> Iterator[SampledFrame]:
    """One ffmpeg run over ``span``, decoding from ``seek`` seconds (0: the start of the file)."""
    w, h = info.width, info.height
    stream = [] if info.stream_index is None else ["-map", f"0:{info.stream_index}"]
    out_args = [*stream, "-fps_mode", "passthrough", "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{w}x{h}"]
    # timestamps from the start of the file whatever the seek (-copyts -start_at_zero), so that a
    # span's frames and times are the whole pass's; every decoded frame is logged (no checksums)
    start = ["-noaccurate_seek", "-ss", f"{seek:.6f}"] if seek > 0 else []
    head = ["ffmpeg", "-nostdin", "-hide_banner", "-nostats", "-loglevel", "level+info"]
    head += ["-copyts", "-start_at_zero", *start, "-i", str(path)]
    decoded = "showinfo=checksum=0"
    fixed = sampling.policy == "fixed"
    fps = effective_fps(info, sampling.fps)
    # fixed: frame k = the last one shown at or before k/fps; the others: ffmpeg's select
    pick = f"fps={fps}:round=up" if fixed else f"select={sampling.select_expr()}"
    cmd = [*head, "-vf", f"{decoded},{pick},showinfo=checksum=0", *out_args, "pipe:"]
    first, stop = span.slots(fps)
    frame_bytes = w * h * 3
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout is not None and proc.stderr is not None
    ffmpeg_log = _FfmpegLog(proc.stderr, report, span.start_s, seek)
    n = kept = 0
    finished = False  # ffmpeg ran to its end (not stopped because the reader stopped)
    try:
        while True:
            buf = proc.stdout.read(frame_bytes)
            if len(buf) < frame_bytes:
                finished = True
                break
            with ffmpeg_log.ready:  # showinfo logs a frame before ffmpeg writes it out
                ffmpeg_log.ready.wait_for(functools.partial(ffmpeg_log.has_pick, n), 30)
            if len(ffmpeg_log.picks) <= n:
                raise MediaError("ffmpeg did not report a timestamp for a sampled frame")
            pts, t = ffmpeg_log.picks[n]
            n += 1
            if fixed:
                k, time_s = pts, round(pts / fps, 3)
                if k < first:
                    continue
                if stop is not None and k >= stop:
                    break
            else:
                k, time_s = kept, round(max(0.0, float(t)), 3)
                if t < span.start_s:
                    continue
                if span.end_s is not None and t >= span.end_s:
                    break
            if kept == 0 and seek > 0:
                with ffmpeg_log.ready:
                    ffmpeg_log.ready.wait_for(lambda: ffmpeg_log.seek_ok is not None or ffmpeg_log.ended, 30)
                if not ffmpeg_log.seek_ok:
                    raise _SeekMissed
            image = np.frombuffer(buf, np.uint8).reshape(h, w, 3)
            if fixed and kept == 0 and seek == 0:  # before the first decoded frame: that frame
                for j in range(first, k):
                    yield SampledFrame(j, round(j / fps, 3), image)
            yield SampledFrame(k, time_s, image)
            kept += 1
    finally:
        proc.stdout.close()
        if proc.poll() is None and not finished:
            proc.kill()
        code = proc.wait()
        ffmpeg_log.thread.join(timeout=30)
        proc.stderr.close()
    with ffmpeg_log.ready:
        report.end(at_end=finished)
        if kept == 0 and span.start_s == 0:
            raise MediaError(f"no frames could be decoded from this video ({ffmpeg_log.last_error(code)})")
        if finished and code != 0:
            report.stop(ffmpeg_log.last_error(code))


class _FfmpegLog:
    """Reads ffmpeg's log as it comes (so a chatty ffmpeg never blocks): decoded frames and errors go
    to the report, sampled frames' timestamps to ``picks``, the last error lines are kept.

    A span decoded from a seek: the frames decoded ahead of its start are the span before's (nothing
    is reported of them); at least two of them must be decoded (``seek_ok``), so that the span's
    first frames are compared with the same frames before them as in the whole pass (scene scores,
    the floor of keyframes and scene, the frame shown at the span's first instant)."""

    def __init__(self, stderr: IO[bytes], report: DecodeReport, start_s: float, seek: float) -> None:
        self.stderr, self.report = stderr, report
        self.start_s = start_s
        self.ready = threading.Condition()
        self.time_base: dict[bytes, Fraction] = {}
        self.picks: list[tuple[int, Fraction]] = []  # (pts, seconds) of each sampled frame
        self.ahead = 0  # frames decoded before the span's start
        self.seek_ok: bool | None = True if start_s == 0 else None
        self.needs_ahead = 2 if seek > 0 else 0
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
        which = _DECODED if _DECODED in line else _SAMPLED if _SAMPLED in line else None
        if which is not None:
            tb = _TIME_BASE.search(line)
            if tb is not None:
                self.time_base.setdefault(which, Fraction(int(tb.group(1)), int(tb.group(2))))
                return
            m = _FRAME.search(line)
            if m is None:  # showinfo's other lines (colour, side data)
                return
            pts = int(m.group(2))
            t = pts * self.time_base.get(which, Fraction(1))
            if which == _SAMPLED:
                self.picks.append((pts, t))
            elif self.seek_ok is None:
                if t < self.start_s:
                    self.ahead += 1
                else:
                    self.seek_ok = self.ahead >= self.needs_ahead
            if which == _DECODED and self.seek_ok:
                self.report.decoded(float(t))
            return
        level = _LEVEL.match(line)
        if level is not None and level.group(1) in (b"error", b"fatal", b"panic"):
            message = line[level.end() :].decode(errors="replace").strip()
            self.errors[:] = [*self.errors[-4:], message]
            if self.seek_ok:  # errors ahead of the span are the span before's
                self.report.error(message[:200].rstrip("."))

    def has_pick(self, index: int) -> bool:
        """ffmpeg reported sampled frame ``index``'s timestamp, or its log ended."""
        return len(self.picks) > index or self.ended

    def last_error(self, code: int) -> str:
        return self.errors[-1] if self.errors else f"ffmpeg exited with code {code}"


def write_jpeg(path: Path, image: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    ok, data = cv2.imencode(
        ".jpg", cv2.cvtColor(image, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY]
    )
    if not ok:
        raise MediaError(f"could not encode frame as JPEG: {path}")
    # a name of this writer's own: a segment run twice at once (a redelivered task) writes the same
    # frames, and each file is replaced whole
    tmp = path.with_name(f".{path.stem}.{os.getpid()}.{threading.get_ident()}.tmp")
    tmp.write_bytes(data.tobytes())
    tmp.replace(path)


def read_jpeg(path: str | Path) -> np.ndarray:
    data = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if data is None:
        raise MediaError(f"frame image missing or unreadable: {path}")
    return cv2.cvtColor(data, cv2.COLOR_BGR2RGB)
