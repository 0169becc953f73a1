"""Serve the fleet's pipeline figures in Prometheus' format: ``facefleet metrics-exporter``.

One exporter for the whole fleet (the monitoring role runs it on the Flower hosts, under
supervisor), because everything it serves lives in Redis or answers through it:

- the counters every pool process adds to (facefleet.pipeline_metrics): images by
  outcome, errors by reason, faces per image and seconds per step, by worker node;
- each host's planned workers, concurrency and memory against the budget, as its memory
  guard last wrote them;
- at each scrape: the queue's depth and the age of its oldest task, the gallery's size,
  and the workers that answer ping.

Counters are read, never kept here: a restart of the exporter loses nothing.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from facefleet.pipeline_metrics import (
    ERROR_REASONS,
    FACE_BUCKETS,
    SENT_HEADER,
    STEP_BUCKETS_S,
    STEPS,
    host_of,
)
from facefleet.settings import Settings

if TYPE_CHECKING:
    import redis
    from celery import Celery

MB = 1024 * 1024

log = logging.getLogger(__name__)


def _histogram(
    family: HistogramMetricFamily,
    labels: list[str],
    fields: dict[str, str],
    base: str,
    bounds: tuple[float, ...],
) -> None:
    """Adds the histogram stored as ``<base>:bucket:<i>``, ``:sum`` and ``:count``."""
    count = float(fields.get(f"{base}:count", 0))
    if not count:
        return
    cumulative = 0.0
    buckets: list[tuple[str, float]] = []
    for index, bound in enumerate(bounds):
        cumulative += float(fields.get(f"{base}:bucket:{index}", 0))
        buckets.append((repr(float(bound)), cumulative))
    buckets.append(("+Inf", count))
    family.add_metric(labels, buckets, float(fields.get(f"{base}:sum", 0)))


class FleetCollector(Collector):
    def __init__(self, client: redis.Redis, settings: Settings, app: Celery | None) -> None:
        self.client = client
        self.settings = settings
        self.app = app
        self.prefix = settings.metrics_key_prefix

    def _hashes(self, kind: str) -> Iterator[tuple[str, dict[str, str]]]:
        pattern = f"{self.prefix}:{kind}:*"
        start = len(pattern) - 1
        keys = list(self.client.scan_iter(match=pattern, count=500))
        with self.client.pipeline(transaction=False) as pipe:  # one round trip for all
            for key in keys:
                pipe.hgetall(key)
            hashes = pipe.execute()
        for key, values in zip(keys, hashes, strict=True):
            yield key.decode()[start:], {k.decode(): v.decode() for k, v in values.items()}

    def collect(self) -> Iterator[Metric]:
        up = GaugeMetricFamily(
            "facefleet_exporter_redis_up", "1 when the exporter could read Redis this scrape"
        )
        try:
            families = [*self._pipeline(), *self._queue(), *self._gallery(), *self._hosts()]
        except Exception as exc:  # Redis away: say so, serve the rest
            log.warning("cannot read Redis: %s", exc)
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        yield from families
        yield from self._answering()

    def _pipeline(self) -> list[Metric]:
        images = CounterMetricFamily(
            "facefleet_images", "Images analysed, by outcome", labels=["node", "host", "outcome"]
        )
        errors = CounterMetricFamily(
            "facefleet_image_errors",
            "Images that got an error result, by reason",
            labels=["node", "host", "reason"],
        )
        redelivered = CounterMetricFamily(
            "facefleet_tasks_redelivered",
            "Tasks that ran again after they were counted (their first worker died before "
            "acknowledging them): counted here, not in facefleet_images",
            labels=["node", "host"],
        )
        faces = HistogramMetricFamily(
            "facefleet_faces_per_image", "Faces found per image", labels=["node", "host"]
        )
        steps = HistogramMetricFamily(
            "facefleet_step_seconds",
            "Seconds each pipeline step took per image",
            labels=["node", "host", "step"],
        )
        for node, fields in self._hashes("node"):
            host = host_of(node)
            for outcome in ("ok", "error"):
                images.add_metric([node, host, outcome], float(fields.get(f"images:{outcome}", 0)))
            for reason in ERROR_REASONS:
                if f"errors:{reason}" in fields:
                    errors.add_metric([node, host, reason], float(fields[f"errors:{reason}"]))
            redelivered.add_metric([node, host], float(fields.get("redelivered", 0)))
            _histogram(faces, [node, host], fields, "faces", FACE_BUCKETS)
            for step in STEPS:
                _histogram(steps, [node, host, step], fields, f"seconds:{step}", STEP_BUCKETS_S)
        return [images, errors, redelivered, faces, steps]

    def _queue(self) -> list[Metric]:
        queue = self.settings.queue
        depth = GaugeMetricFamily(
            "facefleet_queue_depth", "Tasks waiting in the queue", labels=["queue"]
        )
        oldest = GaugeMetricFamily(
            "facefleet_queue_oldest_age_seconds",
            "Age of the oldest waiting task (0 when the queue is empty)",
            labels=["queue"],
        )
        depth.add_metric([queue], float(self.client.llen(queue)))
        # kombu pushes on the left and takes from the right: the oldest is last.
        oldest.add_metric([queue], self._age(self.client.lindex(queue, -1)))
        return [depth, oldest]

    def _age(self, message: bytes | None) -> float:
        if message is None:
            return 0.0
        try:
            sent = json.loads(message)["headers"][SENT_HEADER]
            return max(float(self.client.time()[0]) - float(sent), 0.0)
        except (ValueError, KeyError, TypeError):
            return 0.0  # a task sent by another client: no stamp

    def _gallery(self) -> list[Metric]:
        from facefleet.gallery_store import GalleryStore

        people = GalleryStore(self.client, self.settings.gallery_key).people()
        size = GaugeMetricFamily(
            "facefleet_gallery_people", "People enrolled in the gallery", value=len(people)
        )
        encodings = GaugeMetricFamily(
            "facefleet_gallery_encodings",
            "Face encodings enrolled in the gallery",
            value=sum(people.values()),
        )
        return [size, encodings]

    def _hosts(self) -> list[Metric]:
        planned = GaugeMetricFamily(
            "facefleet_workers_planned", "Workers the host should run", labels=["host"]
        )
        concurrency = GaugeMetricFamily(
            "facefleet_worker_concurrency", "Pool size of each worker", labels=["host"]
        )
        running = GaugeMetricFamily(
            "facefleet_worker_running",
            "1 when supervisor runs the worker",
            labels=["node", "host"],
        )
        pss = GaugeMetricFamily(
            "facefleet_worker_memory_pss_bytes",
            "PSS of the worker's process tree, as the memory guard counts it",
            labels=["node", "host"],
        )
        budget = GaugeMetricFamily(
            "facefleet_worker_memory_budget_bytes",
            "The worker's memory budget (its load profile's)",
            labels=["node", "host"],
        )
        for host, fields in self._hashes("host"):
            planned.add_metric([host], float(fields.get("planned", 0)))
            concurrency.add_metric([host], float(fields.get("concurrency", 0)))
            for field, value in fields.items():
                kind, _, node = field.partition(":")
                if kind == "running":
                    running.add_metric([node, host], float(value))
                    budget.add_metric([node, host], float(fields.get("budget_mb", 0)) * MB)
                elif kind == "pss_mb":
                    pss.add_metric([node, host], float(value) * MB)
        return [planned, concurrency, running, pss, budget]

    def _answering(self) -> Iterator[Metric]:
        answering = GaugeMetricFamily(
            "facefleet_workers_answering", "Workers that answered ping", labels=["host"]
        )
        if self.app is not None:
            try:
                replies = self.app.control.ping(timeout=self.settings.metrics_ping_timeout)
            except Exception as exc:
                log.warning("ping failed: %s", exc)
                replies = []
            counts: dict[str, int] = {}
            for reply in replies:
                for node in reply:
                    counts[host_of(node)] = counts.get(host_of(node), 0) + 1
            for host, count in sorted(counts.items()):
                answering.add_metric([host], float(count))
        yield answering


def registry_for(client: redis.Redis, settings: Settings, app: Any) -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(FleetCollector(client, settings, app))
    return registry


def serve(settings: Settings, address: str, port: int) -> None:
    """Serve /metrics on address:port until the process is stopped."""
    from facefleet.celery_app import create_app
    from facefleet.redis_client import connect

    client = connect(settings, socket_timeout=5, health_check_interval=30)
    server, thread = start_http_server(
        port, addr=address, registry=registry_for(client, settings, create_app(settings))
    )
    log.info("serving the fleet's metrics on http://%s:%s/metrics", address, port)
    try:
        thread.join()
    finally:
        server.shutdown()
