"""Model registry and reprocessing jobs: versions side by side, progress, cancel, retry, compare, promote."""

from __future__ import annotations

import json
import shutil

import pytest
from factories import count_rows
from fastapi.testclient import TestClient
from mediagen import Caption, make_video
from runcli import run_cli

from dva_ocr import jobs
from dva_ocr import model_registry as reg
from dva_ocr.db.session import session_scope
from dva_ocr.db.tables import FrameOcr, Region, TextTrack, Video
from dva_ocr.engines import load_engine, model_files
from dva_ocr.errors import DvaOcrError
from dva_ocr.ocr.spec import DET_FILE, REC_FILE, model_dir
from dva_ocr.pipeline import register_media
from dva_ocr.search import search
from dva_ocr.users import create_user, issue_token
from dva_ocr.web import create_app
from dva_ocr.work import EXTRACT, REPROCESS_ITEM, RecordingQueue
from dva_ocr.work.inline import InlineQueue

CAPTIONS = [Caption("Harbour lights festival", 0, 2), Caption("Platform nine departures", 3, 5, y=500)]


@pytest.fixture(scope="module")
def engines():
    """One engine per model name, as a qocr worker keeps them."""
    cache = {}

    def reader_for(name: str):
        if name not in cache:
            cache[name] = load_engine(name)
        return cache[name]

    return reader_for


def _ingest(path, reader_for) -> int:
    """Ingest a file through the real stages, run in this process one after the other."""
    with session_scope() as s:
        vid = register_media(s, path).media_id
    InlineQueue(lambda name: reader_for(name or "ppocrv4")).send(EXTRACT, vid)
    with session_scope() as s:
        assert s.get(Video, vid).status == "done"
    return vid


@pytest.fixture()
def two_media(db, tmp_path, engines):
    a = _ingest(make_video(tmp_path / "a.mp4", CAPTIONS, duration=6), engines)
    b = _ingest(make_video(tmp_path / "b.mp4", CAPTIONS[:1], duration=3), engines)
    return a, b


@pytest.fixture()
def copy_model(db, tmp_path):
    """A second model version: the bundled recogniser's file under another name (a real ONNX file)."""
    rec = tmp_path / "my-rec.onnx"
    shutil.copyfile(model_dir() / REC_FILE, rec)
    with session_scope() as s:
        reg.add_model(s, "rec-copy", rec=rec, description="same weights, new version")
    return "rec-copy"


def test_models_add_list_activate(db, tmp_path, copy_model):
    with session_scope() as s:
        names = {mv.name: n for mv, n in reg.list_models(s)}
        assert set(names) == {"ppocrv4", "rec-copy"}
        mv = reg.get_or_create_model_version(s, copy_model)
        rec = next(f for f in mv.files["files"] if f["role"] == "rec")
        assert rec["path"].startswith("models/") and len(rec["sha256"]) == 64
        assert {f["role"] for f in mv.files["files"]} == {"det", "rec"}  # the bundled detector fills in
        assert reg.default_model_name(s) == "ppocrv4"
        reg.activate(s, copy_model)
    with session_scope() as s:
        assert reg.default_model_name(s) == copy_model
        reg.activate(s, "ppocrv4")  # one active at a time
    with session_scope() as s:
        assert reg.default_model_name(s) == "ppocrv4"
    # versions are never overwritten; broken files are refused with a reason
    with session_scope() as s, pytest.raises(DvaOcrError, match="already exists"):
        reg.add_model(s, copy_model, rec=tmp_path / "my-rec.onnx")
    with session_scope() as s, pytest.raises(DvaOcrError, match="not found"):
        reg.add_model(s, "nope", rec=tmp_path / "missing.onnx")
    with session_scope() as s, pytest.raises(DvaOcrError, match="does not load|character"):
        reg.add_model(s, "det-as-rec", rec=model_dir() / DET_FILE)
    with session_scope() as s, pytest.raises(DvaOcrError, match="model name"):
        reg.add_model(s, "bad name!", rec=tmp_path / "my-rec.onnx")
    # a changed file is caught before it is used
    with session_scope() as s:
        mv = reg.get_or_create_model_version(s, copy_model)
        path = model_files(mv.files)["rec"]
    path.write_bytes(path.read_bytes() + b"\0")
    with pytest.raises(DvaOcrError, match="does not match the registered sha256"):
        load_engine(copy_model)


