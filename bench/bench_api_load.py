"""The REST API under concurrent clients: throughput, latency percentiles and errors, on loopback.

    python bench/bench_api_load.py --out build/bench/api_load.json [--seconds 30] [--clients 8,32]
        [--regions 100000] [--database-url URL]

Data: its own database (``dva_bench_api`` on DATABASE_URL's server, or ``--database-url``), dropped and
made again on every run, filled by ``bench_search``'s generator at a small scale (``--regions``, default
100,000: about 200 media items, 30,000 text tracks; under a minute to build). The server is the real one,
``./manage.py web`` as a subprocess on a free port (uvicorn, one process, the thread pool for the sync
routes), against that database; an admin user and a bearer token are made with ``dva_ocr.users``.

Load: for each ``--clients`` count, that many threads, each with its own ``httpx.Client`` (keep-alive),
loop for ``--seconds`` over a mix drawn at random (seeded): 50% ``GET /api/search`` (one of about 30
queries chosen from the generated data by ``bench_search.choose_queries``: common and rare words, AND,
phrases, OR, typos, compact and folded forms, codes, a media filter), 20% ``GET /api/media`` (the list,
200 items), 30% the media page's data: ``GET /api/media/{id}`` then ``GET /api/media/{id}/tracks``.
Each request is timed on its own (``time.perf_counter()`` around the call, the body read); one warm-up
pass over the queries and a few media pages runs first, not counted.

Reported per clients count and per route: requests, requests/s, p50/p95/p99/max latency, errors. An error
is anything but a 2xx answer, a timeout (``--timeout``, 30 s) or a dropped connection; any error makes
the exit code 1. The JSON (``--out``) also has the scale, the machine's load average before and after,
and the first errors seen; the server's log is kept beside it (``api_load.server.log``), and its ERROR
lines are counted. The clients run in the same machine as the server (and PostgreSQL): on a shared box
the figures say as much about the neighbours as about the API.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import random
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]

import bench_search  # noqa: E402
import httpx  # noqa: E402
from sqlalchemy import create_engine, select  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402
from sqlalchemy.orm import Session  # noqa: E402

SEED = 20261212
BENCH_DB = "dva_bench_api"
DEFAULT_URL = f"postgresql+psycopg://postgres@127.0.0.1:5432/{BENCH_DB}"
SEARCH_KINDS = ("common", "rare", "and", "phrase", "or", "typo", "compact", "folded", "code", "filter_media")
QUERIES_PER_KIND = 3
MIX = (("search", 50), ("media_list", 20), ("media_page", 30))
ROUTES = ("search", "media_list", "media", "tracks")


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# --- the data ------------------------------------------------------------------------------------


def build_database(url: str, regions: int) -> tuple[list[dict[str, Any]], list[int], dict[str, Any]]:
    """A fresh bench database: (search requests as query params, media ids, scale and timings)."""
    import psycopg

    from dva_ocr.db.migrate import drop_database, upgrade
    from dva_ocr.ocr.training.synth import english_words

    t0 = time.perf_counter()
    drop_database(url)
    upgrade(url)
    with psycopg.connect(bench_search.libpq(url), autocommit=True) as conn:
        bench_search.read_meta(conn)  # creates bench_meta, where the loader keeps the dropped indexes
    truth, steps = bench_search.load(url, regions, SEED)
    words = [*english_words(30000), *truth.counts]
    items = bench_search.choose_queries(truth, SEED, QUERIES_PER_KIND, bench_search.lexemes(url, words))
    queries = []
    for it in items:
        if it["kind"] not in SEARCH_KINDS:
            continue
        params: dict[str, Any] = {"q": it["q"]}
        if "media_id" in it["params"]:
            params["media"] = it["params"]["media_id"]
        queries.append({"kind": it["kind"], "params": params})
    with psycopg.connect(bench_search.libpq(url)) as conn:
        scale = bench_search.table_counts(conn)
        media = [r[0] for r in conn.execute("SELECT id FROM videos ORDER BY id").fetchall()]
    return (
        queries,
        media,
        {"scale": scale, "load_steps": steps, "build_s": round(time.perf_counter() - t0, 1)},
    )


def make_token(url: str) -> str:
    from dva_ocr.db.tables import User
    from dva_ocr.users import create_user, issue_token

    engine = create_engine(url)
    try:
        with Session(engine) as s:
            user = s.scalar(select(User).where(User.name == "bench")) or create_user(
                session=s, name="bench", password="bench-password-123", is_admin=True
            )
            _, token = issue_token(session=s, user=user, name="bench_api_load")
            s.commit()
    finally:
        engine.dispose()
    return token


# --- the server ----------------------------------------------------------------------------------


def start_server(url: str, port: int, log_path: Path, media_root: Path) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "MEDIA_ROOT": str(media_root),
        "BROKER_PREFIX": f"dvabench-api-{os.getpid()}",  # /api/health pings the broker; nothing is queued
        "WEB_HOST": "127.0.0.1",
        "WEB_PORT": str(port),
    }
    with log_path.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, str(ROOT / "manage.py"), "web", "--host", "127.0.0.1", "--port", str(port)],
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=ROOT,
            env=env,
        )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            break
        try:
            if httpx.get(f"{base}/api/health", timeout=2).status_code == 200:
                return proc
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    stop_server(proc)
    raise RuntimeError(
        f"the web server did not answer /api/health:\n{log_path.read_text(errors='replace')[-3000:]}"
    )


def stop_server(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


# --- the clients ---------------------------------------------------------------------------------


@dataclass
class Sample:
    route: str
    ms: float
    ok: bool


@dataclass
class Run:
    samples: list[Sample] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)  # the first few, for the report
    lock: threading.Lock = field(default_factory=threading.Lock)


def _request(
    client: httpx.Client, run: Run, route: str, path: str, params: dict[str, Any] | None = None
) -> None:
    t0 = time.perf_counter()
    try:
        resp = client.get(path, params=params)
        resp.read()
        ok = 200 <= resp.status_code < 300
        why = "" if ok else f"{resp.status_code} {path} {params or ''}: {resp.text[:200]}"
    except httpx.HTTPError as exc:
        ok, why = False, f"{type(exc).__name__} {path} {params or ''}: {exc}"
    ms = (time.perf_counter() - t0) * 1000
    with run.lock:
        run.samples.append(Sample(route, ms, ok))
        if not ok and len(run.errors) < 20:
            run.errors.append(why)


def _client(base: str, token: str, timeout: float) -> httpx.Client:
    return httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=timeout)


def one_op(
    client: httpx.Client, run: Run, rng: random.Random, queries: list[dict[str, Any]], media: list[int]
) -> None:
    op = rng.choices([m for m, _ in MIX], [w for _, w in MIX])[0]
    if op == "search":
        _request(client, run, "search", "/api/search", rng.choice(queries)["params"])
    elif op == "media_list":
        _request(client, run, "media_list", "/api/media")
    else:
        mid = rng.choice(media)
        _request(client, run, "media", f"/api/media/{mid}")
        _request(client, run, "tracks", f"/api/media/{mid}/tracks")


def warm_up(base: str, token: str, timeout: float, queries: list[dict[str, Any]], media: list[int]) -> Run:
    run = Run()
    with _client(base, token, timeout) as c:
        for q in queries:
            _request(c, run, "search", "/api/search", q["params"])
        _request(c, run, "media_list", "/api/media")
        for mid in media[:10]:
            _request(c, run, "media", f"/api/media/{mid}")
            _request(c, run, "tracks", f"/api/media/{mid}/tracks")
    return run


def load(
    base: str,
    token: str,
    clients: int,
    seconds: float,
    timeout: float,
    queries: list[dict[str, Any]],
    media: list[int],
) -> tuple[Run, float]:
    run = Run()
    start = threading.Barrier(clients + 1)
    deadline: list[float] = []

    def worker(i: int) -> None:
        rng = random.Random(SEED * 1000 + clients * 100 + i)
        with _client(base, token, timeout) as c:
            start.wait()
            while time.monotonic() < deadline[0]:
                one_op(c, run, rng, queries, media)

    threads = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(clients)]
    for t in threads:
        t.start()
    t0 = time.monotonic()
    deadline.append(t0 + seconds)
    start.wait()
    for t in threads:
        t.join()
    return run, time.monotonic() - t0


# --- the report ----------------------------------------------------------------------------------


def _pct(values: Sequence[float], q: float) -> float:
    vals = sorted(values)
    if not vals:
        return math.nan
    pos = (len(vals) - 1) * q / 100
    lo, hi = math.floor(pos), math.ceil(pos)
    return vals[lo] + (vals[hi] - vals[lo]) * (pos - lo)


def _r(x: float, nd: int = 1) -> float | None:
    return None if math.isnan(x) else round(x, nd)


def stats(samples: Sequence[Sample], elapsed: float) -> dict[str, Any]:
    ms = [s.ms for s in samples]
    return {
        "requests": len(samples),
        "rps": round(len(samples) / elapsed, 1) if elapsed > 0 else None,
        "p50_ms": _r(_pct(ms, 50)),
        "p95_ms": _r(_pct(ms, 95)),
        "p99_ms": _r(_pct(ms, 99)),
        "max_ms": _r(max(ms)) if ms else None,
        "errors": sum(not s.ok for s in samples),
    }


def table(runs: list[dict[str, Any]]) -> str:
    head = (
        f"{'clients':>7}  {'route':<10} {'requests':>8} {'req/s':>7} {'p50 ms':>7} {'p95 ms':>7} "
        f"{'p99 ms':>7} {'max ms':>7} {'errors':>6}"
    )
    lines = [head, "-" * len(head)]
    for run in runs:
        rows = [("all", run["overall"]), *((r, run["routes"][r]) for r in ROUTES if r in run["routes"])]
        for name, st in rows:
            lines.append(
                f"{run['clients']:>7}  {name:<10} {st['requests']:>8} {st['rps']:>7} {st['p50_ms']:>7} "
                f"{st['p95_ms']:>7} {st['p99_ms']:>7} {st['max_ms']:>7} {st['errors']:>6}"
            )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=Path("build/bench/api_load.json"), help="JSON results file")
    ap.add_argument("--seconds", type=float, default=30.0, help="seconds of load per clients count")
    ap.add_argument("--clients", default="8,32", help="comma-separated concurrent client counts")
    ap.add_argument(
        "--regions", type=int, default=100_000, help="regions to generate (about 500 per media item)"
    )
    ap.add_argument("--timeout", type=float, default=30.0, help="seconds before a request counts as an error")
    ap.add_argument(
        "--database-url", default=None, help=f"bench database, made afresh (default: {DEFAULT_URL})"
    )
    args = ap.parse_args(argv)
    counts = [int(c) for c in args.clients.split(",") if c.strip()]
    if not counts or min(counts) < 1 or args.seconds <= 0:
        ap.error("--clients needs counts of 1 or more and --seconds a positive number")

    url = args.database_url or bench_search.bench_database_url(BENCH_DB)
    load_before = [round(x, 2) for x in os.getloadavg()]
    log(f"building {make_url(url).database}: {args.regions} regions")
    queries, media, data = build_database(url, args.regions)
    log(f"built in {data['build_s']} s: {data['scale']}; {len(queries)} search queries")
    token = make_token(url)
    port = _free_port()
    server_log = args.out.with_suffix(".server.log")  # kept: what the server said about any error
    server_log.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="dva-bench-api-") as tmp:
        proc = start_server(url, port, server_log, Path(tmp) / "media")
        base = f"http://127.0.0.1:{port}"
        runs: list[dict[str, Any]] = []
        errors: list[str] = []
        try:
            warm = warm_up(base, token, args.timeout, queries, media)
            errors += [f"warm-up: {e}" for e in warm.errors]
            for clients in counts:
                log(f"{clients} clients for {args.seconds:.0f} s")
                run, elapsed = load(base, token, clients, args.seconds, args.timeout, queries, media)
                by_route: dict[str, list[Sample]] = defaultdict(list)
                for s in run.samples:
                    by_route[s.route].append(s)
                runs.append(
                    {
                        "clients": clients,
                        "elapsed_s": round(elapsed, 1),
                        "overall": stats(run.samples, elapsed),
                        "routes": {r: stats(by_route[r], elapsed) for r in ROUTES if r in by_route},
                        "load_average_after": [round(x, 2) for x in os.getloadavg()],
                    }
                )
                errors += [f"{clients} clients: {e}" for e in run.errors]
                if proc.poll() is not None:
                    errors.append(f"the server exited with code {proc.returncode}")
                    break
        finally:
            stop_server(proc)
    server_errors = [
        line[:300] for line in server_log.read_text(errors="replace").splitlines() if " ERROR " in line
    ]
    total_errors = sum(r["overall"]["errors"] for r in runs) + len(warm.errors)
    out = {
        "benchmark": "api_load",
        "database": make_url(url).database,
        "seed": SEED,
        "requested_regions": args.regions,
        **data,
        "search_queries": queries,
        "mix": dict(MIX),
        "seconds": args.seconds,
        "runs": runs,
        "errors": total_errors,
        "first_errors": errors[:20],
        "server_log": str(server_log),
        "server_error_lines": len(server_errors),
        "first_server_errors": server_errors[:10],
        "cpu_count": os.cpu_count(),
        "python": platform.python_version(),
        "load_average_before": load_before,
        "load_average_at_end": [round(x, 2) for x in os.getloadavg()],
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(out, indent=2) + "\n")
    print(table(runs))
    print(
        f"scale {data['scale']}; load average before {load_before}, at end {out['load_average_at_end']}"
        f" ({os.cpu_count()} cores)"
    )
    if total_errors or len(runs) < len(counts):
        for e in errors[:10]:
            print(f"error: {e}", file=sys.stderr)
        for line in server_errors[:5]:
            print(f"server: {line}", file=sys.stderr)
        print(f"FAIL: {total_errors} errors", file=sys.stderr)
        return 1
    print("PASS: no errors")
    return 0


if __name__ == "__main__":
    sys.exit(main())
