"""CTC text-line recognition: height-48 crops batched by aspect ratio, greedy decoding with positions."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from dva_ocr.ocr.detection import normalise_into
from dva_ocr.ocr.runtime import Session
from dva_ocr.ocr.spec import RecParams

BLANK = 0


@dataclass(frozen=True)
class RecResult:
    text: str
    confidence: float  # mean of the kept characters' probabilities (0.0 when empty)
    char_confidences: tuple[float, ...]
    char_positions: tuple[int, ...]  # CTC time step of each character (8 px of the 48-high crop)
    steps: int  # time steps covering the crop itself (padding excluded)
    space_probs: tuple[float, ...]  # per gap between consecutive characters: max P(space) inside it


EMPTY = RecResult("", 0.0, (), (), 0, ())


class MissingDictionary(ValueError):
    """A recogniser with no character list: no ``character`` metadata and no dictionary file."""


def dictionary_lines(text: str) -> list[str]:
    """The characters of a PP-OCR dictionary, one per line, read as PaddleOCR reads them: lines end at
    ``\n`` only (``\r\n`` tolerated), nothing else is stripped, so a line may be a whitespace
    character (PP-OCRv5's first one is U+3000); a final newline ends the last line."""
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return [line[:-1] if line.endswith("\r") else line for line in lines]


def read_dictionary(path: str | Path) -> list[str]:
    """The lines of a dictionary text file (UTF-8, a BOM ignored), e.g. PP-OCRv5's ``ppocrv5_dict.txt``."""
    lines = dictionary_lines(Path(path).read_text(encoding="utf-8-sig"))
    if not lines:
        raise ValueError(f"dictionary file {path} has no characters")
    return lines


def charset_from_lines(lines: Sequence[str]) -> list[str]:
    """Class list of a PP-OCR CTC recogniser: blank, the dictionary lines, then space."""
    return ["", *lines, " "]


def charset_from_metadata(metadata: dict[str, str]) -> list[str]:
    """Class list of the PP-OCR recogniser from its ``character`` metadata: blank, lines, space."""
    if "character" not in metadata:
        raise MissingDictionary(
            "recognition model has no 'character' metadata (its character list) and no dictionary "
            "file was given (not a PP-OCR rec model? PP-OCRv5 ships its dictionary as a text file)"
        )
    return charset_from_lines(dictionary_lines(metadata["character"]))


def ctc_decode(probs: np.ndarray, charset: Sequence[str], steps: int | None = None) -> RecResult:
    """Greedy CTC over one T x C probability matrix: collapse repeats, drop blanks and the spaces at
    either end."""
    if steps is not None:
        probs = probs[: max(1, steps)]
    idx = probs.argmax(axis=1)
    best = probs[np.arange(len(idx)), idx]
    keep = idx != BLANK
    keep[1:] &= idx[1:] != idx[:-1]
    pos = np.flatnonzero(keep)
    space = len(charset) - 1
    # A recogniser that emits word spaces (PP-OCRv5) also "reads" the margins of a crop as spaces.
    lo, hi = 0, len(pos)
    while lo < hi and idx[pos[lo]] == space:
        lo += 1
    while hi > lo and idx[pos[hi - 1]] == space:
        hi -= 1
    pos = pos[lo:hi]
    text = "".join(charset[i] for i in idx[pos])
    confs = best[pos].astype(float)
    gaps = tuple(
        float(probs[a + 1 : b, space].max(initial=0.0)) for a, b in zip(pos[:-1], pos[1:], strict=True)
    )
    return RecResult(
        text=text,
        confidence=float(confs.mean()) if len(confs) else 0.0,
        char_confidences=tuple(round(c, 4) for c in confs.tolist()),
        char_positions=tuple(int(p) for p in pos),
        steps=int(len(probs)),
        space_probs=gaps,
    )


def target_width(h: int, w: int, p: RecParams) -> int:
    return int(min(p.max_width, max(1, math.ceil(p.height * w / max(1, h)))))


class TextRecognizer:
    """CTC recogniser over a ``session``. Its classes: blank, the characters of ``dictionary`` (a text
    file, one per line) or else of the model's ``character`` metadata, then space."""

    # How crops are resized to the model height (bench/rec_padding.py compared LINEAR, CUBIC and AREA).
    interpolation: int = cv2.INTER_LINEAR

    def __init__(self, session: Session, params: RecParams, dictionary: str | Path | None = None) -> None:
        self.session = session
        # A model that states its input height (metadata ``rec_height``, as export-rec writes) runs at it.
        height = int(session.metadata.get("rec_height", params.height))
        self.params = params if height == params.height else dataclasses.replace(params, height=height)
        self.charset = (
            charset_from_lines(read_dictionary(dictionary))
            if dictionary is not None
            else charset_from_metadata(session.metadata)
        )

    def recognise(self, crops: Sequence[np.ndarray]) -> list[RecResult]:
        """Recognise BGR line crops.

        Each crop is resized to the model height and zero-padded on the right to its width rounded up
        to ``width_bucket``; crops with the same padded width share batches. A crop's result therefore
        does not depend on which other crops (or images) it was batched with.
        """
        p = self.params
        widths = [target_width(c.shape[0], c.shape[1], p) for c in crops]
        padded = [max(p.min_width, -(-w // p.width_bucket) * p.width_bucket) for w in widths]
        order = sorted(range(len(crops)), key=lambda i: (padded[i], widths[i]))
        batches: list[list[int]] = []
        for i in order:
            if batches and padded[batches[-1][0]] == padded[i] and len(batches[-1]) < p.batch_size:
                batches[-1].append(i)
            else:
                batches.append([i])
        results: list[RecResult] = [EMPTY] * len(crops)
        for chunk in batches:
            pad_w = padded[chunk[0]]
            x = np.zeros((len(chunk), 3, p.height, pad_w), np.float32)
            for j, i in enumerate(chunk):
                line = cv2.resize(crops[i], (widths[i], p.height), interpolation=self.interpolation)
                normalise_into(x[j], line, p.mean, p.std)
            probs = self.session.run({self.session.input_name: x})[0]
            per_step = pad_w / probs.shape[1]
            for j, i in enumerate(chunk):
                results[i] = ctc_decode(probs[j], self.charset, math.ceil(widths[i] / per_step))
        return results
