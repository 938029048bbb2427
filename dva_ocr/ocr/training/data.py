"""Training batches with exactly the recogniser's preprocessing, real labelled crops, the validation sets.

A crop is resized to the model height keeping its aspect ratio (``recognition.target_width``), written as
(x/255 - 0.5)/0.5 (``detection.normalise_into``) and zero-padded on the right, as
:class:`~dva_ocr.ocr.recognition.TextRecognizer` does; batches are formed from crops of similar width
so padding stays short, but every crop still sees some.
"""

from __future__ import annotations

import queue
import random
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch

from dva_ocr.ocr.detection import normalise_into
from dva_ocr.ocr.recognition import target_width
from dva_ocr.ocr.spec import RecParams
from dva_ocr.ocr.training.crnn import MEAN, STD, LabelCodec, steps_for_width
from dva_ocr.ocr.training.synth import LineRenderer, TextSource

WIDTH_BUCKET = 32  # TextRecognizer pads to multiples of this
# A run starts on short clean lines (CTC finds its alignment much sooner) and fades to the full mix.
EASY_MAX_CHARS = 3


@dataclass(frozen=True)
class Sample:
    image: np.ndarray  # BGR uint8, any size
    text: str


@dataclass(frozen=True)
class Batch:
    x: torch.Tensor  # N x 3 x H x W float32
    targets: torch.Tensor  # concatenated class indices
    target_lengths: torch.Tensor
    input_lengths: torch.Tensor
    texts: list[str]


def resize_line(image: np.ndarray, height: int, max_width: int) -> np.ndarray:
    """The crop resized as TextRecognizer resizes it (height fixed, aspect kept, width capped)."""
    params = RecParams(height=height, max_width=max_width)
    w = target_width(image.shape[0], image.shape[1], params)
    return cv2.resize(image, (w, height), interpolation=cv2.INTER_LINEAR)