def test_reprocess_keeps_old_results_compares_promotes_and_reruns_change_nothing(
    two_media, copy_model, engines
):
    a, b = two_media
    old_regions = count_rows(Region)
    with session_scope() as s:
        old_mv = s.get(Video, a).model_version_id
        job = jobs.create_job(s, copy_model, all_media=True)
        job_id = job.id
        assert jobs.progress(s, job)["total"] == 2
    for vid in (a, b):
        assert jobs.run_item(job_id, vid, reader_for=engines) == "done"
    with session_scope() as s:
        job = jobs.get_job(s, job_id)
        p = jobs.progress(s, job)
        assert job.status == "done"
        assert (p["done"], p["failed"], p["total"]) == (2, 0, 2)
        assert p["frames_done"] == p["frames_total"] > 0 and p["rate_frames_s"] > 0 and p["eta_s"] is None
        new_mv = job.model_version_id
    # stored beside the old results; nothing was deleted
    assert count_rows(Region, model_version_id=old_mv) == old_regions
    assert count_rows(Region, model_version_id=new_mv) == old_regions  # same weights: same regions
    assert (
        count_rows(TextTrack, model_version_id=new_mv) == count_rows(TextTrack, model_version_id=old_mv) == 3
    )
    # the comparison shows both, per media item
    with session_scope() as s:
        rows = jobs.compare(s, job_id)
    assert [(r["media_id"], r["old"], r["new"]) for r in rows] == [
        (a, {"regions": 2, "tracks": 2, "words": 6}, {"regions": 2, "tracks": 2, "words": 6}),
        (b, {"regions": 1, "tracks": 1, "words": 3}, {"regions": 1, "tracks": 1, "words": 3}),
    ]
    # running an item again, or a new job for what is missing, reads nothing more
    before = count_rows(FrameOcr)
    assert jobs.run_item(job_id, a, reader_for=engines) == "done"
    with session_scope() as s:
        again = jobs.create_job(s, copy_model, missing=True)
        assert again.status == "done" and jobs.progress(s, again)["total"] == 0
        third = jobs.create_job(s, copy_model, media=[a])
        third_id = third.id
    assert jobs.run_item(third_id, a, reader_for=engines) == "done"
    assert count_rows(FrameOcr) == before and count_rows(Region, model_version_id=new_mv) == old_regions
    # search follows each media item's active version: promote, and the new version answers
    with session_scope() as s:
        assert jobs.promote(s, job_id) == 2
    with session_scope() as s:
        assert {s.get(Video, v).model_version_id for v in (a, b)} == {new_mv}
        hits = search(s, "platform departures")
        assert [h.media_id for h in hits] == [a]
        assert s.get(Video, a).tracks_count == 2


def test_cancel_and_retry(two_media, copy_model, engines):
    a, b = two_media
    with session_scope() as s:
        job_id = jobs.create_job(s, copy_model, media=[a, b]).id

    def broken(name: str):
        raise RuntimeError("GPU fell off the bus")

    assert jobs.run_item(job_id, a, reader_for=broken) == "failed"
    with session_scope() as s:
        jobs.cancel_job(s, job_id)
    assert jobs.run_item(job_id, b, reader_for=engines) == "cancelled"  # a queued item after cancel
    with session_scope() as s:
        job = jobs.get_job(s, job_id)
        p = jobs.progress(s, job)
        assert job.status == "cancelled" and (p["failed"], p["cancelled"], p["done"]) == (1, 1, 0)
        assert jobs.compare(s, job_id)[0]["status"] == "failed"
        retried = jobs.retry_job(s, job_id)
    assert sorted(retried) == [a, b]
    for vid in retried:
        assert jobs.run_item(job_id, vid, reader_for=engines) == "done"
    with session_scope() as s:
        job = jobs.get_job(s, job_id)
        assert job.status == "done" and jobs.progress(s, job)["done"] == 2
    with session_scope() as s, pytest.raises(DvaOcrError, match="choose the media"):
        jobs.create_job(s, copy_model)


