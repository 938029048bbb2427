"""Export a media item's text tracks as JSON, CSV, SubRip (SRT) or WebVTT; pure functions, no database.

A *track* is one text followed across consecutive sampled frames: its voted text, the seconds it is on
screen, a confidence and a box per frame. ``render(fmt, media, tracks)`` returns the file as a string;
``FORMATS`` gives each format's content type and file extension. ``zip_files`` packs several exports
into one zip with a ``MANIFEST.txt`` that names what was left out and why.

Subtitle formats (SRT, WebVTT) never have overlapping cues, since players show those badly: the
timeline is cut at every track start and end, each piece's cue holds the texts of all tracks visible
then (one per line, top to bottom by the track's box), and adjacent pieces with the same text are merged.
"""

from __future__ import annotations

import bisect
import csv
import io
import json
import math
import re
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass

__all__ = [
    "FORMATS",
    "MANIFEST",
    "MIN_CUE_SECONDS",
    "SUBTITLES",
    "ExportMedia",
    "ExportTrack",
    "TrackBox",
    "export_filename",
    "render",
    "zip_files",
]

MIN_CUE_SECONDS = 1.0  # on-screen time of a track with end <= start (an image: start = end = 0)

FORMATS: dict[str, tuple[str, str]] = {
    "json": ("application/json; charset=utf-8", "json"),
    "csv": ("text/csv; charset=utf-8", "csv"),
    "srt": ("application/x-subrip; charset=utf-8", "srt"),
    "vtt": ("text/vtt; charset=utf-8", "vtt"),
}


SUBTITLES = ("srt", "vtt")  # timed formats: an image, with no timeline, has none
MANIFEST = "MANIFEST.txt"


@dataclass(frozen=True)
class TrackBox:
    """Where a track was in one sampled frame: ``box`` is x, y, w, h in that frame's pixels."""

    t: float
    frame: int
    box: tuple[int, int, int, int]


@dataclass(frozen=True)
class ExportTrack:
    id: int
    text: str
    start: float
    end: float
    confidence: float
    boxes: tuple[TrackBox, ...]


@dataclass(frozen=True)
class ExportMedia:
    id: int
    name: str
    media_type: str
    duration: float | None
    width: int | None
    height: int | None
    model: str


def render(fmt: str, media: ExportMedia, tracks: Sequence[ExportTrack]) -> str:
    """The export file of ``media``'s ``tracks`` in ``fmt`` (a key of ``FORMATS``), as text.

    Encode the result as UTF-8 (the charset in ``FORMATS``). Raises ``ValueError`` naming the known
    formats when ``fmt`` is not one of them.
    """
    renderer = _RENDERERS.get(fmt)
    if renderer is None:
        raise ValueError(f"unknown export format {fmt!r}: use one of {', '.join(FORMATS)}")
    return renderer(media, tracks)


