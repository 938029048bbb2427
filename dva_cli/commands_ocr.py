"""``ocr``: the library's image OCR on files or folders; no database, no queue.

Every page of a multi-page TIFF is its own entry (``scan.tif#page=2``); a GIF is read at its first frame.
In a folder, every file that is not read is named on stderr with the reason, and a summary line ends the
run. ``elapsed_ms`` is each image's own time: reading it and its OCR, one image at a time.
``--rec-only`` reads each image as one text line (the recogniser alone, no detection), as for crops.
"""

from __future__ import annotations

import argparse
import json
import mimetypes
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np

    from dva_ocr.ocr import OcrEngine

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
    p.add_argument(
        "--jobs",
        type=int,
        default=0,
        help="processes reading images side by side, one onnxruntime thread each (default 0: one per "
        f"CPU core when there are at least {PARALLEL_MIN_FILES} files per core, else 1)",
    )
    p.set_defaults(func=run)


PARALLEL_MIN_FILES = 4  # files per process before --jobs 0 starts more than one (each loads the models)


@dataclass
class Tally:
    files: int = 0  # files read (all their pages)
    images: int = 0  # images read: one per file, one per page of a multi-page TIFF
    skipped: int = 0  # files in folders that are not images
    failed: int = 0  # files that could not be read (all or some of their pages)

    def summary(self) -> str:
        return (
            f"ocr: {self.files} file(s) read ({self.images} image(s)); {self.skipped + self.failed} "
            f"skipped: {self.failed} unreadable, {self.skipped} not an image"
        )


def gather(paths: list[Path], tally: Tally) -> list[Path]:
    """The files to read: each file given, and the image files found in each folder; every other file
    of a folder is named on stderr with the reason."""
    files: list[Path] = []
    for path in paths:
        if not path.is_dir():
            files.append(path)
            continue
        for p in sorted(x for x in path.rglob("*") if x.is_file()):
            reason = _not_an_image(p)
            if reason is None:
                files.append(p)
            else:
                tally.skipped += 1
                print(f"skipped {p}: {reason}", file=sys.stderr)
    return files


def _not_an_image(path: Path) -> str | None:
    """Why a file found in a folder is not read (None: it is an image, or named like one)."""
    from dva_ocr.media.images import SUFFIXES, inspect_image

    if path.suffix.lower() in SUFFIXES:
        return None  # read it; a broken one is reported as unreadable
    if path.stat().st_size == 0:
        return "empty file (0 bytes)"
    if inspect_image(path) is not None:
        return None  # an image under another name
    kind = mimetypes.guess_type(path.name)[0] or ""
    if kind.startswith("video/"):
        return f"not an image: a video ({kind}); `ingest` reads videos"
    return f"not an image ({kind or 'no image format recognised'})"


def pages_of(path: Path) -> Iterator[tuple[str, np.ndarray, float]]:
    """(name, RGB image, ms to read it) for each image of a file: its pages, or its first frame."""
    from dva_ocr.media.images import inspect_image, read_pages

    facts = inspect_image(path)
    if facts is not None and facts.frames > 1 and facts.pages == 1 and facts.format != "MPO":
        print(
            f"note {path}: {facts.frames} frames ({facts.format}); only the first is read here"
            + ("; `ingest` reads it as a video" if facts.animated else ""),
            file=sys.stderr,
        )
    paged = facts is not None and facts.pages > 1
    pages = read_pages(path)
    for n in range(1, (facts.pages if facts else 1) + 1):
        name = f"{path}#page={n}" if paged else str(path)
        t0 = time.perf_counter()
        try:
            image = next(pages)
        except StopIteration:
            return
        except Exception as exc:  # one bad file must not stop the rest
            raise PageError(name, exc) from exc
        yield name, image, (time.perf_counter() - t0) * 1000


class PageError(Exception):
    def __init__(self, name: str, exc: Exception) -> None:
        from dva_ocr.media.images import UnreadableImage

        super().__init__(exc.reason if isinstance(exc, UnreadableImage) else str(exc))
        self.name = name


