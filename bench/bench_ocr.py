"""Benchmark our OcrEngine against RapidOCR's own pipeline on generated 720p scene-like images.

    python bench/bench_ocr.py --out results.json [--images N] [--rounds R]

Both engines load their models and warm up before timing, then read the same JPEG files in the same
process, in alternating rounds. Ours goes through ``OcrEngine.batch`` like ``manage.py ocr`` does.
Word recall: rendered words (case-insensitive, edge punctuation stripped) found among the words of
the returned text, as a multiset.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

import textgen  # noqa: E402

from dva_ocr.ocr import OcrEngine  # noqa: E402
from dva_ocr.ocr.spec import DetParams, RecParams  # noqa: E402


def _recall(truths: list[list[str]], texts: list[list[str]]) -> float:
    matched = total = 0
    for truth, found in zip(truths, texts, strict=True):
        m, n = textgen.word_recall(truth, found)
        matched += m
        total += n
    return matched / total if total else 1.0


def _worker(paths: list[Path], barrier, results) -> None:
    engine = OcrEngine(threads=1)
    engine(paths[0])
    barrier.wait()
    engine.batch(paths)
    results.put(len(paths))


def _multiprocess_rate(paths: list[Path], workers: int) -> float:
    """Images/s with ``workers`` processes, each with its own engine and one thread, sharing the images."""
    import multiprocessing

    ctx = multiprocessing.get_context("spawn")
    barrier, results = ctx.Barrier(workers + 1), ctx.Queue()
    procs = [ctx.Process(target=_worker, args=(paths[i::workers], barrier, results)) for i in range(workers)]
    for proc in procs:
        proc.start()
    barrier.wait()  # every worker has loaded and warmed up its models
    t0 = time.perf_counter()
    done = sum(results.get() for _ in procs)
    elapsed = time.perf_counter() - t0
    for proc in procs:
        proc.join()
    return done / elapsed


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, required=True, help="JSON results file")
    ap.add_argument("--images", type=int, default=24)
    ap.add_argument("--rounds", type=int, default=2, help="timed passes over the images")
    ap.add_argument("--threads", type=int, default=0, help="our onnxruntime intra-op threads (0 = default)")
    ap.add_argument("--det-max-side", type=int, default=DetParams.max_side)
    ap.add_argument(
        "--det-batch", type=int, default=DetParams.batch_size, help="same-size images per det run"
    )
    ap.add_argument("--rec-batch", type=int, default=RecParams.batch_size)
    ap.add_argument("--rec-min-width", type=int, default=RecParams.min_width)
    ap.add_argument("--angle-cls", action="store_true", help="run our angle classifier too")
    ap.add_argument("--no-rapidocr", action="store_true", help="time only our engine")
    ap.add_argument(
        "--workers",
        type=int,
        default=0,
        help="also time ours in N processes with 1 onnxruntime thread each (reported apart, not the default)",
    )
    args = ap.parse_args(argv)

    from rapidocr_onnxruntime import RapidOCR

    with tempfile.TemporaryDirectory(prefix="bench_ocr_") as tmp:
        items = textgen.save_scene_set(Path(tmp), args.images)
        paths = [p for p, _ in items]
        truths = [[text for text, _ in truth] for _, truth in items]

        ours = OcrEngine(
            threads=args.threads,
            use_angle_cls=args.angle_cls,
            det_params=DetParams(max_side=args.det_max_side, batch_size=args.det_batch),
            rec_params=RecParams(batch_size=args.rec_batch, min_width=args.rec_min_width),
        )
        rapid = None if args.no_rapidocr else RapidOCR()
        ours(paths[0])  # warm-up: first runs allocate and pick kernels
        if rapid is not None:
            rapid(str(paths[0]))

        # Interleaved image by image (who goes first alternates), so that load from other processes
        # on the machine falls on both engines alike. Ours runs through OcrEngine.batch, one image per
        # call here (what a worker does with one frame); results do not depend on batch composition.
        times = {"ours": 0.0, "rapidocr": 0.0}
        texts: dict[str, list[list[str]]] = {"ours": [], "ours_raw": [], "rapidocr": []}
        for rnd in range(args.rounds):
            for i, path in enumerate(paths):
                for name in ("ours", "rapidocr") if (i + rnd) % 2 == 0 else ("rapidocr", "ours"):
                    if name == "rapidocr" and rapid is None:
                        continue
                    t0 = time.perf_counter()
                    if name == "ours":
                        regions = ours.batch([path])[0]
                    else:
                        result = rapid(str(path))[0] or []
                    times[name] += time.perf_counter() - t0
                    if rnd > 0:
                        continue
                    if name == "ours":
                        texts["ours"].append([r.text for r in regions])
                        texts["ours_raw"].append([r.raw_text for r in regions])
                    else:
                        texts["rapidocr"].append([line[1] for line in result])
        multi = _multiprocess_rate(paths, args.workers) if args.workers > 0 else None

    def figures(name: str) -> dict[str, float]:
        runs = len(paths) * args.rounds
        return {
            "images_per_s": round(runs / times[name], 3),
            "seconds_per_image": round(times[name] / runs, 4),
            "word_recall": round(_recall(truths, texts[name]), 4),
        }

    out: dict = {"ours": figures("ours")}
    out["ours"]["word_recall_raw_text"] = round(_recall(truths, texts["ours_raw"]), 4)
    if rapid is not None:
        out["rapidocr"] = figures("rapidocr")
        out["speedup"] = round(out["ours"]["images_per_s"] / out["rapidocr"]["images_per_s"], 3)
    if multi is not None:
        out["ours_multiprocess"] = {
            "workers": args.workers,
            "threads_each": 1,
            "images_per_s": round(multi, 3),
        }
    out.update(
        images=len(paths),
        rounds=args.rounds,
        timing="total over rounds, image by image interleaved, models loaded and warmed up",
        cpu_threads=os.cpu_count(),
        ours_threads=args.threads,
        ours_params=ours.model_spec.describe()["params"],
        machine=f"{platform.machine()} {platform.processor() or ''}".strip(),
        python=platform.python_version(),
    )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(out, indent=2) + "\n")
    print(json.dumps({k: out[k] for k in ("ours", "rapidocr", "speedup", "ours_multiprocess") if k in out}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
