"""Celery tasks: thin wrappers that hand bytes to the pure pipeline.

Task names are part of the wire format between submitters and workers; keep them stable.
"""

from __future__ import annotations

import base64
import binascii
import functools
import logging
import os
from typing import Any

import redis
from celery import Task
from celery.exceptions import SoftTimeLimitExceeded
from celery.signals import worker_init, worker_process_init

from facefleet.celery_app import app
from facefleet.core.analysis import ImageResult, analyze_bytes, error_result
from facefleet.gallery_store import CachedGallery, GalleryStore
from facefleet.pipeline import analysis_options, engine_for
from facefleet.redis_client import connect
from facefleet.settings import Settings, load_settings

ANALYZE_IMAGE = "facefleet.analyze_image"

log = logging.getLogger(__name__)


@functools.cache
def _settings() -> Settings:
    return load_settings()


@functools.cache
def _gallery() -> CachedGallery:
    settings = _settings()
    client = connect(settings, health_check_interval=30)
    return CachedGallery(GalleryStore(client, settings.gallery_key), settings.redis_outage_seconds)


@worker_init.connect
def _load_models_before_fork(**_: Any) -> None:
    # Prefork children share these pages copy-on-write; threads share the engine.
    engine_for(_settings()).warm_up(_settings().detector)
    log.info("face models loaded in process %s", os.getpid())


@worker_process_init.connect
def _load_detector_in_child(**_: Any) -> None:
    engine_for(_settings()).warm_up(_settings().detector)


@app.task(
    name=ANALYZE_IMAGE,
    bind=True,
    autoretry_for=(redis.exceptions.ConnectionError, redis.exceptions.TimeoutError),
    retry_backoff=True,
    retry_backoff_max=30,
    max_retries=10,
)
def analyze_image(self: Task, image: str, data_b64: str) -> ImageResult:
    """Analyse one image sent as base64; always returns a result, ok or error."""
    settings = _settings()
    try:
        data = base64.b64decode(data_b64, validate=True)
    except (binascii.Error, ValueError, TypeError):
        result = error_result(image, "payload is not valid base64")
    else:
        gallery = _gallery().current()
        try:
            result = analyze_bytes(
                image, data, engine_for(settings), gallery, analysis_options(settings)
            )
        except SoftTimeLimitExceeded:
            result = error_result(
                image, f"took longer than the {settings.task_soft_time_limit} s time limit"
            )
    result["worker"] = self.request.hostname or ""
    result["pid"] = os.getpid()
    return result


def encode_payload(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")
