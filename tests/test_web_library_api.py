"""The media library through the REST API, on real PostgreSQL: sort, filter, search and pages with a
total; bulk delete, retry and cancel; reprocessing the selection; the zip export and what it leaves
out; no retry for a file that is not media; pausing and resuming a job between chunks; the jobs page's
live part; /docs served from the installed package behind the login; an ingest cancelled while a real
worker extracts it."""

from __future__ import annotations

import io
import json
import subprocess
import time
import zipfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from factories import FakeRegion, frame_row, make_video_row
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from dva_ocr import jobs, pipeline
from dva_ocr.db.session import session_scope
from dva_ocr.db.tables import Frame, FrameOcr, JobItem, ModelVersion, Video
from dva_ocr.pipeline import build_video_tracks, save_frame_regions
from dva_ocr.settings import get_settings
from dva_ocr.users import create_user, issue_token
from dva_ocr.web import create_app
from dva_ocr.work import EXTRACT, REPROCESS_ITEM, RecordingQueue
from dva_ocr.work.inline import InlineQueue

PASSWORD = "correct horse battery"


@pytest.fixture()
def queued() -> RecordingQueue:
    return RecordingQueue()


@pytest.fixture()
def app(db, queued):
    return create_app(queue=queued)


def _bearer(app, name: str, *, is_admin: bool = False) -> tuple[TestClient, int]:
    with session_scope() as s:
        user = create_user(session=s, name=name, password=PASSWORD, is_admin=is_admin)
        _, token = issue_token(session=s, user=user, name="tests")
        uid = user.id
    return TestClient(app, headers={"Authorization": f"Bearer {token}"}, follow_redirects=False), uid


# name, status, type, duration, tracks, size, minutes ago
LIBRARY = [
    ("harbour.mp4", "done", "video", 120.0, 14, 9_000_000, 50),
    ("Board.png", "done", "image", None, 3, 200_000, 40),
    ("zebra crossing.mov", "processing", "video", 30.5, 0, 40_000_000, 30),
    ("100%_sale.mp4", "failed", "video", 8.0, 0, 1_000, 20),
    ("1000_sale.mp4", "done", "video", 60.0, 2, 5_000_000, 10),
    ("alpha.jpg", "queued", None, None, 0, 50_000, 5),
    ("Mid.webm", "done", "video", 45.0, 14, 3_000_000, 1),
]


@pytest.fixture()
def library(db) -> dict[str, int]:
    now = datetime.now(UTC)
    ids = {}
    with session_scope() as s:
        for name, status, kind, duration, tracks, size, ago in LIBRARY:
            v = make_video_row(s, name, status=status)
            v.media_type, v.duration, v.tracks_count, v.size_bytes = kind, duration, tracks, size
            v.created_at = now - timedelta(minutes=ago)
            ids[name] = v.id
    return ids


def _names(client: TestClient, query: str) -> tuple[list[str], int]:
    res = client.get(f"/api/media?{query}")
    assert res.status_code == 200, res.text
    body = res.json()
    return [i["name"] for i in body["items"]], body["total"]