def export_filename(fmt: str, media: ExportMedia) -> str:
    """A download file name for ``media`` in ``fmt``: the media name without its extension, reduced to
    safe characters, plus the format's extension (``talk.mp4`` -> ``talk.srt``)."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown export format {fmt!r}: use one of {', '.join(FORMATS)}")
    stem = media.name.rsplit("/", 1)[-1]
    if "." in stem.lstrip("."):
        stem = stem.rsplit(".", 1)[0]
    stem = re.sub(r"[^\w.-]+", "_", stem).strip("._") or f"media-{media.id}"
    return f"{stem}.{FORMATS[fmt][1]}"


# --- JSON --------------------------------------------------------------------------------------------


def _num(value: float | None, digits: int) -> float | None:
    if value is None or not math.isfinite(value):
        return None
    return round(float(value), digits)


def _sorted(tracks: Sequence[ExportTrack]) -> list[ExportTrack]:
    return sorted(tracks, key=lambda tr: (tr.start, tr.id))


def _render_json(media: ExportMedia, tracks: Sequence[ExportTrack]) -> str:
    doc = {
        "media": {
            "id": media.id,
            "name": media.name,
            "media_type": media.media_type,
            "duration": _num(media.duration, 3),
            "width": media.width,
            "height": media.height,
            "model": media.model,
        },
        "tracks": [
            {
                "id": tr.id,
                "text": tr.text,
                "start": _num(tr.start, 3),
                "end": _num(tr.end, 3),
                "confidence": _num(tr.confidence, 4),
                "boxes": [{"t": _num(b.t, 3), "frame": b.frame, "box": list(b.box)} for b in tr.boxes],
            }
            for tr in _sorted(tracks)
        ],
    }
    return json.dumps(doc, ensure_ascii=False, allow_nan=False, separators=(",", ":")) + "\n"


# --- CSV ---------------------------------------------------------------------------------------------

CSV_COLUMNS = ("id", "start", "end", "text", "confidence", "x", "y", "w", "h", "frames")
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _csv_safe(text: str) -> str:
    return "'" + text if text.startswith(_FORMULA_START) else text


def _render_csv(media: ExportMedia, tracks: Sequence[ExportTrack]) -> str:
    """One row per track (RFC 4180: comma separated, CRLF line ends, quoted where needed, a header row):
    id, start, end, text, confidence, the x, y, w, h of the track's first box in time (empty without
    boxes) and frames (how many boxes).

    Spreadsheet formula injection: a text starting with ``=``, ``+``, ``-``, ``@`` (or a tab or carriage
    return) is written with a leading single quote (``'=SUM(A1)``), so spreadsheet programs show it as
    text instead of running it. Strip that quote when reading such a text back for anything else.
    """
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for tr in _sorted(tracks):
        first = min(tr.boxes, key=lambda b: (b.t, b.frame)) if tr.boxes else None
        box: tuple[int, ...] | tuple[str, ...] = first.box if first else ("", "", "", "")
        writer.writerow(
            [
                tr.id,
                f"{tr.start:.3f}",
                f"{tr.end:.3f}",
                _csv_safe(tr.text),
                f"{tr.confidence:.4f}",
                *box,
                len(tr.boxes),
            ]
        )
    return out.getvalue()


# --- SRT and WebVTT ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Cue:
    start_ms: int
    end_ms: int
    lines: tuple[str, ...]


def _one_line(text: str) -> str:
    """A track text as one cue line: newlines and runs of whitespace become one space."""
    return " ".join(text.split())


class _Span:
    """A track as a cue span in whole milliseconds, with its boxes in time order."""

    def __init__(self, track: ExportTrack, start_ms: int, end_ms: int, line: str) -> None:
        self.track, self.start_ms, self.end_ms, self.line = track, start_ms, end_ms, line
        self.boxes = sorted(track.boxes, key=lambda b: b.t)
        self.box_times = [b.t for b in self.boxes]

    def order_at(self, t: float) -> tuple[int, int, int, int]:
        """Sort key at ``t``: y, x of the last box at or before ``t`` (else the first box; no box: last)."""
        if not self.boxes:
            y, x = 2**31, 2**31
        else:
            box = self.boxes[max(0, bisect.bisect_right(self.box_times, t) - 1)].box
            y, x = box[1], box[0]
        return (y, x, self.start_ms, self.track.id)


def _spans(tracks: Sequence[ExportTrack]) -> list[_Span]:
    spans = []
    for tr in tracks:
        line = _one_line(tr.text)
        if not line:
            continue
        start = max(0.0, tr.start)
        end = tr.end if tr.end > start else start + MIN_CUE_SECONDS
        start_ms, end_ms = round(start * 1000), round(end * 1000)
        spans.append(_Span(tr, start_ms, max(end_ms, start_ms + 1), line))
    return spans


def _cues(tracks: Sequence[ExportTrack]) -> list[_Cue]:
    """Non-overlapping cues in time order: the timeline cut at every track start and end (in whole
    milliseconds, as the formats write them); each piece shows every track visible then, top to bottom;
    adjacent pieces with the same lines merged."""
    spans = _spans(tracks)
    starts: dict[int, list[_Span]] = {}
    ends: dict[int, list[_Span]] = {}
    for sp in spans:
        starts.setdefault(sp.start_ms, []).append(sp)
        ends.setdefault(sp.end_ms, []).append(sp)
    cuts = sorted(starts.keys() | ends.keys())
    active: dict[int, _Span] = {}
    cues: list[_Cue] = []
    for a, b in zip(cuts, cuts[1:], strict=False):
        for sp in ends.get(a, ()):
            active.pop(id(sp), None)
        for sp in starts.get(a, ()):
            active[id(sp)] = sp
        if not active:
            continue
        lines = tuple(sp.line for sp in sorted(active.values(), key=lambda sp: sp.order_at(a / 1000)))
        if cues and cues[-1].end_ms == a and cues[-1].lines == lines:
            cues[-1] = _Cue(cues[-1].start_ms, b, lines)
        else:
            cues.append(_Cue(a, b, lines))
    return cues


def _timestamp(ms: int, sep: str) -> str:
    hours, rest = divmod(ms, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    seconds, millis = divmod(rest, 1000)
    return f"{hours:02d}:{minutes:02d}:{seconds:02d}{sep}{millis:03d}"


def _render_srt(media: ExportMedia, tracks: Sequence[ExportTrack]) -> str:
    """SubRip: cues numbered from 1, ``HH:MM:SS,mmm --> HH:MM:SS,mmm``, a blank line after each cue.
    SRT has no escaping; texts are written as they are (one line per track)."""
    blocks = [
        f"{n}\n{_timestamp(c.start_ms, ',')} --> {_timestamp(c.end_ms, ',')}\n" + "\n".join(c.lines) + "\n"
        for n, c in enumerate(_cues(tracks), start=1)
    ]
    return "\n".join(blocks)


def _vtt_escape(text: str) -> str:
    # also breaks any "-->" in a text (it becomes "--&gt;"), which WebVTT forbids in cue text
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _render_vtt(media: ExportMedia, tracks: Sequence[ExportTrack]) -> str:
    """WebVTT: the ``WEBVTT`` header, then cues ``HH:MM:SS.mmm --> HH:MM:SS.mmm`` with & < > escaped."""
    blocks = ["WEBVTT\n"]
    for c in _cues(tracks):
        body = "\n".join(_vtt_escape(line) for line in c.lines)
        blocks.append(f"{_timestamp(c.start_ms, '.')} --> {_timestamp(c.end_ms, '.')}\n{body}\n")
    return "\n".join(blocks)


_RENDERERS: dict[str, Callable[[ExportMedia, Sequence[ExportTrack]], str]] = {
    "json": _render_json,
    "csv": _render_csv,
    "srt": _render_srt,
    "vtt": _render_vtt,
}


# --- zip ---------------------------------------------------------------------------------------------


def zip_files(fmt: str, files: Sequence[tuple[str, str]], left_out: Sequence[tuple[str, str]]) -> bytes:
    """A zip of export ``files`` ((name, text), UTF-8) with a ``MANIFEST.txt``: the format, the files
    and each item ``left_out`` ((what, why)). Names must be unique."""
    names = [name for name, _ in files]
    if len(set(names)) != len(names) or MANIFEST in names:
        raise ValueError(f"export file names must be unique and not {MANIFEST}: {names}")
    lines = [f"dva-ocr export, format {fmt}: {len(files)} file(s)", *(f"  {n}" for n in names)]
    if left_out:
        lines += [f"left out: {len(left_out)} item(s)", *(f"  {what}: {why}" for what, why in left_out)]
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr(MANIFEST, "\n".join(lines) + "\n")
        for name, text in files:
            z.writestr(name, text.encode("utf-8"))
    return buf.getvalue()
