"""``migrate``, ``worker`` and ``up``: running the system."""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("migrate", help="create the database if missing and apply migrations")
    p.set_defaults(func=migrate)

    p = sub.add_parser("worker", help="run a Celery worker for one queue")
    p.add_argument("--queue", required=True, choices=["qextract", "qocr", "qdefault"])
    p.add_argument("--gpu", type=int, default=None, metavar="N", help="pin this worker to GPU N (qocr)")
    p.add_argument(
        "--concurrency",
        type=int,
        default=None,
        help="worker processes (default 1; a CPU qocr worker: one per core, each with one OCR thread)",
    )
    p.add_argument("--loglevel", default="INFO")
    p.set_defaults(func=worker)

    p = sub.add_parser("up", help="migrate, then run one worker per queue in the foreground until Ctrl-C")
    p.set_defaults(func=up)


def migrate(args: argparse.Namespace) -> int:
    from dva_ocr.db.migrate import upgrade
    from dva_ocr.db.session import wait_for_database
    from dva_ocr.settings import get_settings

    s = get_settings()
    upgrade(s.database_url)
    wait_for_database(s.database_url)
    print(f"database at head: {s.libpq_url.rsplit('@', 1)[-1]}", file=sys.stderr)
    return 0


def worker(args: argparse.Namespace) -> int:
    os.environ["DVA_WORKER_QUEUE"] = args.queue
    if args.gpu is not None:
        os.environ["OCR_DEVICE"] = f"cuda:{args.gpu}"
    concurrency = args.concurrency or 1
    if args.queue == "qocr" and args.concurrency is None and os.environ.get("OCR_DEVICE", "cpu") == "cpu":
        # Measured (dva_ocr/ocr/MEASUREMENTS.md): on CPU, one process per core with one onnxruntime
        # thread each reads +23% more images/s than one process using every core.
        concurrency = os.cpu_count() or 1
        if int(os.environ.get("OCR_THREADS", "0") or 0) == 0:
            os.environ["OCR_THREADS"] = "1"
    from workers.app import app

    app.worker_main(
        [
            "worker",
            "-Q",
            args.queue,
            "-c",
            str(concurrency),
            "-n",
            f"{args.queue}.{os.getpid()}@%h",
            "--loglevel",
            args.loglevel,
            "--without-gossip",
            "--without-mingle",
        ]
    )
    return 0


def up(args: argparse.Namespace) -> int:
    rc = migrate(args)
    if rc:
        return rc
    procs: dict[str, subprocess.Popen] = {}
    for queue in ("qextract", "qocr", "qdefault"):
        procs[queue] = subprocess.Popen([sys.executable, str(ROOT / "manage.py"), "worker", "--queue", queue])
    print(
        f"dva-ocr is up: workers {', '.join(procs)} (pids {', '.join(str(p.pid) for p in procs.values())}). "
        "Ctrl-C stops them.\n"
        "In another shell: ./manage.py ingest VIDEO --wait, then ./manage.py search WORDS",
        file=sys.stderr,
    )
    stopping = False

    def stop(*_: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    try:
        while not stopping:
            dead = [q for q, p in procs.items() if p.poll() is not None]
            if dead:
                print(
                    f"worker {dead[0]} exited with code {procs[dead[0]].returncode}; stopping",
                    file=sys.stderr,
                )
                break
            time.sleep(0.5)
    except KeyboardInterrupt:
        pass
    for p in procs.values():
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + 30
    for p in procs.values():
        try:
            p.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            p.kill()
    print("dva-ocr stopped", file=sys.stderr)
    return 0
