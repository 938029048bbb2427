"""Deterministic synthetic text images for OCR tests and benchmarks (PIL only, no pytest).

``render_lines`` draws given sentences on a varied background and returns the ground truth;
``scene_image`` makes a 720p scene-like frame (textured/gradient/photo-like noisy background, a few
text blocks of various sizes and colours, sometimes no text at all). ``word_recall`` scores OCR output
against the truth the same way everywhere (tests, ``bench/bench_ocr.py``).
"""

from __future__ import annotations

import random
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

FONT_DIR = Path("/usr/share/fonts/truetype/dejavu")
FONTS = (
    "DejaVuSans.ttf",
    "DejaVuSans-Bold.ttf",
    "DejaVuSerif.ttf",
    "DejaVuSerif-Bold.ttf",
    "DejaVuSansCondensed.ttf",
    "DejaVuSansMono.ttf",
)

SENTENCES = (
    "The quick brown fox jumps over the lazy dog",
    "Total broadband gives you the best speed available on your line",
    "Invoice 48213 total amount 129.50",
    "Please keep your ticket until the end of your journey",
    "Next train to Central Station departs from platform 4",
    "Fresh bread and coffee served every morning",
    "Exit 14 for the airport and city centre",
    "Call now on 0800 555 0199 for a free quote",
    "Summer sale up to 50 percent off selected items",
    "Opening hours Monday to Friday 9am to 5pm",
    "Welcome to the annual general meeting",
    "Your order number is 77310 and will arrive tomorrow",
    "Mind the gap between the train and the platform",
    "No parking in front of these gates",
    "Breaking news heavy rain expected across the north",
    "Scan the code to download our mobile app",
    "Buy two get one free on all fruit juices",
    "Emergency exit keep clear at all times",
    "The museum is closed on public holidays",
    "Live music every Saturday night from eight",
    "Wash your hands before returning to work",
    "Room 204 is on the second floor",
    "Temperature today 23 degrees with light wind",
    "Subscribe to our weekly newsletter for updates",
    "Our friendly staff are here to help you",
    "Final score home team 3 visitors 1",
    "Delivery within three working days",
    "Student discount available with a valid card",
    "This door is alarmed after midnight",
    "Turn left at the next junction for the hospital",
    "Free wireless internet for all guests",
    "Chapter seven the long road home",
    "Reduced price for children under twelve",
    "Customer service desk on the ground floor",
    "Flight BA 2490 to London is now boarding",
    "Recycle your bottles and cans here",
    "Quarterly report revenue grew by 12 percent",
    "Please switch off your mobile phone",
    "Ask about our family holiday packages",
    "Thank you for shopping with us today",
)

Truth = list[tuple[str, tuple[int, int, int, int]]]

_TOKEN_EDGE = re.compile(r"^[^\w]+|[^\w]+$")


def words_of(text: str) -> list[str]:
    """Lower-cased words of ``text`` split on whitespace, edge punctuation stripped."""
    out = []
    for tok in text.split():
        tok = _TOKEN_EDGE.sub("", tok.lower())
        if tok:
            out.append(tok)
    return out


def word_recall(truth_texts: Iterable[str], found_texts: Iterable[str]) -> tuple[int, int]:
    """(matched, total): rendered words found among the OCR words, multiset, case-insensitive."""
    want = Counter(w for t in truth_texts for w in words_of(t))
    got = Counter(w for t in found_texts for w in words_of(t))
    matched = sum(min(n, got[w]) for w, n in want.items())
    return matched, sum(want.values())