def test_the_library_sorts_filters_searches_and_pages_with_a_total(app, library):
    client, _ = _bearer(app, "mia")
    by_date = [n for n, *_ in sorted(LIBRARY, key=lambda r: r[6])]  # the latest first
    assert _names(client, "") == (by_date, 7)
    assert _names(client, "sort=date&order=asc") == (by_date[::-1], 7)
    assert _names(client, "sort=name&order=asc")[0] == sorted((r[0] for r in LIBRARY), key=str.lower)
    # ties broken by id (the latest first when descending); unknown durations last both ways
    assert _names(client, "sort=texts")[0][:2] == ["Mid.webm", "harbour.mp4"]
    assert _names(client, "sort=duration&order=asc")[0] == [
        "100%_sale.mp4", "zebra crossing.mov", "Mid.webm", "1000_sale.mp4", "harbour.mp4",
        "Board.png", "alpha.jpg",
    ]  # fmt: skip
    assert _names(client, "sort=size")[0][0] == "zebra crossing.mov"
    # filters: status (repeated or comma-separated), type, a part of the name; the total counts them all
    assert _names(client, "status=done")[1] == 4
    assert _names(client, "status=queued,processing&status=finalizing") == (
        ["alpha.jpg", "zebra crossing.mov"],
        2,
    )
    assert _names(client, "type=image") == (["Board.png"], 1)
    assert _names(client, "type=video")[1] == 6  # an item not probed yet counts as a video
    assert _names(client, "q=SALE")[1] == 2
    assert _names(client, "q=100%25_") == (["100%_sale.mp4"], 1)  # % and _ are the name's, not wildcards
    assert _names(client, "q=r&type=video&status=done&sort=name&order=asc") == (["harbour.mp4"], 1)
    # pages: the total is the whole match, the page holds `limit`
    first, total = _names(client, "limit=3")
    second, _ = _names(client, "limit=3&offset=3")
    third, _ = _names(client, "limit=3&offset=6")
    assert total == 7 and first + second + third == by_date and len(third) == 1
    done = [n for n in by_date if n in {"harbour.mp4", "Board.png", "1000_sale.mp4", "Mid.webm"}]
    assert _names(client, "limit=2&offset=2&status=done") == (done[2:4], 4)
    assert _names(client, f"ids={library['Board.png']},{library['alpha.jpg']}") == (
        ["alpha.jpg", "Board.png"],
        2,
    )
    # what it refuses, with the reason
    for query, said in [
        ("sort=colour", "sort"),
        ("status=lost", "unknown status lost"),
        ("type=audio", "type"),
        ("ids=1,x", "ids"),
        ("limit=0", "limit"),
    ]:
        res = client.get(f"/api/media?{query}")
        assert res.status_code == 400 and said in json.dumps(res.json()), (query, res.text)


def test_the_library_stays_fast_on_many_rows(app, db):
    """2,000 media (the bench database's count) and a page of 50 with its total, each way of asking,
    in well under the time a person notices; the query plans use the database, not Python."""
    with session_scope() as s:
        mv = make_video_row(s, "seed.mp4").model_version_id
        s.execute(
            Video.__table__.insert(),
            [
                {
                    "source_name": f"clip-{i:05d}-{'talk' if i % 7 else 'board'}.mp4",
                    "path": f"originals/{i}",
                    "sha256": f"{i:064x}",
                    "size_bytes": 1000 + i * 37 % 5000,
                    "sample_fps": 1.0,
                    "model_version_id": mv,
                    "status": ["done", "failed", "processing", "queued"][i % 4],
                    "media_type": "image" if i % 5 == 0 else "video",
                    "duration": None if i % 5 == 0 else float(i % 600),
                    "tracks_count": i % 90,
                }
                for i in range(2000)
            ],
        )
    client, _ = _bearer(app, "mia")
    worst = 0.0
    for query in ["", "sort=name&order=asc", "sort=duration", "sort=texts&status=done", "q=board&type=video",
                  "status=failed&offset=400&limit=50", "sort=size&order=asc&limit=200"]:  # fmt: skip
        started = time.perf_counter()
        body = client.get(f"/api/media?{query}").json()
        worst = max(worst, time.perf_counter() - started)
        assert body["total"] > 0 and body["items"], query
    page = client.get("/api/media?limit=50")  # what pages poll goes gzipped
    assert (
        page.headers["content-encoding"] == "gzip"
        and int(page.headers["content-length"]) < len(page.content) / 4
    )
    assert _names(client, "q=board&type=video&limit=1")[1] == sum(
        1 for i in range(2000) if i % 7 == 0 and i % 5 != 0
    )
    assert worst < 1.5, f"slowest library page: {worst:.2f} s"  # ~0.05-0.2 s measured on the busy box


def _tracks(s, video: Video, texts: list[str]) -> None:
    for sec, value in enumerate(texts):
        region = FakeRegion(value, box=(10, 60 * sec + 20, 300, 30), raw_text=value)
        save_frame_regions(s, frame_row(s, video, sec), video.model_version_id, [region], 1.0)
    video.tracks_count = build_video_tracks(s, video, video.model_version_id)


