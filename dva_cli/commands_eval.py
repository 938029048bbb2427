"""``eval``: detection / end-to-end / recognition metrics of a model on labelled data."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    """Filled in by the issue that builds this command."""