def run(args: argparse.Namespace) -> int:
    from dva_ocr.engines import load_engine
    from dva_ocr.settings import get_settings

    if args.rec_only and args.draw:
        print("error: --draw draws detected boxes; --rec-only detects none", file=sys.stderr)
        return 2
    s = get_settings()
    tally = Tally()
    files = gather(args.paths, tally)
    if not files:
        print("error: no images found in the given paths", file=sys.stderr)
        return 2
    jobs = _jobs(args, len(files), s.ocr_device)
    if jobs > 1:
        _read_in_processes(args, files, tally, jobs)
        print(tally.summary(), file=sys.stderr)
        return 1 if tally.failed else 0
    engine = load_engine(
        args.model,
        device=s.ocr_device,
        threads=args.threads if args.threads is not None else s.ocr_threads,
        use_angle_cls=args.angle_cls,
    )
    entries = _entries(args, files, tally)
    if args.rec_only:
        _read_lines(args, engine, entries, tally)
    else:
        _read_images(args, engine, entries, tally)
    print(tally.summary(), file=sys.stderr)
    return 1 if tally.failed else 0


Entry = tuple[Path, str, "np.ndarray", float]  # file, entry name, RGB image, ms to read it


def _entries(args: argparse.Namespace, files: list[Path], tally: Tally) -> Iterator[Entry]:
    """Every image of every file, in order; a file that cannot be read is reported and counted."""
    for path in files:
        try:
            for name, image, read_ms in pages_of(path):
                yield path, name, image, read_ms
            tally.files += 1
        except PageError as exc:
            tally.failed += 1
            _emit_error(args, exc.name, str(exc))


def _read_images(args: argparse.Namespace, engine: OcrEngine, entries: Iterator[Entry], tally: Tally) -> None:
    """One image at a time, so that each one's time is its own."""
    for path, name, image, read_ms in entries:
        regions, elapsed_ms = _read_one(args, engine, path, name, image, read_ms)
        _emit(args, name, regions, elapsed_ms)
        tally.images += 1


def _read_one(
    args: argparse.Namespace, engine: OcrEngine, path: Path, name: str, image: np.ndarray, read_ms: float
) -> tuple[list, float]:
    t0 = time.perf_counter()
    [regions] = engine.batch([image])
    elapsed_ms = read_ms + (time.perf_counter() - t0) * 1000
    if args.draw:
        from dva_ocr.draw import draw_regions

        args.draw.mkdir(parents=True, exist_ok=True)
        stem = path.stem if name == str(path) else f"{path.stem}.page{name.rsplit('=', 1)[1]}"
        draw_regions(image, regions).save(args.draw / f"{stem}.jpg", quality=92)
    return regions, elapsed_ms


def _jobs(args: argparse.Namespace, files: int, device: str) -> int:
    """How many processes read images: --jobs, else one per core for a folder big enough to repay
    each process loading the models (measured: 2 processes x 1 thread read 5-23% more images/s than
    1 process x 2 threads on 2 cores; MEASUREMENTS.md). One for --rec-only (batched already), a GPU,
    or a few files."""
    import os

    if args.jobs < 0:
        raise SystemExit("error: --jobs must be 0 (automatic) or more")
    if args.jobs:
        return args.jobs
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    if args.rec_only or device != "cpu" or args.threads or cores < 2 or files < PARALLEL_MIN_FILES * cores:
        return 1
    return cores


_worker_engine: OcrEngine | None = None


def _start_worker(args: argparse.Namespace, threads: int) -> None:
    global _worker_engine
    from dva_ocr.engines import load_engine
    from dva_ocr.settings import get_settings

    _worker_engine = load_engine(
        args.model, device=get_settings().ocr_device, threads=threads, use_angle_cls=args.angle_cls
    )