def test_zip_export_holds_each_item_and_names_what_it_left_out(app):
    client, _ = _bearer(app, "mia")
    with session_scope() as s:
        talk = make_video_row(s, "talk.mp4")
        talk.media_type, talk.duration = "video", 3.0
        _tracks(s, talk, ["Harbour lights", "Exit 14"])
        board = make_video_row(s, "board.png")
        board.media_type = "image"
        _tracks(s, board, ["Departures"])
        busy = make_video_row(s, "busy.mp4", status="processing")
        ids = [talk.id, board.id, busy.id]
    res = client.get(f"/api/media/export.zip?ids={','.join(map(str, ids))}&format=srt")
    assert res.status_code == 200 and res.headers["content-type"] == "application/zip"
    assert 'filename="dva-ocr-export-srt.zip"' in res.headers["content-disposition"]
    assert json.loads(res.headers["x-export-left-out"]) == [
        {"id": board.id, "code": "image"},
        {"id": busy.id, "code": "unfinished"},
    ]
    z = zipfile.ZipFile(io.BytesIO(res.content))
    assert z.namelist() == ["MANIFEST.txt", f"{talk.id}-talk.srt"]
    single = client.get(f"/api/media/{talk.id}/export?format=srt").text
    assert z.read(f"{talk.id}-talk.srt").decode() == single  # the same file as one export
    manifest = z.read("MANIFEST.txt").decode()
    assert f"{board.id}-board.png: an image has no timeline, so no SRT subtitles" in manifest
    assert f"{busy.id}-busy.mp4: not finished (processing)" in manifest
    # JSON and CSV have no timeline to lose: the image goes in
    z = zipfile.ZipFile(
        io.BytesIO(client.get(f"/api/media/export.zip?ids={talk.id},{board.id}&format=json").content)
    )
    assert z.namelist() == ["MANIFEST.txt", f"{talk.id}-talk.json", f"{board.id}-board.json"]
    assert json.loads(z.read(f"{board.id}-board.json"))["tracks"][0]["text"] == "Departures"
    # nothing exportable, or nothing that exists: an error that says why
    res = client.get(f"/api/media/export.zip?ids={board.id}&format=vtt")
    assert (
        res.status_code == 400
        and "nothing to export" in res.json()["error"]
        and "board.png" in res.json()["error"]
    )
    assert client.get("/api/media/export.zip?ids=999999&format=csv").status_code == 404
    assert client.get("/api/media/export.zip?ids=&format=csv").status_code == 400


def test_bulk_delete_retry_and_cancel_say_per_item_what_was_done(app, queued, tmp_path):
    member, member_id = _bearer(app, "mia")
    boss, _ = _bearer(app, "ana", is_admin=True)
    root = get_settings().media_root
    with session_scope() as s:
        mine = [make_video_row(s, f"mine-{k}.mp4") for k in range(3)]
        for v in mine:
            v.owner_id = member_id
            (root / v.path).parent.mkdir(parents=True, exist_ok=True)
            (root / v.path).write_bytes(b"x")
        theirs = make_video_row(s, "theirs.mp4")
        failed = make_video_row(s, "failed.mp4", status="failed")
        busy = make_video_row(s, "busy.mp4", status="processing")
        for v in (failed, busy):
            v.owner_id = member_id
        ids = [v.id for v in mine]
        other, failed_id, busy_id = theirs.id, failed.id, busy.id
    res = member.post("/api/media/bulk", json={"action": "delete", "ids": [*ids[:2], other, 999999]})
    assert res.status_code == 200
    results = {r["id"]: r for r in res.json()["results"]}
    assert [results[i]["ok"] for i in (*ids[:2], other, 999999)] == [True, True, False, False]
    assert "uploaded by someone else" in results[other]["error"]
    assert "no media item 999999" in results[999999]["error"]
    assert not (root / "originals/mine-0.mp4").exists() and (root / "originals/mine-2.mp4").exists()
    with session_scope() as s:
        assert set(s.scalars(select(Video.id))) == {ids[2], other, failed_id, busy_id}
    # retry: the failed one is queued again; a done one is refused with the reason
    res = member.post("/api/media/bulk", json={"action": "retry", "ids": [failed_id, ids[2]]}).json()
    assert [r["ok"] for r in res["results"]] == [True, False] and "is done" in res["results"][1]["error"]
    assert queued.ids_sent(EXTRACT) == [failed_id]
    # cancel: the one being worked on ends cancelled; a finished one cannot be
    res = member.post("/api/media/bulk", json={"action": "cancel", "ids": [busy_id, ids[2]]}).json()
    assert [r["ok"] for r in res["results"]] == [True, False] and "only queued or processing" in res[
        "results"
    ][1]["error"]
    item = member.get(f"/api/media/{busy_id}").json()
    assert (item["status"], item["stage"], item["cancellable"], item["retryable"]) == (
        "cancelled",
        "cancelled",
        False,
        True,
    )
    # the admin changes anything; the request is checked as a whole first
    assert boss.post("/api/media/bulk", json={"action": "delete", "ids": [other]}).json()["results"][0]["ok"]
    assert member.post("/api/media/bulk", json={"action": "explode", "ids": [1]}).status_code == 400
    assert member.post("/api/media/bulk", json={"action": "delete", "ids": []}).status_code == 400


