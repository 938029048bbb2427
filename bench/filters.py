"""Line confidence and short-token rules on scene-like images with distractors: precision against recall.

    python bench/filters.py --out build/bench/filters.json [--images 120]

Images: ``tests/textgen.distractor_scene`` (720p, brick, fences, foliage, blinds, scribbles over
textured/photo-like backgrounds; 0-3 lines, some on a sign turned by up to 20 degrees, some blurred),
JPEG q85. The engine reads each image once with no confidence floor; every rule is then applied to the
same regions. Scored as bag of words per image (case-insensitive alphanumeric tokens, multisets): true
positives are predicted tokens that are truth tokens of that image.

Rules: a minimum line confidence; and a short-token rule: a region whose text has at most ``chars``
alphanumeric characters is kept only when its confidence is at least ``short_conf``, or when it is
all digits (a number on a sign) and passes the line minimum.
"""

from __future__ import annotations

import argparse
import io
import json
import sys
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402


def toks(text: str) -> list[str]:
    return [t for t in ("".join(c for c in w.lower() if c.isalnum()) for w in text.split()) if t]


def keep(text: str, conf: float, min_conf: float, chars: int, short_conf: float) -> bool:
    if conf < min_conf:
        return False
    alnum = "".join(c for c in text if c.isalnum())
    if len(alnum) <= chars and not alnum.isdigit():
        return conf >= short_conf
    return True


def score(images: list[tuple[list[str], list[tuple[str, float]]]], **rule: float) -> dict[str, float]:
    tp = pred = truth = 0
    for lines, regions in images:
        t = Counter(w for line in lines for w in toks(line))
        p = Counter(w for text, conf in regions if keep(text, conf, **rule) for w in toks(text))  # type: ignore[arg-type]
        tp += sum((t & p).values())
        pred += sum(p.values())
        truth += sum(t.values())
    precision, recall = tp / max(1, pred), tp / max(1, truth)
    f1 = 2 * precision * recall / max(1e-9, precision + recall)
    return {"precision": round(precision, 4), "recall": round(recall, 4), "f1": round(f1, 4), "tp": tp,
            "predicted": pred, "truth": truth}  # fmt: skip


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=Path("build/bench/filters.json"))
    ap.add_argument("--images", type=int, default=120)
    args = ap.parse_args()
    import textgen

    from dva_ocr.ocr.engine import OcrEngine

    engine = OcrEngine(min_confidence=0.0)
    images: list[tuple[list[str], list[tuple[str, float]]]] = []
    for seed in range(args.images):
        rgb, lines = textgen.distractor_scene(seed)
        buf = io.BytesIO()
        Image.fromarray(rgb).save(buf, "JPEG", quality=85)
        img = np.asarray(Image.open(io.BytesIO(buf.getvalue())).convert("RGB"))
        images.append((lines, [(r.text, r.confidence) for r in engine(img)]))
    rules: list[dict[str, Any]] = []
    for min_conf in (0.0, 0.5, 0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.9):
        for chars, short_conf in ((0, 0.0), (1, 0.8), (1, 0.9), (2, 0.8), (2, 0.9), (2, 0.95)):
            rule = {"min_conf": min_conf, "chars": chars, "short_conf": short_conf}
            rules.append(rule | score(images, **rule))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"images": args.images, "rules": rules}, indent=2))
    print(f"{'min_conf':>8} {'short':>10} {'P':>7} {'R':>7} {'F1':>7} {'tp':>5} {'pred':>5} {'truth':>5}")
    for r in rules:
        short = f"<={r['chars']}:{r['short_conf']}" if r["chars"] else "-"
        print(
            f"{r['min_conf']:8.2f} {short:>10} {r['precision']:7.4f} {r['recall']:7.4f} {r['f1']:7.4f}"
            f" {r['tp']:5d} {r['predicted']:5d} {r['truth']:5d}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
