"""Prometheus metrics at /metrics: work done (from PostgreSQL), queue depth (Redis), request latency."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Iterator

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import func, select

from dva_ocr import media_admin
from dva_ocr.db.session import session_scope
from dva_ocr.db.tables import FrameOcr, Video, VideoStatus
from dva_ocr.web.auth import current_user
from dva_ocr.web.status import queue_depths

router = APIRouter(dependencies=[Depends(current_user)])


class WorkCollector(Collector):
    """Totals read at scrape time, so every web process reports the same cluster-wide figures."""

    def collect(self) -> Iterator[CounterMetricFamily | GaugeMetricFamily]:
        with session_scope() as s:
            frames = s.scalar(select(func.count()).select_from(FrameOcr)) or 0
            regions = s.scalar(select(func.coalesce(func.sum(Video.regions_count), 0))) or 0
            by_status = media_admin.counts_by_status(s)
        yield CounterMetricFamily("dva_frames_processed", "Frames read by an OCR model", value=frames)
        yield CounterMetricFamily(
            "dva_regions_found", "Text regions stored for finished media", value=regions
        )
        yield CounterMetricFamily(
            "dva_task_failures",
            "Media items whose processing failed",
            value=by_status[VideoStatus.failed],
        )
        media = GaugeMetricFamily("dva_media", "Media items by status", labels=["status"])
        for status, n in by_status.items():
            media.add_metric([status], n)
        yield media
        depth = GaugeMetricFamily("dva_queue_depth", "Tasks waiting per queue", labels=["queue"])
        try:
            for queue, n in queue_depths().items():
                depth.add_metric([queue], n)
        except Exception:  # broker down: report no depth rather than fail the scrape
            pass
        yield depth


def install(app: FastAPI) -> None:
    registry = CollectorRegistry()
    latency = Histogram(
        "dva_http_request_seconds", "HTTP request latency", ["method", "route", "status"], registry=registry
    )
    registry.register(WorkCollector())
    app.state.metrics_registry = registry

    @app.middleware("http")
    async def _time(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        start = time.perf_counter()
        response = await call_next(request)
        route = request.scope.get("route")
        path = getattr(route, "path", "unmatched")
        latency.labels(request.method, path, str(response.status_code)).observe(time.perf_counter() - start)
        return response


@router.get("/metrics")
def metrics(request: Request) -> Response:
    return Response(generate_latest(request.app.state.metrics_registry), media_type=CONTENT_TYPE_LATEST)
