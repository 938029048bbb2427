"""Generated image sets and their scoring for ``bench/bench_ocr.py``.

- Distractor scenes: ``tests/textgen.distractor_scene`` at seeds from ``DISTRACTOR_SEED0`` (1000 up, apart
  from ``bench/filters.py``'s 0-119, on which the line-confidence default was chosen), JPEG q85.
- Word crops: one word per image (English words from ``english_words``, names and brands, codes like
  ``A7X-2231``, numbers), rendered large in a textgen font on a varied background, some in low contrast,
  then resized to 16-40 px high, some blurred, some JPEG-compressed; one fixed seed.

Scoring is the project's bag of words (``dva_ocr.evaluation.metrics``): per image, the multiset of
normalised words (NFKC, case-folded, letters and digits only) of the truth against that of the output,
summed over images (micro) before precision, recall and F1. A crop is read correctly when its whole
output, normalised the same way with spaces removed, equals its word.
"""

from __future__ import annotations

import io
import random
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import textgen
from PIL import Image, ImageDraw, ImageFilter, ImageFont

from dva_ocr.evaluation.metrics import bag_of_words, normalise_text, prf

DISTRACTOR_SEED0 = 1000
DISTRACTOR_QUALITY = 85
CROP_SEED = 20_011
CROP_HEIGHTS = (16, 40)
CROP_KINDS = (("word", 0.5), ("name", 0.15), ("code", 0.15), ("number", 0.2))

NAMES = (
    "Sukehiro", "Okonkwo", "Nguyen", "Schwarzkopf", "McAllister", "Siobhan", "Yamamoto", "Kowalczyk",
    "Xiaoming", "Fitzgerald", "Oyelaran", "Bjornsson", "Papadopoulos", "Rahimi", "Chakraborty",
    "Gutierrez", "Zbigniew", "Aoife", "Takahashi", "Abernathy", "Lindqvist", "Mbeki", "Ferreira",
    "Kaczmarek", "Hollingsworth", "Quispe", "Vasquez", "Oduya", "Haddad", "Ivanova",
    "YouTube", "PayPal", "eBay", "iPhone", "Adidas", "Nescafe", "Toblerone", "Spotify", "Lufthansa",
    "Vodafone", "Heineken", "Samsung", "WhatsApp", "LinkedIn", "Tesco", "Carrefour", "Deliveroo",
)  # fmt: skip
CODE_TEMPLATES = ("LDL-DDDD", "LLDDD", "LL-DDD", "DDLL", "LDDL", "LL-DDDD-L", "LDD", "LLL-DD", "DLDD")


def save_distractor_set(
    folder: Path, n: int, seed0: int = DISTRACTOR_SEED0, quality: int = DISTRACTOR_QUALITY
) -> list[tuple[Path, list[str]]]:
    """Write ``n`` distractor scenes as JPEG into ``folder``; returns (path, lines drawn) pairs."""
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for seed in range(seed0, seed0 + n):
        rgb, lines = textgen.distractor_scene(seed)
        path = folder / f"distractor_{seed:05d}.jpg"
        Image.fromarray(rgb).save(path, quality=quality)
        out.append((path, lines))
    return out


def _code(rng: random.Random) -> str:
    letters = "ABCDEFGHJKLMNPRSTUVWXYZ"
    return "".join(
        rng.choice(letters) if c == "L" else str(rng.randrange(10)) if c == "D" else c
        for c in rng.choice(CODE_TEMPLATES)
    )


def _number(rng: random.Random) -> str:
    form = rng.randrange(5)
    if form == 0:
        return str(rng.randrange(1, 100))
    if form == 1:
        return str(rng.randrange(100, 1_000_000))
    if form == 2:
        return f"{rng.randrange(1, 1000)}.{rng.randrange(100):02d}"
    if form == 3:
        return f"{rng.randrange(1, 100)},{rng.randrange(1000):03d}"
    return f"0{rng.randrange(100, 1000)}"


def crop_word(rng: random.Random, words: Sequence[str]) -> tuple[str, str]:
    """(kind, text) of one crop's word."""
    kind = rng.choices([k for k, _ in CROP_KINDS], [w for _, w in CROP_KINDS])[0]
    if kind == "word" and words:
        word = rng.choice(words)
        case = rng.random()
        return kind, word.upper() if case < 0.15 else word.capitalize() if case < 0.4 else word
    if kind == "name" or (kind == "word" and not words):
        return "name", rng.choice(NAMES)
    if kind == "code":
        return kind, _code(rng)
    return kind, _number(rng)


