"""``ocr``: the library's image OCR on files or folders; no database, no queue.

``--rec-only`` reads each image as one text line (the recogniser alone, no detection), as for crops.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np

    from dva_ocr.ocr import OcrEngine

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp"}
CHUNK = 8  # images per engine.batch call: same-size images share detection runs
REC_CHUNK = 64  # --rec-only: images per recogniser call (batched by width inside)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("ocr", help="OCR images or folders of images directly (no database or queue)")
    p.add_argument("paths", nargs="+", type=Path, metavar="PATH")
    p.add_argument("--json", action="store_true", help="one JSON object per image and line")
    p.add_argument("--draw", type=Path, metavar="DIR", help="also save each image with its boxes drawn")
    p.add_argument("--threads", type=int, default=None, help="onnxruntime threads (default: OCR_THREADS)")
    p.add_argument("--angle-cls", action="store_true", help="run the 180-degree angle classifier")
    p.add_argument(
        "--rec-only",
        action="store_true",
        help="read each image as one text line: recognition only, no detection (for cropped words/lines)",
    )
    p.add_argument("--model", default=None, help="model name (default: OCR_MODEL)")
    p.set_defaults(func=run)


def iter_images(paths: list[Path]) -> Iterator[Path]:
    for path in paths:
        if path.is_dir():
            yield from sorted(p for p in path.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
        else:
            yield path


def run(args: argparse.Namespace) -> int:
    from dva_ocr.media.images import read_image
    from dva_ocr.model_registry import load_engine
    from dva_ocr.settings import get_settings

    if args.rec_only and args.draw:
        print("error: --draw draws detected boxes; --rec-only detects none", file=sys.stderr)
        return 2
    s = get_settings()
    images = list(iter_images(args.paths))
    if not images:
        print("error: no images found in the given paths", file=sys.stderr)
        return 2
    engine = load_engine(
        args.model,
        device=s.ocr_device,
        threads=args.threads if args.threads is not None else s.ocr_threads,
        use_angle_cls=args.angle_cls,
    )
    if args.rec_only:
        return _run_rec_only(args, engine, images)
    failures = 0
    for start in range(0, len(images), CHUNK):
        chunk: list[tuple[Path, np.ndarray]] = []
        for path in images[start : start + CHUNK]:
            try:
                chunk.append((path, read_image(path)))
            except Exception as exc:  # one bad file must not stop the rest
                failures += 1
                _emit_error(args, path, exc)
        if not chunk:
            continue
        t0 = time.perf_counter()
        results = engine.batch([img for _, img in chunk])
        per_image_ms = (time.perf_counter() - t0) * 1000 / len(chunk)
        for (path, img), regions in zip(chunk, results, strict=True):
            _emit(args, path, regions, per_image_ms)
            if args.draw:
                from dva_ocr.draw import draw_regions

                args.draw.mkdir(parents=True, exist_ok=True)
                draw_regions(img, regions).save(args.draw / f"{path.stem}.jpg", quality=92)
    return 1 if failures else 0


def _run_rec_only(args: argparse.Namespace, engine: OcrEngine, images: list[Path]) -> int:
    from dva_ocr.media.images import read_image

    failures = 0
    for start in range(0, len(images), REC_CHUNK):
        chunk = []
        for path in images[start : start + REC_CHUNK]:
            try:
                chunk.append((path, read_image(path)))
            except Exception as exc:  # one bad file must not stop the rest
                failures += 1
                _emit_line_error(args, path, exc)
        if not chunk:
            continue
        t0 = time.perf_counter()
        readings = engine.read_lines([img for _, img in chunk])
        per_image_ms = (time.perf_counter() - t0) * 1000 / len(chunk)
        for (path, _), reading in zip(chunk, readings, strict=True):
            if args.json:
                obj = {
                    "image": str(path),
                    "text": reading.text,
                    "confidence": reading.confidence,
                    "elapsed_ms": round(per_image_ms, 1),
                }
                print(json.dumps(obj, ensure_ascii=False), flush=True)
            else:
                print(f"{path}  {reading.confidence:.2f}  {reading.text}", flush=True)
    return 1 if failures else 0


def _emit_line_error(args: argparse.Namespace, path: Path, exc: Exception) -> None:
    if args.json:
        print(json.dumps({"image": str(path), "text": "", "confidence": 0.0, "error": str(exc)}), flush=True)
    else:
        print(f"{path}  error: {exc}", file=sys.stderr)


def _emit(args: argparse.Namespace, path: Path, regions: list, elapsed_ms: float) -> None:
    if args.json:
        obj = {
            "image": str(path),
            "regions": [r.to_json() for r in regions],
            "elapsed_ms": round(elapsed_ms, 1),
        }
        print(json.dumps(obj, ensure_ascii=False), flush=True)
        return
    print(f"{path}  ({len(regions)} regions, {elapsed_ms:.0f} ms)")
    for r in regions:
        x, y, w, h = r.box
        print(f"  {r.confidence:.2f}  [{x},{y} {w}x{h}]  {r.text}")


def _emit_error(args: argparse.Namespace, path: Path, exc: Exception) -> None:
    if args.json:
        print(json.dumps({"image": str(path), "regions": [], "error": str(exc)}), flush=True)
    else:
        print(f"{path}  error: {exc}", file=sys.stderr)
