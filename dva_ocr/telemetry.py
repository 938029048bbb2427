"""Cluster-wide counters and histograms of the work done, kept in Redis so every process adds to the
same figures and any web process can export them (/metrics).

Why Redis and not process-local Prometheus metrics: the work is done in Celery worker processes, on other
machines than the web server that is scraped, and worker processes are recycled every 200 tasks, so a
process-local counter would be lost with its process (Prometheus' multiprocess mode needs one shared
directory, which a cluster does not have). Redis is already the broker every process reaches. Each
increment is one ``HINCRBYFLOAT`` on a hash under the deployment's key prefix
(``{BROKER_PREFIX}:metrics:{name}``, one field per label set), so counters only grow, whatever happens to
the rows the work wrote (a deleted media item takes nothing back). A histogram counts each observation in
its bucket (cumulated when read), with its sum and count; one pipelined round trip per record.

Recording is off until a process turns it on (``enable``): the workers do as they start, and tests that
run the pipeline in their own process. ``./manage.py ocr`` and the benchmarks read images with the same
code and must neither need Redis nor add to a deployment's figures. A Redis error while recording is
logged (at most once a minute) and the work goes on: a metric is never worth a failed task.

With Redis persistence (``appendonly yes``) the counters survive a Redis restart; without it they start
again from zero, which Prometheus' ``rate()`` and ``increase()`` treat as a counter reset.
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:  # imported where a store is made: `./manage.py ocr` loads this module, never Redis
    import redis

log = logging.getLogger(__name__)

DURATION_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600, 4 * 3600)
LOAD_BUCKETS = (0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 120)


@dataclass(frozen=True)
class Metric:
    """A metric's definition. ``name`` is the Prometheus family name (counters are exported with
    ``_total`` after it, histograms with ``_bucket``, ``_sum`` and ``_count``)."""

    name: str
    kind: Literal["counter", "histogram"]
    help: str
    labels: tuple[str, ...] = ()
    buckets: tuple[float, ...] = ()


FRAMES_READ = Metric(
    "dva_frames_read",
    "counter",
    "Frames read by an OCR model (whole or only their changed bands; a frame read again counts again)",
    ("queue", "model"),
)
OCR_SECONDS = Metric(
    "dva_ocr_seconds",
    "counter",
    "Seconds the OCR models spent reading those frames (frames/s = rate of frames read / rate of this)",
    ("queue", "model"),
)
REGIONS_STORED = Metric("dva_regions_stored", "counter", "Text regions written", ("queue", "model"))
MEDIA_INGESTED = Metric("dva_media_ingested", "counter", "Media items whose ingest finished (status done)")
MEDIA_FAILED = Metric(
    "dva_media_failed",
    "counter",
    "Times a media item was marked failed (by a stage, or by the stuck-work sweep)",
)
TASKS = Metric(
    "dva_tasks",
    "counter",
    "Celery tasks run, by how they ended (succeeded, failed: raised; retried: will run again)",
    ("task", "queue", "outcome"),
)
TASK_DURATION = Metric(
    "dva_task_duration_seconds",
    "histogram",
    "Time a Celery task ran, retried and failed runs included",
    ("task", "queue"),
    DURATION_BUCKETS,
)
MODEL_LOAD = Metric(
    "dva_model_load_seconds",
    "histogram",
    "Time to load a model version's OCR engine (once per worker process and model)",
    ("model",),
    LOAD_BUCKETS,
)
METRICS = (
    FRAMES_READ,
    OCR_SECONDS,
    REGIONS_STORED,
    MEDIA_INGESTED,
    MEDIA_FAILED,
    TASKS,
    TASK_DURATION,
    MODEL_LOAD,
)


def _key(prefix: str, metric: Metric) -> str:
    return f"{prefix}:metrics:{metric.name}"


def _values(metric: Metric, labels: Mapping[str, object]) -> list[str]:
    if set(labels) != set(metric.labels):
        raise ValueError(f"{metric.name} takes the labels {metric.labels}, not {tuple(labels)}")
    return [str(labels[name]) for name in metric.labels]


@dataclass
class RedisStore:
    """Where this process records: the deployment's Redis and key prefix."""

    client: redis.Redis
    prefix: str
    _warned_at: float = -math.inf

    @classmethod
    def from_url(cls, url: str, prefix: str) -> RedisStore:
        import redis

        return cls(redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2), prefix)

    def add(self, metric: Metric, value: float, labels: Mapping[str, object]) -> None:
        field = json.dumps(_values(metric, labels))
        self._run(lambda p: p.hincrbyfloat(_key(self.prefix, metric), field, value))

    def observe(self, metric: Metric, value: float, labels: Mapping[str, object]) -> None:
        values = _values(metric, labels)
        le = next((b for b in metric.buckets if value <= b), math.inf)
        key = _key(self.prefix, metric)

        def record(p: Any) -> None:
            p.hincrbyfloat(key, json.dumps(["bucket", _le(le), *values]), 1)
            p.hincrbyfloat(key, json.dumps(["sum", *values]), value)
            p.hincrbyfloat(key, json.dumps(["count", *values]), 1)

        self._run(record)

    def _run(self, record: Callable[[Any], object]) -> None:
        import redis

        try:
            pipe = self.client.pipeline(transaction=False)
            record(pipe)
            pipe.execute()
        except (redis.RedisError, OSError) as exc:
            now = time.monotonic()
            if now - self._warned_at > 60:
                self._warned_at = now
                log.warning("metrics not recorded (Redis unreachable): %s", exc)