def _read_file(task: tuple[argparse.Namespace, Path]) -> list[tuple[str, list | None, float, str | None]]:
    """In a worker process: every image of one file as (name, regions, ms, None), or (name, None, 0,
    why) for a page that could not be read."""
    args, path = task
    assert _worker_engine is not None
    out: list[tuple[str, list | None, float, str | None]] = []
    try:
        for name, image, read_ms in pages_of(path):
            regions, ms = _read_one(args, _worker_engine, path, name, image, read_ms)
            out.append((name, regions, ms, None))
    except PageError as exc:
        out.append((exc.name, None, 0.0, str(exc)))
    return out


def _read_in_processes(args: argparse.Namespace, files: list[Path], tally: Tally, jobs: int) -> None:
    """``jobs`` processes, one onnxruntime thread each, one file at a time; results in file order."""
    import multiprocessing

    threads = max(1, (args.threads or 0) // jobs) if args.threads else 1
    # fork where there is one (0.1-0.5 s sooner than spawn on 60 images, MEASUREMENTS.md): this process
    # has loaded no onnxruntime and started no threads; each worker loads its own engine
    method = "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"
    with multiprocessing.get_context(method).Pool(jobs, _start_worker, (args, threads)) as pool:
        for results in pool.imap(_read_file, [(args, f) for f in files], chunksize=1):
            failed = False
            for name, regions, ms, error in results:
                if error is not None:
                    failed = True
                    _emit_error(args, name, error)
                else:
                    _emit(args, name, regions or [], ms)
                    tally.images += 1
            tally.failed += failed
            tally.files += not failed


def _read_lines(args: argparse.Namespace, engine: OcrEngine, entries: Iterator[Entry], tally: Tally) -> None:
    """--rec-only: lines are recognised REC_CHUNK at a time (the recogniser batches them by width)."""
    chunk: list[Entry] = []
    for entry in entries:
        chunk.append(entry)
        if len(chunk) == REC_CHUNK:
            _recognise(args, engine, chunk, tally)
            chunk = []
    _recognise(args, engine, chunk, tally)


def _recognise(args: argparse.Namespace, engine: OcrEngine, chunk: list[Entry], tally: Tally) -> None:
    """Each line's time: its own reading time plus the call's time split by its share of the call's
    width at the recogniser's height (what a line's recognition cost grows with)."""
    if not chunk:
        return
    t0 = time.perf_counter()
    readings = engine.read_lines([image for _, _, image, _ in chunk])
    batch_ms = (time.perf_counter() - t0) * 1000
    widths = [image.shape[1] / max(1, image.shape[0]) for _, _, image, _ in chunk]
    total = sum(widths)
    for (_, name, _, read_ms), width, reading in zip(chunk, widths, readings, strict=True):
        tally.images += 1
        elapsed_ms = read_ms + batch_ms * (width / total if total else 1 / len(chunk))
        if args.json:
            obj = {
                "image": name,
                "text": reading.text,
                "confidence": reading.confidence,
                "elapsed_ms": round(elapsed_ms, 1),
            }
            print(json.dumps(obj, ensure_ascii=False), flush=True)
        else:
            print(f"{name}  {reading.confidence:.2f}  {reading.text}", flush=True)


def _emit(args: argparse.Namespace, name: str, regions: list, elapsed_ms: float) -> None:
    if args.json:
        obj = {"image": name, "regions": [r.to_json() for r in regions], "elapsed_ms": round(elapsed_ms, 1)}
        print(json.dumps(obj, ensure_ascii=False), flush=True)
        return
    print(f"{name}  ({len(regions)} regions, {elapsed_ms:.0f} ms)")
    for r in regions:
        x, y, w, h = r.box
        print(f"  {r.confidence:.2f}  [{x},{y} {w}x{h}]  {r.text}")


def _emit_error(args: argparse.Namespace, name: str, reason: str) -> None:
    print(f"skipped {name}: {reason}", file=sys.stderr)
    if args.json:
        empty = {"text": "", "confidence": 0.0} if args.rec_only else {"regions": []}
        print(json.dumps({"image": name, **empty, "error": reason}, ensure_ascii=False), flush=True)
