"""Word-space recovery on sentences with names, brands, codes and domain words: what each split rule does.

    python bench/word_spacing.py --out build/bench/word_spacing.json [--images 40]

Generated images (``tests/textgen.render_lines``, 20-48 px, JPEG q90) of sentences that embed names
(``Sukehiro``, ``Okonkwo``), brands (``Zalando``, ``Mailchimp``), codes (``A7X2231``) and domain words
(``webinar``, ``livestream``) between common words, plus plain English sentences. The engine reads each
image once; every recogniser result is kept (text, character positions, space probabilities) and
``recover_spaces`` is run over the same results under each candidate rule, so the rules are compared on
identical readings. Per rule: word recall (truth words found as tokens, case-insensitive, edge
punctuation stripped, as a multiset per image), *fragments* (tokens that are not truth words but a part
of one: what over-splitting leaves) and *glued* (tokens that are two or more truth words run together).
"""

from __future__ import annotations

import argparse
import io
import json
import random
import sys
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

from dva_ocr.ocr import words  # noqa: E402

NAMES = [
    "Sukehiro",
    "Takahashi",
    "Okonkwo",
    "Kowalczyk",
    "Nakamura",
    "Oyelaran",
    "Brzezinski",
    "Yilmaz",
    "Szczepanski",
    "Nguyen",
    "Adeyemi",
    "Hakimi",
    "Ramaswamy",
    "Papadopoulos",
    "Fitzgerald",
    "Haverkamp",
    "Lindqvist",
    "Castellanos",
    "Ferreira",
    "Obradovic",
]
BRANDS = [
    "Zalando",
    "Mailchimp",
    "Safaricom",
    "Rakuten",
    "Vodafone",
    "Spotify",
    "Dropbox",
    "Wayfair",
    "Huawei",
    "Lidl",
    "Deliveroo",
    "Tesco",
    "Airbnb",
    "Shopify",
    "Booking",
    "Zoopla",
    "Etsy",
    "Trivago",
    "Skyscanner",
    "Ryanair",
]
CODES = ["A7X2231", "KB104", "XJ9", "RT55", "ZX81", "B2B", "MK2", "G7", "V8", "AB12CD"]
DOMAIN = [
    "webinar",
    "livestream",
    "broadband",
    "hashtag",
    "smartwatch",
    "cryptocurrency",
    "geolocation",
    "podcast",
    "checkout",
    "skincare",
    "gameplay",
    "carpool",
    "timestamp",
    "username",
    "firmware",
    "wifi",
]
TEMPLATES = (
    "Welcome to {name} Hotel",
    "{brand} delivers fresh groceries today",
    "Call {name} about the {domain} offer",
    "Order {code} ships with free {domain}",
    "Meet {name} and {name2} at the station",
    "Your {brand} account needs a new password",
    "The {domain} starts at nine with {name}",
    "Download the {brand} app for {domain}",
    "Yami {name} presents the spring collection",
    "Model {code} by {brand} now in stock",
)
PLAIN = (
    "Total broadband gives you more",
    "Please keep your ticket until the end of the journey",
    "Fresh coffee and pastries every morning",
    "The next train to the airport leaves from platform four",
    "Opening hours are Monday to Friday",
    "Grocery shopping list for the weekend",
    "Press the green button to continue",
    "All prices include taxes and delivery",
)


def sentences(rng: random.Random, n: int) -> list[str]:
    out = []
    for _ in range(n):
        if rng.random() < 0.3:
            out.append(rng.choice(PLAIN))
            continue
        name, name2 = rng.sample(NAMES, 2)
        out.append(
            rng.choice(TEMPLATES).format(
                name=name,
                name2=name2,
                brand=rng.choice(BRANDS),
                code=rng.choice(CODES),
                domain=rng.choice(DOMAIN),
            )
        )
    return out


def norm(tok: str) -> str:
    return "".join(c for c in tok.lower() if c.isalnum())


def tokens(texts: list[str]) -> list[str]:
    return [t for t in (norm(w) for s in texts for w in s.split()) if t]


def score(truth_lines: list[str], found: list[str]) -> dict[str, int]:
    truth, pred = Counter(tokens(truth_lines)), Counter(tokens(found))
    tp = sum((truth & pred).values())
    extra = pred - truth
    truth_words = set(truth)
    joined = ["".join(tokens([line])) for line in truth_lines]
    fragments = sum(n for t, n in extra.items() if any(t in w and t != w for w in truth_words))
    glued = sum(
        n
        for t, n in extra.items()
        if t not in truth_words and any(t in j for j in joined) and not any(t in w for w in truth_words)
    )
    return {"truth": sum(truth.values()), "tp": tp, "predicted": sum(pred.values()), "fragments": fragments,
            "glued": glued}  # fmt: skip