def test_jobs_api_and_pages(two_media, copy_model):
    a, _ = two_media
    queued = RecordingQueue()
    app = create_app(queue=queued)
    with session_scope() as s:
        user = create_user(session=s, name="ana", password="correct horse", is_admin=True)
        _, token = issue_token(session=s, user=user, name="tests")
    client = TestClient(app, headers={"Authorization": f"Bearer {token}"}, follow_redirects=False)
    models = client.get("/api/models").json()
    assert models["default"] == "ppocrv4" and {m["name"] for m in models["models"]} == {"ppocrv4", copy_model}
    made = client.post("/api/jobs", json={"model": copy_model, "media": [a]})
    assert made.status_code == 201, made.text
    job = made.json()
    assert [s.args for s in queued.sent if s.task == REPROCESS_ITEM] == [(job["id"], a)]
    assert job["progress"]["total"] == 1 and job["status"] == "queued"
    assert client.get(f"/api/jobs/{job['id']}").json()["progress"]["queued"] == 1
    assert client.post("/api/jobs", json={"model": "nope", "all": True}).status_code == 404
    assert client.post("/api/jobs", json={"model": copy_model}).status_code == 400
    assert client.get(f"/api/jobs/{job['id']}/compare").json()["media"][0]["media_id"] == a
    assert client.post(f"/api/jobs/{job['id']}/cancel").json()["status"] == "cancelled"
    assert client.post(f"/api/jobs/{job['id']}/promote").status_code == 400  # nothing finished
    # the dashboard: models with their files, the form, the job with its comparison
    page = client.get("/jobs").text
    assert f'data-model="{copy_model}"' in page and 'id="reprocess-form"' in page
    assert f'data-job="{job["id"]}"' in page
    detail = client.get(f"/jobs/{job['id']}").text
    assert 'id="compare"' in detail and f'data-media="{a}"' in detail and "cancelled" in detail
    assert client.post(f"/api/models/{copy_model}/activate").json()["active"] is True
    assert client.get("/api/models").json()["default"] == copy_model


@pytest.mark.slow
def test_reprocess_through_the_workers(workers, db, tmp_path):
    video = make_video(tmp_path / "talk.mp4", CAPTIONS, duration=6)
    assert run_cli("ingest", str(video), "--wait").returncode == 0
    rec = tmp_path / "custom-rec.onnx"
    shutil.copyfile(model_dir() / REC_FILE, rec)
    added = run_cli("models", "add", "custom", "--rec", str(rec))
    assert added.returncode == 0, added.stderr
    listed = [json.loads(x) for x in run_cli("models", "list", "--json").stdout.splitlines()]
    assert {m["name"] for m in listed} == {"ppocrv4", "custom"}
    proc = run_cli("reprocess", "--model", "custom", "--all", "--wait", "--json")
    assert proc.returncode == 0, proc.stderr + proc.stdout
    job = json.loads(proc.stdout)
    assert job["status"] == "done" and job["progress"]["done"] == 1
    assert job["progress"]["frames_done"] == job["progress"]["frames_total"] > 0
    compared = json.loads(run_cli("jobs", "compare", str(job["id"]), "--json").stdout)
    assert compared["new"]["tracks"] == compared["old"]["tracks"] == 2
    assert run_cli("jobs", "promote", str(job["id"])).returncode == 0
    hits = [json.loads(x) for x in run_cli("search", "harbour", "--json").stdout.splitlines()]
    assert len(hits) == 1 and hits[0]["text"] == "Harbour lights festival"
