"""What ffmpeg reported while decoding a video (``DecodeReport``), to be told on the media item: the
spans of the video where it logged errors, and whether it stopped early. A video extracted in segments
(``dva_ocr.pipeline.segments``) has one report per segment, kept as JSON and merged at the end."""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

Span = tuple[float, float | None]  # (start, end; None: to the end), seconds


@dataclass
class DecodeReport:
    """The trouble ffmpeg reported while decoding a video: the spans of the video where it logged errors
    (damaged data: those frames are missing, or decoded in part), and whether it stopped early.
    ``sample_frames`` fills it as it goes; it is complete once the frames are all read.

    ffmpeg's error lines carry no timestamp; each is placed after the last frame decoded before it
    (every decoded frame is logged by a ``showinfo`` filter ahead of the sampling). A span runs from
    there to the first frame decoded after the errors stop and the frames are regular again, so frames
    that were dropped are inside it. ffmpeg reads a little ahead, so a span may start up to a few
    frames early: it is a close bound, not a frame-exact one. Times are seconds from the start of the
    file (ffmpeg ``-start_at_zero``), so the reports of a video's segments line up."""

    frame_interval_s: float = 1.0  # the video's own frame spacing: a longer gap after errors is a hole
    spans: list[Span] = field(default_factory=list)
    errors: int = 0
    first_error: str | None = None
    stopped: str | None = None  # ffmpeg exited with an error after some frames: its last message
    stopped_at: float | None = None
    _open: list[float] | None = None
    _dirty: bool = False
    _last: float | None = None

    def decoded(self, t: float) -> None:
        t = max(0.0, t)
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

    def end(self, *, at_end: bool = True) -> None:
        """The decoding ended: at the end of the video (``at_end``), or where the reader stopped it (a
        segment's end: a span still open closes at the last frame decoded)."""
        if self._open is not None:
            self.spans.append((self._open[0], None if self._dirty and at_end else self._open[1]))
            self._open = None

    def stop(self, message: str) -> None:
        self.stopped = message
        self.stopped_at = self._last

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
            at = f" at {self.stopped_at:.0f} s" if self.stopped_at is not None else ""
            out.append(f"decoding stopped early{at} ({self.stopped}); the frames before were read")
        return out

    def to_json(self) -> dict[str, Any]:
        return {
            "spans": [list(s) for s in self.spans],
            "errors": self.errors,
            "first_error": self.first_error,
            "stopped": self.stopped,
            "stopped_at": self.stopped_at,
            "frame_interval_s": self.frame_interval_s,
        }

    @classmethod
    def merged(cls, parts: Iterable[dict[str, Any]]) -> DecodeReport:
        """One report of a video from its segments' (``to_json``, in time order): spans that touch
        across a boundary are one span; the first error and the first early stop are kept."""
        out = cls()
        spans: list[Span] = []
        for p in parts:
            out.frame_interval_s = float(p.get("frame_interval_s", out.frame_interval_s))
            spans.extend((float(a), None if b is None else float(b)) for a, b in p.get("spans", []))
            out.errors += int(p.get("errors", 0))
            out.first_error = out.first_error or p.get("first_error")
            if p.get("stopped") and out.stopped is None:
                out.stopped, out.stopped_at = p["stopped"], p.get("stopped_at")
        for a, b in sorted(spans, key=lambda s: s[0]):
            prev = out.spans[-1] if out.spans else None
            if prev is not None and (prev[1] is None or a <= prev[1] + 2 * out.frame_interval_s):
                end = None if prev[1] is None or b is None else max(prev[1], b)
                out.spans[-1] = (prev[0], end)
            else:
                out.spans.append((a, b))
        return out


def _span_words(start: float, end: float | None) -> str:
    if end is None:
        return f"from {math.floor(start)} s to the end"
    return f"between {math.floor(start)} s and {max(math.ceil(end), math.floor(start) + 1)} s"
