"""Run the whole local stack (`./manage.py up`) as a subprocess and wait until its workers are ready."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
QUEUES = ("qextract", "qocr", "qdefault")


@contextmanager
def running_stack(log: Path, env: dict[str, str] | None = None, timeout: float = 120) -> Iterator[Path]:
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, str(ROOT / "manage.py"), "up"],
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=ROOT,
            env=env or os.environ.copy(),
        )
    try:
        deadline = time.monotonic() + timeout
        while True:
            text = log.read_text(errors="replace")
            if all(f"{q}." in text for q in QUEUES) and text.count(" ready.") >= len(QUEUES):
                break
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the stack did not start:\n{text[-4000:]}")
            time.sleep(0.3)
        yield log
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=40)
            except subprocess.TimeoutExpired:
                proc.kill()
