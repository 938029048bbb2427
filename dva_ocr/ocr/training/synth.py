"""Synthetic labelled text lines: random text drawn with PIL in the machine's fonts, then degraded.

``TextSource`` makes the strings (English words from wordninja's frequency list, numbers, prices, dates,
codes, random characters; mixed case and punctuation), restricted to a character set. ``LineRenderer``
draws one as a line crop the way a detector would cut it out of a frame: random font, size, colours,
background, margins, stroke or shadow, slight rotation/shear/perspective, blur, low resolution, noise
and JPEG artefacts; ``clean=True`` gives plain dark print on a light page (the held-out "clean" set).
"""

from __future__ import annotations

import gzip
import math
import random
import string
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageFont

from dva_ocr.ocr.words import wordninja_list_path

FONT_DIRS = (Path("/usr/share/fonts"), Path("/usr/local/share/fonts"), Path.home() / ".fonts")
NUMBER_WORDS = ("No.", "Room", "Exit", "Gate", "Flight", "Order", "Tel", "Total", "Page", "Platform", "Vol.")


@cache
def english_words(limit: int = 30000) -> tuple[str, ...]:
    """The ``limit`` most frequent words of wordninja's list (bundled with it: no download)."""
    try:
        with gzip.open(wordninja_list_path(), "rt", encoding="utf-8") as fh:
            words = [w.strip() for _, w in zip(range(limit), fh, strict=False)]
    except (ModuleNotFoundError, OSError):
        return ()
    return tuple(w for w in words if w.isalpha() and (len(w) > 1 or w in ("a", "i")))


