"""``train-rec`` and ``export-rec``: train a CRNN recogniser, export it to ONNX."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    """Filled in by the issue that builds this command."""
