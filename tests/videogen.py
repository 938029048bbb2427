"""Test videos with ground truth for video-aware OCR: slide decks, burnt-in subtitles, a news ticker,
degraded copies and a long lecture mixing slides and subtitles (ffmpeg ``drawtext``, H.264 yuv420p).

Every generator returns a list of ``Shown``: a text and the seconds it is on screen (``start <= t < end``)
with where it was drawn. Text changes happen on the frame grid (the ``enable`` expressions count frames,
``n``), so frame *k* shows exactly the truths with ``start <= k / rate < end``. ``truth_at(truths, t)``
lists the texts on screen at ``t``. All texts come from a seeded generator: same seed, same video.

The filter graph goes to ffmpeg through a script file (``-filter_complex_script``), so a long video with
hundreds of texts does not hit the command-line length limit; texts are escaped for both levels of
filtergraph parsing (``_quote``) and drawn with ``expansion=none`` (``%`` is just a percent sign).
"""

from __future__ import annotations

import json
import random
import subprocess
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np
from PIL import ImageFont

FONT_DIR = Path("/usr/share/fonts/truetype/dejavu")
BOLD = str(FONT_DIR / "DejaVuSans-Bold.ttf")
REGULAR = str(FONT_DIR / "DejaVuSans.ttf")
WIDTH, HEIGHT = 1280, 720
MARGIN = 60  # least distance of any text from the left/right frame edge


@dataclass(frozen=True)
class Shown:
    """``text`` on screen while ``start <= t < end``; its top-left corner near (``x``, ``y``) in frame pixels,
    drawn ``size`` pixels high; ``kind``: title, bullet, subtitle, ticker or headline."""

    text: str
    start: float
    end: float
    y: int
    x: int = 0
    size: int = 0
    kind: str = ""


@dataclass(frozen=True)
class Slide:
    title: str
    bullets: tuple[str, ...]


def truth_at(truths: Sequence[Shown], t: float) -> list[str]:
    """Texts on screen at second ``t``, top to bottom (then left to right)."""
    on = [s for s in truths if s.start <= t < s.end]
    return [s.text for s in sorted(on, key=lambda s: (s.y, s.x))]


# --- text -------------------------------------------------------------------------------------------

_MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August", "September",
           "October", "November", "December")  # fmt: skip
_DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_CITIES = ("London", "Berlin", "Madrid", "Chicago", "Toronto", "Sydney", "Lisbon", "Dublin", "Oslo", "Denver")
_THINGS = ("samples", "orders", "tickets", "patients", "students", "servers", "trucks", "visitors", "bikes",
           "houses", "flights", "engines")  # fmt: skip

