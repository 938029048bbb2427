"""Settings come from the environment, typed and validated."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from dva_ocr.settings import Settings


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
    with pytest.raises(ValidationError, match=message):
        Settings()


def test_production_refuses_the_development_secret(monkeypatch):
    monkeypatch.setenv("ENVIRONMENT", "production")
    monkeypatch.delenv("SECRET_KEY", raising=False)
    with pytest.raises(ValidationError, match="SECRET_KEY"):
        Settings()
    monkeypatch.setenv("SECRET_KEY", "s3cret-value")
    assert Settings().environment == "production"