def test_reprocessing_the_selection_is_one_job_for_the_finished_items(app, queued):
    boss, _ = _bearer(app, "ana", is_admin=True)
    member, _ = _bearer(app, "mia")
    with session_scope() as s:
        a, b = make_video_row(s, "a.mp4"), make_video_row(s, "b.mp4")
        busy = make_video_row(s, "busy.mp4", status="processing")
        s.add(ModelVersion(name="ppocrv4-copy", kind="pipeline", files={}, params={}))
        ids = [a.id, b.id]
    job = boss.post("/api/jobs", json={"model": "ppocrv4-copy", "media": ids})
    assert job.status_code == 201, job.text
    assert sorted(s.args for s in queued.sent if s.task == REPROCESS_ITEM) == [
        (job.json()["id"], i) for i in ids
    ]
    res = boss.post("/api/jobs", json={"model": "ppocrv4-copy", "media": [*ids, busy.id]})
    assert res.status_code == 400 and "not finished" in res.json()["error"]
    assert member.post("/api/jobs", json={"model": "ppocrv4-copy", "media": ids}).status_code == 403


def test_a_file_that_is_not_media_offers_no_retry(app, queued, tmp_path):
    member, uid = _bearer(app, "mia")
    notes = tmp_path / "notes.mp4"
    notes.write_text("meeting notes, not a video\n" * 50)
    with session_scope() as s:  # as `ingest PATH` registers it: the probe comes with extraction
        vid = pipeline.register_media(s, notes, pipeline.IngestOptions(owner_id=uid)).media_id
    pipeline.extract_video(vid, queue=queued)
    item = member.get(f"/api/media/{vid}").json()
    assert item["status"] == "failed" and item["error"].startswith("not a media file")
    assert item["retryable"] is False
    res = member.post(f"/api/media/{vid}/retry")
    assert res.status_code == 400 and "retrying cannot help" in res.json()["error"]
    assert EXTRACT not in {s.task for s in queued.sent}
    # a failure that may pass (here the sweep giving up on a stuck item) can be retried
    with session_scope() as s:
        other = make_video_row(s, "stuck.mp4", status="failed")
        other.owner_id, other.error = uid, "stuck while processing for 12 min"
        other_id = other.id
    assert member.get(f"/api/media/{other_id}").json()["retryable"] is True
    assert member.post(f"/api/media/{other_id}/retry").json()["status"] == "queued"
    # registering the same content again resets the failed item (it runs, and fails, once more)
    with session_scope() as s:
        again = pipeline.register_media(s, notes, pipeline.IngestOptions(owner_id=uid))
    assert again.created and member.get(f"/api/media/{vid}").json()["status"] == "queued"
    with session_scope() as s:
        assert s.get(Video, vid).retryable is True


def _moving_video(path: Path, seconds: int, size: str = "320x180") -> Path:
    """A video whose every frame differs (ffmpeg's testsrc2: moving shapes, a running counter)."""
    subprocess.run(
        ["ffmpeg", "-v", "error", "-y", "-f", "lavfi",
         "-i", f"testsrc2=size={size}:rate=10:duration={seconds}",
         "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", str(path)],
        check=True,
    )  # fmt: skip
    return path


class PausingReader:
    """Reads nothing (no model needed) and pauses the job during its first call, as a person would
    while the item's first chunk is being read."""

    def __init__(self, job_id: int | None = None) -> None:
        self.job_id = job_id
        self.calls = 0

    def batch(self, images):
        self.calls += 1
        if self.job_id is not None and self.calls == 1:
            with session_scope() as s:
                jobs.pause_job(s, self.job_id)
        return [[] for _ in images]


