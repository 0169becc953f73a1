"""The workers' answer to `celery inspect stats` (Flower's worker pages, `status.yml`),
with every password masked.

Celery drops the broker's own password from that answer, but not the transport options,
and behind Sentinel those carry `sentinel_kwargs` with the fleet's Redis password: Flower
showed it on each worker's page. This module replaces Celery's `stats` command with one
that masks it; the worker imports it with the tasks (celery_app's `include`)."""

from __future__ import annotations

from typing import Any

from celery.worker.control import inspect_command

SECRET_KEYS = frozenset({"password"})
MASK = "********"


def without_secrets(value: Any) -> Any:
    """A copy of a JSON-like value whose password entries, at any depth, are masked."""
    if isinstance(value, dict):
        return {
            key: MASK if key in SECRET_KEYS and item else without_secrets(item)
            for key, item in value.items()
        }
    if isinstance(value, list | tuple):
        return [without_secrets(item) for item in value]
    return value


@inspect_command()
def stats(state: Any, **_: Any) -> Any:
    """Request worker statistics/information (passwords masked)."""
    return without_secrets(state.consumer.controller.stats())
