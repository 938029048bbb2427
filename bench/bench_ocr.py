"""Benchmark our OcrEngine against RapidOCR's own pipeline on generated 720p scene-like images.

    python bench/bench_ocr.py --out results.json [--images N] [--rounds R] [--distractors N] [--crops M]

Both engines load their models and warm up before timing, then read the same JPEG files in the same
process, in alternating rounds. Ours goes through ``OcrEngine.batch`` like ``manage.py ocr`` does.
Word recall: rendered words (case-insensitive, edge punctuation stripped) found among the words of
the returned text, as a multiset.

The same run also scores both engines, with their defaults, as bag of words (``bench/ocr_sets.py``;
micro precision, recall and F1 over images of case-insensitive alphanumeric words, multisets) on three
sets: the timed scene set above (``scenes``); ``--distractors`` generated scenes with brick, fences,
foliage, blinds and scribbles and some signs at an angle or blurred (``distractors``, read once, the
order alternating); and ``--crops`` single-word crops 16-40 px high read by each recogniser alone, no
detection (``crops``: ours ``OcrEngine.read_lines`` like ``manage.py ocr --rec-only``, RapidOCR
``RapidOCR()(img, use_det=False, use_cls=False, use_rec=True)``), scored as word accuracy and bag of words.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests"), str(ROOT / "bench")]

import ocr_sets  # noqa: E402
import textgen  # noqa: E402

from dva_ocr.evaluation.metrics import word_bag  # noqa: E402
from dva_ocr.filters import MIN_LINE_CONFIDENCE  # noqa: E402  (what ingested items keep by default)
from dva_ocr.ocr import OcrEngine  # noqa: E402
from dva_ocr.ocr.spec import MODEL_NAME, DetParams, RecParams, bundled_model  # noqa: E402

CROP_CHUNK = 50  # crops per read_lines call, and per turn of the alternating order


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
    ap.add_argument("--distractors", type=int, default=60, help="distractor scenes to score (0: none)")
    ap.add_argument("--crops", type=int, default=400, help="word crops to score (0: none)")
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
            rec_params=dataclasses.replace(
                bundled_model(MODEL_NAME).rec, batch_size=args.rec_batch, min_width=args.rec_min_width
            ),
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
        engines = {"ours": ours, "rapidocr": rapid} if rapid is not None else {"ours": ours}
        distractors = (
            _distractor_run(
                engines, ocr_sets.save_distractor_set(Path(tmp) / "distractors", args.distractors)
            )
            if args.distractors > 0
            else None
        )
    crops = _crop_run(engines, ocr_sets.crop_set(args.crops)) if args.crops > 0 else None

    def figures(name: str) -> dict[str, Any]:
        runs = len(paths) * args.rounds
        return {
            "images_per_s": round(runs / times[name], 3),
            "seconds_per_image": round(times[name] / runs, 4),
            "word_recall": round(_recall(truths, texts[name]), 4),
            "scenes": ocr_sets.bow_scores(truths, texts[name]),
        }

    out: dict = {"ours": figures("ours")}
    out["ours"]["word_recall_raw_text"] = round(_recall(truths, texts["ours_raw"]), 4)
    if rapid is not None:
        out["rapidocr"] = figures("rapidocr")
        out["speedup"] = round(out["ours"]["images_per_s"] / out["rapidocr"]["images_per_s"], 3)
    for name in engines:
        if distractors is not None:
            out[name]["distractors"] = distractors["engines"][name]
        if crops is not None:
            out[name]["crops"] = crops["engines"][name]
    if multi is not None:
        out["ours_multiprocess"] = {
            "workers": args.workers,
            "threads_each": 1,
            "images_per_s": round(multi, 3),
        }
    out.update(
        images=len(paths),
        rounds=args.rounds,
        scenes={
            "set": "textgen.save_scene_set: the timed images, seeds 0..images-1, JPEG q92",
            "truth_words": sum(word_bag(t).total() for t in truths),
        },
        timing="total over rounds, image by image interleaved, models loaded and warmed up",
        cpu_threads=os.cpu_count(),
        ours_threads=args.threads,
        ours_params=ours.model_spec.describe()["params"],
        machine=f"{platform.machine()} {platform.processor() or ''}".strip(),
        python=platform.python_version(),
    )
    if distractors is not None:
        out["distractors"] = distractors["about"]
    if crops is not None:
        out["crops"] = crops["about"]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(out, indent=2) + "\n")
    _print_table(out, list(engines))
    return 0


def _distractor_run(engines: dict, items: list[tuple[Path, list[str]]]) -> dict:
    """Each distractor scene read once by each engine, who goes first alternating image by image."""
    times = dict.fromkeys(engines, 0.0)
    read: dict[str, list[list[tuple[str, float]]]] = {name: [] for name in engines}
    for i, (path, _) in enumerate(items):
        for name in list(engines) if i % 2 == 0 else list(engines)[::-1]:
            t0 = time.perf_counter()
            if name == "ours":
                lines = [(r.text, r.confidence) for r in engines[name].batch([path])[0]]
            else:
                lines = [(line[1], float(line[2])) for line in engines[name](str(path))[0] or []]
            times[name] += time.perf_counter() - t0
            read[name].append(lines)
    truths = [lines for _, lines in items]
    out: dict[str, dict[str, Any]] = {}
    for name in engines:
        texts = [[t for t, _ in lines] for lines in read[name]]
        out[name] = ocr_sets.bow_scores(truths, texts)
        kept = [[t for t, c in lines if c >= MIN_LINE_CONFIDENCE] for lines in read[name]]
        out[name][f"at_min_conf_{MIN_LINE_CONFIDENCE}"] = ocr_sets.bow_scores(truths, kept)
        out[name]["images_per_s"] = round(len(items) / times[name], 3)
    seeds = [int(p.stem.rsplit("_", 1)[1]) for p, _ in items]
    about = {
        "images": len(items),
        "set": f"textgen.distractor_scene seeds {seeds[0]}-{seeds[-1]}, JPEG q{ocr_sets.DISTRACTOR_QUALITY}",
        "without_text": sum(not lines for lines in truths),
        "truth_words": sum(word_bag(t).total() for t in truths),
        "read": "once each, image by image, who goes first alternating",
        f"at_min_conf_{MIN_LINE_CONFIDENCE}": "lines under the ingest default line confidence dropped",
    }
    return {"engines": out, "about": about}


def _crop_run(engines: dict, crops: list) -> dict:
    """Every crop read as one line by each recogniser alone, CROP_CHUNK crops at a time, who goes first
    alternating by chunk. Ours: ``read_lines`` on the chunk (batched by width inside); RapidOCR: its
    recognition-only call, one crop at a time (its public call takes one image)."""
    images = [img for img, _, _ in crops]
    for name, engine in engines.items():  # warm-up
        if name == "ours":
            engine.read_lines(images[:1])
        else:
            engine(images[0], use_det=False, use_cls=False, use_rec=True)
    times = dict.fromkeys(engines, 0.0)
    texts: dict[str, list[str]] = {name: [] for name in engines}
    for k, start in enumerate(range(0, len(images), CROP_CHUNK)):
        chunk = images[start : start + CROP_CHUNK]
        for name in list(engines) if k % 2 == 0 else list(engines)[::-1]:
            t0 = time.perf_counter()
            if name == "ours":
                got = [r.text for r in engines[name].read_lines(chunk)]
            else:
                got = [_rapid_line(engines[name], img) for img in chunk]
            times[name] += time.perf_counter() - t0
            texts[name].extend(got)
    words = [w for _, w, _ in crops]
    out: dict[str, dict[str, Any]] = {}
    for name in engines:
        out[name] = ocr_sets.crop_scores(words, texts[name])
        out[name]["crops_per_s"] = round(len(images) / times[name], 2)
    about = {
        "crops": len(crops),
        "seed": ocr_sets.CROP_SEED,
        "heights_px": list(ocr_sets.CROP_HEIGHTS),
        **ocr_sets.describe_crops(crops),
        "read": f"recogniser alone; ours read_lines per {CROP_CHUNK} crops, RapidOCR one crop per call",
    }
    return {"engines": out, "about": about}


def _rapid_line(rapid, img) -> str:
    result = rapid(img, use_det=False, use_cls=False, use_rec=True)[0]
    return str(result[0][0]) if result else ""


def _print_table(out: dict, names: list[str]) -> None:
    def prf(d: dict | None) -> str:
        return f"{d['precision']:.3f} / {d['recall']:.3f} / {d['f1']:.3f}" if d else "-"

    head = f"{'engine':<9} {'img/s':>6}  {'scenes P / R / F1':<23} {'distractors P / R / F1':<23}"
    print(head + " crops acc (F1)")
    for name in names:
        row = out[name]
        crops = row.get("crops")
        acc = f"{crops['word_accuracy']:.3f} ({crops['f1']:.3f})" if crops else "-"
        print(
            f"{name:<9} {row['images_per_s']:>6.2f}  {prf(row['scenes']):<23} "
            f"{prf(row.get('distractors')):<23} {acc}"
        )
    if "speedup" in out:
        print(f"speed ratio (scenes, ours / RapidOCR): {out['speedup']:.3f}x")


if __name__ == "__main__":
    raise SystemExit(main())