def test_a_paused_job_stops_between_chunks_and_resumes_where_it_stopped(app, queued, tmp_path):
    boss, _ = _bearer(app, "ana", is_admin=True)
    chunk = get_settings().ocr_batch_frames  # frames read per engine call
    with session_scope() as s:
        vid = pipeline.register_media(
            s, _moving_video(tmp_path / "moving.mp4", 3), pipeline.IngestOptions(fps=10)
        ).media_id
        s.add(ModelVersion(name="other-rec", kind="pipeline", files={}, params={}))
    InlineQueue(lambda name: PausingReader()).send(EXTRACT, vid)
    with session_scope() as s:
        frames = s.scalar(select(func.count(Frame.id)).where(Frame.video_id == vid, pipeline.rows.is_read()))
        assert s.get(Video, vid).status == "done" and frames > 2 * chunk
    job = boss.post("/api/jobs", json={"model": "other-rec", "media": [vid]}).json()
    queued.take(REPROCESS_ITEM)
    reader = PausingReader(job["id"])
    assert jobs.run_item(job["id"], vid, reader_for=lambda name: reader) == jobs.PAUSED
    with session_scope() as s:
        item = s.get(JobItem, (job["id"], vid))
        assert (item.status, item.frames_done) == ("queued", chunk)  # one chunk read, then it let go
    paused = boss.get(f"/api/jobs/{job['id']}").json()
    assert paused["status"] == "paused" and paused["progress"]["eta_s"] is None
    assert boss.post(f"/api/jobs/{job['id']}/pause").status_code == 400  # already paused
    # a task still in the broker for a paused job puts its item back and returns at once
    assert jobs.run_item(job["id"], vid, reader_for=lambda name: reader) == jobs.PAUSED and reader.calls == 1
    # resume: the waiting item is queued again (once: not while a task for it is still in the broker)
    queued.send(REPROCESS_ITEM, job["id"], vid)
    res = boss.post(f"/api/jobs/{job['id']}/resume")
    assert res.status_code == 200 and res.json()["status"] == "running"
    assert queued.take(REPROCESS_ITEM) == [(job["id"], vid)]  # only the one that was there
    with session_scope() as s:
        jobs.pause_job(s, job["id"])
    boss.post(f"/api/jobs/{job['id']}/resume")
    assert queued.take(REPROCESS_ITEM) == [(job["id"], vid)]
    assert jobs.run_item(job["id"], vid, reader_for=lambda name: reader) == "done"
    with session_scope() as s:
        item = s.get(JobItem, (job["id"], vid))
        read = s.scalar(
            select(func.count()).select_from(FrameOcr).join(Frame, Frame.id == FrameOcr.frame_id)
            .where(Frame.video_id == vid, FrameOcr.model_version_id == s.scalar(
                select(ModelVersion.id).where(ModelVersion.name == "other-rec")))
        )  # fmt: skip
        assert item.status == "done" and item.frames_done == read == frames
    assert reader.calls == -(-frames // chunk)  # every chunk read once: nothing read twice
    assert boss.get(f"/api/jobs/{job['id']}").json()["status"] == "done"
    assert boss.post(f"/api/jobs/{job['id']}/resume").status_code == 400


def test_the_jobs_page_live_part_is_a_fragment_with_an_etag(app, queued):
    boss, _ = _bearer(app, "ana", is_admin=True)
    with session_scope() as s:
        busy = make_video_row(s, "busy.mp4", status="processing")
        busy.frames_total, busy.frames_extracted, busy.frames_ocr = 40, 20, 8
        busy_id = busy.id
    page = boss.get("/jobs").text
    assert 'data-live="/jobs/live"' in page and 'http-equiv="refresh"' not in page
    live = boss.get("/jobs/live")
    assert live.status_code == 200 and "<html" not in live.text and "reprocess-form" not in live.text
    assert f'data-id="{busy_id}" data-stage="reading"' in live.text
    assert f'data-action="/api/media/{busy_id}/cancel"' in live.text
    etag = live.headers["etag"]
    assert boss.get("/jobs/live", headers={"If-None-Match": etag}).status_code == 304
    boss.post(f"/api/media/{busy_id}/cancel")
    changed = boss.get("/jobs/live", headers={"If-None-Match": etag})
    assert changed.status_code == 200 and changed.headers["etag"] != etag
    assert f'data-id="{busy_id}"' not in changed.text.split('id="reprocess-jobs"')[0]  # no longer ingesting


def test_docs_are_served_from_the_package_behind_the_login(app):
    member, _ = _bearer(app, "mia")
    anon = TestClient(app, follow_redirects=False)
    for path in ("/docs", "/docs/assets/swagger-ui-bundle.js", "/openapi.json"):
        assert anon.get(path).status_code == 401, path
    page = member.get("/docs")
    assert page.status_code == 200
    assert "http:" not in page.text and "https:" not in page.text and '"//' not in page.text  # no other host
    for src in ("/docs/assets/swagger-ui-bundle.js", "/docs/assets/swagger-ui.css", "/static/docs.js"):
        assert f'"{src}"' in page.text
        asset = member.get(src)
        assert asset.status_code == 200 and len(asset.content) > 300, src
    bundle = member.get("/docs/assets/swagger-ui-bundle.js")
    assert bundle.headers["content-type"].startswith("text/javascript") and len(bundle.content) > 500_000
    csp = page.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "default-src 'self'" in csp  # the dashboard's own policy
    assert member.get("/docs/assets/index.html").status_code == 404  # only what the page loads
    assert member.get("/openapi.json").json()["paths"]["/api/media/export.zip"]


@pytest.mark.slow
def test_a_cancelled_ingest_stops_in_the_real_workers(workers, web_url, db, tmp_path):
    """An ingest cancelled while a real qextract worker decodes it: the item ends cancelled, frame
    extraction stops within a batch (ffmpeg too), the queued OCR batches are skipped, no roll-up runs;
    retry runs it again from the start."""
    with session_scope() as s:
        user = create_user(session=s, name="cat", password=PASSWORD)
        _, token = issue_token(session=s, user=user, name="tests")
    api = httpx.Client(base_url=web_url, headers={"Authorization": f"Bearer {token}"}, timeout=30)
    video = _moving_video(tmp_path / "long-talk.mp4", 240, size="640x360")
    with video.open("rb") as f:
        res = api.post("/api/media", files={"file": ("long-talk.mp4", f, "video/mp4")}, data={"fps": "5"})
    assert res.status_code == 201, res.text
    vid = res.json()["id"]
    expected = 240 * 5

    def item() -> dict:
        return api.get(f"/api/media/{vid}").json()

    deadline = time.monotonic() + 60
    while (now := item())["progress"]["frames_extracted"] < 8:
        assert now["status"] in ("queued", "processing") and time.monotonic() < deadline, now
        time.sleep(0.2)
    cancelled = api.post(f"/api/media/{vid}/cancel")
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"

    def settled(key: str, quiet_s: float = 4.0) -> int:
        """The value once it has not changed for quiet_s seconds."""
        last, since = None, time.monotonic()
        give_up = time.monotonic() + 60
        while time.monotonic() < give_up:
            value = item()["progress"][key]
            if value != last:
                last, since = value, time.monotonic()
            elif time.monotonic() - since >= quiet_s:
                return value
            time.sleep(0.25)
        raise AssertionError(f"{key} kept changing: {last}")

    extracted = settled("frames_extracted")
    assert extracted < expected / 10, f"extraction went on after the cancel: {extracted} of {expected} frames"
    settled("frames_ocr")
    final = item()
    assert (
        final["status"] == "cancelled"
        and final["tracks"] == 0
        and final["retryable"]
        and not final["cancellable"]
    )
    with session_scope() as s:
        assert s.scalar(select(func.count(Frame.id)).where(Frame.video_id == vid)) <= extracted
        original = s.get(Video, vid).path
    ffmpeg = subprocess.run(["pgrep", "-f", f"ffmpeg.*{original}"], capture_output=True, text=True)
    assert ffmpeg.stdout == "", f"ffmpeg still decodes the cancelled item: {ffmpeg.stdout}"
    log = workers.read_text(errors="replace")
    assert f"media {vid} is cancelled; its extraction stops" in log, log[-3000:]
    assert api.post(f"/api/media/{vid}/cancel").status_code == 400  # once is enough
    # retry runs it again from the start; cancelled again, it leaves the workers free for other tests
    again = api.post(f"/api/media/{vid}/retry").json()
    assert again["status"] == "queued" and again["progress"]["frames_extracted"] == 0
    assert api.post(f"/api/media/{vid}/cancel").json()["status"] == "cancelled"
    settled("frames_extracted", quiet_s=3.0)
