"""Prometheus metrics at /metrics: the cluster's work counters (recorded in Redis by the workers,
``dva_ocr.telemetry``), what is now (media by status from PostgreSQL, queue depth from Redis), and this
process' HTTP request durations.

Counters come only from ``dva_ocr.telemetry``, incremented when the work happens, so they never fall;
row counts (``dva_media``) are gauges. Every web process exports the same cluster-wide work figures (sum
them over one instance, or use ``max``); the HTTP histogram is each process' own, so summing it over the
instances is right.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Iterator

import redis
from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector
from starlette.routing import Mount

from dva_ocr import media_admin, telemetry
from dva_ocr.db.session import session_scope
from dva_ocr.settings import get_settings
from dva_ocr.web.auth import current_user
from dva_ocr.web.status import queue_depths

log = logging.getLogger(__name__)
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
router = APIRouter(dependencies=[Depends(current_user)])


class WorkCollector(Collector):
    """Read at scrape time, so every web process reports the same cluster-wide figures."""

    def collect(self) -> Iterator[Metric]:
        s = get_settings()
        try:
            client = redis.Redis.from_url(s.broker_url, socket_timeout=2, socket_connect_timeout=2)
            stored = telemetry.read(client, s.broker_prefix)
        except (redis.RedisError, OSError) as exc:  # broker down: no work figures rather than no scrape
            log.warning("work metrics unavailable (Redis): %s", exc)
            stored = {m: [] for m in telemetry.METRICS}
        for metric, series in stored.items():
            yield _family(metric, series)
        with session_scope() as session:
            by_status = media_admin.counts_by_status(session)
        media = GaugeMetricFamily("dva_media", "Media items by status now", labels=["status"])
        for status, n in by_status.items():
            media.add_metric([status], n)
        yield media
        depth = GaugeMetricFamily("dva_queue_depth", "Tasks waiting per queue", labels=["queue"])
        try:
            for queue, n in queue_depths().items():
                depth.add_metric([queue], n)
        except (redis.RedisError, OSError):
            pass
        yield depth


def _family(metric: telemetry.Metric, series: list[telemetry.Series]) -> Metric:
    labels = list(metric.labels)
    if metric.kind == "counter":
        counter = CounterMetricFamily(metric.name, metric.help, labels=labels)
        for x in series:
            counter.add_metric(list(x.labels), x.value)
        return counter
    histogram = HistogramMetricFamily(metric.name, metric.help, labels=labels)
    for x in series:
        histogram.add_metric(list(x.labels), buckets=list(x.buckets), sum_value=x.sum)
    return histogram


def route_label(request: Request) -> str:
    """The route template of a matched route (never the raw path: ids would make a series each),
    ``static`` for the static files, ``unmatched`` only when no route matched (a real 404)."""
    route = request.scope.get("route")
    if route is not None and getattr(route, "path", None):
        return str(route.path)
    endpoint = request.scope.get("endpoint")
    for mounted in request.app.routes:
        if isinstance(mounted, Mount) and mounted.app is endpoint:
            return "static" if mounted.path == "/static" else mounted.path
    return "unmatched"


def install(app: FastAPI) -> None:
    registry = CollectorRegistry()
    latency = Histogram(
        "dva_http_request_duration_seconds",
        "HTTP request duration, by route template",
        ["method", "route", "status"],
        registry=registry,
    )
    registry.register(WorkCollector())
    app.state.metrics_registry = registry

    @app.middleware("http")
    async def _time(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        start = time.perf_counter()
        response = await call_next(request)
        method = request.method if request.method in METHODS else "other"  # the label set stays small
        latency.labels(method, route_label(request), str(response.status_code)).observe(
            time.perf_counter() - start
        )
        return response


@router.get("/metrics")
def metrics(request: Request) -> Response:
    return Response(generate_latest(request.app.state.metrics_registry), media_type=CONTENT_TYPE_LATEST)
