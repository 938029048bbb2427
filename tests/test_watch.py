"""The watch folder, run as a user runs it: ``./manage.py watch DIR`` as a subprocess on real PostgreSQL
and Redis, with files written slowly, non-media files, temporary files, subfolders and a kill in the
middle. The watcher gets a broker key prefix of its own, so no worker of the test stack takes its tasks:
what it queued can be read back from Redis."""

from __future__ import annotations

import hashlib
import io
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import SimpleNamespace

import pytest
from mediagen import make_video, png_header
from runcli import run_cli

from dva_ocr.db.session import session_scope
from dva_ocr.db.tables import Video
from dva_ocr.work import EXTRACT

ROOT = Path(__file__).resolve().parents[1]
SETTLE = 2.0  # seconds a file must stay unchanged
POLL = 0.2
PAUSE = 0.5  # between chunks of a slow write: longer than a poll, shorter than the settle time


@pytest.fixture()
def watch_env(db, service_env, request) -> Iterator[dict[str, str]]:
    import redis

    prefix = f"{service_env['BROKER_PREFIX']}-watch-{request.node.name[:40]}"
    yield {**os.environ, "BROKER_PREFIX": prefix}
    r = redis.Redis.from_url(service_env["BROKER_URL"])
    keys = list(r.scan_iter(match=f"{prefix}:*"))
    if keys:
        r.delete(*keys)


class Watching:
    def __init__(self, proc: subprocess.Popen[bytes], log: Path) -> None:
        self.proc, self.log = proc, log

    def text(self) -> str:
        return self.log.read_text(errors="replace")

    def wait_for(self, pattern: str, count: int = 1, timeout: float = 60) -> str:
        deadline = time.monotonic() + timeout
        while True:
            text = self.text()
            if len(re.findall(pattern, text)) >= count:
                return text
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"no {pattern!r} (x{count}) in the watcher's log:\n{text[-3000:]}")
            time.sleep(0.1)


@contextmanager
def watching(folder: Path, env: dict[str, str], *args: str, log: Path | None = None) -> Iterator[Watching]:
    log = log or folder.parent / f"watch-{time.monotonic_ns()}.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, str(ROOT / "manage.py"), "watch", str(folder), "--settle", str(SETTLE)]
            + ["--poll", str(POLL), *args],
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=ROOT,
            env=env,
        )
    w = Watching(proc, log)
    try:
        w.wait_for(r"watching ")
        yield w
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)


def _png(seed: int, size: int = 160) -> bytes:
    """A noise PNG (large enough to write in several chunks), different for each seed."""
    import numpy as np
    from PIL import Image

    pixels = np.random.default_rng(seed).integers(0, 256, (size, size, 3), dtype=np.uint8)
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, format="PNG")
    return buf.getvalue()


