"""Typed settings read from the environment (see DESIGN.md: Contracts).

A frozen dataclass rather than pydantic-settings: every CLI command reads the settings first, and
pydantic-settings costs about 0.2 s of start-up (its own import and asyncio's) on a 2-core box, a
fifth of `manage.py ocr IMAGE` (dva_ocr/ocr/MEASUREMENTS.md). Each field is the upper-case environment
variable of its name, looked up case-insensitively; a field given to ``Settings(...)`` is not looked up.
A bad value raises `SettingsError`, naming the variable, the value and what it must be.
"""

from __future__ import annotations

import dataclasses
import functools
import operator
import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from dva_ocr.errors import DvaOcrError

DEV_SECRET = "dev-secret-change-me"


class SettingsError(DvaOcrError, ValueError):
    """An environment variable holds a value dva-ocr cannot use."""


_FROM_ENV: Any = object()  # a field not given to Settings(...): read from the environment, else the default
_BOUNDS: dict[str, tuple[Callable[[Any, Any], bool], str]] = {
    "ge": (operator.ge, "greater than or equal to"),
    "gt": (operator.gt, "greater than"),
    "le": (operator.le, "less than or equal to"),
}
_TRUE, _FALSE = {"1", "true", "t", "yes", "y", "on"}, {"0", "false", "f", "no", "n", "off"}


def setting(default: Any, description: str = "", *, choices: tuple[str, ...] = (), **bounds: float) -> Any:
    """A field: its default, what it means, and the bounds (ge, gt, le) or choices its value must meet."""
    meta = {"default": default, "description": description, "choices": choices, "bounds": bounds}
    return dataclasses.field(default=_FROM_ENV, metadata=meta)


def _parse(kind: str, raw: str) -> Any:
    """``raw`` (an environment variable's text) as the field's annotated type; ValueError if it is not."""
    optional = kind.endswith(" | None")
    kind = kind.removesuffix(" | None")
    if optional and raw.strip() == "":
        return None
    if kind == "bool":
        word = raw.strip().lower()
        if word in _TRUE | _FALSE:
            return word in _TRUE
        raise ValueError("must be true or false (1/0, yes/no, on/off)")
    if kind in ("int", "float"):
        try:
            return int(raw) if kind == "int" else float(raw)
        except ValueError:
            raise ValueError(f"must be {'an integer' if kind == 'int' else 'a number'}") from None
    return Path(raw) if kind == "Path" else raw