class TextSource:
    """Random label strings using only ``charset`` characters and single spaces (never empty)."""

    def __init__(self, charset: Sequence[str], max_chars: int = 32) -> None:
        self.chars = list(charset)
        self.allowed = set(charset)
        self.max_chars = max_chars
        self.has_letters = any(c.isalpha() for c in self.chars)
        self.has_digits = any(c.isdigit() for c in self.chars)
        self.words = english_words() if self.has_letters else ()
        self.punct = [c for c in self.chars if not c.isalnum()]

    def __call__(self, rng: random.Random, max_chars: int | None = None) -> str:
        limit = max_chars or self.max_chars
        modes = [("random", 1.0)]
        if self.words:
            modes += [("words", 4.0), ("mixed", 2.0)]
        if self.has_digits:
            modes += [("numbers", 2.0 if self.words else 6.0)]
        mode = rng.choices([m for m, _ in modes], [w for _, w in modes])[0]
        text = getattr(self, f"_{mode}")(rng)
        text = " ".join("".join(c for c in text if c in self.allowed or c == " ").split())
        if len(text) > limit:
            cut = text[:limit]
            text = cut.rsplit(" ", 1)[0] if " " in cut and rng.random() < 0.7 else cut
            text = text.strip()
        return text or self._random(rng)[:limit].strip() or rng.choice(self.chars)

    # -- generators (their output is filtered to the charset by __call__) --

    def _word(self, rng: random.Random) -> str:
        # frequency-biased: common words often, the long tail sometimes
        n = len(self.words)
        w = self.words[min(n - 1, int(n * rng.random() ** 2.5))]
        style = rng.random()
        if style < 0.2:
            w = w.upper()
        elif style < 0.45:
            w = w.capitalize()
        if rng.random() < 0.15 and self.punct:
            p = rng.random()
            if p < 0.6:
                w += rng.choice(".,:;!?")
            elif p < 0.8:
                pair = rng.choice(("()", '""', "''"))
                w = f"{pair[0]}{w}{pair[1]}"
            else:
                w = f"{w}-{self.words[rng.randrange(min(n, 3000))]}"
        return w

    def _words(self, rng: random.Random) -> str:
        k = rng.choices((1, 2, 3, 4, 5, 6), (3, 3, 3, 2, 1, 1))[0]
        words = [self._word(rng) for _ in range(k)]
        if rng.random() < 0.25:
            words[0] = words[0].capitalize()
            words[-1] += rng.choice((".", ".", "!", "?", ":"))
        return " ".join(words)

    def _number(self, rng: random.Random) -> str:
        def d(n: int) -> str:
            return "".join(rng.choice(string.digits) for _ in range(n))

        kind = rng.randrange(14)
        if kind == 0:
            return d(rng.randint(1, 7))
        if kind == 1:
            return f"{rng.randint(1, 999)},{d(3)}" + (f",{d(3)}" if rng.random() < 0.3 else "")
        if kind == 2:
            return f"{d(rng.randint(1, 4))}.{d(rng.randint(1, 3))}"
        if kind == 3:
            return f"{rng.choice('$$#')}{rng.randint(0, 9999)}.{d(2)}"
        if kind == 4:
            return f"{rng.randint(0, 100)}%"
        if kind == 5:
            return f"{rng.randint(1, 31):02d}/{rng.randint(1, 12):02d}/{rng.randint(1950, 2035)}"
        if kind == 6:
            return f"{rng.randint(1950, 2035)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"
        if kind == 7:
            seconds = f":{rng.randint(0, 59):02d}" if rng.random() < 0.3 else ""
            return f"{rng.randint(0, 23):02d}:{rng.randint(0, 59):02d}{seconds}"
        if kind == 8:
            return f"{d(4)} {d(3)} {d(4)}" if rng.random() < 0.5 else f"+{d(2)} {d(3)}-{d(4)}"
        if kind == 9:
            return f"#{d(rng.randint(1, 5))}"
        if kind == 10:
            letters = "".join(rng.choice(string.ascii_uppercase) for _ in range(rng.randint(1, 3)))
            return f"{letters}{rng.choice(('-', '', ' '))}{d(rng.randint(2, 5))}"
        if kind == 11:
            return f"{rng.randint(1, 12)}{rng.choice(('am', 'pm', 'AM', 'PM', 'kg', 'km', 'mm', 'x'))}"
        if kind == 12:
            return f"({d(3)}) {d(3)}-{d(4)}"
        return f"{d(rng.randint(1, 3))}{rng.choice('+-*/=')}{d(rng.randint(1, 3))}"

    def _numbers(self, rng: random.Random) -> str:
        return " ".join(self._number(rng) for _ in range(rng.choices((1, 2, 3), (5, 3, 1))[0]))

    def _mixed(self, rng: random.Random) -> str:
        parts: list[str] = []
        for _ in range(rng.randint(2, 5)):
            r = rng.random()
            if r < 0.55:
                parts.append(self._word(rng))
            elif r < 0.85 and self.has_digits:
                parts.append(self._number(rng))
            elif r < 0.93 and self.has_digits:
                parts.append(f"{rng.choice(NUMBER_WORDS)} {self._number(rng)}")
            else:
                user = self._word(rng).lower().strip(".,:;!?()")
                host = self.words[rng.randrange(min(len(self.words), 2000))]
                parts.append(rng.choice((f"{user}@{host}.com", f"www.{host}.{rng.choice(('com', 'org'))}")))
        return " ".join(parts)

    def _random(self, rng: random.Random) -> str:
        groups = [
            "".join(rng.choice(self.chars) for _ in range(rng.randint(1, 8)))
            for _ in range(rng.choices((1, 2, 3), (4, 3, 2))[0])
        ]
        return " ".join(groups)


def find_fonts(dirs: Iterable[Path] = FONT_DIRS) -> list[Path]:
    """Every .ttf/.otf file under ``dirs`` (sorted, so a seed gives the same choices everywhere)."""
    found: set[Path] = set()
    for d in dirs:
        if d.is_dir():
            found.update(p for p in d.rglob("*") if p.suffix.lower() in (".ttf", ".otf") and p.is_file())
    return sorted(found)


def _glyph(font: ImageFont.FreeTypeFont, ch: str) -> bytes:
    img = Image.new("L", (48, 48))
    ImageDraw.Draw(img).text((8, 4), ch, font=font, fill=255)
    return img.tobytes()


def covers(font_path: Path, charset: Sequence[str]) -> bool:
    """Whether the font draws every character of ``charset`` as its own glyph (not the .notdef box)."""
    try:
        font = ImageFont.truetype(str(font_path), 24)
    except OSError:
        return False
    missing = {_glyph(font, ch) for ch in ("\U000f0000", "\ufffe", "\U0010fffd")}
    for ch in charset:
        glyph = _glyph(font, ch)
        if ch.strip() and (not any(glyph) or glyph in missing):
            return False
    return True


