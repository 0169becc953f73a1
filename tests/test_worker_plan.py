"""The scale planner (plugins/filter/worker_plan.py)."""

from __future__ import annotations

import pytest
from ansible_collections.facefleet.fleet.plugins.filter import worker_plan as plan_module

HostCapacity = plan_module.HostCapacity
PlanError = plan_module.PlanError
plan_workers = plan_module.plan_workers

LAB = [HostCapacity("worker1", 2, 24000), HostCapacity("worker2", 2, 24000)]


def test_seed_default_spreads_two_workers_one_each() -> None:
    assert plan_workers(LAB, 2, 500, 512) == {"worker1": 1, "worker2": 1}


def test_five_workers_on_two_equal_hosts_is_three_and_two() -> None:
    assert plan_workers(LAB, 5, 500, 512) == {"worker1": 3, "worker2": 2}


def test_single_host_takes_all() -> None:
    assert plan_workers([HostCapacity("localhost", 2, 8000)], 2, 500, 512) == {"localhost": 2}


def test_proportional_to_vcpus() -> None:
    hosts = [HostCapacity("big", 8, 64000), HostCapacity("small", 2, 64000)]
    assert plan_workers(hosts, 10, 2000, 512) == {"big": 8, "small": 2}


def test_memory_caps_a_host_and_the_rest_goes_elsewhere() -> None:
    hosts = [HostCapacity("a", 16, 3000), HostCapacity("b", 4, 32000)]
    # a can hold (3000 - 512) // 1000 = 2 workers whatever its vCPUs.
    assert plan_workers(hosts, 6, 1000, 512) == {"a": 2, "b": 4}


def test_pins_are_kept_and_the_rest_is_planned() -> None:
    hosts = [HostCapacity("worker1", 2, 24000, pinned=4), HostCapacity("worker2", 2, 24000)]
    assert plan_workers(hosts, 5, 500, 512) == {"worker1": 4, "worker2": 1}


def test_zero_workers_is_a_valid_plan() -> None:
    assert plan_workers(LAB, 0, 500, 512) == {"worker1": 0, "worker2": 0}


def test_never_more_than_asked() -> None:
    for total in range(0, 30):
        assert sum(plan_workers(LAB, total, 500, 512).values()) == total


def test_budget_larger_than_the_hosts_is_refused_with_numbers() -> None:
    hosts = [HostCapacity("worker1", 2, 4000), HostCapacity("worker2", 2, 4000)]
    with pytest.raises(PlanError) as error:
        plan_workers(hosts, 5, 2000, 512)
    message = str(error.value)
    assert "cannot place 5 workers at 2000 MB each" in message
    assert "worker1 room for 1 (4000 MB, 2 vCPUs)" in message


def test_pin_over_memory_names_host_and_numbers() -> None:
    hosts = [HostCapacity("worker1", 2, 2000, pinned=3)]
    with pytest.raises(
        PlanError,
        match=r"host worker1: 3 pinned workers x 1000 MB = 3000 MB, "
        r"but it can give only 1488 MB",
    ):
        plan_workers(hosts, 3, 1000, 512)


def test_pins_above_total_are_refused() -> None:
    hosts = [HostCapacity("worker1", 2, 24000, pinned=4), HostCapacity("worker2", 2, 24000)]
    with pytest.raises(PlanError, match="add up to 4, more than the 2 asked for"):
        plan_workers(hosts, 2, 500, 512)


def test_filter_reads_facts_and_pins_from_hostvars() -> None:
    hostvars = {
        "w1": {
            "ansible_facts": {"processor_vcpus": 4, "memtotal_mb": 16000},
            "celery_worker_host_replicas": "",
        },
        "w2": {
            "ansible_facts": {"processor_vcpus": 4, "memtotal_mb": 16000},
            "celery_worker_host_replicas": "1",
        },
    }
    assert plan_module.facefleet_worker_plan(["w1", "w2"], hostvars, "4", "500") == {
        "w1": 3,
        "w2": 1,
    }


def test_filter_without_facts_says_so() -> None:
    with pytest.raises(PlanError, match="host w1: no facts"):
        plan_module.facefleet_worker_plan(["w1"], {"w1": {}}, 1, 500)
