"""The Celery application, configured from the settings and nothing else."""

from __future__ import annotations

from urllib.parse import urlsplit

from celery import Celery

from facefleet.redis_client import sentinel_options, timeouts, tls_options
from facefleet.settings import RESTORE_SWEEP_SECONDS, Settings, load_settings

# Seconds between kombu's and the result store's pings on a connection they hold (kombu's
# default: 25 s): a worker's waiting BRPOP then notices a vanished primary within seconds.
HEALTH_CHECK_SECONDS = 5


def redis_urls(settings: Settings) -> str:
    """The broker's and result store's URL: the settings' Redis, or one ``sentinel://``
    URL per Sentinel, separated by ``;`` (kombu and Celery then ask them for the primary)."""
    if not settings.redis_sentinels:
        return settings.redis_url
    url = urlsplit(settings.redis_url)
    userinfo = url.netloc.rpartition("@")[0]
    auth = f"{userinfo}@" if userinfo else ""
    return ";".join(
        f"sentinel://{auth}{f'[{host}]' if ':' in host else host}:{port}{url.path}"
        for host, port in settings.sentinel_addresses
    )


def sentinel_transport_options(settings: Settings) -> dict[str, object]:
    """Which primary to ask the Sentinels for, and how to talk to them; none without."""
    if not settings.redis_sentinels:
        return {}
    return {
        "master_name": settings.redis_master_name,
        "sentinel_kwargs": sentinel_options(settings),
    }


def celery_config(settings: Settings) -> dict[str, object]:
    config: dict[str, object] = {
        "broker_url": redis_urls(settings),
        "result_backend": redis_urls(settings),
        "result_backend_transport_options": sentinel_transport_options(settings),
        "redis_socket_connect_timeout": settings.redis_connect_timeout,
        "redis_socket_timeout": settings.redis_read_timeout,
        "redis_socket_keepalive": True,
        "redis_backend_health_check_interval": HEALTH_CHECK_SECONDS,
        "task_default_queue": settings.queue,
        "task_serializer": "json",
        "result_serializer": "json",
        "accept_content": ["json"],
        # Reliability: a task is acknowledged only when it has finished, so a worker that
        # dies or is stopped hands its task back to the queue instead of losing it.
        "task_acks_late": True,
        "task_reject_on_worker_lost": True,
        "worker_prefetch_multiplier": 1,
        # When the worker loses Redis (a broker restart), let running tasks finish and
        # store their results instead of cancelling them: cancelled, they were stored as
        # failures ("terminated") that a submitter took as final (seen in the chaos runs,
        # bench/chaos_lab.py). Their messages still come back after the visibility
        # timeout and run once more; the analysis is idempotent, so that second run only
        # rewrites the same result.
        "worker_cancel_long_running_tasks_on_connection_loss": False,
        "broker_transport_options": {
            "visibility_timeout": settings.visibility_timeout,
            # Sweep every RESTORE_SWEEP_SECONDS for tasks a dead worker held: kombu
            # scans only one call in ten by default, i.e. every 100 s.
            "unacked_restore_interval": RESTORE_SWEEP_SECONDS,
            "unacked_restore_throttle": 1,
            # The JSON body as it is, not base64-encoded once more (kombu's default):
            # an image then takes 4/3 of its size in Redis, not 16/9. A worker reads
            # each message's own encoding, so old and new messages mix during an upgrade.
            "body_encoding": "utf-8",
            # A vanished Redis host (or old primary) fails fast instead of hanging on
            # the kernel's TCP timeouts; kombu polls BRPOP a second at a time.
            **timeouts(settings),
            "health_check_interval": HEALTH_CHECK_SECONDS,
            **sentinel_transport_options(settings),
        },
        "broker_connection_retry_on_startup": True,
        # Storing a result while Redis restarts (or loads its AOF): retry with backoff up
        # to a second apart, instead of failing the task outside its body (seen in the
        # chaos runs: the failure was then stored as the image's final result).
        "result_backend_always_retry": True,
        "result_backend_max_retries": settings.redis_outage_seconds,
        "result_backend_max_sleep_between_retries_ms": 1000,
        # Sending a task while Redis restarts: retry about once a second for the outage
        # the settings allow, instead of Kombu's default of three tries within a second.
        "task_publish_retry_policy": {
            "max_retries": settings.redis_outage_seconds,
            "interval_start": 0,
            "interval_step": 1,
            "interval_max": 1,
        },
        "task_soft_time_limit": settings.task_soft_time_limit,
        "task_time_limit": settings.task_time_limit,
        "result_expires": settings.result_expires,
        "task_track_started": True,
        # Events for Flower.
        "worker_send_task_events": True,
        "task_send_sent_event": True,
        # Replace a pool child once its task ends if its peak RSS grew past this (KiB).
        "worker_max_memory_per_child": settings.child_recycle_mb * 1024 or None,
    }
    tls = tls_options(settings)
    if tls:
        # Redis over TLS (a rediss:// URL): the broker and the result store both verify
        # Redis' certificate against the configured CA.
        config["broker_use_ssl"] = tls
        config["redis_backend_use_ssl"] = tls
    return config


def create_app(settings: Settings | None = None) -> Celery:
    app = Celery("facefleet", include=["facefleet.tasks", "facefleet.worker_stats"])
    app.conf.update(celery_config(settings or load_settings()))
    return app


app = create_app()
