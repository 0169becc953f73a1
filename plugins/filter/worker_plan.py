"""The scale planner: how many Celery workers each host runs.

``facefleet_worker_plan`` spreads a cluster-wide worker count over the worker hosts in
proportion to their capacity (vCPUs, capped by what their memory can hold at the
profile's budget per worker), honours per-host pins, and refuses, naming the host
and the numbers, any plan a host cannot hold. It is pure Python so it is unit-tested
(tests/test_worker_plan.py); the Jinja side only passes facts in.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ansible.errors import AnsibleFilterError


class PlanError(AnsibleFilterError):
    """No plan fits; the message names the host and the numbers."""


@dataclass(frozen=True)
class HostCapacity:
    name: str
    vcpus: int
    memory_mb: int
    pinned: int | None = None

    def room(self, budget_mb: int, reserve_mb: int) -> int:
        """Workers this host's memory can hold at ``budget_mb`` each."""
        return max(0, (self.memory_mb - reserve_mb) // budget_mb)


def plan_workers(
    hosts: Sequence[HostCapacity], total: int, budget_mb: int, reserve_mb: int
) -> dict[str, int]:
    """Workers per host, summing to ``total``; raises PlanError when no plan fits."""
    if total < 0:
        raise PlanError(f"the worker count must not be negative, not {total}")
    if budget_mb <= 0:
        raise PlanError(f"the memory budget per worker must be positive, not {budget_mb} MB")
    if not hosts and total:
        raise PlanError(f"{total} workers asked for, but the workers group has no hosts")

    plan = {host.name: 0 for host in hosts}
    for host in hosts:
        if host.pinned is None:
            continue
        room = host.room(budget_mb, reserve_mb)
        if host.pinned < 0:
            raise PlanError(f"host {host.name}: pinned worker count {host.pinned} is negative")
        if host.pinned > room:
            raise PlanError(
                f"host {host.name}: {host.pinned} pinned workers x {budget_mb} MB = "
                f"{host.pinned * budget_mb} MB, but it can give only "
                f"{max(0, host.memory_mb - reserve_mb)} MB ({host.memory_mb} MB total, "
                f"{reserve_mb} MB kept for the system), room for {room}"
            )
        plan[host.name] = host.pinned

    pinned_total = sum(plan.values())
    remaining = total - pinned_total
    if remaining < 0:
        pins = ", ".join(f"{h.name}={h.pinned}" for h in hosts if h.pinned is not None)
        raise PlanError(
            f"pinned workers ({pins}) add up to {pinned_total}, more than the {total} asked for"
        )

    free = [h for h in hosts if h.pinned is None]
    rooms = {h.name: h.room(budget_mb, reserve_mb) for h in free}
    # Capacity weight: vCPUs, but never more than the memory can hold.
    weights = {h.name: max(min(h.vcpus, rooms[h.name]), 0) for h in free}
    for _ in range(remaining):
        # D'Hondt: the next worker goes where weight / (workers + 1) is largest.
        candidates = [h.name for h in free if plan[h.name] < rooms[h.name]]
        if not candidates:
            detail = (
                ", ".join(
                    f"{h.name} room for {rooms[h.name]} ({h.memory_mb} MB, {h.vcpus} vCPUs)"
                    for h in free
                )
                or "no unpinned hosts"
            )
            raise PlanError(
                f"cannot place {total} workers at {budget_mb} MB each: {pinned_total} "
                f"pinned, and the other hosts can take only "
                f"{sum(rooms.values())} more ({detail})"
            )
        best = max(
            candidates,
            key=lambda n: (max(weights[n], 1) / (plan[n] + 1), -sorted(plan).index(n)),
        )
        plan[best] += 1
    return plan


def _capacity(name: str, hostvars: Mapping[str, Any], pin_var: str) -> HostCapacity:
    host = hostvars[name]
    facts = host.get("ansible_facts", {}) or {}
    vcpus = facts.get("processor_vcpus") or facts.get("processor_count")
    memory = facts.get("memtotal_mb")
    if not vcpus or not memory:
        raise PlanError(f"host {name}: no facts for vCPUs and memory; gather facts first")
    pinned = host.get(pin_var)
    return HostCapacity(
        name, int(vcpus), int(memory), None if pinned in (None, "") else int(pinned)
    )


def facefleet_worker_plan(
    hosts: Sequence[str],
    hostvars: Mapping[str, Any],
    total: Any,
    budget_mb: Any,
    reserve_mb: Any = 512,
    pin_var: str = "celery_worker_host_replicas",
) -> dict[str, int]:
    capacities = [_capacity(name, hostvars, pin_var) for name in hosts]
    return plan_workers(capacities, int(total), int(budget_mb), int(reserve_mb))


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {"worker_plan": facefleet_worker_plan}
