"""The CRNN: a small VGG-style conv backbone, a bidirectional LSTM and a per-time-step classifier (CTC).

Its input is what :class:`dva_ocr.ocr.recognition.TextRecognizer` feeds a recogniser: N x 3 x H x W
BGR pixels normalised as (x/255 - 0.5)/0.5, right-padded with 0.0. One time step covers ``STRIDE``
pixels of width. Classes: 0 = CTC blank, 1..K = ``charset``, K+1 = space (the PP-OCR layout that
``charset_from_metadata`` rebuilds from the ONNX metadata).
"""

from __future__ import annotations

import string
from dataclasses import asdict, dataclass, field
from typing import Any

import torch
from torch import nn

DEFAULT_CHARSET = string.digits + string.ascii_letters + ".,:;!?'\"()-/&%$#@+*="
STRIDE = 4  # input pixels per output time step
MEAN = (0.5, 0.5, 0.5)
STD = (0.5, 0.5, 0.5)


def parse_charset(spec: str) -> str:
    """Validate a character set: unique single characters, no whitespace (space is always the last class)."""
    if not spec:
        raise ValueError("the character set is empty")
    bad = sorted({c for c in spec if c.isspace() or not c.isprintable()})
    if bad:
        raise ValueError(f"the character set must not contain whitespace or control characters: {bad!r}")
    dupes = sorted({c for c in spec if spec.count(c) > 1})
    if dupes:
        raise ValueError(f"the character set lists these characters twice: {''.join(dupes)!r}")
    return spec


@dataclass(frozen=True)
class CrnnConfig:
    """Everything needed to rebuild the network (stored in checkpoints and, as JSON, in the ONNX file)."""

    charset: str = DEFAULT_CHARSET
    height: int = 32
    channels: tuple[int, int, int, int] = (16, 32, 64, 128)
    hidden: int = 96
    lstm_layers: int = 1

    def __post_init__(self) -> None:
        parse_charset(self.charset)
        if self.height < 16 or self.height % 16:
            raise ValueError(f"height must be a positive multiple of 16 (16, 32, 48, ...), got {self.height}")
        object.__setattr__(self, "channels", tuple(self.channels))

    @property
    def classes(self) -> list[str]:
        """Class list: blank, the charset, space."""
        return ["", *self.charset, " "]

    @property
    def num_classes(self) -> int:
        return len(self.charset) + 2

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["channels"] = list(self.channels)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> CrnnConfig:
        return cls(**{**d, "channels": tuple(d["channels"])})


@dataclass
class LabelCodec:
    """Text <-> class indices for one config; unknown characters raise (the caller filters labels)."""

    config: CrnnConfig
    index: dict[str, int] = field(init=False)

    def __post_init__(self) -> None:
        self.index = {c: i for i, c in enumerate(self.config.classes) if c}

    def encode(self, text: str) -> list[int]:
        try:
            return [self.index[c] for c in text]
        except KeyError as exc:
            raise ValueError(f"{text!r}: character {exc.args[0]!r} is not in the character set") from None

    def can_encode(self, text: str) -> bool:
        return bool(text) and all(c in self.index for c in text)


def _conv(cin: int, cout: int, stride: int = 1) -> list[nn.Module]:
    return [
        nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False),
        nn.BatchNorm2d(cout),
        nn.ReLU(inplace=True),
    ]


class Crnn(nn.Module):
    """N x 3 x H x W -> N x W/4 x classes logits (``forward``); ``probabilities`` applies the softmax.

    Backbone -> per-column features (channels x H/16) -> linear projection p -> BiLSTM r -> head(p + r).
    """

    def __init__(self, config: CrnnConfig) -> None:
        super().__init__()
        self.config = config
        c1, c2, c3, c4 = config.channels
        self.backbone = nn.Sequential(
            *_conv(3, c1, stride=2),  # H/2, W/2: a strided stem (full-resolution layers cost most)
            *_conv(c1, c2),
            nn.MaxPool2d(2, 2),  # H/4, W/4
            *_conv(c2, c3),
            *_conv(c3, c3),
            nn.MaxPool2d((2, 1), (2, 1)),  # H/8
            *_conv(c3, c4),
            *_conv(c4, c4),
            nn.MaxPool2d((2, 1), (2, 1)),  # H/16
        )
        width = 2 * config.hidden
        self.proj = nn.Linear(c4 * (config.height // 16), width)
        self.rnn = nn.LSTM(
            width, config.hidden, num_layers=config.lstm_layers, bidirectional=True, batch_first=True
        )
        self.head = nn.Linear(width, config.num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        f = self.backbone(x)  # N, C, H/16, W/4
        n, c, h, w = f.shape
        p = self.proj(f.permute(0, 3, 1, 2).reshape(n, w, c * h))
        r, _ = self.rnn(p)
        return self.head(p + r)  # the residual path lets CTC find its alignment early

    def probabilities(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward(x).softmax(-1)


def steps_for_width(width: int) -> int:
    """Output time steps for an input ``width`` (two 2x2 poolings, floor)."""
    return width // STRIDE


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def build(config: CrnnConfig | dict[str, Any], state: dict[str, torch.Tensor] | None = None) -> Crnn:
    cfg = config if isinstance(config, CrnnConfig) else CrnnConfig.from_dict(config)
    model = Crnn(cfg)
    if state is not None:
        model.load_state_dict(state)
    return model


def describe(config: CrnnConfig) -> str:
    c = config
    return (
        f"CRNN h{c.height} conv{'-'.join(map(str, c.channels))} "
        f"BiLSTM{c.hidden}x{c.lstm_layers} stride{STRIDE} classes{c.num_classes}"
    )
