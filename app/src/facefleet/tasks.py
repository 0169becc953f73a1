"""Celery tasks: thin wrappers that hand bytes to the pure pipeline.

Task names are part of the wire format between submitters and workers; keep them stable.
"""

from __future__ import annotations

import base64
import binascii
import functools
import gc
import logging
import os
import time
from collections.abc import Callable
from typing import Any

import redis
from celery import Task
from celery.exceptions import SoftTimeLimitExceeded
from celery.signals import task_postrun, worker_init, worker_process_init

from facefleet.celery_app import app
from facefleet.core.analysis import ImageResult, analyze_bytes, error_result
from facefleet.core.image_loading import BadImage
from facefleet.gallery_store import CachedGallery, GalleryStore
from facefleet.heap import pin_malloc_thresholds, release_free_memory
from facefleet.image_store import ImageStore
from facefleet.pipeline import analysis_options, engine_for, share_detection_slots
from facefleet.pipeline_metrics import log_fields, record
from facefleet.redis_client import OUTAGE_ERRORS, connect
from facefleet.settings import Settings, SettingsError, load_settings, replace

# The image travels in the message, base64 (kept for submitters of earlier releases).
ANALYZE_IMAGE = "facefleet.analyze_image"
# The message names the image's key in Redis (facefleet/image_store.py): what
# `facefleet submit` sends.
ANALYZE_STORED_IMAGE = "facefleet.analyze_stored_image"

log = logging.getLogger(__name__)


@functools.cache
def _settings() -> Settings:
    return load_settings()


@functools.cache
def _image_store() -> ImageStore:
    settings = _settings()
    return ImageStore(connect(settings, health_check_interval=30), settings.image_key_prefix)


@functools.cache
def _metrics_client() -> redis.Redis:
    return connect(_settings(), socket_timeout=5, health_check_interval=30)


@functools.cache
def _gallery() -> CachedGallery:
    settings = _settings()
    client = connect(settings, health_check_interval=30)
    return CachedGallery(GalleryStore(client, settings.gallery_key), settings.redis_outage_seconds)


@worker_init.connect
def _load_models_before_fork(**_: Any) -> None:
    # Prefork children share these pages copy-on-write; threads share the engine.
    pin_malloc_thresholds()
    engine_for(_settings()).warm_up(_settings().detector)
    share_detection_slots(_settings().detect_slots or os.cpu_count() or 1)
    # What is loaded now stays out of the garbage collector's sight: its passes would
    # otherwise touch every object, and each child would copy the pages they live on.
    gc.collect()
    gc.freeze()
    log.info("face models loaded in process %s", os.getpid())


@worker_process_init.connect
def _load_detector_in_child(**_: Any) -> None:
    pin_malloc_thresholds()
    engine_for(_settings()).warm_up(_settings().detector)


# Both tasks: the gallery (and the stored image) come from Redis; while it restarts the
# task is retried with backoff instead of failing.
_RETRIED_WHILE_REDIS_IS_AWAY: dict[str, Any] = {
    "bind": True,
    "autoretry_for": (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError),
    "retry_backoff": True,
    "retry_backoff_max": 30,
    "max_retries": 10,
}


@task_postrun.connect
def _give_memory_back(**_: Any) -> None:
    release_free_memory()


@app.task(name=ANALYZE_IMAGE, **_RETRIED_WHILE_REDIS_IS_AWAY)
def analyze_image(
    self: Task, image: str, data_b64: str, detection: str | None = None
) -> ImageResult:
    """Analyse one image sent as base64; always returns a result, ok or error.
    ``detection`` ("fast" or "exact") overrides the worker's mode for this image."""
    try:
        data = base64.b64decode(data_b64, validate=True)
    except (binascii.Error, ValueError, TypeError):
        return _signed(self, error_result(image, "payload is not valid base64"))
    return _signed(self, _analyze(image, data, detection))


@app.task(name=ANALYZE_STORED_IMAGE, **_RETRIED_WHILE_REDIS_IS_AWAY)
def analyze_stored_image(
    self: Task, image: str, key: str, detection: str | None = None
) -> ImageResult:
    """Analyse the image stored under ``key`` (facefleet/image_store.py), fetched only
    when a detection slot is free; always returns a result, ok or error."""

    def fetch() -> bytes:
        data = _while_redis_is_away(lambda: _image_store().get(key))
        if data is None:
            raise BadImage("image data no longer in Redis (its submitter gave up on it)")
        return data

    return _signed(self, _analyze(image, fetch, detection))


def _while_redis_is_away(call: Callable[[], Any]) -> Any:
    """``call()``, tried again each second while Redis is away (restarting, or failing
    over to a replica: each try asks the Sentinels for the primary again), for up to the
    settings' outage. The task waits in place: a Celery retry would have to publish a new
    message to that same absent Redis, and when that fails Celery rejects the task for
    good. Past the outage the error goes to the task's autoretry."""
    deadline = time.monotonic() + _settings().redis_outage_seconds
    while True:
        try:
            return call()
        except OUTAGE_ERRORS:
            if time.monotonic() > deadline:
                raise
            time.sleep(1.0)


def _signed(task: Task, result: ImageResult) -> ImageResult:
    result["worker"] = task.request.hostname or ""
    result["pid"] = os.getpid()
    result["task_id"] = str(task.request.id or "")
    _count(result)
    log.info("image done %s", log_fields(result))
    return result


def _count(result: ImageResult) -> None:
    """Adds the image to the pipeline's counters (facefleet/pipeline_metrics.py), in the
    process that analysed it; a Redis hiccup costs a count, never the result."""
    if not _settings().metrics:
        return
    try:
        settings = _settings()
        record(
            _metrics_client(),
            settings.metrics_key_prefix,
            result["worker"],
            result,
            window_s=2 * settings.visibility_timeout,
        )
    except redis.exceptions.RedisError as exc:
        log.warning("could not count %s in the pipeline's metrics: %s", result["image"], exc)


def _analyze(image: str, data: bytes | Callable[[], bytes], detection: str | None) -> ImageResult:
    settings = _settings()
    try:
        if detection is not None and detection != settings.detection:
            settings = replace(settings, detection=detection)
    except SettingsError as exc:
        return error_result(image, str(exc))
    try:
        return analyze_bytes(
            image, data, engine_for(settings), _gallery().current(), analysis_options(settings)
        )
    except SoftTimeLimitExceeded:
        return error_result(
            image, f"took longer than the {settings.task_soft_time_limit} s time limit"
        )


def encode_payload(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")
