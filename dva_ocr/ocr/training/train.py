"""The training loop: CTC on synthetic (and optional real) lines, validation, checkpoints, resume.

``DIR/last.pt`` is written every ``save_every`` steps, at the end, and when the run is interrupted
(Ctrl-C); ``DIR/best.pt`` whenever the held-out synthetic accuracy improves; ``DIR/metrics.jsonl`` gets
one line per validation. Running again with the same ``DIR`` resumes from ``last.pt``: model, optimiser,
step counter and best score carry on, and the data stream continues from a new seed position.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import random
import signal
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import cv2
import torch

from dva_ocr.errors import DvaOcrError
from dva_ocr.ocr.training.crnn import (
    DEFAULT_CHARSET,
    Crnn,
    CrnnConfig,
    LabelCodec,
    build,
    count_parameters,
    describe,
)
from dva_ocr.ocr.training.data import BatchMaker, Prefetcher, RealCrops, validation_sets
from dva_ocr.ocr.training.synth import FONT_DIRS, LineRenderer, RenderOptions, TextSource, covers, find_fonts
from dva_ocr.ocr.training.validation import Score, validate_model

CHECKPOINT_FORMAT = "dva-crnn/1"
DEFAULT_MINUTES = 10.0


class TrainError(DvaOcrError, ValueError):
    """A training run cannot start as asked (bad options, an incompatible checkpoint, no fonts)."""


@dataclass
class TrainOptions:
    out: Path
    steps: int | None = None  # total steps of the run (a resumed run stops there too)
    minutes: float | None = None  # wall-clock limit of this invocation
    batch_size: int = 16
    lr: float = 1e-3
    height: int | None = None  # None: the checkpoint's, else 32
    charset: str | None = None  # None: the checkpoint's, else DEFAULT_CHARSET
    channels: tuple[int, int, int, int] | None = None
    hidden: int | None = None
    seed: int = 0
    threads: int = 0  # 0: torch's default
    real: Path | None = None
    real_ratio: float = 0.5
    max_chars: int = 32
    easy_lines: int = 6000  # the first lines of training are short and clean, fading to the full mix
    max_width: int = 800
    font_dirs: list[Path] = field(default_factory=list)
    val_size: int = 256
    val_every: int = 250
    save_every: int = 250
    log_every: int = 10
    log: TextIO = sys.stderr


@dataclass
class TrainResult:
    step: int
    steps_this_run: int
    seconds: float
    lines_per_second: float
    scores: dict[str, Score]
    best_exact: float
    last: Path
    best: Path


def _config_for(opts: TrainOptions, saved: dict[str, Any] | None) -> CrnnConfig:
    if saved is None:
        base = CrnnConfig()
        return CrnnConfig(
            charset=opts.charset if opts.charset is not None else DEFAULT_CHARSET,
            height=opts.height or base.height,
            channels=opts.channels or base.channels,
            hidden=opts.hidden or base.hidden,
        )
    cfg = CrnnConfig.from_dict(saved)
    asked = {
        "charset": opts.charset,
        "height": opts.height,
        "channels": opts.channels and tuple(opts.channels),
        "hidden": opts.hidden,
    }
    for key, value in asked.items():
        if value is not None and value != getattr(cfg, key):
            raise TrainError(
                f"{opts.out / 'last.pt'} was trained with {key}={getattr(cfg, key)!r}, not {value!r}: "
                "resume without that option, or train into another --out folder"
            )
    return cfg


def lr_factor(step: int, progress: float, warmup: int = 30) -> float:
    """Linear warm-up over the first steps, flat, then a cosine to 5 % over the last 30 % of the budget."""
    warm = min(1.0, 0.1 + 0.9 * step / warmup)
    if progress <= 0.7:
        return warm
    t = min(1.0, (progress - 0.7) / 0.3)
    return warm * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * t)))


@contextlib.contextmanager
def _deferred_sigint() -> Iterator[None]:
    """Hold Ctrl-C while a checkpoint is written; deliver it afterwards."""
    if sys.platform == "win32" or signal.getsignal(signal.SIGINT) is None:
        yield
        return
    try:
        got: list[int] = []
        previous = signal.signal(signal.SIGINT, lambda signum, frame: got.append(signum))
    except ValueError:  # not the main thread
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
        if got:
            raise KeyboardInterrupt


def save_checkpoint(path: Path, payload: dict[str, Any]) -> None:
    """Write atomically: a crash or Ctrl-C leaves the old file or the new one, never half of one."""
    tmp = path.with_name(path.name + ".tmp")
    with _deferred_sigint():
        torch.save(payload, tmp)
        os.replace(tmp, path)


def load_checkpoint(path: Path) -> dict[str, Any]:
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - torch raises many kinds for a bad file
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise TrainError(f"{path}: not a readable train-rec checkpoint ({first[:160]})") from exc
    if not isinstance(ckpt, dict) or ckpt.get("format") != CHECKPOINT_FORMAT:
        raise TrainError(f"{path}: not a dva-ocr CRNN checkpoint (format {CHECKPOINT_FORMAT})")
    return ckpt


def _fmt_time(seconds: float) -> str:
    seconds = max(0, int(seconds))
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}h{m:02d}m" if h else f"{m}m{s:02d}s"


class Progress:
    """One status line on stderr: rewritten in place on a terminal, a line per report otherwise."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.tty = stream.isatty()
        self.width = 0

    def update(self, text: str, final: bool = False) -> None:
        if self.tty:
            pad = " " * max(0, self.width - len(text))
            self.stream.write(f"\r{text}{pad}" + ("\n" if final else ""))
            self.width = 0 if final else len(text)
        else:
            self.stream.write(text + "\n")
        self.stream.flush()

    def note(self, text: str) -> None:
        if self.tty and self.width:
            self.stream.write("\n")
            self.width = 0
        self.stream.write(text + "\n")
        self.stream.flush()