def collate(
    lines: Sequence[np.ndarray], codes: Sequence[list[int]], texts: list[str], extra_pad: int
) -> Batch:
    """Resized BGR lines -> normalised right-padded batch (the widest, rounded up, + ``extra_pad``)."""
    widest = max(line.shape[1] for line in lines)
    width = max(WIDTH_BUCKET, -(-widest // WIDTH_BUCKET) * WIDTH_BUCKET) + extra_pad
    height = lines[0].shape[0]
    x = np.zeros((len(lines), 3, height, width), np.float32)
    for i, line in enumerate(lines):
        normalise_into(x[i], line, MEAN, STD)
    flat = [c for code in codes for c in code]
    steps = steps_for_width(width)
    return Batch(
        x=torch.from_numpy(x),
        targets=torch.tensor(flat, dtype=torch.long),
        target_lengths=torch.tensor([len(c) for c in codes], dtype=torch.long),
        input_lengths=torch.full((len(lines),), steps, dtype=torch.long),
        texts=texts,
    )


def ctc_feasible(code: Sequence[int], steps: int) -> bool:
    """CTC needs a step per label plus a blank between repeated labels."""
    repeats = sum(1 for a, b in zip(code, code[1:], strict=False) if a == b)
    return len(code) > 0 and len(code) + repeats <= steps


def read_labels(path: Path) -> list[tuple[Path, str]]:
    """``image<TAB>text`` lines, image paths relative to the file's folder (a folder: its labels file)."""
    if path.is_dir():
        for name in ("labels.tsv", "labels.txt", "gt.txt"):
            if (path / name).is_file():
                path = path / name
                break
        else:
            raise FileNotFoundError(f"{path} is a folder without labels.tsv, labels.txt or gt.txt")
    out: list[tuple[Path, str]] = []
    with open(path, encoding="utf-8") as fh:
        for n, raw in enumerate(fh, 1):
            line = raw.rstrip("\r\n")
            if not line.strip():
                continue
            if "\t" not in line:
                raise ValueError(f"{path}:{n}: expected 'image<TAB>text', got {line[:80]!r}")
            name, text = line.split("\t", 1)
            img = (path.parent / name).resolve()
            if not img.is_file():
                raise FileNotFoundError(f"{path}:{n}: image {img} does not exist")
            if not cv2.haveImageReader(str(img)):
                raise ValueError(f"{path}:{n}: {img} is not an image OpenCV can read")
            out.append((img, text))
    return out


class RealCrops:
    """Labelled crops read from disk on demand; labels the charset cannot spell are left out (counted)."""

    def __init__(self, path: Path, codec: LabelCodec) -> None:
        entries = read_labels(path)
        self.items = [(p, " ".join(t.split())) for p, t in entries if codec.can_encode(" ".join(t.split()))]
        self.skipped = len(entries) - len(self.items)
        if not self.items:
            raise ValueError(f"{path}: none of its {len(entries)} labels fit the character set")

    def __len__(self) -> int:
        return len(self.items)

    def sample(self, rng: random.Random) -> Sample:
        path, text = self.items[rng.randrange(len(self.items))]
        img = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if img is None or img.size == 0:
            raise ValueError(f"cannot read image {path} (listed in the --real labels)")
        return Sample(img, text)


class BatchMaker:
    """Endless batches of synthetic lines (and real crops, ``real_ratio`` of them when given)."""

    def __init__(
        self,
        *,
        codec: LabelCodec,
        renderer: LineRenderer,
        texts: TextSource,
        height: int,
        max_width: int,
        batch_size: int,
        real: RealCrops | None = None,
        real_ratio: float = 0.0,
        pool_batches: int = 4,
    ) -> None:
        self.codec = codec
        self.renderer = renderer
        self.texts = texts
        self.height = height
        self.max_width = max_width
        self.batch_size = batch_size
        self.real = real
        self.real_ratio = real_ratio if real is not None else 0.0
        self.pool_batches = pool_batches

    def sample(self, rng: random.Random, easy: float = 0.0) -> Sample:
        """One line; ``easy`` (1 -> 0 over the first lines of training) makes it shorter and cleaner."""
        if self.real is not None and rng.random() < self.real_ratio:
            return self.real.sample(rng)
        full, ratio = self.texts.max_chars, self.renderer.opt.clean_ratio
        text = self.texts(rng, round(full + (min(EASY_MAX_CHARS, full) - full) * easy))
        clean = rng.random() < ratio + (1.0 - ratio) * easy
        return Sample(self.renderer.render(text, rng, clean=clean), text)

    def batches(self, rng: random.Random, easy: float = 0.0) -> list[Batch]:
        """``pool_batches`` batches from one pool of samples sorted by width (little padding)."""
        pool: list[tuple[np.ndarray, list[int], str]] = []
        rejected = 0
        while len(pool) < self.batch_size * self.pool_batches:
            s = self.sample(rng, easy)
            line = resize_line(s.image, self.height, self.max_width)
            code = self.codec.encode(s.text)
            if ctc_feasible(code, steps_for_width(line.shape[1])):
                pool.append((line, code, s.text))
                rejected = 0
            elif (rejected := rejected + 1) > 1000:
                raise ValueError(
                    f"1000 lines in a row too narrow for their labels (last: {s.text!r}, {s.image.shape}): "
                    "crops must be wide enough for one time step per character"
                )
        pool.sort(key=lambda item: item[0].shape[1])
        out = []
        for i in range(0, len(pool), self.batch_size):
            chunk = pool[i : i + self.batch_size]
            extra = 0 if rng.random() < 0.7 else WIDTH_BUCKET * rng.randint(1, 3)
            out.append(collate([c[0] for c in chunk], [c[1] for c in chunk], [c[2] for c in chunk], extra))
        rng.shuffle(out)
        return out


class Prefetcher:
    """Makes batches in a background thread while the main thread trains (PIL, OpenCV and torch
    release the GIL for most of their work, and the LSTM leaves a core idle much of the time).

    The batch order is a pure function of ``rng``: thread timing changes nothing but speed.
    """

    def __init__(
        self, maker: BatchMaker, rng: random.Random, lines_before: int, easy_lines: int, depth: int = 2
    ) -> None:
        self.maker = maker
        self.rng = rng
        self.lines = lines_before
        self.easy_lines = easy_lines
        self.queue: queue.Queue[list[Batch] | BaseException] = queue.Queue(maxsize=depth)
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, name="batch-prefetch", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        try:
            while not self.stop.is_set():
                easy = max(0.0, 1.0 - self.lines / self.easy_lines) if self.easy_lines > 0 else 0.0
                batches = self.maker.batches(self.rng, easy)
                self.lines += sum(len(b.texts) for b in batches)
                while not self.stop.is_set():
                    try:
                        self.queue.put(batches, timeout=0.2)
                        break
                    except queue.Full:
                        continue
        except BaseException as exc:  # handed to the consumer, raised there
            self.queue.put(exc)

    def __iter__(self) -> Iterator[Batch]:
        while True:
            item = self.queue.get()
            if isinstance(item, BaseException):
                raise item
            yield from item

    def close(self) -> None:
        self.stop.set()
        self.thread.join(timeout=5)


def fixed_set(make: Callable[[random.Random], Sample], n: int, seed: int) -> list[Sample]:
    rng = random.Random(seed)
    return [make(rng) for _ in range(n)]


def validation_sets(texts: TextSource, renderer: LineRenderer, n: int, seed: int) -> dict[str, list[Sample]]:
    """Held-out lines, the same for a given seed: ``synth`` (training distribution) and ``clean`` print."""

    def noisy(rng: random.Random) -> Sample:
        t = texts(rng)
        return Sample(renderer.render(t, rng), t)

    def clean(rng: random.Random) -> Sample:
        t = texts(rng)
        return Sample(renderer.render(t, rng, clean=True), t)

    # integer seeds: never equal to the training streams' string seeds ("seed:step")
    return {"synth": fixed_set(noisy, n, seed + 7_777_777), "clean": fixed_set(clean, n, seed + 8_888_888)}
