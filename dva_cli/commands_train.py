"""``train-rec`` and ``export-rec``: train a CRNN recogniser, export it to ONNX.

``train-rec --out DIR`` trains on synthetic lines (PIL, the machine's fonts) and optionally real crops;
progress goes to stderr, checkpoints to DIR (``last.pt``, ``best.pt``), and the same DIR resumes.
``export-rec CHECKPOINT --onnx FILE`` writes a model that ``TextRecognizer`` runs unchanged.
torch is imported inside the commands: ``./manage.py --help`` must not pay for it.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def _channels(text: str) -> tuple[int, int, int, int]:
    parts = [int(p) for p in text.split(",")]
    if len(parts) != 4 or min(parts) < 1:
        raise argparse.ArgumentTypeError(f"expected four positive comma-separated numbers, got {text!r}")
    return parts[0], parts[1], parts[2], parts[3]


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "train-rec",
        help="train a CRNN text-line recogniser (PyTorch, CTC) on synthetic and optional real lines",
        description=(
            "Train a CRNN (conv backbone + BiLSTM + CTC) on text lines rendered from the installed fonts. "
            "Stops after --steps total steps or --minutes of this run (default: 10 minutes), whichever "
            "comes first. DIR gets last.pt (every --save-every steps, at the end, on Ctrl-C), best.pt "
            "(best held-out synthetic accuracy) and metrics.jsonl; running again with the same --out "
            "resumes from last.pt."
        ),
    )
    p.add_argument("--out", type=Path, required=True, metavar="DIR", help="checkpoint folder (resumed)")
    p.add_argument("--steps", type=_positive_int, help="stop at this total step count")
    p.add_argument("--minutes", type=float, help="stop after this many minutes of this run")
    p.add_argument("--batch-size", type=_positive_int, default=16, help="lines per step (default 16)")
    p.add_argument("--lr", type=float, default=1e-3, help="peak AdamW learning rate (default 1e-3)")
    p.add_argument("--height", type=int, help="model input height, a multiple of 16 (default 32)")
    p.add_argument(
        "--charset",
        help="characters the model reads, without space (always a class); default: digits, ASCII "
        "letters and .,:;!?'\"()-/&%%$#@+*=",
    )
    p.add_argument("--channels", type=_channels, help="backbone widths c1,c2,c3,c4 (default 16,32,64,128)")
    p.add_argument("--hidden", type=_positive_int, help="BiLSTM hidden size per direction (default 96)")
    p.add_argument("--seed", type=int, default=0, help="seed of the data stream and the validation sets")
    p.add_argument("--threads", type=int, default=0, help="torch CPU threads (default: all cores)")
    p.add_argument(
        "--real",
        type=Path,
        metavar="PATH",
        help="real labelled crops: a file of 'image<TAB>text' lines (paths relative to it) or a folder "
        "holding labels.tsv, labels.txt or gt.txt",
    )
    p.add_argument("--real-ratio", type=float, default=0.5, help="share of real crops per batch (0.5)")
    p.add_argument("--max-chars", type=_positive_int, default=32, help="longest synthetic line (32)")
    p.add_argument("--easy-lines", type=int, default=6000, help="first lines of a run: shorter, cleaner")
    p.add_argument("--fonts", type=Path, action="append", metavar="DIR", help="font folder (repeatable)")
    p.add_argument("--val-size", type=_positive_int, default=256, help="lines per validation set (256)")
    p.add_argument("--val-every", type=_positive_int, default=250, help="validate every N steps (250)")
    p.add_argument("--save-every", type=_positive_int, default=250, help="write last.pt every N steps")
    p.add_argument("--json", action="store_true", help="print the final summary as JSON on stdout")
    p.set_defaults(func=run_train)

    e = sub.add_parser(
        "export-rec",
        help="export a train-rec checkpoint to ONNX for the recogniser (and OpenCV DNN)",
        description=(
            "Write an ONNX model with the character set in its metadata. Input float32 N x 3 x H x W "
            "(BGR, (x/255-0.5)/0.5, right-padded with 0), output N x T x C softmax (class 0 blank, "
            "1..K the 'character' metadata lines, K+1 space); dva_ocr's TextRecognizer runs it as is. "
            "The file is checked against PyTorch (onnxruntime) and OpenCV DNN."
        ),
    )
    e.add_argument("checkpoint", type=Path, metavar="CHECKPOINT", help="last.pt or best.pt of train-rec")
    e.add_argument("--onnx", type=Path, required=True, metavar="FILE", help="ONNX file to write")
    e.add_argument(
        "--opencv-layout",
        action="store_true",
        help="output T x N x C instead, the layout cv2.dnn_TextRecognitionModel decodes "
        "(not for TextRecognizer)",
    )
    e.add_argument("--json", action="store_true", help="print the summary as JSON on stdout")
    e.set_defaults(func=run_export)


def run_train(args: argparse.Namespace) -> int:
    # Spinning OpenMP threads collapse when another process shares the cores; yielding ones do not.
    # (Read by libgomp when torch loads, so it is set before the import.)
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    from dva_ocr.ocr.training.train import TrainError, TrainOptions, train

    opts = TrainOptions(
        out=args.out,
        steps=args.steps,
        minutes=args.minutes,
        batch_size=args.batch_size,
        lr=args.lr,
        height=args.height,
        charset=args.charset,
        channels=args.channels,
        hidden=args.hidden,
        seed=args.seed,
        threads=args.threads,
        real=args.real,
        real_ratio=args.real_ratio,
        max_chars=args.max_chars,
        easy_lines=args.easy_lines,
        font_dirs=args.fonts or [],
        val_size=args.val_size,
        val_every=args.val_every,
        save_every=args.save_every,
    )
    try:
        result = train(opts)
    except (TrainError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    summary = {
        "step": result.step,
        "steps_this_run": result.steps_this_run,
        "seconds": round(result.seconds, 1),
        "lines_per_second": round(result.lines_per_second, 1),
        "validation": {k: v.as_dict() for k, v in result.scores.items()},
        "best_synth_exact": round(result.best_exact, 4),
        "last": str(result.last),
        "best": str(result.best),
    }
    if args.json:
        print(json.dumps(summary))
    else:
        val = result.scores
        print(
            f"step {result.step} ({result.steps_this_run} this run, {result.seconds:.0f} s, "
            f"{result.lines_per_second:.0f} lines/s); held-out synthetic {val['synth'].exact:.1%} exact "
            f"({val['synth'].chars:.1%} chars), clean {val['clean'].exact:.1%} exact "
            f"({val['clean'].chars:.1%} chars); checkpoints: {result.last}, {result.best}"
        )
    return 0


def run_export(args: argparse.Namespace) -> int:
    from dva_ocr.ocr.training.export import ExportError, compare_with_opencv, export_onnx
    from dva_ocr.ocr.training.train import TrainError

    if not args.checkpoint.is_file():
        print(f"error: {args.checkpoint} does not exist", file=sys.stderr)
        return 2
    try:
        result = export_onnx(args.checkpoint, args.onnx, opencv_layout=args.opencv_layout)
        height = int(result.metadata["rec_height"])
        cv_diff = compare_with_opencv(result.path, height)
    except TrainError as exc:  # not a readable checkpoint
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except ExportError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    summary = {
        "onnx": str(result.path),
        "rec_height": height,
        "characters": len(result.metadata["character"].splitlines()),
        "output_layout": result.metadata["output_layout"],
        "architecture": result.metadata["architecture"],
        "training_steps": int(result.metadata["training_steps"]),
        "max_abs_diff_onnxruntime_vs_torch": result.max_abs_diff,
        "max_abs_diff_opencv_vs_onnxruntime": cv_diff,
    }
    if args.json:
        print(json.dumps(summary))
    else:
        print(
            f"wrote {result.path} ({summary['architecture']}, {summary['characters']} characters + space, "
            f"layout {summary['output_layout']}, step {summary['training_steps']}); max |diff| "
            f"onnxruntime vs PyTorch {result.max_abs_diff:.1e}, OpenCV DNN vs onnxruntime {cv_diff:.1e}"
        )
    return 0
