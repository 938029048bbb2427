"""The compose file and Dockerfile agree with the code (no Docker engine runs here: validated, not run)."""

from __future__ import annotations

from pathlib import Path

import yaml

from workers.app import QUEUES

ROOT = Path(__file__).resolve().parents[1]


def test_compose_runs_one_worker_per_queue_against_its_own_services():
    doc = yaml.safe_load((ROOT / "compose" / "docker-compose.yml").read_text())
    services = doc["services"]
    # the default profile runs one worker per queue; the gpu profile adds a qocr worker on a GPU
    commands = [s.get("command", []) for s in services.values() if not s.get("profiles")]
    queues = sorted(c[c.index("--queue") + 1] for c in commands if "--queue" in c)
    assert queues == sorted(QUEUES)
    gpu = [s for s in services.values() if "gpu" in s.get("profiles", [])]
    assert [s["command"][s["command"].index("--queue") + 1] for s in gpu] == ["qocr"]
    for name, svc in services.items():
        if name.startswith("worker-"):
            env = svc["environment"]
            assert env["DATABASE_URL"].startswith("postgresql://") and "@postgres:" in env["DATABASE_URL"]
            assert env["BROKER_URL"].startswith("redis://redis:")
            assert "media:/data/media" in svc["volumes"]
            assert svc["build"]["dockerfile"] == "docker/Dockerfile"
    assert (ROOT / services["worker-ocr"]["build"]["context"].replace("..", ".")).is_dir()


def test_dockerfile_copies_every_package_the_cli_needs():
    text = (ROOT / "docker" / "Dockerfile").read_text()
    for part in ("dva_ocr", "dva_cli", "workers", "migrations", "alembic.ini", "manage.py"):
        assert f"COPY {part}" in text or f" {part} " in text, part
    assert "ffmpeg" in text
