"""Scaling on this box, measured: the same media with 1 and 2 qextract processes and 1 and 2 qocr
processes, through the real workers, and what batching across media buys.

    python bench/bench_scaling.py --out build/bench/scaling.json
    python bench/bench_scaling.py --out X.json --images 60 --minutes 5 --rounds 1   # smaller

Media (generated): the 20-minute 640x360 video of bench_long_video.py --scaling (a caption whose number
changes every 5 s: 1,200 frames sampled at 1 fps, the changed ones read in bands) and a folder of 200
scene images (tests/textgen.py: textured backgrounds, 0-3 blocks of text; three in four 640x360, the
others of five other sizes, as a folder of photos from several cameras). Each run starts one worker
per queue on a scratch database (bench_long_video.workers: `manage.py worker --queue Q --concurrency
N`; OCR_THREADS = cores / N, so N qocr processes run no more onnxruntime threads than there are cores)
and times `./manage.py ingest TARGET --wait --json --fps 1`: wall time, frames/s (sampled frames of the
video, images of the folder), qocr tasks (from the qocr worker's log) and each worker's peak memory.
The folder also runs with OCR_BATCH_FRAMES=1 (every image its own qocr task, as before batches across
media) at 1 and 2 qocr processes. Each case runs ``--rounds`` times (2), the cases in turn and every
other round backwards; ``summary`` has each case's median.

``engine``: the OCR engine alone in this process (one onnxruntime thread, as a qocr process runs):
images/s read one per call against eight per call, same-size images and mixed sizes (the detector
batches only images of one size; the recogniser batches line crops by padded width).

The box has 2 cores shared with other sessions: the load average before and after each run is in
the JSON; figures taken while it is above the core count are noisy.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "bench"), str(ROOT / "tests")]

from bench_long_video import scratch_env, timed_ingest  # noqa: E402
from mediagen import make_counter_video  # noqa: E402

from dva_ocr.settings import Settings  # noqa: E402

OTHER_SIZES = [(480, 320), (800, 450), (560, 420), (1024, 576), (400, 300)]


def _load() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def make_folder(folder: Path, n: int) -> Path:
    """``n`` scene images as PNG: three in four 640x360, the rest of five other sizes."""
    from PIL import Image
    from textgen import scene_image

    folder.mkdir(parents=True, exist_ok=True)
    for k in range(n):
        size = OTHER_SIZES[(k // 4) % len(OTHER_SIZES)] if k % 4 == 3 else (640, 360)
        image, _ = scene_image(5000 + k, size)
        Image.fromarray(image).save(folder / f"photo_{k:04d}.png")
    return folder


def _tasks(log: Path) -> dict[str, int]:
    text = log.read_text(errors="replace")
    return {
        name: len(re.findall(rf"Task dva_ocr\.{name}\[[0-9a-f-]+\] received", text))
        for name in ("ocr_frames", "ocr_pool")
    }


def one_run(
    media: str, target: Path, items: int, work: Path, extract_procs: int, ocr_procs: int, batch: int | None
) -> dict[str, object]:
    # the cores shared out between the qocr processes, one onnxruntime thread each at most per core
    threads = max(1, (os.cpu_count() or 1) // ocr_procs)
    settings = {"OCR_THREADS": str(threads)} | ({} if batch is None else {"OCR_BATCH_FRAMES": str(batch)})
    env = scratch_env(work, f"{media}-{extract_procs}-{ocr_procs}-{batch}", **settings)
    before = _load()
    timed = timed_ingest(env, work, [target], items, extract_procs, ocr_procs)
    after = _load()
    lines: list[dict[str, object]] = timed["items"]  # type: ignore[assignment]
    frames = sum(int(x["frames"] or 0) for x in lines)  # type: ignore[call-overload]
    read = frames - sum(int(x["skipped"] or 0) for x in lines)  # type: ignore[call-overload]
    wall = float(timed["wall_s"])  # type: ignore[arg-type]
    statuses: dict[str, int] = {}
    for x in lines:
        statuses[str(x["status"])] = statuses.get(str(x["status"]), 0) + 1
    return {
        "media": media,
        "qextract_procs": extract_procs,
        "qocr_procs": ocr_procs,
        "ocr_batch_frames": batch or Settings().ocr_batch_frames,
        "ocr_threads_per_process": threads,
        "items": len(lines),
        "statuses": statuses,
        "frames": frames,
        "frames_read": read,
        "wall_s": wall,
        "extracted_s": timed["extracted_s"],
        "frames_per_s": round(frames / wall, 2),
        "qocr_tasks": _tasks(work / "qocr.log"),
        "load_average_before": before,
        "load_average_after": after,
        "workers": timed["workers"],
    }


def summary(runs: list[dict[str, object]]) -> list[dict[str, object]]:
    """One row per case: the median wall time and frames/s of its runs, and the runs' load averages."""
    cases: dict[tuple[object, ...], list[dict[str, object]]] = {}
    for r in runs:
        key = (r["media"], r["qextract_procs"], r["qocr_procs"], r["ocr_batch_frames"])
        cases.setdefault(key, []).append(r)
    out = []
    for (media, x, o, batch), rs in cases.items():
        walls = [float(r["wall_s"]) for r in rs]  # type: ignore[arg-type]
        wall = statistics.median(walls)
        out.append(
            {
                "media": media,
                "qextract_procs": x,
                "qocr_procs": o,
                "ocr_batch_frames": batch,
                "wall_s": round(wall, 2),
                "walls_s": walls,
                "frames_per_s": round(int(rs[0]["frames"]) / wall, 2),  # type: ignore[call-overload]
                "qocr_tasks": rs[0]["qocr_tasks"],
                "load_1min_before": [r["load_average_before"][0] for r in rs],  # type: ignore[index]
            }
        )
    return out