def _write_slowly(path: Path, data: bytes, chunks: int = 4, *, check=None) -> None:
    step = -(-len(data) // chunks)
    for i in range(0, len(data), step):
        with path.open("ab") as f:
            f.write(data[i : i + step])
        if i + step < len(data):
            time.sleep(PAUSE)
            if check is not None:
                check()


def _videos() -> list[tuple[int, str, str]]:
    with session_scope() as s:
        return [(v.id, v.source_name, v.sha256) for v in s.query(Video).order_by(Video.id)]


def _extract_tasks(env: dict[str, str]) -> list[int]:
    """The media ids of the extraction tasks the watcher queued (read back from Redis)."""
    from workers.queue import CeleryQueue

    conf = SimpleNamespace(
        broker_url=env["BROKER_URL"],
        broker_transport_options={"global_keyprefix": f"{env['BROKER_PREFIX']}:"},
    )
    sent = CeleryQueue(SimpleNamespace(conf=conf)).pending()  # type: ignore[arg-type]
    return sorted(int(s.args[0]) for s in sent if s.task == EXTRACT)  # type: ignore[arg-type]


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_a_folder_that_is_missing_or_a_file_is_a_clear_error(tmp_path):
    missing = run_cli("watch", str(tmp_path / "nope"), timeout=60)
    assert missing.returncode == 2
    assert f"error: watch folder not found: {tmp_path / 'nope'}" in missing.stderr
    file = tmp_path / "clip.mp4"
    file.write_bytes(b"x")
    not_dir = run_cli("watch", str(file), timeout=60)
    assert not_dir.returncode == 2
    assert "error: not a folder:" in not_dir.stderr and "use ingest for one file" in not_dir.stderr


def test_a_file_written_slowly_is_ingested_once_after_it_is_complete(watch_env, tmp_path):
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    data = _png(1)
    with watching(inbox, watch_env) as w:

        def nothing_yet() -> None:
            assert _videos() == [] and not (inbox / "failed").exists(), w.text()

        _write_slowly(inbox / "slow.png", data, chunks=5, check=nothing_yet)
        text = w.wait_for(r"ingested slow\.png as media \d+")
        [(media_id, name, sha)] = _videos()
        assert (name, sha) == ("slow.png", _sha(data))  # the whole file, not a part of it
        assert not (inbox / "slow.png").exists()  # consumed: the original is kept under MEDIA_ROOT
        time.sleep(SETTLE + 3 * POLL)
        assert _extract_tasks(watch_env) == [media_id]
        assert w.text().count("slow.png") == text.count("slow.png") == 1
        # Ctrl-C stops it cleanly
        w.proc.send_signal(signal.SIGINT)
        assert w.proc.wait(timeout=20) == 0
        assert "stopped watching" in w.text()


def test_the_same_content_again_is_not_queued_again(watch_env, tmp_path):
    """What happens after a kill between the commit and the removal: the file is submitted again, the
    sha256 finds the media item, nothing is queued twice."""
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    data = _png(2)
    with watching(inbox, watch_env) as w:
        (inbox / "a.png").write_bytes(data)
        w.wait_for(r"ingested a\.png as media")
        (inbox / "copy of a.png").write_bytes(data)
        w.wait_for(r"ingested copy of a\.png: the same content is already media \d+; not queued again")
    [(media_id, _, _)] = _videos()
    assert _extract_tasks(watch_env) == [media_id]
    assert sorted(p.name for p in inbox.iterdir()) == []


def test_non_media_goes_to_failed_with_the_reason_and_temporary_files_are_left_alone(watch_env, tmp_path):
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    ignored = [".hidden.png", "movie.mp4.part", "upload.tmp", "photo.png~", "get.crdownload"]
    for i, name in enumerate(ignored):
        (inbox / name).write_bytes(_png(10 + i, 16))
    (inbox / "failed").mkdir()
    (inbox / "failed" / "old.png").write_bytes(_png(20, 16))  # failed/ itself is never watched
    with watching(inbox, watch_env, "--recursive") as w:
        (inbox / "notes.txt").write_text("meeting notes, not a video\n")
        (inbox / "empty.mp4").write_bytes(b"")
        (inbox / "good.png").write_bytes(_png(3))
        (inbox / "huge.png").write_bytes(png_header(16_000, 16_000))  # over IMAGE_MAX_PIXELS
        w.wait_for(r"failed notes\.txt: not a media file")
        w.wait_for(r"failed huge\.png: 16000 x 16000 pixels \(256 megapixels\) is over the limit")
        w.wait_for(r"failed empty\.mp4: not a media file: the file is empty \(0 bytes\)")
        w.wait_for(r"ingested good\.png as media")
        time.sleep(SETTLE + 5 * POLL)
        text = w.text()
    assert (inbox / "failed" / "notes.txt").read_text() == "meeting notes, not a video\n"
    reason = (inbox / "failed" / "notes.txt.error.txt").read_text()
    assert reason.startswith("not a media file: ffprobe could not read it")
    assert (
        (inbox / "failed" / "empty.mp4.error.txt")
        .read_text()
        .startswith("not a media file: the file is empty (0 bytes)")
    )
    assert [name for _, name, _ in _videos()] == ["good.png"]
    for name in ignored:
        assert (inbox / name).exists() and name not in text
    assert (inbox / "failed" / "old.png").exists() and "old.png" not in text
    assert sorted(p.name for p in (inbox / "failed").iterdir()) == [
        "empty.mp4",
        "empty.mp4.error.txt",
        "huge.png",
        "huge.png.error.txt",
        "notes.txt",
        "notes.txt.error.txt",
        "old.png",
    ]


def test_a_restart_while_a_file_is_half_written_ingests_everything_exactly_once(watch_env, tmp_path):
    """--keep: ingested files stay in place; a state file keeps them from being ingested again."""
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    first = _png(4)
    (tmp_path / "src").mkdir()
    video = make_video(tmp_path / "src" / "talk.mp4", [], duration=3, size="320x240").read_bytes()
    half = len(video) // 2
    with watching(inbox, watch_env, "--keep") as w:
        (inbox / "first.png").write_bytes(first)
        w.wait_for(r"ingested first\.png as media")
        (inbox / "talk.mp4").write_bytes(video[: half // 2])
        time.sleep(PAUSE)
        with (inbox / "talk.mp4").open("ab") as f:
            f.write(video[half // 2 : half])
        time.sleep(PAUSE)
        w.proc.kill()  # SIGKILL: no chance to save or tidy anything
        w.proc.wait(timeout=10)
        assert "talk.mp4" not in w.text()
    assert [n for _, n, _ in _videos()] == ["first.png"]
    with watching(inbox, watch_env, "--keep") as w2:
        _write_slowly(inbox / "talk.mp4", video[half:], chunks=2)
        w2.wait_for(r"ingested talk\.mp4 as media")
        time.sleep(SETTLE + 3 * POLL)
        text = w2.text()
    assert "ingested first.png" not in text
    assert "skipped first.png: ingested before (state file)" in text
    assert text.count("talk.mp4") == 1
    videos = _videos()
    assert [(n, sha) for _, n, sha in videos] == [("first.png", _sha(first)), ("talk.mp4", _sha(video))]
    assert _extract_tasks(watch_env) == [vid for vid, _, _ in videos]
    assert (inbox / "first.png").exists() and (inbox / "talk.mp4").exists()  # kept in place
    assert not (inbox / "failed").exists()


def test_recursive_mode_walks_subfolders_and_plain_mode_does_not(watch_env, tmp_path):
    inbox = tmp_path / "inbox"
    (inbox / "2026" / "march").mkdir(parents=True)
    (inbox / "top.png").write_bytes(_png(5))
    (inbox / "2026" / "march" / "deep.png").write_bytes(_png(6))
    (inbox / "2026" / "readme.txt").write_text("not media")
    with watching(inbox, watch_env) as w:
        w.wait_for(r"ingested top\.png as media")
        time.sleep(SETTLE + 5 * POLL)
        assert "deep.png" not in w.text() and "readme.txt" not in w.text()
    assert [n for _, n, _ in _videos()] == ["top.png"]
    with watching(inbox, watch_env, "--recursive") as w:
        w.wait_for(r"ingested 2026/march/deep\.png as media")
        w.wait_for(r"failed 2026/readme\.txt: not a media file")
    assert sorted(n for _, n, _ in _videos()) == ["deep.png", "top.png"]
    assert (inbox / "failed" / "2026" / "readme.txt").exists()
    assert (inbox / "failed" / "2026" / "readme.txt.error.txt").exists()
    assert not (inbox / "2026" / "march" / "deep.png").exists()
    assert len(_extract_tasks(watch_env)) == 2


def test_compose_runs_the_watcher_on_a_mounted_folder_beside_the_workers():
    import yaml

    services = yaml.safe_load((ROOT / "compose" / "docker-compose.yml").read_text())["services"]
    svc = services["watch"]
    assert svc["command"][:2] == ["watch", "/data/inbox"]
    assert "./inbox:/data/inbox" in svc["volumes"]
    assert "media:/data/media" in svc["volumes"]  # submit_file stores the original where workers read it
    assert svc["environment"] == services["worker-extract"]["environment"]
    from dva_cli.main import build_parser

    args = build_parser().parse_args(svc["command"])
    assert args.func.__module__ == "dva_cli.commands_watch" and args.recursive
