"""Settings come from the environment, typed and validated."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
from pathlib import Path

import pytest

from dva_ocr.settings import Settings, SettingsError

ROOT = Path(__file__).resolve().parents[1]


def test_defaults_are_local(monkeypatch):
    for var in ("DATABASE_URL", "BROKER_URL", "SAMPLE_FPS", "OCR_DEVICE", "MEDIA_ROOT"):
        monkeypatch.delenv(var, raising=False)
    s = Settings()
    assert s.database_url.startswith("postgresql+psycopg://") and "127.0.0.1:5432" in s.database_url
    assert s.broker_url == "redis://127.0.0.1:6379/0"
    assert (s.sample_fps, s.ocr_device, s.ocr_model) == (1.0, "cpu", None)  # None: the registry's active one


def test_environment_overrides_and_plain_libpq_urls_are_accepted(monkeypatch):
    monkeypatch.setenv("DATABASE_URL", "postgresql://u:p@db:5433/x")
    monkeypatch.setenv("SAMPLE_FPS", "2.5")
    monkeypatch.setenv("OCR_DEVICE", "cuda:1")
    s = Settings()
    assert s.database_url == "postgresql+psycopg://u:p@db:5433/x"
    assert s.libpq_url == "postgresql://u:p@db:5433/x"
    assert (s.sample_fps, s.ocr_device) == (2.5, "cuda:1")


@pytest.mark.parametrize(
    ("var", "value", "message"),
    [
        ("DATABASE_URL", "sqlite:///x.db", "must be a postgresql:// URL"),
        ("BROKER_URL", "amqp://guest@localhost//", "must be a redis:// URL"),
        ("OCR_DEVICE", "gpu", "cpu, cuda or cuda:N"),
        ("SAMPLE_FPS", "0", "greater than 0"),
    ],
)
def test_bad_values_are_refused_with_a_reason(monkeypatch, var, value, message):
    monkeypatch.setenv(var, value)
    with pytest.raises(SettingsError, match=message):
        Settings()


def test_production_refuses_the_development_secret(monkeypatch):
    monkeypatch.setenv("ENVIRONMENT", "production")
    monkeypatch.delenv("SECRET_KEY", raising=False)
    with pytest.raises(SettingsError, match="SECRET_KEY"):
        Settings()
    monkeypatch.setenv("SECRET_KEY", "s3cret-value")
    assert Settings().environment == "production"


@pytest.mark.parametrize(
    ("var", "value", "message"),
    [
        ("OCR_THREADS", "two", "OCR_THREADS='two' must be an integer"),
        ("SAMPLE_FPS", "fast", "SAMPLE_FPS='fast' must be a number"),
        ("SAMPLE_FPS", "61", "less than or equal to 60"),
        ("TASK_RETRY_JITTER", "maybe", "must be true or false"),
        ("LOG_FORMAT", "xml", "must be one of text, json"),
        ("ENVIRONMENT", "staging", "must be one of development, test, production"),
    ],
)
def test_unparseable_values_name_the_variable(monkeypatch, var, value, message):
    monkeypatch.setenv(var, value)
    with pytest.raises(SettingsError, match=message):
        Settings()


def test_types_bools_choices_and_empty_optionals(monkeypatch, tmp_path):
    monkeypatch.setenv("task_retry_jitter", "Off")  # names are looked up case-insensitively
    monkeypatch.setenv("OCR_THREADS", "3")
    monkeypatch.setenv("LOG_LEVEL", "INFO")
    monkeypatch.setenv("MODEL_CACHE_DIR", "")
    monkeypatch.setenv("OCR_MODEL", "")
    monkeypatch.setenv("MEDIA_ROOT", str(tmp_path))
    s = Settings()
    assert (s.task_retry_jitter, s.ocr_threads, s.log_level) == (False, 3, "info")
    assert (s.model_cache_dir, s.ocr_model, s.media_root) == (None, None, tmp_path)
    monkeypatch.setenv("TASK_RETRY_JITTER", "yes")
    assert Settings().task_retry_jitter is True


def test_given_values_win_over_the_environment_and_are_checked(monkeypatch):
    monkeypatch.setenv("OCR_THREADS", "3")
    assert Settings(ocr_threads=1).ocr_threads == 1
    with pytest.raises(SettingsError, match="OCR_THREADS=-1 must be greater than or equal to 0"):
        Settings(ocr_threads=-1)
    s = Settings()
    with pytest.raises(dataclasses.FrozenInstanceError):
        s.ocr_threads = 2  # type: ignore[misc]
    assert dataclasses.replace(s, web_port=9000).web_port == 9000


def test_the_cli_reports_a_bad_setting_without_a_traceback(tmp_path):
    img = tmp_path / "x.png"
    img.write_bytes(b"not read")
    env = {**os.environ, "OCR_THREADS": "lots"}
    run = subprocess.run(
        [sys.executable, str(ROOT / "manage.py"), "ocr", str(img)], env=env, capture_output=True, text=True
    )
    assert run.returncode == 2, run.stderr
    assert run.stderr.strip() == "error: OCR_THREADS='lots' must be an integer"
