"""``models``: the model registry (list, show, activate, add) and reprocessing jobs."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    """Filled in by the issue that builds this command."""
