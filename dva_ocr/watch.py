"""The watch folder: media files that appear in a folder are ingested, once each, once they are complete.

Why polling: inotify (and its cousins) does not see writes made by another machine to an NFS or SMB
share, nor, in many containers, writes made on the host into a bind mount; a scan every ``poll_s``
seconds sees them all, costs one ``stat`` per file, and needs nothing from the kernel.

Complete means *settled*: the file's size and modification time were the same on every scan for
``settle_s`` seconds, measured on this process's own monotonic clock (never by comparing a file's mtime
with the clock: NFS servers and clients disagree about the time). A writer that pauses longer than the
settle time is indistinguishable from one that finished; size the setting to the slowest writer.

What happens to a file, once settled:

- it is probed (``dva_ocr.media.probe``); one that is not usable media is moved to ``failed/`` (same
  relative path) with ``NAME.error.txt`` beside it saying why, and nothing is registered;
- media is submitted through ``dva_ocr.work.submit.submit_file`` (the one way to submit work: stored
  content-addressed under MEDIA_ROOT, row committed, extraction queued);
- then, by default, the file is removed from the folder (it is *consumed*, as Paperless does: the
  folder is an inbox, what is in it is what is still to do, and the original is kept under MEDIA_ROOT).
  With ``keep=True`` it stays where it is and a state file remembers it (relative path, size, mtime,
  media id), so it is never ingested again while it is unchanged.

Restart-safe without trusting this process to have finished anything: a file half-written when the
watcher was killed is seen again from scratch and waits out the settle time; a file ingested just
before a kill, whose removal (or state entry) was lost, is submitted again and the media's sha256
finds the existing item (``created=False``: nothing is queued twice). A database or broker error
leaves the file in place and it is tried again later (the waits double, up to a minute).

Hidden files (``.name``), temporary files of downloads and editors (``.part``, ``.tmp``,
``.crdownload``, ``~``, ...) and the ``failed/`` folder are never looked at.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from dva_ocr.errors import DvaOcrError, MediaError
from dva_ocr.media.images import too_many_pixels
from dva_ocr.media.probe import probe
from dva_ocr.pipeline.register import Registered

log = logging.getLogger(__name__)

FAILED_DIR = "failed"
STATE_FILE = ".dva-watch-state.json"
TEMP_SUFFIXES = (".part", ".partial", ".tmp", ".temp", ".crdownload", ".download", ".swp", "~")
RETRY_MAX_S = 60.0


class WatchError(DvaOcrError):
    """The watch folder cannot be used (missing, not a folder, not writable)."""


def ignored(name: str) -> bool:
    """Hidden and temporary files: never ingested, never moved."""
    return name.startswith(".") or name.lower().endswith(TEMP_SUFFIXES)


def check_folder(root: Path) -> Path:
    """The folder to watch, resolved, or a WatchError that says what is wrong with it."""
    if not root.exists():
        raise WatchError(f"watch folder not found: {root}")
    if not root.is_dir():
        raise WatchError(f"not a folder: {root} (watch takes a folder; use ingest for one file)")
    if not os.access(root, os.R_OK | os.W_OK | os.X_OK):
        raise WatchError(
            f"cannot read and write in {root}: the watcher moves files that are not media to "
            f"{FAILED_DIR}/ and removes (or records) the ones it ingested"
        )
    return root.resolve()


@dataclass(frozen=True)
class Decision:
    """What was done with one file, as logged."""

    path: str  # relative to the watch folder
    action: str  # "ingested" | "known" | "failed" | "skipped" | "retry"
    media_id: int | None = None
    reason: str = ""


Signature = tuple[int, int]  # (size, mtime_ns)


@dataclass
class _Seen:
    signature: Signature
    since: float  # monotonic time the signature was first seen


@dataclass
class _Retry:
    at: float
    wait: float


@dataclass
class Watcher:
    """Scan ``root`` every ``poll_s`` and hand settled files to ``submit`` (a path in, ``Registered``
    out: ``lambda p: submit_file(queue, p, options)``; the watcher itself never imports Celery)."""

    root: Path
    submit: Callable[[Path], Registered]
    settle_s: float = 5.0
    poll_s: float = 1.0
    recursive: bool = False
    keep: bool = False
    state_path: Path | None = None  # with keep: default ROOT/.dva-watch-state.json
    clock: Callable[[], float] = time.monotonic
    _seen: dict[str, _Seen] = field(default_factory=dict)
    _done: dict[str, Signature] = field(default_factory=dict)  # handled by this process
    _retry: dict[str, _Retry] = field(default_factory=dict)
    _state: dict[str, dict[str, int]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.root = check_folder(self.root)
        if self.keep:
            self.state_path = self.state_path or self.root / STATE_FILE
            self._state = self._load_state()

    # --- the loop ----------------------------------------------------------------------------------

    def run(self, stop: threading.Event) -> None:
        """Poll until ``stop`` is set; a file being handled when it is set is finished first."""
        mode = (
            f"keeping ingested files (state in {self.state_path})" if self.keep else "removing ingested files"
        )
        log.info(
            "watching %s%s every %.1f s; a file is ingested once unchanged for %.1f s; %s",
            self.root,
            " and its subfolders" if self.recursive else "",
            self.poll_s,
            self.settle_s,
            mode,
        )
        while not stop.is_set():
            self.poll_once(stop)
            stop.wait(self.poll_s)
        log.info("stopped watching %s", self.root)

    def poll_once(self, stop: threading.Event | None = None) -> list[Decision]:
        """One scan: note what changed, handle what has settled. Returns the decisions taken."""
        now = self.clock()
        present: dict[str, Signature] = dict(self._scan())
        for rel in [r for r in self._seen if r not in present]:
            del self._seen[rel]
        for rel in [r for r in self._done if r not in present]:
            del self._done[rel]
        decisions: list[Decision] = []
        for rel, sig in sorted(present.items()):
            if stop is not None and stop.is_set():
                break
            if self._done.get(rel) == sig:
                continue
            seen = self._seen.get(rel)
            if seen is None or seen.signature != sig:
                self._seen[rel] = _Seen(sig, now)
                continue
            if now - seen.since < self.settle_s:
                continue
            retry = self._retry.get(rel)
            if retry is not None and now < retry.at:
                continue
            d = self._handle(rel, sig)
            decisions.append(d)
            if d.action == "retry":
                wait = min(RETRY_MAX_S, retry.wait * 2) if retry else self.poll_s
                self._retry[rel] = _Retry(self.clock() + wait, wait)
            else:
                self._retry.pop(rel, None)
                self._seen.pop(rel, None)
                if d.action in ("ingested", "known", "skipped") and self.keep:
                    self._done[rel] = sig
        return decisions

    def _scan(self) -> Iterator[tuple[str, Signature]]:
        """(relative path, signature) of each file that may be ingested."""
        stack = [self.root]
        while stack:
            folder = stack.pop()
            try:
                entries = list(os.scandir(folder))
            except OSError as exc:  # removed meanwhile, or no permission: say so, carry on
                log.warning("cannot list %s: %s", folder, exc)
                continue
            for e in entries:
                if ignored(e.name):
                    continue
                try:
                    if e.is_dir(follow_symlinks=False):
                        if self.recursive and not (folder == self.root and e.name == FAILED_DIR):
                            stack.append(Path(e.path))
                        continue
                    if not e.is_file():
                        continue
                    st = e.stat()
                except OSError:
                    continue  # gone between the listing and the stat
                yield Path(e.path).relative_to(self.root).as_posix(), (st.st_size, st.st_mtime_ns)

    # --- one file ----------------------------------------------------------------------------------

    def _handle(self, rel: str, sig: Signature) -> Decision:
        path = self.root / rel
        known = self._state.get(rel)
        if known is not None and (known["size"], known["mtime_ns"]) == sig:
            return self._log(Decision(rel, "skipped", known["media_id"], "ingested before (state file)"))
        try:
            info = probe(path)
        except MediaError as exc:
            if not path.exists():
                return self._log(Decision(rel, "skipped", reason="removed before it could be ingested"))
            return self._fail(rel, str(exc))
        except subprocess.TimeoutExpired:
            return self._fail(rel, "not a media file: ffprobe did not finish reading it in 120 s")
        if (why := too_many_pixels(info.width, info.height)) is not None:
            return self._fail(rel, why)  # as an upload is refused (IMAGE_MAX_PIXELS)
        try:
            st = path.stat()
        except FileNotFoundError:
            return self._log(Decision(rel, "skipped", reason="removed before it could be ingested"))
        if (st.st_size, st.st_mtime_ns) != sig:  # written to again while it was probed: settle again
            return self._log(Decision(rel, "skipped", reason="changed while it was checked; waiting again"))
        try:
            reg = self.submit(path)
        except MediaError as exc:
            if not path.exists():
                return self._log(Decision(rel, "skipped", reason="removed before it could be ingested"))
            return self._fail(rel, str(exc))
        except Exception as exc:  # database or broker unreachable: the file stays, tried again later
            return self._log(Decision(rel, "retry", reason=f"{type(exc).__name__}: {exc}"))
        d = Decision(
            rel,
            "ingested" if reg.created else "known",
            reg.media_id,
            "" if reg.created else f"the same content is already media {reg.media_id}",
        )
        if self.keep:
            self._state[rel] = {"size": sig[0], "mtime_ns": sig[1], "media_id": reg.media_id}
            self._save_state()
        else:
            path.unlink(missing_ok=True)
        return self._log(d)

    def _fail(self, rel: str, reason: str) -> Decision:
        """Move a file that is not media to failed/ with NAME.error.txt beside it."""
        src = self.root / rel
        dest = _free_name(self.root / FAILED_DIR / rel)
        dest.parent.mkdir(parents=True, exist_ok=True)
        when = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
        try:
            os.replace(src, dest)
        except OSError as exc:
            return self._log(
                Decision(rel, "retry", reason=f"{reason}; and it cannot be moved to failed/: {exc}")
            )
        dest.with_name(dest.name + ".error.txt").write_text(f"{reason}\n\nfile: {rel}\nat: {when}\n")
        moved = dest.relative_to(self.root).as_posix()
        return self._log(Decision(rel, "failed", reason=f"{reason} (moved to {moved})"))

    def _log(self, d: Decision) -> Decision:
        if d.action == "ingested":
            log.info("ingested %s as media %d", d.path, d.media_id)
        elif d.action == "known":
            log.info("ingested %s: %s; not queued again", d.path, d.reason)
        elif d.action == "failed":
            log.warning("failed %s: %s", d.path, d.reason)
        elif d.action == "retry":
            log.error("could not ingest %s, will try again: %s", d.path, d.reason)
        else:
            log.info("skipped %s: %s", d.path, d.reason)
        return d

    # --- the state file (keep mode) ----------------------------------------------------------------

    def _load_state(self) -> dict[str, dict[str, int]]:
        assert self.state_path is not None
        try:
            data = json.loads(self.state_path.read_text())
        except FileNotFoundError:
            return {}
        except ValueError as exc:
            raise WatchError(
                f"the watch state file {self.state_path} is not readable JSON ({exc}); remove it to start "
                "afresh (files already ingested are then found by their content and not queued again)"
            ) from exc
        files = data.get("files", {}) if isinstance(data, dict) else {}
        return {str(k): v for k, v in files.items() if isinstance(v, dict)}

    def _save_state(self) -> None:
        """Written to a temporary file and renamed: a kill never leaves half a state file."""
        assert self.state_path is not None
        tmp = self.state_path.with_name(self.state_path.name + ".tmp")
        tmp.write_text(json.dumps({"version": 1, "files": self._state}, indent=1, sort_keys=True))
        os.replace(tmp, self.state_path)


def _free_name(dest: Path) -> Path:
    """``dest``, or ``stem-1.ext``, ``stem-2.ext``... if a file of that name already failed."""
    candidate, n = dest, 0
    while candidate.exists() or candidate.with_name(candidate.name + ".error.txt").exists():
        n += 1
        candidate = dest.with_name(f"{dest.stem}-{n}{dest.suffix}")
    return candidate
