"""``export``: a media item's text tracks as JSON, CSV, SRT or WebVTT."""

from __future__ import annotations

import argparse
import sys


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("export", help="a media item's text tracks as json, csv, srt or vtt (standard output)")
    p.add_argument("media_id", type=int, metavar="ID")
    p.add_argument("--format", choices=("json", "csv", "srt", "vtt"), default="json")
    p.add_argument("--out", default=None, metavar="FILE", help="write to FILE instead of standard output")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from dva_ocr.db.session import session_scope
    from dva_ocr.db.tables import VideoStatus
    from dva_ocr.media_admin import export_media, get_media

    with session_scope() as s:
        status = get_media(s, args.media_id).status
        body, _, _ = export_media(s, args.media_id, args.format)
    if status != VideoStatus.done:
        print(f"warning: media {args.media_id} is {status}; its tracks may be incomplete", file=sys.stderr)
    if args.out:
        with open(args.out, "w", encoding="utf-8", newline="") as fh:
            fh.write(body)
    else:
        sys.stdout.reconfigure(encoding="utf-8")  # type: ignore[union-attr]
        sys.stdout.write(body)
    return 0
