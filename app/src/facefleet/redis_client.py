"""The one way the app opens Redis: the settings' URL, over verified TLS when it is rediss://,
or the primary that the settings' Sentinels name (a replicated Redis)."""

from __future__ import annotations

import socket
import ssl
from typing import Any
from urllib.parse import unquote, urlsplit

import redis
import redis.sentinel
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


def address_tls_options(settings: Settings) -> dict[str, Any]:
    """tls_options for a client given a host and port instead of a URL (a Sentinel's,
    the primary's it names, an admin's): the same, with ``ssl`` turned on."""
    tls = tls_options(settings)
    return {"ssl": True, **tls} if tls else {}


def credentials(settings: Settings) -> dict[str, Any]:
    """The user, password and database of the settings' URL, as redis-py's arguments."""
    url = urlsplit(settings.redis_url)
    return {
        "username": unquote(url.username) if url.username else None,
        "password": unquote(url.password) if url.password else None,
        "db": int(url.path.lstrip("/") or 0),
    }


# TCP keepalive on every connection: an idle one to a host that vanished is found dead
# within about 11 s (5 s idle, then 3 probes 2 s apart), not the kernel's 2 hours.
KEEPALIVE: dict[int, int] = {
    socket.TCP_KEEPIDLE: 5,
    socket.TCP_KEEPINTVL: 2,
    socket.TCP_KEEPCNT: 3,
}


def timeouts(settings: Settings) -> dict[str, Any]:
    """The settings' connect and read timeouts, and keepalive, as redis-py's arguments."""
    return {
        "socket_connect_timeout": settings.redis_connect_timeout,
        "socket_timeout": settings.redis_read_timeout,
        "socket_keepalive": True,
        "socket_keepalive_options": KEEPALIVE,
    }


# Seconds a client waits for one Sentinel to connect and answer: a Sentinel answers at
# once, and while one is down (its host with the old primary, say) every lookup of the
# primary pays this wait before it asks the next.
SENTINEL_TIMEOUT_SECONDS = 2


def sentinel_options(settings: Settings) -> dict[str, Any]:
    """How a client talks to the Sentinels themselves: the fleet's password, TLS as for
    Redis (the Sentinels listen as Redis does), a short timeout, and one try each.

    redis-py 8 otherwise retries each Sentinel 10 times: a lookup then spent about 55 s
    on the Sentinel of a stopped host before it asked the next, and workers, results and
    events stood still for minutes after a failover that took Sentinel 6 s (the chaos
    suite's failover scenario, watched with py-spy)."""
    return {
        "password": credentials(settings)["password"],
        "socket_connect_timeout": SENTINEL_TIMEOUT_SECONDS,
        "socket_timeout": SENTINEL_TIMEOUT_SECONDS,
        # No retry object: None means no retries to redis-py, and these options travel
        # as JSON in each worker's stats reply (a Retry object there made every worker
        # silent to `inspect stats`, so status.yml showed no pool or concurrency).
        "retry": None,
        **address_tls_options(settings),
    }


def connect(settings: Settings, **kwargs: Any) -> redis.Redis:
    """A client of the settings' Redis (of its primary, with Sentinel); ``kwargs`` go to
    redis-py, and a caller's timeouts win over the settings'."""
    kwargs = {**timeouts(settings), **kwargs}
    if not settings.redis_sentinels:
        return redis.Redis.from_url(settings.redis_url, **tls_options(settings), **kwargs)
    sentinel = redis.sentinel.Sentinel(
        settings.sentinel_addresses,
        sentinel_kwargs=sentinel_options(settings),
        **{**credentials(settings), **address_tls_options(settings), **kwargs},
    )
    return sentinel.master_for(settings.redis_master_name)


def primary_address(settings: Settings) -> tuple[str, int]:
    """The primary's address as the first Sentinel that answers names it (redis-py checks
    that it is a master no Sentinel holds down). Raises MasterNotFoundError while none
    does. How many Sentinels agree is fleet_status.redis_topology's question."""
    sentinel = redis.sentinel.Sentinel(
        settings.sentinel_addresses, sentinel_kwargs=sentinel_options(settings)
    )
    host, port = sentinel.discover_master(settings.redis_master_name)
    return str(host), int(port)


def where(settings: Settings) -> str:
    """Redis' address from the settings, without the password: ``rediss://host:6379/0``,
    or ``primary 'facefleet' of the Sentinels at host:26379,...`` with Sentinel."""
    url = urlsplit(settings.redis_url)
    if settings.redis_sentinels:
        sentinels = ",".join(f"{host}:{port}" for host, port in settings.sentinel_addresses)
        return f"primary {settings.redis_master_name!r} of the Sentinels at {sentinels}"
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
