"""How the dashboard's pages follow work live: polling (what the pages do) against server-sent events.

    python bench/bench_live.py --out build/bench/live.json [--pages 20] [--seconds 40] [--items 20]

Data: its own database (``dva_bench_live`` on DATABASE_URL's server), made again on every run, with
``--items`` media items being worked on among 200. A thread plays the workers: every second it moves
each unfinished item's frame counters on (``busy``), or touches nothing (``idle``).

Servers, each ``uvicorn`` in a subprocess on a free port, against that database:
- ``poll``: the real app (``./manage.py web``). Each of ``--pages`` simulated pages does what the library
  page's script does with those items on screen: ``GET /api/media?ids=...`` every 2 s (``BUSY_MS``) and
  the whole page (``GET /api/media?limit=50``) every 15 s; a second run does what the jobs page does,
  ``GET /jobs/live`` every 2 s with ``If-None-Match`` (304 when nothing changed).
- ``sse``: the real app plus a prototype route (``/bench/events``, defined here, not in the product):
  one ``text/event-stream`` per page, authenticated once, that reads the same items every 2 s and sends
  those that changed (a comment line every 15 s keeps it open when nothing does).

Measured per mechanism and case, over ``--seconds``: requests and bytes on the wire (bodies as sent,
gzipped where the app compresses, plus response headers) per minute per page, the server process's
CPU (user + system from /proc, as a share of one core), the freshness (the longest time a page went
without news of a change). The clients run on the same box (and PostgreSQL too): the CPU figures are
the server process's own, the rest of the box is noisy.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]

import httpx  # noqa: E402
from fastapi import Request  # noqa: E402  (the prototype route's annotations are resolved at module level)
from fastapi.responses import StreamingResponse  # noqa: E402

BENCH_DB = "dva_bench_live"
POLL_S = 2.0  # the pages' BUSY_MS
FULL_S = 15.0  # the library's full refresh (IDLE_MS)
BEAT_S = 15.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def build(url: str, items: int) -> list[int]:
    from sqlalchemy import create_engine, select
    from sqlalchemy.orm import Session

    from dva_ocr.db.migrate import drop_database, upgrade
    from dva_ocr.db.tables import Video
    from dva_ocr.model_registry import get_or_create_model_version

    drop_database(url)
    upgrade(url)
    engine = create_engine(url)
    with Session(engine) as s:
        mv = get_or_create_model_version(s, "ppocrv4").id
        s.execute(
            Video.__table__.insert(),
            [
                {
                    "source_name": f"clip-{i:04d}.mp4",
                    "path": f"originals/{i}",
                    "sha256": f"{i:064x}",
                    "size_bytes": 10_000_000 + i,
                    "sample_fps": 1.0,
                    "model_version_id": mv,
                    "status": "processing" if i < items else "done",
                    "media_type": "video",
                    "duration": 600.0,
                    "frames_total": 600,
                    "frames_extracted": 100 if i < items else 600,
                    "frames_ocr": 0 if i < items else 600,
                    "tracks_count": 0 if i < items else 40,
                }
                for i in range(200)
            ],
        )
        s.commit()
        ids = list(s.scalars(select(Video.id).where(Video.status == "processing").order_by(Video.id)))
    engine.dispose()
    return ids


class Workers(threading.Thread):
    """Moves the unfinished items' counters on every second (``busy``), as the pipeline does."""

    def __init__(self, url: str, ids: list[int]) -> None:
        super().__init__(daemon=True)
        self.url, self.ids, self.on = url, ids, threading.Event()
        self.changes: list[float] = []  # when each round of changes was committed

    def run(self) -> None:
        from sqlalchemy import create_engine, update

        from dva_ocr.db.tables import Video

        engine = create_engine(self.url)
        while True:
            if self.on.is_set():
                with engine.begin() as conn:
                    conn.execute(
                        update(Video)
                        .where(Video.id.in_(self.ids))
                        .values(frames_ocr=(Video.frames_ocr + 1) % 600)
                    )
                self.changes.append(time.monotonic())
            time.sleep(1.0)


def cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def header_bytes(res: httpx.Response) -> int:
    return sum(len(k) + len(v) + 4 for k, v in res.headers.raw) + 17


class Page(threading.Thread):
    """One open page: polls as the dashboard's scripts do, or holds an event stream."""

    def __init__(self, base: str, token: str, mode: str, ids: list[int], seconds: float) -> None:
        super().__init__(daemon=True)
        self.base, self.mode, self.ids, self.seconds = base, mode, ids, seconds
        self.headers = {"Authorization": f"Bearer {token}"}
        self.requests = self.bytes = 0
        self.news: list[float] = []  # when the page learnt of a change

    def run(self) -> None:
        with httpx.Client(base_url=self.base, headers=self.headers, timeout=30) as client:
            end = time.monotonic() + self.seconds
            if self.mode == "sse":
                self.stream(client, end)
            else:
                self.poll(client, end)

    def count(self, res: httpx.Response) -> None:
        self.requests += 1
        self.bytes += header_bytes(res) + res.num_bytes_downloaded  # on the wire (gzipped or not)

    def poll(self, client: httpx.Client, end: float) -> None:
        last_full, etag, seen = 0.0, None, None
        while (now := time.monotonic()) < end:
            if self.mode == "jobs":
                res = client.get("/jobs/live", headers={"If-None-Match": etag} if etag else {})
                etag = res.headers.get("etag", etag)
                changed = res.status_code == 200
            elif now - last_full >= FULL_S:
                res = client.get("/api/media?limit=50")
                last_full, changed = now, True
            else:
                res = client.get(f"/api/media?ids={','.join(map(str, self.ids))}&limit={len(self.ids)}")
                body = res.json()["items"]
                changed, seen = body != seen, body
            self.count(res)
            if changed:
                self.news.append(time.monotonic())
            time.sleep(max(0.0, POLL_S - (time.monotonic() - now)))

    def stream(self, client: httpx.Client, end: float) -> None:
        with client.stream("GET", f"/bench/events?ids={','.join(map(str, self.ids))}") as res:
            self.requests += 1
            for line in res.iter_lines():
                if line.startswith("data:"):
                    self.news.append(time.monotonic())
                if time.monotonic() >= end:
                    break
            self.bytes += header_bytes(res) + res.num_bytes_downloaded


# --- the prototype SSE server --------------------------------------------------------------------


def sse_app() -> Any:
    """The real app plus ``/bench/events``: the prototype measured against polling."""
    from fastapi import APIRouter, HTTPException
    from sqlalchemy import select
    from starlette.concurrency import run_in_threadpool

    from dva_ocr import media_admin
    from dva_ocr.db.session import session_scope
    from dva_ocr.db.tables import Video
    from dva_ocr.web import create_app

    app = create_app()
    # No ``current_user`` dependency: its database session would stay open as long as the stream (one
    # pooled connection per open page: 20 pages exhaust SQLAlchemy's pool of 15, the first run of this
    # bench hung so). The middleware has already found the user.
    router = APIRouter()

    def read(ids: list[int]) -> list[dict[str, Any]]:
        with session_scope() as s:
            return [media_admin.media_json(v) for v in s.scalars(select(Video).where(Video.id.in_(ids)))]

    @router.get("/bench/events")
    async def events(request: Request, ids: str) -> StreamingResponse:
        if getattr(request.scope.get("dva_auth"), "user_id", None) is None:
            raise HTTPException(401, "authentication required")
        wanted = [int(x) for x in ids.split(",")]

        async def stream() -> Any:
            last: dict[int, Any] = {}
            beat = time.monotonic()
            while not await request.is_disconnected():
                items = await run_in_threadpool(read, wanted)
                changed = [i for i in items if last.get(i["id"]) != i]
                if changed:
                    last.update((i["id"], i) for i in changed)
                    yield f"data: {json.dumps(changed)}\n\n"
                    beat = time.monotonic()
                elif time.monotonic() - beat >= BEAT_S:
                    yield ": still here\n\n"
                    beat = time.monotonic()
                await asyncio.sleep(POLL_S)

        return StreamingResponse(stream(), media_type="text/event-stream")

    app.include_router(router)
    return app


