"""``eval``: detection / bag-of-words (end-to-end) / recognition metrics of a model on labelled data."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

from dva_ocr.evaluation.datasets import LAYOUTS


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "eval",
        help="score a model on labelled images or crops (ICDAR layouts)",
        description=(
            "Score a model on labelled data. DATASET is a folder of images with one ground-truth file each "
            "(gt_img_1.txt or img_1.txt, beside the image or in a gt/ folder; lines "
            "'x1,y1,...,x4,y4,text' or 'xmin,ymin,xmax,ymax,\"text\"'; '###' = don't care), or a folder "
            "with a labels file of crops ('image<TAB>text' or 'word_1.png, \"text\"' lines), or that "
            "labels file itself. Reports detection P/R/F1 (IoU >= 0.5) and the end-to-end bag-of-words "
            "P/R/F1 (per image, the multiset of case-insensitive letters/digits-only words of the truth "
            "against that of the predictions; predictions more than half inside a don't-care region are "
            "ignored), or, for crops, recognition accuracy."
        ),
    )
    p.add_argument("dataset", type=Path, metavar="DATASET")
    p.add_argument("--model", default=None, help="model name (default: OCR_MODEL)")
    p.add_argument("--layout", choices=LAYOUTS, default="auto", help="dataset layout (default: detect it)")
    p.add_argument(
        "--limit", type=_positive, default=None, metavar="N", help="only the first N images or crops"
    )
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--threads", type=int, default=None, help="onnxruntime threads (default: OCR_THREADS)")
    p.set_defaults(func=run)


def _positive(value: str) -> int:
    n = int(value)
    if n < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return n


def run(args: argparse.Namespace) -> int:
    from dva_ocr.engines import load_engine
    from dva_ocr.evaluation import evaluate_dataset, load_dataset
    from dva_ocr.settings import get_settings

    s = get_settings()
    dataset = load_dataset(args.dataset, args.layout, args.limit)
    if not len(dataset):
        print(f"error: {args.dataset}: no images or crops to evaluate", file=sys.stderr)
        return 2
    if dataset.missing_gt:
        print(
            f"warning: {len(dataset.missing_gt)} images without a ground-truth file left out "
            f"(first: {dataset.missing_gt[0]})",
            file=sys.stderr,
        )
    engine = load_engine(
        args.model, device=s.ocr_device, threads=args.threads if args.threads is not None else s.ocr_threads
    )
    unit = "crops" if dataset.layout == "crops" else "images"
    report = {"model": engine.model_spec.name, **evaluate_dataset(engine, dataset, ProgressLine(unit))}
    for item in report["skipped"]:
        print(f"warning: skipped {item['image']}: {item['error']}", file=sys.stderr)
    if args.json:
        print(json.dumps(report, ensure_ascii=False))
    else:
        print(format_report(report))
    return 0


class ProgressLine:
    """``eval: 120/500 images (2.4/s)`` on stderr: redrawn every 2 s on a terminal, a line every 10 s
    otherwise; nothing for sets read in less time than that."""

    def __init__(self, unit: str) -> None:
        self.unit = unit
        self.tty = sys.stderr.isatty()
        self.every = 2.0 if self.tty else 10.0
        self.t0 = self.last = time.perf_counter()
        self.shown = False

    def __call__(self, done: int, total: int) -> None:
        now = time.perf_counter()
        if done < total and now - self.last < self.every:
            return
        if done == total and not self.shown:
            return
        self.last = now
        self.shown = True
        rate = done / (now - self.t0) if now > self.t0 else 0.0
        line = f"eval: {done}/{total} {self.unit} ({rate:.1f}/s)"
        end = "\n" if done == total or not self.tty else ""
        print(("\r" if self.tty else "") + line, end=end, file=sys.stderr, flush=True)


def _bag_line(label: str, b: dict[str, Any]) -> str:
    ignored = f", {b['ignored_predictions']} ignored predictions" if b["ignored_predictions"] else ""
    return (
        f"  {label:<18} {b['precision']:>9.4f} {b['recall']:>7.4f} {b['f1']:>7.4f}  "
        f"{b['tp']} correct, {b['truth']} truth words, {b['predicted']} predicted{ignored}"
    )


def format_report(r: dict[str, Any]) -> str:
    header = f"  {'':<18} {'precision':>9} {'recall':>7} {'F1':>7}"
    if r["layout"] == "crops":
        rec = r["recognition"]
        n = r["crops"]
        lines = [
            f"model {r['model']} on {r['dataset']} (crops): {n} crops, "
            f"{r['crops_per_s']:.1f} crops/s ({r['seconds']:.1f} s)",
            f"  accuracy (normalised)       {rec['accuracy']:.4f}  ({rec['correct']}/{n})",
            f"  accuracy (case-sensitive)   {rec['accuracy_case_sensitive']:.4f}  "
            f"({rec['correct_case_sensitive']}/{n})",
            f"  mean normalised edit dist.  {rec['mean_ned']:.4f}",
            header,
            _bag_line("bag-of-words", r["bag_of_words"]),
        ]
        if r["mistakes"]:
            lines.append("  misread (first ones):")
            lines += [f"    {m['image']}: {m['gt']!r} read as {m['predicted']!r}" for m in r["mistakes"]]
        return "\n".join(lines)
    det = r["detection"]
    return "\n".join(
        [
            f"model {r['model']} on {r['dataset']} ({r['layout']} layout): {r['images']} images, "
            f"{r['images_per_s']:.2f} images/s ({r['seconds']:.1f} s)",
            header,
            f"  {'detection (IoU.5)':<18} {det['precision']:>9.4f} {det['recall']:>7.4f} {det['f1']:>7.4f}  "
            f"{det['matched']} matched, {det['gt']} gt, {det['predicted']} predicted "
            f"({det['dont_care']} don't-care gt, {det['ignored']} ignored predictions)",
            _bag_line("bag-of-words (e2e)", r["bag_of_words"]),
        ]
    )