# {n} small number, {m} bigger number, {p} percent, {y} year, {h}:{mm} a clock time, {d} a day name,
# {mo} a month, {c} a city, {k} a thing (plural noun). Each fills to 3-8 words.
_SUBTITLE_TEMPLATES = (
    "We tested {m} {k} in {n} days",
    "The results improved by {p} percent",
    "Please turn to page {m} now",
    "The next train leaves at {h}:{mm}",
    "Only {n} seats are left for {d}",
    "Our office in {c} opened in {y}",
    "Sales rose {p} percent in {mo}",
    "This model needs {n} hours of training",
    "We counted {m} {k} last {d}",
    "The meeting moved to {d} at {h}:{mm}",
    "Around {m} people joined from {c}",
    "Let us look at the second chart",
    "The budget for {y} is {m} thousand",
    "Costs fell by {p} percent after the change",
    "Remember to save your work often",
    "The bridge was finished in {y}",
    "Each team gets {n} new laptops",
    "Temperatures reached {n} degrees in {c}",
    "We shipped {m} {k} in {mo}",
    "That is a good question from {c}",
    "The survey had {m} answers",
    "Room {m} is on the {ordinal} floor",
    "Lunch will be served at {h}:{mm}",
    "Nearly {p} percent said yes",
    "The project started in {mo} {y}",
    "Flight {m} to {c} is delayed",
    "Our support team answered {m} calls",
    "Read chapter {n} before next {d}",
    "The river rose {n} metres overnight",
    "Prices start at {m} dollars",
    "We need {n} more volunteers for {d}",
    "The new library opens in {mo}",
    "Every week we plant {m} trees",
    "The factory in {c} employs {m} people",
    "Questions are welcome at the end",
    "The deadline is {d} {mo} {n}",
    "Our app now has {m} users",
    "Energy use dropped by {p} percent",
    "The final score was {n} to {n2}",
    "Traffic on route {n} is heavy",
    "Welcome back everyone",
    "Next slide please",
    "See you on {d}",
    "Any questions so far",
    "Thanks to the team in {c}",
)
_TITLE_TEMPLATES = (
    "Quarterly Results {y}",
    "Project Timeline",
    "Customer Survey Highlights",
    "Network Upgrade Plan",
    "Budget Review {y}",
    "Safety Training Part {n}",
    "Sales by Region",
    "Research Summary",
    "Product Roadmap {y}",
    "Team Update for {mo}",
    "Lessons Learned",
    "Next Steps",
    "Energy Report {y}",
    "Hiring Plan",
    "Market Overview",
    "Field Study in {c}",
)
_BULLET_TEMPLATES = (
    "Revenue grew {p} percent to {m} million",
    "{m} new customers in {c}",
    "Costs fell by {p} percent",
    "Launch planned for {mo} {n}",
    "Team size now {n} engineers",
    "Support tickets down to {m} per week",
    "Pilot with {n} partners in {y}",
    "Average response time {n} minutes",
    "Second office opens in {c}",
    "Battery life up to {n} hours",
    "Training for all staff by {mo}",
    "Website visits reached {m} thousand",
    "Delivery within {n} working days",
    "{p} percent of users renewed",
    "Review every {d} at {h}:{mm}",
    "Budget of {m} thousand approved",
    "Test phase ends in {mo}",
    "Fewer errors on {n} of {m} servers",
)
_ORDINALS = ("first", "second", "third", "fourth", "fifth", "sixth")


def _fill(template: str, rng: random.Random) -> str:
    n = rng.randrange(2, 20)
    return template.format(
        n=n,
        n2=rng.randrange(2, 20),
        m=rng.randrange(21, 990),
        p=rng.randrange(3, 96),
        y=rng.randrange(1995, 2031),
        h=rng.randrange(7, 21),
        mm=f"{rng.randrange(0, 60, 5):02d}",
        d=rng.choice(_DAYS),
        mo=rng.choice(_MONTHS),
        c=rng.choice(_CITIES),
        k=rng.choice(_THINGS),
        ordinal=rng.choice(_ORDINALS),
    )


def _distinct(templates: Sequence[str], count: int, rng: random.Random, seen: set[str]) -> list[str]:
    out: list[str] = []
    order: list[str] = []
    while len(out) < count:
        if not order:
            order = list(templates)
            rng.shuffle(order)
        text = _fill(order.pop(), rng)
        if text not in seen:
            seen.add(text)
            out.append(text)
    return out


def subtitle_lines(count: int, seed: int = 0) -> list[str]:
    """``count`` distinct subtitle-like English sentences of 3-8 words with numbers, times and names."""
    return _distinct(_SUBTITLE_TEMPLATES, count, random.Random(seed), set())


def make_slides(count: int, seed: int = 0) -> list[Slide]:
    """``count`` slides: a title and 2-3 bullet lines each, all texts distinct (slide i is the same
    whatever ``count``)."""
    rng = random.Random(seed)
    seen: set[str] = set()
    slides = []
    for _ in range(count):
        title = _distinct(_TITLE_TEMPLATES, 1, rng, seen)[0]
        slides.append(Slide(title, tuple(_distinct(_BULLET_TEMPLATES, rng.choice((2, 3, 3)), rng, seen))))
    return slides


