"""The one way the app opens Redis: the settings' URL, over verified TLS when it is rediss://."""

from __future__ import annotations

import ssl
from typing import Any

import redis

from facefleet.settings import Settings


def tls_options(settings: Settings) -> dict[str, Any]:
    """Connection options for redis-py and Kombu: verify Redis' certificate against the
    configured CA. Empty for a plain redis:// URL."""
    if not settings.redis_url.startswith("rediss://"):
        return {}
    options: dict[str, Any] = {"ssl_cert_reqs": ssl.CERT_REQUIRED}
    if settings.redis_tls_ca_file:
        options["ssl_ca_certs"] = settings.redis_tls_ca_file
    return options


def connect(settings: Settings, **kwargs: Any) -> redis.Redis:
    return redis.Redis.from_url(settings.redis_url, **tls_options(settings), **kwargs)
