"""``watch``: a folder whose new media files are ingested (see ``dva_ocr.watch``)."""

from __future__ import annotations

import argparse
import logging
import signal
import threading
from pathlib import Path
from types import FrameType

from dva_cli.commands_media import add_ingest_options, ingest_options


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "watch",
        help="ingest media files that appear in a folder, once each, after they stop growing",
        description="Polls DIR every --poll seconds (inotify misses NFS and container mounts); a file "
        "unchanged for --settle seconds is ingested and removed (--keep: left in place and recorded). "
        "Files that are not media go to DIR/failed/ with NAME.error.txt. Hidden and temporary files "
        "(.part, .tmp, ~, ...) are left alone. Ctrl-C (or SIGTERM) stops after the current file.",
    )
    p.add_argument("folder", type=Path, metavar="DIR")
    p.add_argument("--recursive", action="store_true", help="watch the subfolders too (not failed/)")
    p.add_argument(
        "--settle",
        type=float,
        default=None,
        metavar="SECONDS",
        help="a file is complete once its size and mtime are unchanged this long (default: WATCH_SETTLE_S)",
    )
    p.add_argument(
        "--poll",
        type=float,
        default=None,
        metavar="SECONDS",
        help="seconds between scans (default: WATCH_POLL_S)",
    )
    p.add_argument(
        "--keep",
        action="store_true",
        help="leave ingested files in place, remembered in DIR/.dva-watch-state.json (default: remove them)",
    )
    p.add_argument("--state", type=Path, default=None, help="with --keep: the state file (default: in DIR)")
    add_ingest_options(p)
    p.set_defaults(func=watch)


def watch(args: argparse.Namespace) -> int:
    from dva_ocr.errors import DvaOcrError
    from dva_ocr.settings import get_settings
    from dva_ocr.watch import Watcher, check_folder

    check_folder(args.folder)  # before any connection: a typo in DIR is the likeliest mistake
    s = get_settings()
    settle = s.watch_settle_s if args.settle is None else args.settle
    poll = s.watch_poll_s if args.poll is None else args.poll
    if settle < 0 or poll <= 0:
        raise DvaOcrError("--settle must be 0 or more seconds and --poll more than 0")
    options = ingest_options(args)

    from dva_ocr.work.submit import submit_file
    from workers.queue import default_queue

    queue = default_queue()
    watcher = Watcher(
        args.folder,
        lambda path: submit_file(queue, path, options),
        settle_s=settle,
        poll_s=poll,
        recursive=args.recursive,
        keep=args.keep,
        state_path=args.state,
    )
    decisions = logging.getLogger("dva_ocr.watch")
    if decisions.getEffectiveLevel() > logging.INFO:  # its decisions are what the watcher prints
        decisions.setLevel(logging.INFO)
    stop = threading.Event()

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        decisions.info("%s: stopping after the current file", signal.Signals(signum).name)
        stop.set()
        signal.signal(signal.SIGINT, signal.default_int_handler)  # a second Ctrl-C stops at once

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    watcher.run(stop)
    return 0