@dataclasses.dataclass(frozen=True)
class Settings:
    database_url: str = setting("postgresql+psycopg://postgres:postgres@127.0.0.1:5432/dva_ocr")
    broker_url: str = setting("redis://127.0.0.1:6379/0")
    broker_prefix: str = setting("dva", "Redis key prefix for queues (test isolation)")
    media_root: Path = setting(Path("var/media"))
    ocr_device: str = setting("cpu")
    ocr_model: str | None = setting(None, "model version for new media; unset: the registry's active one")
    ocr_threads: int = setting(0, "onnxruntime intra-op threads; 0 = all cores", ge=0)
    sample_fps: float = setting(1.0, gt=0, le=60)
    max_reuse_s: float = setting(30.0, "a whole frame is read at least this often (seconds); 0: never", ge=0)
    model_cache_dir: Path | None = setting(
        Path("~/.cache/dva-ocr/onnx"), "onnxruntime's optimised models are cached here (CPU); empty: no cache"
    )
    ocr_batch_frames: int = setting(
        8,
        "frames per qocr batch: a media item's full batches are tasks of their own; fewer frames (an "
        "image, a short clip, a video's last frames) wait in the OCR pool and are read in batches of "
        "this many across media items",
        ge=1,
        le=256,
    )
    extract_segment_s: float = setting(
        300,
        "a longer video is extracted in segments of about this many seconds, one qextract task each "
        "(in parallel on several workers); a shorter one in one task",
        ge=10,
    )
    # 10 waits of 1, 2, 4 ... 120 s, jittered within their upper half: 4 to 8 minutes in all, so a
    # PostgreSQL or Redis restart of a minute or two is outlasted (workers/tasks.py)
    task_max_retries: int = setting(10, "retries of a task hit by a database or broker outage", ge=0)
    task_retry_backoff_max_s: float = setting(120, "longest wait between retries", gt=0)
    task_retry_jitter: bool = setting(True, "randomise each wait within its upper half (never below half)")
    stuck_after_s: float = setting(600, "unfinished work untouched this long with no task is stuck", gt=0)
    sweep_interval_s: float = setting(60, "how often the sweep runs; 0 = never", ge=0)
    sweep_max_requeues: int = setting(2, "times stuck work is queued again", ge=0)
    watch_settle_s: float = setting(5.0, "watch: a file is complete once unchanged this long (seconds)", ge=0)
    watch_poll_s: float = setting(1.0, "watch: seconds between scans of the folder", gt=0)
    log_format: str = setting("text", "json: one JSON object per log line", choices=("text", "json"))
    log_level: str | None = setting(
        None,
        "every process logs at this level; unset: WARNING (workers: their --loglevel)",
        choices=("debug", "info", "warning", "error", "critical"),
    )
    web_host: str = setting("127.0.0.1")
    web_port: int = setting(8000, ge=1, le=65535)
    upload_max_bytes: int = setting(8 << 30, "largest accepted upload (bytes)", gt=0)
    image_max_pixels: int = setting(100_000_000, "images with more pixels are refused at upload", gt=0)
    session_idle_s: int = setting(12 * 3600, "a dashboard login unused this long ends", gt=0)
    session_max_s: int = setting(14 * 86400, "a dashboard login ends this long after it began", gt=0)
    login_free_failures: int = setting(
        5, "wrong passwords per account or address before logins are throttled", ge=1
    )
    login_lock_s: float = setting(
        2.0, "first throttle wait after the free failures; doubles each failure", gt=0
    )
    login_lock_max_s: float = setting(900.0, "longest throttle wait", gt=0)
    token_free_failures: int = setting(
        20, "wrong bearer tokens per address before that address is throttled", ge=1
    )
    secret_key: str = setting(DEV_SECRET)
    environment: str = setting("development", choices=("development", "test", "production"))

    def __post_init__(self) -> None:
        env = {k.lower(): v for k, v in os.environ.items()}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if value is _FROM_ENV:
                value = f.metadata["default"]
                if f.name in env:
                    try:
                        value = _parse(str(f.type), env[f.name])
                    except ValueError as exc:
                        raise SettingsError(f"{f.name.upper()}={env[f.name]!r} {exc}") from None
            object.__setattr__(self, f.name, _checked(f, value))
        if self.environment == "production" and self.secret_key == DEV_SECRET:
            raise SettingsError("SECRET_KEY must be set to a private value when ENVIRONMENT=production")

    @property
    def libpq_url(self) -> str:
        """The DSN for tools that speak libpq directly (psql, psycopg.connect)."""
        return self.database_url.replace("postgresql+psycopg://", "postgresql://", 1)


def _checked(f: dataclasses.Field[Any], value: Any) -> Any:
    """The field's value after its bounds, choices and own check; SettingsError naming the variable."""
    if value is None:
        return None
    name = f.name.upper()
    for bound, limit in f.metadata["bounds"].items():
        holds, words = _BOUNDS[bound]
        if not holds(value, limit):
            raise SettingsError(f"{name}={value!r} must be {words} {limit}")
    if f.metadata["choices"]:
        value = str(value).lower()
        if value not in f.metadata["choices"]:
            raise SettingsError(f"{name}={value!r} must be one of {', '.join(f.metadata['choices'])}")
    check = _CHECKS.get(f.name)
    return check(value) if check else value


def _pg_only(v: str) -> str:
    if not v.startswith(("postgresql://", "postgresql+psycopg://", "postgres://")):
        raise SettingsError("DATABASE_URL must be a postgresql:// URL (dva-ocr needs PostgreSQL)")
    # SQLAlchemy needs the driver spelled out; accept the plain libpq form people paste.
    return re.sub(r"^postgres(ql)?://", "postgresql+psycopg://", v)


def _redis_only(v: str) -> str:
    if not v.startswith(("redis://", "rediss://")):
        raise SettingsError("BROKER_URL must be a redis:// URL")
    return v


def _device(v: str) -> str:
    if not re.fullmatch(r"cpu|cuda(:\d+)?", v):
        raise SettingsError(f"OCR_DEVICE={v!r} must be cpu, cuda or cuda:N")
    return v


_CHECKS: dict[str, Callable[[Any], Any]] = {
    "database_url": _pg_only,
    "broker_url": _redis_only,
    "ocr_device": _device,
}


@functools.cache
def get_settings() -> Settings:
    return Settings()
