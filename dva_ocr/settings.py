"""Typed settings read from the environment (see DESIGN.md: Contracts)."""

from __future__ import annotations

import functools
import re
from pathlib import Path

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEV_SECRET = "dev-secret-change-me"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="", extra="ignore", frozen=True)

    database_url: str = "postgresql+psycopg://postgres:postgres@127.0.0.1:5432/dva_ocr"
    broker_url: str = "redis://127.0.0.1:6379/0"
    broker_prefix: str = Field(default="dva", description="Redis key prefix for queues (test isolation)")
    media_root: Path = Path("var/media")
    ocr_device: str = "cpu"
    ocr_model: str | None = Field(
        default=None, description="model version for new media; unset: the registry's active one"
    )
    ocr_threads: int = Field(default=0, ge=0, description="onnxruntime intra-op threads; 0 = all cores")
    sample_fps: float = Field(default=1.0, gt=0, le=60)
    max_reuse_s: float = Field(
        default=30.0, ge=0, description="a whole frame is read at least this often (seconds); 0: never"
    )
    model_cache_dir: Path | None = Field(
        default=Path("~/.cache/dva-ocr/onnx"),
        description="onnxruntime's optimised models are cached here (CPU); empty: no cache",
    )
    ocr_batch_frames: int = Field(
        default=8,
        ge=1,
        le=256,
        description="frames per qocr batch: a media item's full batches are tasks of their own; fewer "
        "frames (an image, a short clip, a video's last frames) wait in the OCR pool and are read in "
        "batches of this many across media items",
    )
    extract_segment_s: float = Field(
        default=300,
        ge=10,
        description="a longer video is extracted in segments of about this many seconds, one qextract "
        "task each (in parallel on several workers); a shorter one in one task",
    )
    # 10 waits of 1, 2, 4 ... 120 s, jittered within their upper half: 4 to 8 minutes in all, so a
    # PostgreSQL or Redis restart of a minute or two is outlasted (workers/tasks.py)
    task_max_retries: int = Field(
        default=10, ge=0, description="retries of a task hit by a database or broker outage"
    )
    task_retry_backoff_max_s: float = Field(default=120, gt=0, description="longest wait between retries")
    task_retry_jitter: bool = Field(
        default=True, description="randomise each wait within its upper half (never below half)"
    )
    stuck_after_s: float = Field(
        default=600, gt=0, description="unfinished work untouched this long with no task is stuck"
    )
    sweep_interval_s: float = Field(default=60, ge=0, description="how often the sweep runs; 0 = never")
    sweep_max_requeues: int = Field(default=2, ge=0, description="times stuck work is queued again")
    watch_settle_s: float = Field(
        default=5.0, ge=0, description="watch: a file is complete once unchanged this long (seconds)"
    )
    watch_poll_s: float = Field(default=1.0, gt=0, description="watch: seconds between scans of the folder")
    log_format: str = Field(
        default="text", pattern="^(text|json)$", description="json: one JSON object per log line"
    )
    log_level: str | None = Field(
        default=None,
        pattern="^(?i:debug|info|warning|error|critical)$",
        description="every process logs at this level; unset: WARNING (workers: their --loglevel)",
    )
    web_host: str = "127.0.0.1"
    web_port: int = Field(default=8000, ge=1, le=65535)
    upload_max_bytes: int = Field(default=8 << 30, gt=0, description="largest accepted upload (bytes)")
    image_max_pixels: int = Field(
        default=100_000_000, gt=0, description="images with more pixels are refused at upload"
    )
    session_idle_s: int = Field(
        default=12 * 3600, gt=0, description="a dashboard login unused this long ends"
    )
    session_max_s: int = Field(
        default=14 * 86400, gt=0, description="a dashboard login ends this long after it began"
    )
    login_free_failures: int = Field(
        default=5, ge=1, description="wrong passwords per account or address before logins are throttled"
    )
    login_lock_s: float = Field(
        default=2.0, gt=0, description="first throttle wait after the free failures; doubles each failure"
    )
    login_lock_max_s: float = Field(default=900.0, gt=0, description="longest throttle wait")
    token_free_failures: int = Field(
        default=20, ge=1, description="wrong bearer tokens per address before that address is throttled"
    )
    secret_key: str = DEV_SECRET
    environment: str = Field(default="development", pattern="^(development|test|production)$")

    @field_validator("model_cache_dir", mode="before")
    @classmethod
    def _no_cache(cls, v: object) -> object:
        return None if v == "" else v

    @field_validator("database_url")
    @classmethod
    def _pg_only(cls, v: str) -> str:
        if not v.startswith(("postgresql://", "postgresql+psycopg://", "postgres://")):
            raise ValueError("DATABASE_URL must be a postgresql:// URL (dva-ocr needs PostgreSQL)")
        # SQLAlchemy needs the driver spelled out; accept the plain libpq form people paste.
        return re.sub(r"^postgres(ql)?://", "postgresql+psycopg://", v)

    @field_validator("broker_url")
    @classmethod
    def _redis_only(cls, v: str) -> str:
        if not v.startswith(("redis://", "rediss://")):
            raise ValueError("BROKER_URL must be a redis:// URL")
        return v

    @field_validator("ocr_device")
    @classmethod
    def _device(cls, v: str) -> str:
        if not re.fullmatch(r"cpu|cuda(:\d+)?", v):
            raise ValueError("OCR_DEVICE must be cpu, cuda or cuda:N")
        return v

    @model_validator(mode="after")
    def _secret(self) -> Settings:
        if self.environment == "production" and self.secret_key == DEV_SECRET:
            raise ValueError("SECRET_KEY must be set to a private value when ENVIRONMENT=production")
        return self

    @property
    def libpq_url(self) -> str:
        """The DSN for tools that speak libpq directly (psql, psycopg.connect)."""
        return self.database_url.replace("postgresql+psycopg://", "postgresql://", 1)


@functools.cache
def get_settings() -> Settings:
    return Settings()
