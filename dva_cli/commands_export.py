"""``export``: a media item's text tracks as JSON, CSV, SRT or WebVTT."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    """Filled in by the issue that builds this command."""
