"""``migrate``, ``worker`` and ``up``: running the system."""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from dva_ocr.work.queues import QOCR, QUEUES

ROOT = Path(__file__).resolve().parents[1]


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("migrate", help="create the database if missing and apply migrations")
    p.set_defaults(func=migrate)

    p = sub.add_parser("worker", help="run a Celery worker for one queue")
    p.add_argument("--queue", required=True, choices=QUEUES)
    p.add_argument("--gpu", type=int, default=None, metavar="N", help="pin this worker to GPU N (qocr)")
    p.add_argument(
        "--concurrency",
        type=int,
        default=None,
        help="worker processes (default 1; a CPU qocr worker: one per core, each with one OCR thread)",
    )
    p.add_argument("--loglevel", default="INFO")
    p.set_defaults(func=worker)

    p = sub.add_parser("web", help="serve the dashboard and REST API (WEB_HOST:WEB_PORT)")
    p.add_argument("--host", default=None)
    p.add_argument("--port", type=int, default=None)
    p.set_defaults(func=web)

    p = sub.add_parser("createuser", help="create a dashboard/API user (asks for the password)")
    p.add_argument("name")
    p.add_argument("--admin", action="store_true")
    p.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    p.set_defaults(func=createuser)

    p = sub.add_parser("up", help="migrate, then the web app and one worker per queue until Ctrl-C")
    p.set_defaults(func=up)

    p = sub.add_parser(
        "sweep",
        help="find unfinished media with no task queued or running; queue them again or fail them",
        description="What the qdefault worker runs every SWEEP_INTERVAL_S seconds, run once now.",
    )
    p.add_argument(
        "--stuck-after",
        type=float,
        default=None,
        metavar="SECONDS",
        help="untouched this long counts as stuck (default: STUCK_AFTER_S)",
    )
    p.add_argument(
        "--max-requeues",
        type=int,
        default=None,
        help="queue again at most this often (default: SWEEP_MAX_REQUEUES)",
    )
    p.add_argument("--json", action="store_true", help="one JSON object per action and line")
    p.set_defaults(func=sweep)


def migrate(args: argparse.Namespace) -> int:
    from dva_ocr.db.migrate import upgrade
    from dva_ocr.db.session import session_scope, wait_for_database
    from dva_ocr.model_registry import register_bundled
    from dva_ocr.settings import get_settings

    s = get_settings()
    upgrade(s.database_url)
    wait_for_database(s.database_url)
    with session_scope() as session:  # the bundled pipelines are registered versions from the start
        _, problems = register_bundled(session)
    for problem in problems:
        print(f"warning: {problem}", file=sys.stderr)
    print(f"database at head: {s.libpq_url.rsplit('@', 1)[-1]}", file=sys.stderr)
    return 0


def worker_environment(queue: str, gpu: int | None, concurrency: int | None) -> int:
    """Set the environment a worker's processes read their settings from; returns the concurrency.
    The settings are read again afterwards: they were read (and cached) before, by the logging set-up,
    and a stale copy ran every qocr process with all cores' threads and ignored ``--gpu``."""
    from dva_ocr.settings import get_settings

    os.environ["DVA_WORKER_QUEUE"] = queue
    if gpu is not None:
        os.environ["OCR_DEVICE"] = f"cuda:{gpu}"
    get_settings.cache_clear()
    if queue != QOCR or concurrency is not None or get_settings().ocr_device != "cpu":
        return concurrency or 1
    # Measured (dva_ocr/ocr/MEASUREMENTS.md): on CPU, one process per core with one onnxruntime
    # thread each reads +23% more images/s than one process using every core.
    if get_settings().ocr_threads == 0:
        os.environ["OCR_THREADS"] = "1"
        get_settings.cache_clear()
    return os.cpu_count() or 1


def worker(args: argparse.Namespace) -> int:
    concurrency = worker_environment(args.queue, args.gpu, args.concurrency)
    if args.queue == QOCR:
        from dva_ocr.ocr.runtime import RuntimeUnavailableError, check_device
        from dva_ocr.settings import get_settings

        try:  # a worker that cannot use its device does not start (its processes would fail every task)
            check_device(get_settings().ocr_device)
        except (RuntimeUnavailableError, ValueError) as exc:
            print(f"error: qocr worker not started: {exc}", file=sys.stderr)
            return 2
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


def web(args: argparse.Namespace) -> int:
    import uvicorn

    from dva_ocr.settings import get_settings
    from dva_ocr.web import create_app
    from workers.queue import default_queue

    s = get_settings()
    app = create_app(settings=s, queue=default_queue())
    uvicorn.run(
        app,
        host=args.host or s.web_host,
        port=args.port or s.web_port,
        log_level="info",
        log_config=None,  # uvicorn's lines go through dva_ocr.logs (LOG_FORMAT), as every process' do
        proxy_headers=True,
    )
    return 0


def createuser(args: argparse.Namespace) -> int:
    import getpass

    from dva_ocr.db.session import session_scope
    from dva_ocr.users import create_user

    if args.password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = getpass.getpass(f"password for {args.name}: ")
        if getpass.getpass("again: ") != password:
            print("error: the passwords differ", file=sys.stderr)
            return 2
    with session_scope() as s:
        user = create_user(session=s, name=args.name, password=password, is_admin=args.admin)
        print(f"created user {user.name} (id {user.id}{', admin' if user.is_admin else ''})")
    return 0


def sweep(args: argparse.Namespace) -> int:
    import json

    from dva_ocr.pipeline.sweep import sweep_stuck
    from workers.queue import default_queue

    actions = sweep_stuck(default_queue(), stale_after_s=args.stuck_after, max_requeues=args.max_requeues)
    for a in actions:
        if args.json:
            print(json.dumps(a.to_json(), ensure_ascii=False))
        else:
            job = f" of job {a.job_id}" if a.job_id else ""
            print(f"{a.kind.replace('_', ' ')} {a.media_id}{job} ({a.was}): {a.action}: {a.message}")
    if not actions and not args.json:
        print("nothing is stuck", file=sys.stderr)
    return 0


def up(args: argparse.Namespace) -> int:
    rc = migrate(args)
    if rc:
        return rc
    procs: dict[str, subprocess.Popen] = {}
    for queue in QUEUES:
        procs[queue] = subprocess.Popen([sys.executable, str(ROOT / "manage.py"), "worker", "--queue", queue])
    procs["web"] = subprocess.Popen([sys.executable, str(ROOT / "manage.py"), "web"])
    from dva_ocr.settings import get_settings

    s = get_settings()
    print(
        f"dva-ocr is up: {', '.join(procs)} (pids {', '.join(str(p.pid) for p in procs.values())}). "
        "Ctrl-C stops them.\n"
        f"Dashboard: http://{s.web_host}:{s.web_port}/ (create a user: ./manage.py createuser NAME --admin)\n"
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