def _font(name: str, size: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(str(FONT_DIR / name), size)


def _luma(rgb: Sequence[float]) -> float:
    return 0.299 * rgb[0] + 0.587 * rgb[1] + 0.114 * rgb[2]


def background(rng: random.Random, size: tuple[int, int], kind: str | None = None) -> Image.Image:
    """A background image: solid, gradient, noise texture or photo-like blobs."""
    w, h = size
    kind = kind or rng.choice(("solid", "gradient", "texture", "photo", "photo"))
    nrng = np.random.default_rng(rng.randrange(2**32))
    if kind == "solid":
        arr = np.empty((h, w, 3), np.float32)
        arr[:] = [rng.randrange(256) for _ in range(3)]
        arr += nrng.normal(0, 3, arr.shape)
    elif kind == "gradient":
        a = np.array([rng.randrange(256) for _ in range(3)], np.float32)
        b = np.array([rng.randrange(256) for _ in range(3)], np.float32)
        t = np.linspace(0, 1, w if rng.random() < 0.5 else h, dtype=np.float32)
        ramp = a + (b - a) * t[:, None]
        arr = np.broadcast_to(ramp[None, :, :] if len(t) == w else ramp[:, None, :], (h, w, 3)).copy()
        arr += nrng.normal(0, 4, arr.shape)
    elif kind == "texture":
        small = nrng.uniform(0, 255, (h // 16 + 1, w // 16 + 1, 3)).astype(np.uint8)
        img = Image.fromarray(small).resize((w, h), Image.BICUBIC).filter(ImageFilter.GaussianBlur(6))
        arr = np.asarray(img, np.float32) * 0.6 + rng.randrange(100)
        arr += nrng.normal(0, 10, arr.shape)
    else:  # photo-like: blurred shapes, a horizon, sensor noise
        img = Image.new("RGB", size, tuple(rng.randrange(256) for _ in range(3)))
        draw = ImageDraw.Draw(img)
        horizon = rng.randrange(h // 4, 3 * h // 4)
        draw.rectangle((0, horizon, w, h), fill=tuple(rng.randrange(256) for _ in range(3)))
        for _ in range(rng.randrange(6, 16)):
            x, y = rng.randrange(w), rng.randrange(h)
            r = rng.randrange(30, 260)
            fill = tuple(rng.randrange(256) for _ in range(3))
            if rng.random() < 0.5:
                draw.ellipse((x - r, y - r // 2, x + r, y + r // 2), fill=fill)
            else:
                draw.rectangle((x - r, y - r // 3, x + r // 2, y + r), fill=fill)
        img = img.filter(ImageFilter.GaussianBlur(rng.uniform(4, 12)))
        arr = np.asarray(img, np.float32) + nrng.normal(0, 8, (h, w, 3))
    return Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8))


def _text_colour(rng: random.Random, bg_mean: Sequence[float]) -> tuple[tuple[int, int, int], bool]:
    """A colour contrasting with the local background, and whether it is light."""
    light = _luma(bg_mean) < 128
    for _ in range(50):
        c = tuple(rng.randrange(256) for _ in range(3))
        if abs(_luma(c) - _luma(bg_mean)) > 110 and (_luma(c) > 128) == light:
            return c, light
    return ((255, 255, 255) if light else (0, 0, 0)), light


def _draw_line(
    img: Image.Image, rng: random.Random, text: str, font: ImageFont.FreeTypeFont, xy: tuple[int, int]
) -> tuple[int, int, int, int]:
    draw = ImageDraw.Draw(img)
    left, top, right, bottom = draw.textbbox(xy, text, font=font)
    pad = 4
    region = np.asarray(img.crop((left - pad, top - pad, right + pad, bottom + pad)), np.float32)
    bg_mean = region.reshape(-1, 3).mean(0)
    colour, light = _text_colour(rng, bg_mean)
    if rng.random() < 0.3:  # an outline/shadow, as in captions
        shadow = (0, 0, 0) if light else (255, 255, 255)
        draw.text((xy[0] + 2, xy[1] + 2), text, font=font, fill=shadow)
    draw.text(xy, text, font=font, fill=colour)
    return left, top, right - left, bottom - top


def render_lines(
    lines: Sequence[str],
    size: tuple[int, int] = (1280, 720),
    seed: int = 0,
    font_sizes: tuple[int, int] = (28, 64),
    background_kind: str | None = None,
    fonts: Sequence[str] = FONTS,
) -> tuple[np.ndarray, Truth]:
    """Draw ``lines`` top to bottom at random sizes, fonts and colours; returns (RGB array, truth).

    A line that would not fit at its size is drawn smaller; lines that do not fit vertically are
    left out of the image and of the truth.
    """
    rng = random.Random(seed)
    w, h = size
    img = background(rng, size, background_kind)
    truth: Truth = []
    y = rng.randrange(10, 40)
    for text in lines:
        px = rng.randrange(font_sizes[0], font_sizes[1] + 1)
        name = rng.choice(list(fonts))
        font = _font(name, px)
        while font.getlength(text) > w - 40 and px > 12:
            px = int(px * 0.9)
            font = _font(name, px)
        line_h = int(px * 1.25)
        if y + line_h > h - 10:
            break
        x = rng.randrange(15, max(16, int(w - font.getlength(text)) - 15))
        truth.append((text, _draw_line(img, rng, text, font, (x, y))))
        y += line_h + rng.randrange(int(px * 0.4), int(px * 1.2) + 1)
    return np.asarray(img), truth


def scene_image(seed: int, size: tuple[int, int] = (1280, 720)) -> tuple[np.ndarray, Truth]:
    """A scene-like frame: textured background, 0-3 text blocks (about 1 in 6 frames has no text)."""
    rng = random.Random(1_000_003 * seed + 17)
    w, h = size
    img = background(rng, size)
    truth: Truth = []
    if rng.random() < 1 / 6:
        return np.asarray(img), truth
    taken: list[tuple[int, int, int, int]] = []
    for _ in range(rng.randrange(1, 4)):
        n_lines = rng.randrange(1, 4)
        px = rng.randrange(22, 61)
        name = rng.choice(FONTS)
        font = _font(name, px)
        texts = rng.sample(SENTENCES, n_lines)
        if rng.random() < 0.4:  # short signs, a few words
            texts = [" ".join(t.split()[: rng.randrange(2, 5)]) for t in texts]
        widest = max(font.getlength(t) for t in texts)
        if widest > w - 40:
            px = max(14, int(px * (w - 40) / widest))
            font = _font(name, px)
            widest = max(font.getlength(t) for t in texts)
        block_h = int(n_lines * px * 1.6)
        for _attempt in range(20):
            x = rng.randrange(10, max(11, int(w - widest) - 10))
            y = rng.randrange(10, max(11, h - block_h - 10))
            box = (x, y, x + int(widest), y + block_h)
            if all(box[2] < t[0] or box[0] > t[2] or box[3] < t[1] or box[1] > t[3] for t in taken):
                break
        else:
            continue
        taken.append(box)
        for i, text in enumerate(texts):
            truth.append((text, _draw_line(img, rng, text, font, (x, y + int(i * px * 1.6)))))
    return np.asarray(img), truth


def save_scene_set(folder: Path, n: int, size: tuple[int, int] = (1280, 720)) -> list[tuple[Path, Truth]]:
    """Write ``n`` scene images as JPEG (quality 92) into ``folder``; returns (path, truth) pairs."""
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for seed in range(n):
        arr, truth = scene_image(seed, size)
        path = folder / f"scene_{seed:03d}.jpg"
        Image.fromarray(arr).save(path, quality=92)
        out.append((path, truth))
    return out


# --- scenes with distractors: what makes a detector find "text" that is not there ---------------------

DISTRACTORS = ("brick", "fence", "foliage", "blinds", "scribble")


def _distractor(img: Image.Image, rng: random.Random, kind: str) -> None:
    """Draw one distractor over a random part of ``img``."""
    w, h = img.size
    draw = ImageDraw.Draw(img)
    x0, y0 = rng.randrange(0, w // 2), rng.randrange(0, h // 2)
    x1, y1 = min(w, x0 + rng.randrange(w // 4, w // 2 + 1)), min(h, y0 + rng.randrange(h // 4, h // 2 + 1))

    def colour(base: int = 0, spread: int = 255) -> tuple[int, int, int]:
        return tuple(min(255, base + rng.randrange(spread)) for _ in range(3))  # type: ignore[return-value]

    if kind == "brick":
        bh, bw = rng.randrange(10, 28), rng.randrange(30, 70)
        mortar = colour(150, 100)
        for row, y in enumerate(range(y0, y1, bh)):
            off = (bw // 2) * (row % 2)
            for x in range(x0 - off, x1, bw):
                draw.rectangle((x + 2, y + 2, x + bw - 2, y + bh - 2), fill=(rng.randrange(120, 200), 60, 40))
            draw.line((x0, y, x1, y), fill=mortar, width=2)
    elif kind == "fence":
        pitch, bar = rng.randrange(8, 30), rng.randrange(2, 7)
        fill = colour(0, 90) if rng.random() < 0.5 else colour(170, 85)
        for x in range(x0, x1, pitch):
            draw.rectangle((x, y0, x + bar, y1), fill=fill)
        for _ in range(rng.randrange(1, 3)):
            y = rng.randrange(y0, y1)
            draw.rectangle((x0, y, x1, y + bar + 2), fill=fill)
    elif kind == "foliage":
        for _ in range(rng.randrange(150, 400)):
            x, y = rng.randrange(x0, x1), rng.randrange(y0, y1)
            r = rng.randrange(3, 12)
            draw.ellipse(
                (x - r, y - r // 2, x + r, y + r // 2),
                fill=(rng.randrange(20, 90), rng.randrange(80, 200), 30),
            )
    elif kind == "blinds":
        pitch = rng.randrange(6, 18)
        for y in range(y0, y1, pitch):
            draw.line((x0, y, x1, y), fill=colour(0, 255), width=rng.randrange(1, 4))
    else:  # scribble: handwriting-like strokes
        for _ in range(rng.randrange(3, 8)):
            pts = [(rng.randrange(x0, x1), rng.randrange(y0, y1))]
            for _ in range(rng.randrange(4, 12)):
                px, py = pts[-1]
                pts.append((px + rng.randrange(-40, 41), py + rng.randrange(-15, 16)))
            draw.line(pts, fill=colour(0, 255), width=rng.randrange(1, 4))


def distractor_scene(seed: int, size: tuple[int, int] = (1280, 720)) -> tuple[np.ndarray, list[str]]:
    """A scene-like frame with distractors (brick, fences, foliage, blinds, scribbles) and 0-3 text
    lines, some on a sign turned by up to 20 degrees, some blurred. Returns (RGB, the lines drawn)."""
    rng = random.Random(7_000_001 * seed + 3)
    w, h = size
    img = background(rng, size)
    for kind in rng.sample(DISTRACTORS, rng.randrange(1, 4)):
        _distractor(img, rng, kind)
    lines: list[str] = []
    for _ in range(rng.randrange(0, 4)):
        text = rng.choice(SENTENCES)
        if rng.random() < 0.5:
            text = " ".join(text.split()[: rng.randrange(1, 4)])
        px = rng.randrange(18, 56)
        font = _font(rng.choice(FONTS), px)
        tw = int(font.getlength(text)) + 20
        if tw > w - 40:
            continue
        sign = Image.new("RGBA", (tw, int(px * 1.6)), (*colour_of(rng), 255 if rng.random() < 0.6 else 0))
        ImageDraw.Draw(sign).text(
            (10, int(px * 0.2)), text, font=font, fill=(*colour_of(rng, dark=True), 255)
        )
        if rng.random() < 0.35:
            sign = sign.rotate(rng.uniform(-20, 20), expand=True, resample=Image.BICUBIC)
        if rng.random() < 0.3:
            sign = sign.filter(ImageFilter.GaussianBlur(rng.uniform(0.8, 1.8)))
        x = rng.randrange(10, max(11, w - sign.width - 10))
        y = rng.randrange(10, max(11, h - sign.height - 10))
        img.paste(sign, (x, y), sign)
        lines.append(text)
    return np.asarray(img), lines


def colour_of(rng: random.Random, dark: bool = False) -> tuple[int, int, int]:
    """A light sign colour, or a dark ink colour."""
    if dark:
        return (rng.randrange(0, 70), rng.randrange(0, 70), rng.randrange(0, 70))
    return (rng.randrange(180, 256), rng.randrange(180, 256), rng.randrange(180, 256))
