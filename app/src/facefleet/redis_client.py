"""The one way the app opens Redis: the settings' URL, over verified TLS when it is rediss://."""

from __future__ import annotations

import ssl
from typing import Any
from urllib.parse import urlsplit

import redis
from kombu.exceptions import OperationalError

from facefleet.settings import Settings

# What a client sees when Redis is down, restarting or out of reach.
OUTAGE_ERRORS: tuple[type[BaseException], ...] = (
    redis.exceptions.ConnectionError,
    redis.exceptions.TimeoutError,
    redis.exceptions.BusyLoadingError,
    OperationalError,
    ConnectionError,
    TimeoutError,
)


class RedisUnreachable(RuntimeError):
    """Redis does not answer; the message names where it was looked for, never the password."""


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


def where(settings: Settings) -> str:
    """Redis' address from the settings, without the password: ``rediss://host:6379/0``."""
    url = urlsplit(settings.redis_url)
    port = f":{url.port}" if url.port else ""
    return f"{url.scheme}://{url.hostname}{port}{url.path}"


def require_redis(settings: Settings, timeout: float = 5.0) -> None:
    """Raise RedisUnreachable, with the reason in one line, unless Redis answers PING."""
    client = connect(settings, socket_connect_timeout=timeout, socket_timeout=timeout)
    try:
        client.ping()
    except redis.exceptions.AuthenticationError as exc:
        raise RedisUnreachable(f"Redis at {where(settings)} refused the password: {exc}") from None
    except OUTAGE_ERRORS as exc:
        raise RedisUnreachable(f"cannot reach Redis at {where(settings)}: {exc}") from None
    finally:
        client.close()
