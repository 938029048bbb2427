"""Recognition padding and resize policies on generated word crops (issue 11).

    python bench/rec_padding.py [--crops 400] [--seeds 20011 30011] [--rounds 2] [--out results.json]

Crops: ``bench/ocr_sets.crop_set`` (one word per crop, 16-40 px high) at each seed. The recogniser of
one ``OcrEngine()`` (PP-OCRv4 defaults) reads them alone, no detection, ``CHUNK`` crops per call; every
policy reads the same chunks in the same process, the order of the policies rotating chunk by chunk, so
that load from other processes falls on all of them alike. Accuracy: ``ocr_sets.crop_scores`` (whole
output equals the word, normalised, spaces removed), from the first round; crops/s: over all rounds.

Policies:
  a   current default: each crop padded to its own width rounded up to 32 px, equal widths batched
  b   RapidOCR: crops sorted by width, batches of ``batch_size`` padded to their widest crop, at least
      320 px (a narrow crop's result depends on what it was batched with)
  c   ``min_width=320``: crops narrower than 320 px padded to 320, wider ones to their own rounded width,
      the two never batched together
  a-cubic, a-area, c-cubic   as a / c, resized with cv2.INTER_CUBIC or cv2.INTER_AREA instead of LINEAR
  m128, m192, m256   as c with a smaller minimum width (a middle way between a and c)
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests"), str(ROOT / "bench")]

import cv2  # noqa: E402
import numpy as np  # noqa: E402
import ocr_sets  # noqa: E402

from dva_ocr.ocr import OcrEngine  # noqa: E402
from dva_ocr.ocr.detection import normalise_into  # noqa: E402
from dva_ocr.ocr.recognition import EMPTY, RecResult, TextRecognizer, ctc_decode, target_width  # noqa: E402

CHUNK = 50
RAPID_MIN_WIDTH = 320


def rapid_style(rec: TextRecognizer, crops: Sequence[np.ndarray]) -> list[RecResult]:
    """RapidOCR's batching: sorted by width, ``batch_size`` at a time, padded to max(320, widest)."""
    p = rec.params
    widths = [target_width(c.shape[0], c.shape[1], p) for c in crops]
    order = sorted(range(len(crops)), key=lambda i: widths[i])
    results: list[RecResult] = [EMPTY] * len(crops)
    for start in range(0, len(order), p.batch_size):
        chunk = order[start : start + p.batch_size]
        pad_w = max(RAPID_MIN_WIDTH, max(widths[i] for i in chunk))
        x = np.zeros((len(chunk), 3, p.height, pad_w), np.float32)
        for j, i in enumerate(chunk):
            line = cv2.resize(crops[i], (widths[i], p.height), interpolation=rec.interpolation)
            normalise_into(x[j], line, p.mean, p.std)
        probs = rec.session.run({rec.session.input_name: x})[0]
        per_step = pad_w / probs.shape[1]
        for j, i in enumerate(chunk):
            results[i] = ctc_decode(probs[j], rec.charset, math.ceil(widths[i] / per_step))
    return results


def policies(rec: TextRecognizer) -> dict[str, Callable[[Sequence[np.ndarray]], list[RecResult]]]:
    base = rec.params

    def own(min_width: int, interpolation: int) -> Callable[[Sequence[np.ndarray]], list[RecResult]]:
        def run(crops: Sequence[np.ndarray]) -> list[RecResult]:
            rec.params = dataclasses.replace(base, min_width=min_width)
            rec.interpolation = interpolation
            try:
                return rec.recognise(crops)
            finally:
                rec.params, rec.interpolation = base, cv2.INTER_LINEAR

        return run

    return {
        "a": own(base.min_width, cv2.INTER_LINEAR),
        "b": lambda crops: rapid_style(rec, crops),
        "c": own(RAPID_MIN_WIDTH, cv2.INTER_LINEAR),
        "a-cubic": own(base.min_width, cv2.INTER_CUBIC),
        "a-area": own(base.min_width, cv2.INTER_AREA),
        "c-cubic": own(RAPID_MIN_WIDTH, cv2.INTER_CUBIC),
        **{f"m{w}": own(w, cv2.INTER_LINEAR) for w in (128, 192, 256)},
    }


def run_seed(rec: TextRecognizer, n: int, seed: int, rounds: int) -> dict[str, dict[str, float | int]]:
    crops = ocr_sets.crop_set(n, seed)
    bgr = [np.ascontiguousarray(np.asarray(img)[:, :, ::-1]) for img, _, _ in crops]
    words = [w for _, w, _ in crops]
    runs = policies(rec)
    names = list(runs)
    for name in names:  # warm-up
        runs[name](bgr[:CHUNK])
    times = dict.fromkeys(names, 0.0)
    texts: dict[str, list[str]] = {name: [] for name in names}
    k = 0
    for rnd in range(rounds):
        for start in range(0, len(bgr), CHUNK):
            chunk = bgr[start : start + CHUNK]
            turn = names[k % len(names) :] + names[: k % len(names)]
            k += 1
            for name in turn:
                t0 = time.perf_counter()
                got = runs[name](chunk)
                times[name] += time.perf_counter() - t0
                if rnd == 0:
                    texts[name].extend(r.text for r in got)
    out: dict[str, dict[str, float | int]] = {}
    for name in names:
        scores = ocr_sets.crop_scores(words, texts[name])
        out[name] = {
            "word_accuracy": scores["word_accuracy"],
            "correct": scores["correct"],
            "crops_per_s": round(len(bgr) * rounds / times[name], 1),
        }
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--crops", type=int, default=400)
    ap.add_argument("--seeds", type=int, nargs="+", default=[ocr_sets.CROP_SEED, 30_011])
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--out", type=Path)
    args = ap.parse_args(argv)
    engine = OcrEngine()
    rec = engine.recognizer
    load0 = os.getloadavg()
    results = {str(seed): run_seed(rec, args.crops, seed, args.rounds) for seed in args.seeds}
    out = {
        "crops": args.crops,
        "seeds": args.seeds,
        "rounds": args.rounds,
        "params": dataclasses.asdict(rec.params),
        "loadavg_before_after": [load0, os.getloadavg()],
        "results": results,
    }
    if args.out:
        args.out.write_text(json.dumps(out, indent=2) + "\n")
    seeds = [str(s) for s in args.seeds]
    print(
        "| policy | "
        + " | ".join(f"accuracy seed {s}" for s in seeds)
        + " | "
        + " | ".join(f"crops/s seed {s}" for s in seeds)
        + " |"
    )
    for name in results[seeds[0]]:
        acc = " | ".join(f"{results[s][name]['word_accuracy']:.4f}" for s in seeds)
        cps = " | ".join(f"{results[s][name]['crops_per_s']:.1f}" for s in seeds)
        print(f"| {name} | {acc} | {cps} |")
    print("load average before / after:", load0, os.getloadavg())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