# --- drawing ----------------------------------------------------------------------------------------


@cache
def _pil_font(path: str, size: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(path, size)


def text_width(text: str, size: int, font: str = BOLD) -> int:
    return round(_pil_font(font, size).getlength(text))


def _fit(text: str, size: int, font: str, width: int = WIDTH) -> int:
    """``size``, or the largest smaller one at which ``text`` fits between the margins."""
    while size > 16 and text_width(text, size, font) > width - 2 * MARGIN:
        size -= 2
    return size


def _quote(value: str) -> str:
    """An option value escaped for both levels of ffmpeg filtergraph parsing: the option parser
    (``\\ ' :``) and then the graph parser (``\\ ' [ ] , ;``); see ffmpeg-filters "Notes on filtergraph
    escaping". Used with ``expansion=none``, so drawtext's own ``%{...}`` needs nothing."""
    level1 = "".join("\\" + ch if ch in "\\':" else ch for ch in value)
    return "".join("\\" + ch if ch in "\\'[],;" else ch for ch in level1)


def _frames(seconds: float, rate: int) -> int:
    return round(seconds * rate)


def _secs(frame: int, rate: int) -> float:
    return round(frame / rate, 6)


def _cut(duration: float, rate: int) -> str:
    """A filter keeping the first ``duration`` seconds of a source, in whole frames."""
    return f"trim=end_frame={_frames(duration, rate)}"


def _drawtext(
    text: str, *, x: int | str, y: int, size: int, font: str, color: str, first: int, stop: int, box: str = ""
) -> str:
    """drawtext shown on frames ``first <= n < stop``."""
    opts = [
        f"fontfile={_quote(font)}",
        f"text={_quote(text)}",
        "expansion=none",
        f"fontsize={size}",
        f"fontcolor={color}",
        f"x={_quote(str(x))}",
        f"y={y}",
    ]
    if box:
        opts.append(box)
    opts.append(f"enable={_quote(f'between(n,{first},{stop - 1})')}")
    return "drawtext=" + ":".join(opts)


def _encode(
    path: Path,
    source: str,
    filters: Sequence[str],
    *,
    crf: int = 23,
    preset: str = "ultrafast",
) -> Path:
    """Run ``source`` (a lavfi source, or a graph ending in one unlabelled output) through ``filters``
    and encode H.264 yuv420p to ``path``."""
    path = Path(path)
    graph = ",".join([source, *filters, "format=yuv420p"]) + "[out]"
    with tempfile.NamedTemporaryFile("w", suffix=".ffgraph", dir=path.parent, delete=False) as f:
        f.write(graph)
        script = Path(f.name)
    try:
        _ffmpeg(
            "-filter_complex_script", str(script), "-map", "[out]",
            "-c:v", "libx264", "-preset", preset, "-crf", str(crf), "-pix_fmt", "yuv420p",
            "-movflags", "+faststart", str(path),
        )  # fmt: skip
    finally:
        script.unlink(missing_ok=True)
    return path


def _ffmpeg(*args: str) -> None:
    subprocess.run(["ffmpeg", "-v", "error", "-nostdin", "-y", *args], check=True)


_SLIDE_COLOURS = (  # background, text
    ("0x1d3557", "white"),
    ("0xf1faee", "0x1d3557"),
    ("0x2a9d8f", "white"),
    ("0xe9c46a", "0x222222"),
    ("0x264653", "0xf4f4f4"),
    ("0xffffff", "0x111111"),
    ("0x6d597a", "white"),
    ("0xfefae0", "0x283618"),
)
TITLE_Y, BULLET_Y, BULLET_STEP = 70, 210, 95
TITLE_SIZE, BULLET_SIZE = 64, 44


def _slide_backgrounds(cuts: Sequence[int], rate: int, width: int, height: int) -> str:
    """A source of the slides' background colours, slide i on frames cuts[i] <= n < cuts[i + 1]: colour
    sources cut to whole frames and concatenated (a full-frame ``drawbox`` per slide costs far more)."""
    parts, labels = [], []
    for i, (a, b) in enumerate(zip(cuts, cuts[1:], strict=False)):
        bg = _SLIDE_COLOURS[i % len(_SLIDE_COLOURS)][0]
        parts.append(f"color=c={bg}:s={width}x{height}:r={rate},{_cut((b - a) / rate, rate)}[bg{i}]")
        labels.append(f"[bg{i}]")
    return ";".join(parts) + ";" + "".join(labels) + f"concat=n={len(labels)}:v=1:a=0,settb=1/{rate}"


def _slide_filters(
    slide: Slide, index: int, first: int, stop: int, rate: int, width: int = WIDTH
) -> tuple[list[str], list[Shown]]:
    fg = _SLIDE_COLOURS[index % len(_SLIDE_COLOURS)][1]
    enable = f"enable={_quote(f'between(n,{first},{stop - 1})')}"
    filters: list[str] = []
    start, end = _secs(first, rate), _secs(stop, rate)
    size = _fit(slide.title, TITLE_SIZE, BOLD, width)
    filters.append(
        _drawtext(slide.title, x=MARGIN, y=TITLE_Y, size=size, font=BOLD, color=fg, first=first, stop=stop)
    )
    shown = [Shown(slide.title, start, end, TITLE_Y, MARGIN, size, "title")]
    x = MARGIN + 50
    for i, bullet in enumerate(slide.bullets):
        y = BULLET_Y + i * BULLET_STEP
        size = _fit(bullet, BULLET_SIZE, REGULAR, width - 50)
        mark = BULLET_SIZE // 3
        filters.append(
            f"drawbox=x={MARGIN + 10}:y={y + BULLET_SIZE // 2 - mark // 2}:w={mark}:h={mark}:color={fg}"
            f":t=fill:{enable}"
        )
        filters.append(_drawtext(bullet, x=x, y=y, size=size, font=REGULAR, color=fg, first=first, stop=stop))
        shown.append(Shown(bullet, start, end, y, x, size, "bullet"))
    return filters, shown


SUBTITLE_SIZE = 40
SUBTITLE_BOX = "box=1:boxcolor=black@0.6:boxborderw=12"


def _subtitle_y(height: int) -> int:
    return height - 100


def _subtitle_timeline(
    lines: Sequence[str], duration: float, rate: int, rng: random.Random
) -> list[tuple[str, int, int]]:
    """(line, first frame, stop frame): each 2-3 s, now and then a short gap, until ``duration``."""
    total = _frames(duration, rate)
    out = []
    n = _frames(rng.uniform(0.2, 0.8), rate)
    for line in lines:
        stop = min(total, n + _frames(rng.uniform(2.0, 3.0), rate))
        if stop - n < rate:  # less than a second left
            break
        out.append((line, n, stop))
        n = stop + (_frames(rng.uniform(0.3, 0.8), rate) if rng.random() < 0.3 else 0)
    return out


def _subtitle_filters(
    timeline: Sequence[tuple[str, int, int]], rate: int, width: int, height: int
) -> tuple[list[str], list[Shown]]:
    filters, shown = [], []
    y = _subtitle_y(height)
    for line, first, stop in timeline:
        size = _fit(line, SUBTITLE_SIZE, BOLD, width)
        x = (width - text_width(line, size)) // 2
        filters.append(
            _drawtext(
                line, x=x, y=y, size=size, font=BOLD, color="white", first=first, stop=stop, box=SUBTITLE_BOX
            )
        )
        shown.append(Shown(line, _secs(first, rate), _secs(stop, rate), y, x, size, "subtitle"))
    return filters, shown


def _moving_background(duration: float, rate: int, width: int, height: int, seed: int) -> str:
    """Slowly turning colour gradients with no text of their own; drawn small and scaled up (fast)."""
    rng = random.Random(seed)
    dark = [
        f"0x{rng.randrange(20, 90):02x}{rng.randrange(20, 90):02x}{rng.randrange(40, 120):02x}" for _ in "ab"
    ]
    return (
        f"gradients=s={width // 4}x{height // 4}:r={rate}:speed=0.03:seed={seed}"
        f":c0={dark[0]}:c1={dark[1]}:c2=0x8a5a44:nb_colors=3,{_cut(duration, rate)},scale={width}:{height}"
    )


# --- generators -------------------------------------------------------------------------------------


def slide_deck(
    path: Path,
    slides: int | Sequence[Slide] = 4,
    seconds_per_slide: float = 5.0,
    *,
    seed: int = 0,
    rate: int = 5,
    size: tuple[int, int] = (WIDTH, HEIGHT),
) -> list[Shown]:
    """Static slides, each ``seconds_per_slide`` long: a background colour per slide, a big title and
    2-3 bullet lines (``slides``: a count, generated from ``seed``, or the slides themselves)."""
    deck = make_slides(slides, seed) if isinstance(slides, int) else list(slides)
    per = _frames(seconds_per_slide, rate)
    width, height = size
    filters, truths = [], []
    for i, slide in enumerate(deck):
        f, s = _slide_filters(slide, i, i * per, (i + 1) * per, rate, width)
        filters += f
        truths += s
    cuts = [i * per for i in range(len(deck) + 1)]
    _encode(path, _slide_backgrounds(cuts, rate, width, height), filters)
    return truths


def subtitles(
    path: Path,
    lines: Sequence[str] | None = None,
    duration: float = 30.0,
    *,
    seed: int = 0,
    moving: bool = True,
    rate: int = 10,
    size: tuple[int, int] = (WIDTH, HEIGHT),
    background: str = "0x1d2b3a",
) -> list[Shown]:
    """Burnt-in subtitles (bottom centre, white on a dark translucent box), each line 2-3 s, now and then
    a short gap, over slowly moving colour gradients (``moving``) or a plain ``background``.

    ``lines`` are shown in order until ``duration`` is used up (the rest are left out); ``None``: enough
    distinct generated lines (``subtitle_lines``, from ``seed``)."""
    rng = random.Random(seed)
    if lines is None:
        lines = subtitle_lines(int(duration / 2) + 1, seed)
    width, height = size
    timeline = _subtitle_timeline(lines, duration, rate, rng)
    filters, truths = _subtitle_filters(timeline, rate, width, height)
    source = (
        _moving_background(duration, rate, width, height, seed)
        if moving
        else f"color=c={background}:s={width}x{height}:r={rate},{_cut(duration, rate)}"
    )
    _encode(path, source, filters)
    return truths


TICKER_SIZE, TICKER_BAND = 36, 70
TICKER_GAP = 200  # pixels between the end of the text and its next pass


def ticker(
    path: Path,
    text: str | None = None,
    duration: float = 20.0,
    speed_px_s: float = 160.0,
    *,
    headline: str | None = "Breaking news from the city council",
    seed: int = 0,
    rate: int = 10,
    size: tuple[int, int] = (WIDTH, HEIGHT),
) -> list[Shown]:
    """A news ticker: ``text`` moving right to left in a band at the bottom (entering at the right edge
    at t=0, passing again ``TICKER_GAP`` pixels after its end), under an optional static ``headline``.

    Truth: the headline for the whole video and the ticker text with the whole video as its span (only
    part of it is on screen at a time: ``ticker_visible`` says which words)."""
    width, height = size
    if text is None:
        text = "   ".join(subtitle_lines(4, seed))
    band_y = height - TICKER_BAND
    y = band_y + (TICKER_BAND - TICKER_SIZE) // 2 - 4
    period = width + text_width(text, TICKER_SIZE) + TICKER_GAP
    filters = [
        f"drawbox=x=0:y={band_y}:w=iw:h={TICKER_BAND}:color=0xb3001b:t=fill",
        "drawtext="
        + ":".join(
            [
                f"fontfile={_quote(BOLD)}",
                f"text={_quote(text)}",
                "expansion=none",
                f"fontsize={TICKER_SIZE}",
                "fontcolor=white",
                f"x={_quote(f'{width}-mod(n*{speed_px_s / rate},{period})')}",
                f"y={y}",
            ]
        ),
    ]
    end = _secs(_frames(duration, rate), rate)
    truths = [Shown(text, 0.0, end, y, 0, TICKER_SIZE, "ticker")]
    if headline:
        hsize = _fit(headline, 56, BOLD, width)
        filters.append(
            f"drawtext=fontfile={_quote(BOLD)}:text={_quote(headline)}:expansion=none:fontsize={hsize}"
            f":fontcolor=0x111111:x={MARGIN}:y=120"
        )
        truths.insert(0, Shown(headline, 0.0, end, 120, MARGIN, hsize, "headline"))
    _encode(path, f"color=c=0xe8e8e8:s={width}x{height}:r={rate},{_cut(duration, rate)}", filters)
    return truths


def ticker_visible(
    text: str,
    t: float,
    speed_px_s: float = 160.0,
    *,
    rate: int = 10,
    width: int = WIDTH,
    slack: int = 8,
) -> list[str]:
    """The words of a ``ticker(..., text, speed_px_s=..., rate=..., size=(width, _))`` that are wholly on
    screen (``slack`` pixels in from each edge) in the frame at second ``t``."""
    period = width + text_width(text, TICKER_SIZE) + TICKER_GAP
    left = width - (int(t * rate + 1e-9) * speed_px_s / rate) % period
    words, pos = [], 0
    for word in text.split(" "):
        if word:
            x0 = left + text_width(text[:pos], TICKER_SIZE)
            x1 = x0 + text_width(word, TICKER_SIZE)
            if x0 >= slack and x1 <= width - slack:
                words.append(word)
        pos += len(word) + 1
    return words


def noisy(
    src: Path,
    dest: Path,
    seed: int = 0,
    *,
    blur: float = 1.0,
    noise: int = 16,
    jitter: int = 4,
    crf: int = 35,
) -> Path:
    """A degraded copy of ``src`` with the same frames and timing (so the same truth): Gaussian blur
    (``blur`` sigma), additive per-frame noise (``noise``, ffmpeg's 0-100 strength), per-frame jitter (a
    crop moving pseudo-randomly by up to ``jitter`` px each way, scaled back to the original size) and
    low-bitrate x264 (``crf``, preset ultrafast: no deblocking, so blocky too)."""
    j = max(1, jitter)
    jx = f"{j}+{j - 0.1}*sin(n*12.9898+{seed % 1000})"
    jy = f"{j}+{j - 0.1}*sin(n*78.233+{(seed * 7) % 1000})"
    vf = (
        f"gblur=sigma={blur}:steps=1,noise=alls={noise}:allf=t:all_seed={seed % 2**31},"
        f"crop=iw-{2 * j}:ih-{2 * j}:{_quote(jx)}:{_quote(jy)},scale=iw+{2 * j}:ih+{2 * j},format=yuv420p"
    )
    _ffmpeg(
        "-i", str(src), "-vf", vf, "-c:v", "libx264", "-preset", "ultrafast", "-crf", str(crf),
        "-pix_fmt", "yuv420p", "-an", str(dest),
    )  # fmt: skip
    return Path(dest)


def lecture(
    path: Path,
    minutes: float = 5.0,
    *,
    seed: int = 0,
    rate: int = 10,
    slide_seconds: tuple[float, float] = (20.0, 40.0),
    timecode: bool = False,
) -> list[Shown]:
    """A 1280x720 lecture: slides (title + bullets) changing every 20-40 s and subtitles below them
    changing every 2-3 s; returns the truths of both (slide lines and subtitle lines). ``timecode``: also
    a small (18 px) grey clock ``HH:MM:SS`` in the top right corner, a new value every second."""
    rng = random.Random(seed)
    duration = minutes * 60
    total = _frames(duration, rate)
    cuts = [0]
    while cuts[-1] < total:
        cuts.append(min(total, cuts[-1] + _frames(rng.uniform(*slide_seconds), rate)))
    if len(cuts) > 2 and cuts[-1] - cuts[-2] < 5 * rate:  # no stub slide at the end
        cuts.pop(-2)
    deck = make_slides(len(cuts) - 1, seed)
    filters, truths = [], []
    for i, (slide, first, stop) in enumerate(zip(deck, cuts, cuts[1:], strict=False)):
        f, s = _slide_filters(slide, i, first, stop, rate)
        filters += f
        truths += s
    lines = subtitle_lines(int(duration / 2) + 1, seed + 1)
    f, s = _subtitle_filters(_subtitle_timeline(lines, duration, rate, rng), rate, WIDTH, HEIGHT)
    filters += f
    truths += s
    if timecode:
        f, s = _timecode_filters(duration, rate)
        filters += f
        truths += s
    _encode(path, _slide_backgrounds(cuts, rate, WIDTH, HEIGHT), filters)
    return truths


TIMECODE_SIZE = 18


def _timecode_filters(duration: float, rate: int) -> tuple[list[str], list[Shown]]:
    """A small grey clock, one value per second, the kind of text a 256-px comparison cannot see change."""
    filters, shown = [], []
    x, y = WIDTH - MARGIN - 100, 24
    for sec in range(int(duration)):
        text = f"{sec // 3600:02d}:{sec // 60 % 60:02d}:{sec % 60:02d}"
        first, stop = _frames(sec, rate), _frames(sec + 1, rate)
        filters.append(
            _drawtext(
                text, x=x, y=y, size=TIMECODE_SIZE, font=REGULAR, color="0xa0a0a0", first=first, stop=stop
            )
        )
        shown.append(Shown(text, float(sec), float(sec + 1), y, x, TIMECODE_SIZE, "timecode"))
    return filters, shown


# --- reading back ----------------------------------------------------------------------------------


def probe(path: Path) -> dict[str, float | int | str]:
    """Duration (s), width, height, frame count, codec, pixel format and frame rate of the video stream."""
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-select_streams", "v:0", "-count_packets", "-show_entries",
         "stream=codec_name,pix_fmt,width,height,r_frame_rate,nb_read_packets:format=duration",
         "-of", "json", str(path)],
        check=True, capture_output=True, text=True,
    ).stdout  # fmt: skip
    info = json.loads(out)
    st = info["streams"][0]
    num, den = st["r_frame_rate"].split("/")
    return {
        "duration": float(info["format"]["duration"]),
        "width": int(st["width"]),
        "height": int(st["height"]),
        "frames": int(st["nb_read_packets"]),
        "codec": st["codec_name"],
        "pix_fmt": st["pix_fmt"],
        "rate": int(num) / int(den),
    }


def read_frame(
    path: Path, t: float, size: tuple[int, int] = (WIDTH, HEIGHT), rate: float | None = None
) -> np.ndarray:
    """The RGB frame on screen at second ``t``: frame ``floor(t * rate)``, the last one starting at or
    before ``t`` (the pipeline's sampling rule). ``rate``: the video's frame rate, probed when not given."""
    width, height = size
    rate = rate or float(probe(path)["rate"])
    k = int(t * rate + 1e-9)
    # input seeking keeps the first frame at or after -ss: half a frame before frame k is frame k
    raw = subprocess.run(
        ["ffmpeg", "-v", "error", "-nostdin", "-ss", f"{max(0.0, (k - 0.5) / rate):.6f}", "-i", str(path),
         "-frames:v", "1", "-f", "rawvideo", "-pix_fmt", "rgb24", "-"],
        check=True, capture_output=True,
    ).stdout  # fmt: skip
    return np.frombuffer(raw, np.uint8).reshape(height, width, 3)
