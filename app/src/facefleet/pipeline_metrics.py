"""The pipeline's own figures, counted in Redis.

Why Redis, and not a metrics endpoint per worker: under the prefork pool each image is
analysed in a child process that lives for a few hundred tasks (child_recycle_mb) and
then goes. Counters kept in a child's memory die with it, and an endpoint in the main
process never sees them. Each child therefore adds its image's figures to one Redis hash
per worker node, in one atomic round trip, when the image is done: every image is
counted once, by the process that analysed it, whatever happens to that process later.
One exporter (facefleet.metrics_exporter, on the Flower hosts) reads the hashes and
serves them in Prometheus' format, labelled by worker node and host.

Host figures that only the host can measure (its planned workers, their memory against
the budget) come from the memory guard, which looks at them every minute anyway: it
writes them to a per-host hash that expires when the guard stops writing.

This module imports Redis only for its types; the pure pipeline does not import it.
"""

from __future__ import annotations

import bisect
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import redis

# The steps a result's timings_ms may hold (core/analysis.py), in pipeline order.
STEPS = ("fetch", "decode", "detect", "encode", "match", "total")
# Histogram bounds: seconds per step, and faces per image.
STEP_BUCKETS_S = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0)
FACE_BUCKETS = (0, 1, 2, 3, 5, 8, 13, 21)
# The message header `facefleet submit` stamps with the time it sent a task: the
# exporter reads the oldest waiting task's age from it.
SENT_HEADER = "facefleet_sent"
# A node's counters expire after a week without an image (a node scaled away long ago).
NODE_TTL_S = 7 * 24 * 3600
# A host's figures expire after three of the memory guard's one-minute ticks.
HOST_TTL_S = 180

# Error messages (core/image_loading.py, core/analysis.py, tasks.py) by their reason,
# first match wins. The label is what alerts and graphs group by.
_REASONS = (
    ("empty", ("empty file",)),
    ("too_large", ("too large",)),
    ("not_an_image", ("not an image",)),
    ("corrupt", ("corrupt", "truncated")),
    ("no_pixels", ("no pixels",)),
    ("timeout", ("took longer than",)),
    ("data_gone", ("no longer in redis",)),
    ("bad_payload", ("not valid base64",)),
    ("analysis_failed", ("analysis failed",)),
)
ERROR_REASONS = (*(reason for reason, _ in _REASONS), "other")


def error_reason(message: str | None) -> str:
    """The reason label of an error result's message."""
    text = (message or "").lower()
    for reason, needles in _REASONS:
        if any(needle in text for needle in needles):
            return reason
    return "other"


def log_fields(result: Mapping[str, Any]) -> str:
    """One image's result as the worker logs it, in logfmt (key=value, quoted where
    needed): the task id and the image find each other between a result and the logs."""
    fields: dict[str, Any] = {
        "task": result.get("task_id") or "-",
        "image": result.get("image", ""),
        "outcome": result.get("status", ""),
        "faces": len(result.get("faces") or []),
        "ms": (result.get("timings_ms") or {}).get("total", 0),
    }
    if result.get("status") != "ok":
        fields["reason"] = error_reason(result.get("error"))
        fields["error"] = result.get("error") or ""
    return " ".join(f"{key}={_logfmt(value)}" for key, value in fields.items())


def _logfmt(value: Any) -> str:
    text = str(value)
    if text and not any(c in text for c in ' "=\\'):
        return text
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _bucket(bounds: tuple[float, ...], value: float) -> str:
    """The index of the first bound >= value, or "inf"."""
    index = bisect.bisect_left(bounds, value)
    return str(index) if index < len(bounds) else "inf"


def increments(result: Mapping[str, Any]) -> dict[str, float]:
    """The hash fields one image's result adds to, and by how much."""
    fields: dict[str, float] = {}
    if result.get("status") == "ok":
        fields["images:ok"] = 1
        faces = len(result.get("faces") or [])
        fields[f"faces:bucket:{_bucket(FACE_BUCKETS, faces)}"] = 1
        fields["faces:sum"] = faces
        fields["faces:count"] = 1
    else:
        fields["images:error"] = 1
        fields[f"errors:{error_reason(result.get('error'))}"] = 1
    for step, ms in (result.get("timings_ms") or {}).items():
        if step not in STEPS:
            continue
        seconds = float(ms) / 1000
        fields[f"seconds:{step}:bucket:{_bucket(STEP_BUCKETS_S, seconds)}"] = 1
        fields[f"seconds:{step}:sum"] = seconds
        fields[f"seconds:{step}:count"] = 1
    return fields


def host_of(node: str) -> str:
    """celery3@worker1 -> worker1."""
    return node.rpartition("@")[2] or node


def node_key(prefix: str, node: str) -> str:
    return f"{prefix}:node:{node}"


def host_key(prefix: str, host: str) -> str:
    return f"{prefix}:host:{host}"


def counted_key(prefix: str, task_id: str) -> str:
    return f"{prefix}:counted:{task_id}"


def record(
    client: redis.Redis,
    prefix: str,
    node: str,
    result: Mapping[str, Any],
    window_s: int,
) -> None:
    """Add one image's figures to its worker node's counters, atomically.

    Each task is counted once. kombu delivers a task again when its worker died before
    acknowledging it, and a task that had finished then runs a second time (its image
    may be gone by then: an error result no submitter waits for). A marker per task id,
    kept ``window_s`` (twice the visibility timeout: longer than any redelivery takes),
    turns that second completion into one ``redelivered`` count and nothing else."""
    key = node_key(prefix, node)
    fields = increments(result)
    task_id = result.get("task_id")
    if task_id and not client.set(counted_key(prefix, task_id), 1, nx=True, ex=window_s):
        fields = {"redelivered": 1}
    pipe = client.pipeline(transaction=True)
    for field, amount in fields.items():
        if isinstance(amount, int):
            pipe.hincrby(key, field, amount)
        else:
            pipe.hincrbyfloat(key, field, amount)
    pipe.expire(key, NODE_TTL_S)
    pipe.execute()


@dataclass(frozen=True)
class WorkerFigures:
    """What the memory guard measured of one worker, for the exporter."""

    node: str
    program: str
    running: bool
    pss_mb: float | None


def publish_host(
    client: redis.Redis,
    prefix: str,
    host: str,
    planned: int,
    concurrency: int,
    budget_mb: float,
    workers: Iterable[WorkerFigures],
) -> None:
    """Replace the host's figures (planned workers, their memory) with these."""
    fields: dict[str, str | float] = {
        "planned": planned,
        "concurrency": concurrency,
        "budget_mb": budget_mb,
        "at": time.time(),
    }
    for worker in workers:
        fields[f"running:{worker.node}"] = int(worker.running)
        if worker.pss_mb is not None:
            fields[f"pss_mb:{worker.node}"] = worker.pss_mb
    key = host_key(prefix, host)
    pipe = client.pipeline(transaction=True)
    pipe.delete(key)
    pipe.hset(key, mapping=fields)
    pipe.expire(key, HOST_TTL_S)
    pipe.execute()