def _le(bound: float) -> str:
    return "+Inf" if math.isinf(bound) else repr(float(bound))


class _Recorder:
    """The process' store, or None: recording is off (see the module docstring)."""

    store: RedisStore | None = None


def enable(url: str | None = None, prefix: str | None = None) -> RedisStore:
    """Record from now on in this process (default: the settings' broker and key prefix)."""
    from dva_ocr.settings import get_settings

    s = get_settings()
    _Recorder.store = RedisStore.from_url(url or s.broker_url, prefix or s.broker_prefix)
    return _Recorder.store


def disable() -> None:
    _Recorder.store = None


def recording() -> bool:
    return _Recorder.store is not None


def count(metric: Metric, value: float = 1, **labels: object) -> None:
    """Add ``value`` to a counter (nothing while recording is off)."""
    if metric.kind != "counter":
        raise ValueError(f"{metric.name} is a {metric.kind}")
    if value < 0:
        raise ValueError(f"counters only grow; {metric.name} was given {value}")
    store = _Recorder.store
    if store is not None:
        store.add(metric, value, labels)
    else:
        _values(metric, labels)  # the labels are checked either way


def observe(metric: Metric, value: float, **labels: object) -> None:
    """Count one observation (seconds) in a histogram (nothing while recording is off)."""
    if metric.kind != "histogram":
        raise ValueError(f"{metric.name} is a {metric.kind}")
    store = _Recorder.store
    if store is not None:
        store.observe(metric, value, labels)
    else:
        _values(metric, labels)


@contextmanager
def timed(metric: Metric, **labels: object) -> Iterator[None]:
    """Observe the time the block took, when it completes without an error."""
    started = time.perf_counter()
    yield
    observe(metric, time.perf_counter() - started, **labels)


# --- reading back -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Series:
    """One label set of a metric as stored: a counter's ``value``, or a histogram's cumulative
    ``buckets`` (``le`` string, count), ``sum`` and ``count``."""

    labels: tuple[str, ...]
    value: float = 0.0
    buckets: tuple[tuple[str, float], ...] = ()
    sum: float = 0.0
    count: float = 0.0


def read(client: redis.Redis, prefix: str) -> dict[Metric, list[Series]]:
    """Every metric's series, in one round trip (metrics with nothing recorded have none)."""
    pipe = client.pipeline(transaction=False)
    for metric in METRICS:
        pipe.hgetall(_key(prefix, metric))
    out: dict[Metric, list[Series]] = {}
    for metric, raw in zip(METRICS, pipe.execute(), strict=True):
        fields = {tuple(json.loads(k)): float(v) for k, v in raw.items()}
        out[metric] = _counter(fields) if metric.kind == "counter" else _histogram(metric, fields)
    return out


def _counter(fields: dict[tuple[str, ...], float]) -> list[Series]:
    return [Series(labels, value=v) for labels, v in sorted(fields.items())]


def _histogram(metric: Metric, fields: dict[tuple[str, ...], float]) -> list[Series]:
    n = len(metric.labels)
    label_sets = sorted({k[1:] for k in fields if k[0] == "count" and len(k) == n + 1})
    bounds = [_le(b) for b in metric.buckets] + ["+Inf"]
    series = []
    for labels in label_sets:
        running, buckets = 0.0, []
        for le in bounds:
            running += fields.get(("bucket", le, *labels), 0.0)
            buckets.append((le, running))
        series.append(
            Series(
                labels,
                buckets=tuple(buckets),
                sum=fields.get(("sum", *labels), 0.0),
                count=fields.get(("count", *labels), 0.0),
            )
        )
    return series