def serve_sse(port: int) -> None:
    import uvicorn

    uvicorn.run(sse_app(), host="127.0.0.1", port=port, log_level="warning")


# --- the run -------------------------------------------------------------------------------------


def start(mode: str, url: str, port: int, log: Path, media_root: Path) -> Any:
    import subprocess

    from bench_api_load import start_server

    if mode != "sse":
        return start_server(url, port, log, media_root)
    env = {**os.environ, "DATABASE_URL": url, "MEDIA_ROOT": str(media_root), "BROKER_PREFIX": "dvabench-live"}
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, __file__, "--serve-sse", str(port)],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
        )
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/api/health", timeout=2).status_code == 200:
                return proc
        except httpx.HTTPError:
            time.sleep(0.3)
    raise RuntimeError(log.read_text()[-2000:])


def measure(mode: str, case: str, args: argparse.Namespace, url: str, token: str, ids: list[int],
            workers: Workers, tmp: Path) -> dict[str, Any]:  # fmt: skip
    from bench_api_load import stop_server

    port = free_port()
    proc = start("sse" if mode == "sse" else "web", url, port, tmp / f"{mode}-{case}.log", tmp)
    try:
        if case == "busy":
            workers.on.set()
        else:
            workers.on.clear()
        time.sleep(1.5)
        pages = [Page(f"http://127.0.0.1:{port}", token, mode, ids, args.seconds) for _ in range(args.pages)]
        cpu0, t0 = cpu_s(proc.pid), time.monotonic()
        for p in pages:
            p.start()
        for p in pages:
            p.join(args.seconds + 30)
        wall, cpu = time.monotonic() - t0, cpu_s(proc.pid) - cpu0
    finally:
        workers.on.clear()
        stop_server(proc)
    per_min = 60 / wall / len(pages)
    gaps = [b - a for p in pages for a, b in zip(p.news, p.news[1:], strict=False)]
    return {
        "mechanism": mode,
        "case": case,
        "pages": len(pages),
        "seconds": round(wall, 1),
        "requests_per_min_per_page": round(sum(p.requests for p in pages) * per_min, 1),
        "kib_per_min_per_page": round(sum(p.bytes for p in pages) * per_min / 1024, 1),
        "server_cpu_percent_of_a_core": round(100 * cpu / wall, 1),
        "longest_gap_between_news_s": round(max(gaps), 1) if gaps else None,
    }


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--out", type=Path)
    parser.add_argument("--only", default="poll,jobs,sse", help="mechanisms to measure, comma-separated")
    parser.add_argument("--pages", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=40)
    parser.add_argument("--items", type=int, default=20)
    parser.add_argument("--serve-sse", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_sse:
        serve_sse(args.serve_sse)
        return 0
    if args.out is None:
        parser.error("--out is required")
    from bench_api_load import make_token
    from bench_search import bench_database_url

    url = bench_database_url(BENCH_DB)
    ids = build(url, args.items)
    token = make_token(url)
    workers = Workers(url, ids)
    workers.start()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for mode in args.only.split(","):
            for case in ("busy", "idle"):
                row = measure(mode, case, args, url, token, ids, workers, Path(tmp))
                print(json.dumps(row), flush=True)
                rows.append(row)
    load = os.getloadavg()
    out = {"pages": args.pages, "items_watched": len(ids), "poll_s": POLL_S, "loadavg": load, "results": rows}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