@dataclass(frozen=True)
class RenderOptions:
    """Ranges of the randomised rendering; the defaults aim at text in video frames and photos."""

    font_px: tuple[int, int] = (14, 60)  # font size before the crop is resized to the model height
    clean_ratio: float = 0.2  # share of plain dark-on-light lines with no degradation
    max_angle: float = 2.0  # degrees, further limited so a long line drifts < 15 % of its height
    max_shear: float = 0.25


def _luma(c: Sequence[float]) -> float:
    return 0.299 * c[0] + 0.587 * c[1] + 0.114 * c[2]


class LineRenderer:
    """Draws a label as a BGR uint8 crop (H x W x 3) with the text filling most of the height."""

    def __init__(self, fonts: Sequence[Path], options: RenderOptions | None = None) -> None:
        if not fonts:
            raise ValueError("no usable fonts: LineRenderer needs at least one .ttf/.otf file")
        self.fonts = list(fonts)
        self.opt = options or RenderOptions()
        self._font_cache: dict[tuple[int, int], ImageFont.FreeTypeFont] = {}

    def _font(self, idx: int, px: int) -> ImageFont.FreeTypeFont:
        key = (idx, px)
        if key not in self._font_cache:
            if len(self._font_cache) > 2048:
                self._font_cache.clear()
            self._font_cache[key] = ImageFont.truetype(str(self.fonts[idx]), px)
        return self._font_cache[key]

    def render(self, text: str, rng: random.Random, clean: bool | None = None) -> np.ndarray:
        if clean is None:
            clean = rng.random() < self.opt.clean_ratio
        nrng = np.random.default_rng(rng.randrange(2**63))
        lo, hi = self.opt.font_px
        px = int(round(math.exp(rng.uniform(math.log(lo), math.log(hi)))))
        if clean:
            px = max(px, 20)
        font = self._font(rng.randrange(len(self.fonts)), px)
        ascent, descent = font.getmetrics()
        left, top, right, bottom = font.getbbox(text)
        if rng.random() < 0.5:  # box around the ink, as a tight detector box
            y0, y1 = top, bottom
        else:  # box around the font's line, as a box from the line's metrics
            y0, y1 = min(top, 0), max(bottom, ascent + descent)
        y0, y1 = (y0, y1) if y1 > y0 else (0, ascent + descent)
        mx = [int(px * rng.uniform(0.0, 0.5)) for _ in range(2)]
        my = [int(px * rng.uniform(0.03, 0.3 if clean else 0.4)) for _ in range(2)]
        stroke = 0 if clean or rng.random() > 0.1 else max(1, px // 16)
        w = right - left + mx[0] + mx[1] + 2 * stroke + 1
        h = y1 - y0 + my[0] + my[1] + 2 * stroke + 1
        bg_rgb, fg, stroke_fill = self._colours(rng, clean)
        bg = self._background(rng, nrng, (int(h), int(w)), bg_rgb, clean)
        img = Image.fromarray(bg)
        draw = ImageDraw.Draw(img)
        xy = (mx[0] - left + stroke, my[0] - y0 + stroke)
        if not clean and not stroke and rng.random() < 0.1:  # drop shadow, as in captions
            off = max(1, px // 14)
            draw.text((xy[0] + off, xy[1] + off), text, font=font, fill=stroke_fill)
        draw.text(xy, text, font=font, fill=fg, stroke_width=stroke, stroke_fill=stroke_fill)
        arr = cv2.cvtColor(np.asarray(img), cv2.COLOR_RGB2BGR)
        if clean:
            return self._stretch(arr, rng.uniform(0.9, 1.1))
        return self._degrade(arr, rng, nrng, px)

    # -- pieces --

    @staticmethod
    def _colours(rng: random.Random, clean: bool) -> tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...]]:
        if clean:
            bg = tuple(rng.randint(225, 255) for _ in range(3))
            return bg, tuple([rng.randint(0, 50)] * 3), (0, 0, 0)
        bg = tuple(rng.randrange(256) for _ in range(3))
        need = rng.uniform(70, 200)
        for _ in range(40):
            fg = tuple(rng.randrange(256) for _ in range(3))
            if abs(_luma(fg) - _luma(bg)) >= need:
                break
        else:
            fg = (0, 0, 0) if _luma(bg) > 127 else (255, 255, 255)
        stroke_fill = (0, 0, 0) if _luma(fg) > 127 else (255, 255, 255)
        return bg, fg, stroke_fill

    @staticmethod
    def _background(
        rng: random.Random, nrng: np.random.Generator, hw: tuple[int, int], rgb: Sequence[int], clean: bool
    ) -> np.ndarray:
        h, w = hw
        base = np.empty((h, w, 3), np.float32)
        base[:] = rgb
        if clean:
            return base.astype(np.uint8)
        kind = rng.random()
        if kind < 0.3:  # gradient
            other = np.array([c + rng.uniform(-60, 60) for c in rgb], np.float32)
            t = np.linspace(0, 1, w, dtype=np.float32)[None, :, None]
            base = base * (1 - t) + other * t
        elif kind < 0.6:  # blotchy texture
            cells = (max(2, h // 8), max(2, w // 8))
            small = nrng.normal(0, rng.uniform(10, 45), (*cells, 3)).astype(np.float32)
            base += cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC)
        elif kind < 0.7:  # stripes or a bar behind part of the line
            y = rng.randrange(h)
            base[y : y + rng.randint(1, max(1, h // 3))] += rng.uniform(-50, 50)
        return np.clip(base, 0, 255).astype(np.uint8)

    @staticmethod
    def _stretch(arr: np.ndarray, fx: float) -> np.ndarray:
        h, w = arr.shape[:2]
        nw = max(1, int(round(w * fx)))
        return arr if nw == w else cv2.resize(arr, (nw, h), interpolation=cv2.INTER_AREA)

    def _degrade(self, arr: np.ndarray, rng: random.Random, nrng: np.random.Generator, px: int) -> np.ndarray:
        h, w = arr.shape[:2]
        # geometry: rotation, shear, a little perspective, about the crop's centre
        if rng.random() < 0.6:
            limit = min(self.opt.max_angle, math.degrees(math.atan(0.15 * h / max(w, 1))))
            ang = math.radians(rng.uniform(-limit, limit))
            shear = rng.uniform(-self.opt.max_shear, self.opt.max_shear) if rng.random() < 0.4 else 0.0
            cx, cy = w / 2, h / 2
            m = np.array(
                [
                    [math.cos(ang), -math.sin(ang) + shear, 0],
                    [math.sin(ang), math.cos(ang), 0],
                    [0, 0, 1],
                ],
                np.float64,
            )
            t1 = np.array([[1, 0, -cx], [0, 1, -cy], [0, 0, 1]], np.float64)
            t2 = np.array([[1, 0, cx], [0, 1, cy], [0, 0, 1]], np.float64)
            hom = t2 @ m @ t1
            if rng.random() < 0.3:
                hom[2, 0] = rng.uniform(-0.2, 0.2) / max(w, 1)
                hom[2, 1] = rng.uniform(-0.2, 0.2) / max(h, 1)
            arr = cv2.warpPerspective(
                arr, hom, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
            )
        arr = self._stretch(arr, rng.uniform(0.75, 1.3))
        h, w = arr.shape[:2]
        if rng.random() < 0.35:
            s = rng.uniform(0.3, 1.0) * px / 24
            arr = cv2.GaussianBlur(arr, (0, 0), sigmaX=max(0.3, s))
        elif rng.random() < 0.1:
            k = rng.randint(2, max(2, px // 8))
            arr = cv2.blur(arr, (k, 1))
        if rng.random() < 0.25:  # low resolution (video, distant text)
            f = rng.uniform(0.35, 0.8)
            small = cv2.resize(arr, (max(1, int(w * f)), max(1, int(h * f))), interpolation=cv2.INTER_AREA)
            arr = cv2.resize(small, (w, h), interpolation=rng.choice((cv2.INTER_LINEAR, cv2.INTER_NEAREST)))
        f32 = arr.astype(np.float32)
        if rng.random() < 0.3:  # contrast / brightness
            f32 = (f32 - 128) * rng.uniform(0.6, 1.2) + 128 + rng.uniform(-40, 40)
        if rng.random() < 0.4:
            f32 += nrng.normal(0, rng.uniform(2, 14), f32.shape).astype(np.float32)
        arr = np.clip(f32, 0, 255).astype(np.uint8)
        if rng.random() < 0.4:
            ok, buf = cv2.imencode(".jpg", arr, [cv2.IMWRITE_JPEG_QUALITY, rng.randint(15, 90)])
            decoded = cv2.imdecode(buf, cv2.IMREAD_UNCHANGED) if ok else None
            if decoded is not None:
                arr = decoded
        return arr