def train(opts: TrainOptions) -> TrainResult:
    if opts.steps is None and opts.minutes is None:
        opts.minutes = DEFAULT_MINUTES
    if opts.steps is not None and opts.steps < 1:
        raise TrainError(f"--steps must be >= 1, got {opts.steps}")
    if opts.minutes is not None and opts.minutes <= 0:
        raise TrainError(f"--minutes must be > 0, got {opts.minutes}")
    if opts.batch_size < 1:
        raise TrainError(f"--batch-size must be >= 1, got {opts.batch_size}")
    if not 0.0 <= opts.real_ratio <= 1.0:
        raise TrainError(f"--real-ratio must be within 0..1, got {opts.real_ratio}")
    if opts.threads:
        torch.set_num_threads(opts.threads)
    cv2.setNumThreads(1)
    out = opts.out
    out.mkdir(parents=True, exist_ok=True)
    last_path, best_path = out / "last.pt", out / "best.pt"
    progress = Progress(opts.log)

    ckpt = load_checkpoint(last_path) if last_path.exists() else None
    try:
        cfg = _config_for(opts, ckpt["config"] if ckpt else None)
    except ValueError as exc:
        raise TrainError(str(exc)) from exc
    codec = LabelCodec(cfg)
    fonts = [f for f in find_fonts(opts.font_dirs or FONT_DIRS) if covers(f, cfg.charset)]
    if not fonts:
        raise TrainError("no installed font draws every character of the character set (see fc-list)")
    texts = TextSource(cfg.charset, max_chars=opts.max_chars)
    renderer = LineRenderer(fonts, RenderOptions())
    try:
        real = RealCrops(opts.real, codec) if opts.real else None
    except (OSError, ValueError) as exc:
        raise TrainError(f"--real {opts.real}: {exc}") from exc

    torch.manual_seed(opts.seed)
    model = build(cfg, ckpt["model"] if ckpt else None)
    model = model.to(memory_format=torch.channels_last)  # type: ignore[call-overload]  # torch's stubs lack it
    optimiser = torch.optim.AdamW(model.parameters(), lr=opts.lr, weight_decay=1e-4)
    if ckpt:
        optimiser.load_state_dict(ckpt["optimizer"])
    step = int(ckpt["step"]) if ckpt else 0
    best_exact = float(ckpt.get("best_exact", -1.0)) if ckpt else -1.0
    lines_total = int(ckpt.get("lines", 0)) if ckpt else 0
    seconds_total = float(ckpt.get("seconds", 0.0)) if ckpt else 0.0
    if opts.steps is not None and step >= opts.steps:
        progress.note(f"{last_path} is already at step {step} (>= --steps {opts.steps}); nothing to do")

    what = f"resuming from step {step}" if ckpt else "new run"
    progress.note(
        f"train-rec: {what}; {describe(cfg)}, {count_parameters(model) / 1e6:.2f} M parameters; "
        f"{len(fonts)} fonts; {len(cfg.charset)} characters"
        + (f"; {len(real)} real crops ({real.skipped} left out: characters not in the set)" if real else "")
    )
    maker = BatchMaker(
        codec=codec,
        renderer=renderer,
        texts=texts,
        height=cfg.height,
        max_width=opts.max_width,
        batch_size=opts.batch_size,
        real=real,
        real_ratio=opts.real_ratio,
    )
    # held-out lines from the first invocation's seed, so scores stay comparable across resumes
    val_seed = int(ckpt.get("seed", opts.seed)) if ckpt else opts.seed
    val = validation_sets(texts, renderer, opts.val_size, val_seed)
    ctc = torch.nn.CTCLoss(blank=0, reduction="mean", zero_infinity=True)
    rng = random.Random(f"{opts.seed}:{step}")  # a resumed run sees new data

    start = time.monotonic()
    deadline = start + opts.minutes * 60 if opts.minutes is not None else None
    start_step = step
    run_lines = 0
    loss_avg: float | None = None
    scores: dict[str, Score] = {}
    rate_window: list[tuple[float, int]] = [(start, 0)]

    def budget_progress() -> float:
        p = 0.0
        if opts.steps is not None:
            p = max(p, step / opts.steps)
        if deadline is not None:
            p = max(p, (time.monotonic() - start) / (deadline - start))
        return p

    def done() -> bool:
        return (opts.steps is not None and step >= opts.steps) or (
            deadline is not None and time.monotonic() >= deadline
        )

    def payload(with_optimizer: bool) -> dict[str, Any]:
        data: dict[str, Any] = {
            "format": CHECKPOINT_FORMAT,
            "config": cfg.to_dict(),
            "model": {k: v.contiguous() for k, v in model.state_dict().items()},
            "step": step,
            "lines": lines_total + run_lines,
            "seconds": seconds_total + time.monotonic() - start,
            "best_exact": best_exact,
            "scores": {k: v.as_dict() for k, v in scores.items()},
            "seed": val_seed,
        }
        if with_optimizer:
            data["optimizer"] = optimiser.state_dict()
        return data

    val_step = -1  # the step of the last validation

    def validate() -> None:
        nonlocal best_exact, val_step
        val_step = step
        t0 = time.monotonic()
        for name, samples in val.items():
            scores[name] = validate_model(model, samples)
        record = {"step": step, "loss": loss_avg, **{k: v.as_dict() for k, v in scores.items()}}
        with open(out / "metrics.jsonl", "a", encoding="utf-8") as fh:
            fh.write(json.dumps(record) + "\n")
        improved = scores["synth"].exact > best_exact
        if improved:
            best_exact = scores["synth"].exact
            save_checkpoint(best_path, payload(with_optimizer=False))
        progress.note(
            f"validation at step {step}: synthetic {scores['synth'].exact:.1%} exact "
            f"({scores['synth'].chars:.1%} chars), clean {scores['clean'].exact:.1%} exact "
            f"({scores['clean'].chars:.1%} chars){' - new best' if improved else ''} "
            f"[{time.monotonic() - t0:.1f}s]"
        )

    def report() -> None:
        now = time.monotonic()
        rate_window.append((now, run_lines))
        del rate_window[:-20]
        (t_a, n_a), (t_b, n_b) = rate_window[0], rate_window[-1]
        lps = (n_b - n_a) / max(1e-6, t_b - t_a)
        eta = []
        if opts.steps is not None and lps > 0:
            eta.append((opts.steps - step) * opts.batch_size / lps)
        if deadline is not None:
            eta.append(deadline - now)
        val_txt = f"val {scores['synth'].exact:.1%}" if scores else "val -"
        progress.update(
            f"step {step}{'/' + str(opts.steps) if opts.steps else ''}  loss {loss_avg:.3f}  {val_txt} "
            f"(best {max(best_exact, 0):.1%})  lr {optimiser.param_groups[0]['lr']:.1e}  "
            f"{lps:.0f} lines/s  ETA {_fmt_time(min(eta)) if eta else '-'}"
        )

    model.train()
    batches = Prefetcher(maker, rng, lines_total, opts.easy_lines)
    try:
        for batch in batches:
            if done():
                break
            for group in optimiser.param_groups:
                group["lr"] = opts.lr * lr_factor(step, budget_progress())
            x = batch.x.contiguous(memory_format=torch.channels_last)
            log_probs = model(x).log_softmax(-1).permute(1, 0, 2)  # T, N, C
            loss = ctc(log_probs, batch.targets, batch.input_lengths, batch.target_lengths)
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
            optimiser.step()
            step += 1
            run_lines += len(batch.texts)
            value = float(loss.detach())
            loss_avg = value if loss_avg is None else 0.95 * loss_avg + 0.05 * value
            if step % opts.log_every == 0:
                report()
            if step % opts.val_every == 0:
                validate()
            if step % opts.save_every == 0:
                save_checkpoint(last_path, payload(with_optimizer=True))
        if val_step != step:
            validate()
        save_checkpoint(last_path, payload(with_optimizer=True))
    except KeyboardInterrupt:
        save_checkpoint(last_path, payload(with_optimizer=True))
        progress.note(f"interrupted at step {step}: {last_path} saved; the same --out resumes from there")
        raise
    except Exception:
        if step > start_step:  # keep what this run learnt before the failure
            save_checkpoint(last_path, payload(with_optimizer=True))
        raise
    finally:
        batches.close()
    seconds = time.monotonic() - start
    return TrainResult(
        step=step,
        steps_this_run=step - start_step,
        seconds=seconds,
        lines_per_second=run_lines / max(seconds, 1e-6),
        scores=scores,
        best_exact=best_exact,
        last=last_path,
        best=best_path,
    )


def load_model(path: Path) -> tuple[Crnn, dict[str, Any]]:
    """The model of a checkpoint (eval mode) and the checkpoint itself."""
    ckpt = load_checkpoint(path)
    model = build(ckpt["config"], ckpt["model"])
    model.eval()
    return model, ckpt
