"""Retry works on stuck items: a queued or processing item that nothing works on (no task in the broker,
not touched for STUCK_AFTER_S) can be retried like a failed one; one that is really running is refused
with the reason; an upload of content already known says what state that item is in and how to retry."""

from __future__ import annotations

import pytest
from factories import count_rows, frame_row, make_video_row
from fastapi.testclient import TestClient
from mediagen import Caption, make_video
from runcli import run_cli
from sqlalchemy import text, update

from dva_ocr.db.session import session_scope
from dva_ocr.db.tables import Frame, Video
from dva_ocr.errors import DvaOcrError
from dva_ocr.pipeline import register_media
from dva_ocr.users import create_user, issue_token
from dva_ocr.web import create_app
from dva_ocr.work import EXTRACT, OCR_FRAMES, RecordingQueue, submit


def _age(media_id: int, minutes: float = 30) -> None:
    with session_scope() as s:
        s.execute(
            update(Video)
            .where(Video.id == media_id)
            .values(touched_at=text(f"now() - interval '{minutes} minutes'"))
        )


def _stuck(name: str, status: str = "processing") -> int:
    """An item that stopped part-way (a frame extracted, notes written), untouched for 30 minutes."""
    with session_scope() as s:
        v = make_video_row(s, name, status=status)
        v.notes = ["an earlier run's note"]
        frame_row(s, v, 0)
        vid = v.id
    _age(vid)
    return vid


def test_a_stuck_item_is_retried_from_the_start(db):
    vid = _stuck("stuck.mp4")
    queue = RecordingQueue()
    with session_scope() as s:
        submit.retry_media(s, queue, vid)
    assert queue.ids_sent(EXTRACT) == [vid]
    with session_scope() as s:
        v = s.get(Video, vid)
        assert (v.status, v.extracted, v.notes, v.requeues) == ("queued", False, [], 0)
    assert count_rows(Frame, video_id=vid) == 0


@pytest.mark.parametrize("status", ["queued", "processing", "finalizing"])
def test_an_item_being_worked_on_is_refused_with_the_reason(db, status):
    queue = RecordingQueue()
    with session_scope() as s:
        fresh = make_video_row(s, f"fresh-{status}.mp4", status=status).id  # touched just now
    with session_scope() as s, pytest.raises(DvaOcrError) as err:
        submit.retry_media(s, queue, fresh)
    assert f"media {fresh} is {status} and still being worked on: a worker wrote to it" in str(err.value)

    waiting = _stuck(f"waiting-{status}.mp4", status)
    queue.send(OCR_FRAMES, waiting, [1, 2])  # its task waits in the broker (or a retry's countdown)
    with session_scope() as s, pytest.raises(DvaOcrError, match="a task for it is queued"):
        submit.retry_media(s, queue, waiting)
    assert queue.ids_sent(EXTRACT) == [] and count_rows(Frame, video_id=waiting) == 1


def test_a_done_item_is_not_retried(db):
    with session_scope() as s:
        vid = make_video_row(s, "done.mp4").id
    with session_scope() as s, pytest.raises(DvaOcrError, match="is done; nothing to retry"):
        submit.retry_media(s, RecordingQueue(), vid)


@pytest.fixture()
def client(db):
    queue = RecordingQueue()
    with session_scope() as s:
        user = create_user(session=s, name="ana", password="correct horse", is_admin=True)
        _, token = issue_token(session=s, user=user, name="tests")
    c = TestClient(create_app(queue=queue), headers={"Authorization": f"Bearer {token}"})
    c.queue = queue  # type: ignore[attr-defined]
    return c


def test_the_api_retries_a_stuck_item_and_refuses_a_running_one(client):
    stuck = _stuck("stuck.mp4")
    res = client.post(f"/api/media/{stuck}/retry")
    assert res.status_code == 200 and res.json()["status"] == "queued", res.text
    assert client.queue.ids_sent(EXTRACT) == [stuck]
    again = client.post(f"/api/media/{stuck}/retry")  # just queued again: it is being worked on
    assert again.status_code == 400 and "still being worked on" in again.json()["error"]


def test_an_upload_of_known_content_says_its_state_and_how_to_retry(client, tmp_path):
    video = make_video(tmp_path / "known.mp4", [Caption("Gate 4", 0, 1)], duration=1, size="320x240")
    with video.open("rb") as f:
        first = client.post("/api/media", files={"file": ("known.mp4", f)}).json()
    assert first["created"] and first["note"] is None
    with session_scope() as s:
        s.get(Video, first["id"]).status = "processing"
    with video.open("rb") as f:
        again = client.post("/api/media", files={"file": ("again.mp4", f)}).json()
    assert again["id"] == first["id"] and not again["created"]
    note = again["note"]
    assert note.startswith(f"already known as media {first['id']} (known.mp4), processing; ")
    assert f"POST /api/media/{first['id']}/retry" in note and f"./manage.py retry {first['id']}" in note


def test_ingest_of_known_content_and_the_retry_command(db, tmp_path):
    video = make_video(tmp_path / "cli.mp4", [Caption("Gate 5", 0, 1)], duration=1, size="320x240")
    with session_scope() as s:
        vid = register_media(s, video).media_id
    proc = run_cli("ingest", str(video))
    assert proc.returncode == 0, proc.stderr
    assert f"already known as media {vid} (cli.mp4), queued; if it makes no progress, retry it" in proc.stderr

    refused = run_cli("retry", str(vid))  # just registered: being worked on
    assert refused.returncode == 1 and "still being worked on" in refused.stderr
    _age(vid)
    done = run_cli("retry", str(vid))
    assert done.returncode == 0, done.stderr
    assert f"media {vid}: queued again from the start" in done.stdout