def _ink(rng: random.Random, bg_luma: float, low: bool) -> tuple[int, int, int]:
    """A text colour whose luma differs from the background's by 35-70 (low contrast) or > 100."""
    for _ in range(200):
        c = (rng.randrange(256), rng.randrange(256), rng.randrange(256))
        diff = abs(0.299 * c[0] + 0.587 * c[1] + 0.114 * c[2] - bg_luma)
        if (35 <= diff <= 70) if low else diff > 100:
            return c
    return (255, 255, 255) if bg_luma < 128 else (0, 0, 0)


def word_crop(rng: random.Random, text: str) -> tuple[Image.Image, dict[str, object]]:
    """One crop of ``text`` (RGB) and how it was made."""
    font = ImageFont.truetype(str(textgen.FONT_DIR / rng.choice(textgen.FONTS)), 64)
    left, top, right, bottom = font.getbbox(text)
    pad_x, pad_top, pad_bottom = rng.randrange(4, 25), rng.randrange(4, 17), rng.randrange(4, 17)
    size = (right - left + 2 * pad_x, bottom - top + pad_top + pad_bottom)
    img = textgen.background(rng, size, rng.choice(("solid", "solid", "gradient", "texture", "photo")))
    bg = np.asarray(img, np.float32).reshape(-1, 3).mean(0)
    low = rng.random() < 0.25
    ink = _ink(rng, 0.299 * bg[0] + 0.587 * bg[1] + 0.114 * bg[2], low)
    ImageDraw.Draw(img).text((pad_x - left, pad_top - top), text, font=font, fill=ink)
    height = rng.randint(*CROP_HEIGHTS)
    width = max(1, round(size[0] * height / size[1]))
    img = img.resize(
        (width, height),
        rng.choice((Image.Resampling.BILINEAR, Image.Resampling.BICUBIC, Image.Resampling.LANCZOS)),
    )
    blur = rng.uniform(0.3, 0.9) if rng.random() < 0.3 else 0.0
    if blur:
        img = img.filter(ImageFilter.GaussianBlur(blur))
    quality = rng.randrange(40, 91) if rng.random() < 0.6 else 0
    if quality:
        buf = io.BytesIO()
        img.save(buf, "JPEG", quality=quality)
        img = Image.open(io.BytesIO(buf.getvalue())).convert("RGB")
    return img, {"height": height, "low_contrast": low, "blur": round(blur, 2), "jpeg": quality}


def crop_set(n: int, seed: int = CROP_SEED) -> list[tuple[Image.Image, str, dict[str, object]]]:
    """``n`` single-word crops: (RGB image, word, how it was made, with ``kind``)."""
    from dva_ocr.ocr.training.synth import english_words

    words = [w for w in english_words() if len(w) > 1]
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        kind, text = crop_word(rng, words)
        img, facts = word_crop(rng, text)
        out.append((img, text, {"kind": kind, **facts}))
    return out


def describe_crops(crops: Sequence[tuple[Image.Image, str, dict[str, object]]]) -> dict[str, object]:
    """What the crop set holds, for the JSON."""
    return {
        "kinds": dict(sorted(Counter(str(f["kind"]) for _, _, f in crops).items())),
        "low_contrast": sum(bool(f["low_contrast"]) for _, _, f in crops),
        "blurred": sum(bool(f["blur"]) for _, _, f in crops),
        "jpeg": sum(bool(f["jpeg"]) for _, _, f in crops),
    }


def bow_scores(truths: Sequence[Sequence[str]], outputs: Sequence[Sequence[str]]) -> dict[str, float | int]:
    """Micro bag-of-words precision, recall and F1 over images (truth lines against output lines)."""
    tp = truth = predicted = 0
    for want, got in zip(truths, outputs, strict=True):
        bag = bag_of_words(list(want), list(got))
        tp, truth, predicted = tp + bag.tp, truth + bag.truth, predicted + bag.predicted
    scores: dict[str, float | int] = {k: round(v, 4) for k, v in prf(tp, truth, predicted).items()}
    return scores | {"tp": tp, "predicted": predicted, "truth": truth}


def crop_scores(words: Sequence[str], outputs: Sequence[str]) -> dict[str, float | int]:
    """Word accuracy (whole output equals the word, normalised, spaces removed) and bag of words."""
    correct = sum(normalise_text(w) == normalise_text(o) for w, o in zip(words, outputs, strict=True))
    scores = bow_scores([[w] for w in words], [[o] for o in outputs])
    return {"word_accuracy": round(correct / len(words), 4) if words else 0.0, "correct": correct} | scores
