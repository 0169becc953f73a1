"""Turn `-e profile=… / workers=… / concurrency=… / pool=…` into one scale request.

``facefleet.fleet.scale_request`` starts from the named load profile, or from the fleet's
current scale (saved on the worker hosts by the celery_worker role) when no profile is
named, and applies the explicit overrides. The request also names its ``base`` profile,
the one it derives from: autoscale.yml keeps within that profile's range
(min_workers..workers). Unit-tested in tests/test_scale_request.py.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ansible.errors import AnsibleFilterError

POOLS = ("prefork", "threads", "solo")
FIELDS = ("workers", "concurrency", "pool", "memory_mb")


class ScaleRequestError(AnsibleFilterError):
    """The request cannot be understood; the message says what to pass instead."""


def _given(value: Any) -> bool:
    return value not in (None, "")


def _positive_int(name: str, value: Any, minimum: int) -> int:
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise ScaleRequestError(f"{name} must be a whole number, not {value!r}") from None
    if number < minimum:
        raise ScaleRequestError(f"{name} must be at least {minimum}, not {number}")
    return number


def scale_request(
    profiles: Mapping[str, Mapping[str, Any]],
    profile: Any = "",
    workers: Any = "",
    concurrency: Any = "",
    pool: Any = "",
    current: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    current = current or {}
    overridden = _given(workers) or _given(concurrency) or _given(pool)
    if _given(profile):
        if profile not in profiles:
            raise ScaleRequestError(
                f"unknown profile {profile!r}; profiles: " + ", ".join(sorted(profiles))
            )
        base = dict(profiles[profile])
        name = f"{profile}+overrides" if overridden else str(profile)
        origin = str(profile)
    elif all(_given(current.get(f)) for f in FIELDS):
        base = {f: current[f] for f in FIELDS}
        # The same request twice must give the same name, so that a repeat run is a no-op.
        name = "custom" if overridden else str(current.get("profile") or "")
        origin = str(current.get("base") or "light")
    else:
        if not _given(workers):
            raise ScaleRequestError(
                "the fleet has no saved scale yet: pass -e profile=NAME "
                "(" + ", ".join(sorted(profiles)) + ") or -e workers=N"
            )
        base = dict(profiles.get("light", {}))
        name = "custom"
        origin = "light"
    request = {
        "profile": name,
        "base": origin,
        "workers": _positive_int("workers", workers if _given(workers) else base.get("workers"), 0),
        "concurrency": _positive_int(
            "concurrency", concurrency if _given(concurrency) else base.get("concurrency"), 1
        ),
        "pool": str(pool if _given(pool) else base.get("pool")),
        "memory_mb": _positive_int("memory_mb", base.get("memory_mb"), 1),
    }
    if request["pool"] not in POOLS:
        raise ScaleRequestError(f"pool must be one of {', '.join(POOLS)}, not {request['pool']!r}")
    return request


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {"scale_request": scale_request}