def engine_batching(folder: Path, n: int) -> dict[str, object]:
    """Images/s of the engine reading ``n`` same-size images and ``n`` mixed ones, 1 and 8 per call."""
    from dva_ocr.engines import load_engine
    from dva_ocr.media.frames import read_jpeg

    engine = load_engine(None, threads=1)
    pictures = [read_jpeg(p) for p in sorted(folder.glob("*.png"))]
    same = [p for p in pictures if p.shape[:2] == (360, 640)][:n]
    mixed = pictures[:n]
    engine.batch(same[:2])  # warm
    out: dict[str, object] = {
        "same_size_images": len(same),
        "mixed_size_images": len(mixed),
        "threads": 1,
        "load_average_before": _load(),
    }
    for name, images in (("same_size", same), ("mixed_sizes", mixed)):
        for per_call in (1, 8):
            t0 = time.perf_counter()
            for start in range(0, len(images), per_call):
                engine.batch(images[start : start + per_call])
            out[f"{name}_{per_call}_per_call_images_per_s"] = round(
                len(images) / (time.perf_counter() - t0), 2
            )
    out["load_average_after"] = _load()
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--minutes", type=float, default=20)
    ap.add_argument("--images", type=int, default=200)
    ap.add_argument("--procs", type=int, nargs="+", default=[1, 2], help="qextract and qocr processes")
    ap.add_argument("--rounds", type=int, default=2, help="runs of each case, in turn")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="dva-bench-scaling-"))
    started = _load()
    t0 = time.perf_counter()
    seconds = round(args.minutes * 60)
    video = make_counter_video(work / "scaling.mp4", seconds=seconds, size="640x360", change_s=5)
    folder = make_folder(work / "folder", args.images)
    generated = round(time.perf_counter() - t0, 2)
    cases = [
        (media, target, items, x, o, None)
        for media, target, items in (("video", video, 1), ("folder", folder, args.images))
        for o in args.procs
        for x in args.procs
    ]
    cases += [("folder", folder, args.images, 1, o, 1) for o in args.procs]
    # rounds in turn, every other one backwards: a load that grows or falls during the bench (other
    # sessions' work) weighs on every case alike
    order = [c for r in range(args.rounds) for c in (cases if r % 2 == 0 else cases[::-1])]
    runs = [one_run(media, target, items, work, x, o, batch) for media, target, items, x, o, batch in order]
    result = {
        "video": {"seconds": seconds, "size": "640x360", "sample_fps": 1, "bytes": video.stat().st_size},
        "folder": {"images": args.images, "sizes": ["640x360", *(f"{w}x{h}" for w, h in OTHER_SIZES)]},
        "generate_s": generated,
        "rounds": args.rounds,
        "summary": summary(runs),
        "runs": runs,
        "engine": engine_batching(folder, min(48, args.images)),
        "cpu_count": os.cpu_count(),
        "load_average_before": started,
        "load_average_after": _load(),
        "machine": platform.machine(),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    return 0 if all(r["statuses"] == {"done": r["items"]} for r in runs) else 1


if __name__ == "__main__":
    sys.exit(main())
