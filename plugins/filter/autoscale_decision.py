"""How many workers the fleet needs now: the decision autoscale.yml applies.

load = (active + queued) / capacity, where capacity = workers x concurrency. Queue length
alone reacts late (a full fleet with an empty queue is already at its limit), so active
tasks count too. The target is a load below 1 (default 0.75), leaving headroom.
Scaling up goes straight to what the load needs; scaling down waits until the load is
under half the target and then steps one worker at a time, so a lull between batches does
not tear the fleet down. Unit-tested in tests/test_autoscale_decision.py.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from ansible.errors import AnsibleFilterError


def autoscale_decision(
    status: Mapping[str, Any],
    current_workers: Any,
    concurrency: Any,
    target_load: Any = 0.75,
    min_workers: Any = 1,
    max_workers: Any = 10,
) -> dict[str, Any]:
    current, per_worker = int(current_workers), int(concurrency)
    target, low, high = float(target_load), int(min_workers), int(max_workers)
    if not 0 < target <= 1:
        raise AnsibleFilterError(f"target load must be in (0, 1], not {target}")
    if not 0 <= low <= high:
        raise AnsibleFilterError(f"need 0 <= min_workers <= max_workers, not {low}..{high}")
    if per_worker < 1:
        raise AnsibleFilterError(f"concurrency must be at least 1, not {per_worker}")
    active = int(status.get("active") or 0)
    queued = int(status.get("queue_depth") or 0)
    capacity = int(status.get("capacity") or 0)
    demand = active + queued
    load = demand / capacity if capacity else (math.inf if demand else 0.0)
    needed = math.ceil(demand / (target * per_worker)) if demand else 0
    desired = min(max(needed, low), high)
    if desired < current:
        # Give workers back only when quiet, and one at a time.
        desired = current if load >= target / 2 else max(desired, current - 1)
    action = "up" if desired > current else "down" if desired < current else "none"
    reason = (
        f"load {load:.2f} = ({active} active + {queued} queued) / {capacity} capacity; "
        f"target {target:.2f}; bounds {low}..{high}"
    )
    return {
        "load": None if math.isinf(load) else round(load, 3),
        "active": active,
        "queued": queued,
        "capacity": capacity,
        "current": current,
        "desired": desired,
        "action": action,
        "reason": reason,
    }


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {"autoscale_decision": autoscale_decision}
