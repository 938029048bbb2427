"""Argument parsing and dispatch; each command lives in its own module."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from dva_ocr.errors import DvaOcrError
from dva_ocr.logs import configure_logging


def build_parser() -> argparse.ArgumentParser:
    from dva_cli import (
        commands_eval,
        commands_export,
        commands_media,
        commands_models,
        commands_ocr,
        commands_ops,
        commands_train,
        commands_users,
        commands_watch,
    )

    prog = "dva-ocr" if Path(sys.argv[0]).name == "dva-ocr" else "manage.py"  # console script or manage.py
    p = argparse.ArgumentParser(prog=prog, description="dva-ocr: video and image OCR analytics")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    commands_ops.register(sub)
    commands_users.register(sub)
    commands_ocr.register(sub)
    commands_media.register(sub)
    commands_watch.register(sub)
    commands_export.register(sub)
    commands_models.register(sub)
    commands_train.register(sub)
    commands_eval.register(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    configure_logging(logging.WARNING)  # LOG_FORMAT, LOG_LEVEL; workers and the web server raise it
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except DvaOcrError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
