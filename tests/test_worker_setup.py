"""How `manage.py worker` sets up its processes: the qocr defaults (one process per core, one onnxruntime
thread each), `--gpu N`, and that the processes really read with what was set.

The settings are cached the first time they are read, and the CLI reads them (for logging) before the
worker command runs: a stale copy once ran every qocr process with all cores' threads and ignored
``--gpu``.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from dva_cli.commands_ops import worker_environment
from dva_ocr.settings import get_settings

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def fresh_env():
    saved = dict(os.environ)  # worker_environment sets os.environ itself
    for var in ("OCR_THREADS", "OCR_DEVICE", "DVA_WORKER_QUEUE"):
        os.environ.pop(var, None)
    get_settings.cache_clear()
    assert get_settings().ocr_threads == 0  # read and cached before the worker command, as the CLI does
    yield
    os.environ.clear()
    os.environ.update(saved)
    get_settings.cache_clear()


def test_a_cpu_qocr_worker_runs_one_process_per_core_with_one_thread_each(fresh_env):
    assert worker_environment("qocr", None, None) == (os.cpu_count() or 1)
    assert get_settings().ocr_threads == 1
    assert get_settings().ocr_device == "cpu"


def test_threads_and_concurrency_given_by_the_user_are_kept(fresh_env):
    os.environ["OCR_THREADS"] = "3"
    assert worker_environment("qocr", None, None) == (os.cpu_count() or 1)
    assert get_settings().ocr_threads == 3
    assert worker_environment("qocr", None, 5) == 5


def test_gpu_pins_the_device_and_keeps_one_process(fresh_env):
    assert worker_environment("qocr", 1, None) == 1
    assert get_settings().ocr_device == "cuda:1"
    assert get_settings().ocr_threads == 0


def test_other_queues_run_one_process(fresh_env):
    assert worker_environment("qextract", None, None) == 1
    assert get_settings().ocr_threads == 0


def test_a_worker_for_a_device_it_cannot_use_does_not_start(service_env):
    """`--gpu` with the pinned onnxruntime (the CPU build, no CUDA provider): a clear error, exit code 2,
    no worker."""
    out = subprocess.run(
        [sys.executable, "manage.py", "worker", "--queue", "qocr", "--gpu", "0"],
        cwd=ROOT,
        env=service_env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 2, out.stderr[-2000:]
    assert "qocr worker not started" in out.stderr and "CUDAExecutionProvider" in out.stderr


def test_the_running_qocr_processes_read_with_one_thread_each(workers):
    """The stack as `manage.py up` starts it: each qocr process says what it loaded."""
    pattern = r"qocr process (\d+) reads with model (\S+) on (\S+), onnxruntime threads per model: (.+)"
    deadline = time.monotonic() + 60  # the pool processes load their models after the worker is ready
    while True:
        lines = re.findall(pattern, workers.read_text(errors="replace"))
        if len({pid for pid, *_ in lines}) >= (os.cpu_count() or 1) or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert len({pid for pid, *_ in lines}) >= (os.cpu_count() or 1)
    assert {(device, threads.strip()) for _, _, device, threads in lines} == {("cpu", "1")}
