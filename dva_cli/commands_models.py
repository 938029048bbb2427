"""``models``: the model registry (list, show, activate, add); ``reprocess`` and ``jobs``: re-reading."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("models", help="the model registry: list, show, activate, add")
    msub = p.add_subparsers(dest="models_command", required=True, metavar="ACTION")
    q = msub.add_parser("list", help="every model version, the active one marked")
    q.add_argument("--json", action="store_true")
    q.set_defaults(func=models_list)
    q = msub.add_parser("show", help="one model version: files with sha256, parameters")
    q.add_argument("name")
    q.set_defaults(func=models_show)
    q = msub.add_parser("activate", help="make NAME the default for new media")
    q.add_argument("name")
    q.set_defaults(func=models_activate)
    q = msub.add_parser(
        "add", help="register a custom recogniser (ONNX, see export-rec) behind the bundled rest"
    )
    q.add_argument("name")
    q.add_argument("--rec", type=Path, required=True, metavar="FILE", help="recognition model (ONNX)")
    q.add_argument("--det", type=Path, default=None, metavar="FILE", help="detection model (ONNX, DBNet)")
    q.add_argument(
        "--dict",
        type=Path,
        default=None,
        metavar="FILE",
        dest="dictionary",
        help="the recogniser's character list, one per line (for a recogniser without 'character' metadata)",
    )
    q.add_argument("--description", default="")
    q.set_defaults(func=models_add)

    p = sub.add_parser("reprocess", help="re-read media already ingested with a model version (a job)")
    p.add_argument("--model", required=True, help="model version name")
    group = p.add_mutually_exclusive_group(required=True)
    group.add_argument("--media", type=int, nargs="+", metavar="ID", help="these media items")
    group.add_argument("--all", action="store_true", help="every finished media item")
    group.add_argument("--missing", action="store_true", help="media the model has not read yet")
    p.add_argument("--wait", action="store_true", help="block until the job finishes, showing progress")
    p.add_argument("--json", action="store_true", help="print the job as JSON")
    p.set_defaults(func=reprocess)

    p = sub.add_parser("jobs", help="reprocessing jobs: list, show, cancel, retry, compare, promote")
    jsub = p.add_subparsers(dest="jobs_command", required=True, metavar="ACTION")
    q = jsub.add_parser("list", help="recent jobs with progress")
    q.add_argument("--json", action="store_true")
    q.set_defaults(func=jobs_list)
    for name, help_text, func in (
        ("show", "one job's progress (--wait: follow it)", jobs_show),
        ("cancel", "stop a job (items stop between chunks; results so far are kept)", jobs_cancel),
        ("retry", "queue a job's failed and cancelled items again", jobs_retry),
        ("compare", "regions, tracks and words per media item: previous version vs the job's", jobs_compare),
        ("promote", "make the job's version the active one of its finished media items", jobs_promote),
    ):
        q = jsub.add_parser(name, help=help_text)
        q.add_argument("job_id", type=int, metavar="ID")
        q.add_argument("--json", action="store_true")
        if name == "show":
            q.add_argument("--wait", action="store_true")
        q.set_defaults(func=func)


# --- models -------------------------------------------------------------------------------------


def models_list(args: argparse.Namespace) -> int:
    from dva_ocr import model_registry as reg
    from dva_ocr.db.session import session_scope

    with session_scope() as s:
        default = reg.default_model_name(s)
        rows = [reg.model_json(mv, n, default=default) for mv, n in reg.list_models(s)]
    if args.json:
        for r in rows:
            print(json.dumps(r, ensure_ascii=False))
        return 0
    print(f"{'':2}{'NAME':24} {'KIND':9} {'MEDIA':>5}  {'CREATED':19}  FILES")
    for r in rows:
        files = ", ".join(f"{f['role']}:{f['name']}" for f in r["files"])
        mark = "*" if r["active"] else " "
        print(
            f"{mark:2}{r['name']:24} {r['kind']:9} {r['media']:>5}  "
            f"{(r['created_at'] or '')[:19]:19}  {files}"
        )
    print("* = the default for new media", file=sys.stderr)
    return 0


def models_show(args: argparse.Namespace) -> int:
    from dva_ocr import model_registry as reg
    from dva_ocr.db.session import session_scope

    with session_scope() as s:
        mv = reg.get_or_create_model_version(s, args.name)
        media = dict((m.id, n) for m, n in reg.list_models(s))[mv.id]
        out = reg.model_json(mv, media, default=reg.default_model_name(s))
    print(json.dumps(out, indent=2, ensure_ascii=False))
    return 0


def models_activate(args: argparse.Namespace) -> int:
    from dva_ocr import model_registry as reg
    from dva_ocr.db.session import session_scope
    from dva_ocr.settings import get_settings

    with session_scope() as s:
        reg.activate(s, args.name)
    print(f"{args.name} is now the default for new media")
    env = get_settings().ocr_model
    if env and env != args.name:
        print(f"note: OCR_MODEL={env} is set here and wins where it is set", file=sys.stderr)
    return 0


def models_add(args: argparse.Namespace) -> int:
    from dva_ocr import model_registry as reg
    from dva_ocr.db.session import session_scope

    with session_scope() as s:
        mv = reg.add_model(
            s,
            args.name,
            rec=args.rec,
            det=args.det,
            dictionary=args.dictionary,
            description=args.description,
        )
        out = reg.model_json(mv, 0)
    print(json.dumps(out, indent=2, ensure_ascii=False))
    print(
        f"registered {args.name}; read media with it: ./manage.py reprocess --model {args.name} --all",
        file=sys.stderr,
    )
    return 0


# --- jobs ---------------------------------------------------------------------------------------


def reprocess(args: argparse.Namespace) -> int:
    from dva_ocr import jobs
    from dva_ocr.db.session import session_scope
    from dva_ocr.work.submit import submit_job
    from workers.queue import default_queue

    with session_scope() as s:
        queue = default_queue()
        job = submit_job(s, queue, args.model, media=args.media, all_media=args.all, missing=args.missing)
        job_id = job.id
        items = jobs.item_media_ids(s, job_id)
    if not args.json:
        print(f"job {job_id}: {args.model} over {len(items)} media item(s)", file=sys.stderr)
    if args.wait:
        _follow(job_id, quiet=args.json)
    return _print_job(job_id, as_json=args.json)


def _print_job(job_id: int, *, as_json: bool) -> int:
    from dva_ocr import jobs
    from dva_ocr.db.session import session_scope

    with session_scope() as s:
        out = jobs.job_json(s, jobs.get_job(s, job_id))
    if as_json:
        print(json.dumps(out, ensure_ascii=False))
    else:
        print(_line(out))
    return 1 if out["status"] == "failed" else 0


def _line(j: dict) -> str:
    p = j["progress"]
    rate = f"{p['rate_frames_s']:.1f} frames/s" if p["rate_frames_s"] else "- frames/s"
    eta = f"ETA {p['eta_s']:.0f} s" if p["eta_s"] is not None else ""
    return (
        f"job {j['id']} [{j['status']}] {j['model']}: {p['done']}/{p['total']} media done, "
        f"{p['failed']} failed"
        f" | frames {p['frames_done']}/{p['frames_total']} | {rate} {eta}".rstrip()
    )


def _follow(job_id: int, *, quiet: bool, poll: float = 0.5) -> None:
    from dva_ocr import jobs
    from dva_ocr.db.session import session_scope

    tty = sys.stderr.isatty()
    last = ""
    while True:
        with session_scope() as s:
            out = jobs.job_json(s, jobs.get_job(s, job_id))
        line = _line(out)
        if not quiet and line != last:
            print(
                ("\r" + line.ljust(110)) if tty else line,
                end="" if tty else "\n",
                file=sys.stderr,
                flush=True,
            )
            last = line
        if out["status"] in ("done", "failed", "cancelled"):
            if tty and not quiet:
                print(file=sys.stderr)
            return
        time.sleep(poll)


def jobs_list(args: argparse.Namespace) -> int:
    from dva_ocr import jobs
    from dva_ocr.db.session import session_scope

    with session_scope() as s:
        rows = [jobs.job_json(s, j) for j in jobs.list_jobs(s)]
    for r in rows:
        print(json.dumps(r, ensure_ascii=False) if args.json else _line(r))
    if not rows and not args.json:
        print("no jobs yet", file=sys.stderr)
    return 0


def jobs_show(args: argparse.Namespace) -> int:
    if args.wait:
        _follow(args.job_id, quiet=args.json)
    return _print_job(args.job_id, as_json=args.json)


def jobs_cancel(args: argparse.Namespace) -> int:
    from dva_ocr import jobs
    from dva_ocr.db.session import session_scope

    with session_scope() as s:
        jobs.cancel_job(s, args.job_id)
    return _print_job(args.job_id, as_json=args.json)


def jobs_retry(args: argparse.Namespace) -> int:
    from dva_ocr.db.session import session_scope
    from dva_ocr.work.submit import retry_job
    from workers.queue import default_queue

    with session_scope() as s:
        ids = retry_job(s, default_queue(), args.job_id)
    if not args.json:
        print(f"job {args.job_id}: {len(ids)} item(s) queued again", file=sys.stderr)
    return _print_job(args.job_id, as_json=args.json)


def jobs_compare(args: argparse.Namespace) -> int:
    from dva_ocr import jobs
    from dva_ocr.db.session import session_scope

    with session_scope() as s:
        rows = jobs.compare(s, args.job_id)
    if args.json:
        for r in rows:
            print(json.dumps(r, ensure_ascii=False))
        return 0
    print(
        f"{'MEDIA':>5}  {'NAME':24} {'STATUS':9} {'REGIONS old/new':>16} {'TRACKS old/new':>15} "
        f"{'WORDS old/new':>14}"
    )
    for r in rows:
        o, n = r["old"], r["new"]
        print(
            f"{r['media_id']:>5}  {(r['name'] or '')[:24]:24} {r['status']:9} "
            f"{o['regions']:>7}/{n['regions']:<8}"
            f" {o['tracks']:>6}/{n['tracks']:<8} {o['words']:>6}/{n['words']:<7}"
        )
        if r["only_new"]:
            print(f"{'':7}only new: {' '.join(r['only_new'])}")
        if r["only_old"]:
            print(f"{'':7}only old: {' '.join(r['only_old'])}")
    return 0


def jobs_promote(args: argparse.Namespace) -> int:
    from dva_ocr import jobs
    from dva_ocr.db.session import session_scope

    with session_scope() as s:
        n = jobs.promote(s, args.job_id)
    print(f"job {args.job_id}: {n} media item(s) now searched and exported with the job's model version")
    return 0