@contextmanager
def recording(engine: Any) -> Iterator[list[Any]]:
    """The recogniser results the engine's line reader turns into text, in order."""
    reader = engine.lines if hasattr(engine, "lines") else None
    seen: list[Any] = []
    cls = type(reader) if reader is not None else None
    if cls is None:
        from dva_ocr.ocr.lines import LineReader as cls  # noqa: N813
    original: Callable[..., str] = cls.text_of

    def text_of(self: Any, rec: Any) -> str:
        seen.append(rec)
        return original(self, rec)

    cls.text_of = text_of  # type: ignore[method-assign]
    try:
        yield seen
    finally:
        cls.text_of = original  # type: ignore[method-assign]


def jpeg(rgb: np.ndarray, q: int = 90) -> np.ndarray:
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, "JPEG", quality=q)
    return np.asarray(Image.open(io.BytesIO(buf.getvalue())).convert("RGB"))


RULES: dict[str, dict[str, float]] = {
    "before (dictionary split wherever cheaper)": {"COMMON_PIECE_MAX_COST": 99.0},
    "common pieces only, cost <= 13.1": {"COMMON_PIECE_MAX_COST": 13.1},
    "common pieces only, cost <= 12": {"COMMON_PIECE_MAX_COST": 12.0},
    "common pieces only, cost <= 11": {"COMMON_PIECE_MAX_COST": 11.0},
    "common pieces only, cost <= 10": {"COMMON_PIECE_MAX_COST": 10.0},
    "common pieces only, cost <= 9": {"COMMON_PIECE_MAX_COST": 9.0},
    "common pieces only, cost <= 8": {"COMMON_PIECE_MAX_COST": 8.0},
}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=Path("build/bench/word_spacing.json"))
    ap.add_argument("--images", type=int, default=40, help="images of sentences with names and brands")
    ap.add_argument("--scenes", type=int, default=100, help="generated scenes of English words")
    args = ap.parse_args()
    import textgen

    from dva_ocr.ocr.engine import OcrEngine

    engine = OcrEngine()
    rng = random.Random(11)
    sets: dict[str, list[tuple[list[str], list[Any]]]] = {"names": [], "scenes": []}
    for i in range(args.images):
        img, truth = textgen.render_lines(sentences(rng, 8), seed=500 + i, font_sizes=(20, 48))
        with recording(engine) as recs:
            engine(jpeg(img))
        sets["names"].append(([t for t, _ in truth], list(recs)))
    for seed in range(100, 100 + args.scenes):  # the tuning scenes of MEASUREMENTS.md (English words)
        img, truth = textgen.scene_image(seed)
        with recording(engine) as recs:
            engine(jpeg(img, 92))
        sets["scenes"].append(([t for t, _ in truth], list(recs)))
    out: dict[str, Any] = {}
    for set_name, per_image in sets.items():
        out[set_name] = evaluate(per_image)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"images": args.images, "scenes": args.scenes, "sets": out}, indent=2))
    for set_name, results in out.items():
        print(f"\n{set_name}")
        print(f"{'rule':48} {'recall':>7} {'tp':>5} {'truth':>5} {'pred':>5} {'frag':>5} {'glued':>5}")
        for name, r in results.items():
            print(
                f"{name:48} {r['recall']:7.4f} {r['tp']:5d} {r['truth']:5d} {r['predicted']:5d}"
                f" {r['fragments']:5d} {r['glued']:5d}"
            )
    return 0


def evaluate(per_image: list[tuple[list[str], list[Any]]]) -> dict[str, Any]:
    results: dict[str, Any] = {}
    saved = {k: getattr(words, k) for k in next(iter(RULES.values()))}
    for name, params in RULES.items():
        for k, v in params.items():
            setattr(words, k, v)
        total: Counter[str] = Counter()
        for truth_lines, recs in per_image:
            found = [words.recover_spaces(r.text, r.char_positions, r.space_probs) for r in recs if r.text]
            total.update(score(truth_lines, found))
        results[name] = dict(total) | {"recall": round(total["tp"] / max(1, total["truth"]), 4)}
    for k, v in saved.items():
        setattr(words, k, v)
    raw_total: Counter[str] = Counter()
    for truth_lines, recs in per_image:
        raw_total.update(score(truth_lines, [r.text for r in recs if r.text]))
    results["raw_text (no recovery)"] = dict(raw_total) | {
        "recall": round(raw_total["tp"] / max(1, raw_total["truth"]), 4)
    }
    return results


if __name__ == "__main__":
    raise SystemExit(main())
