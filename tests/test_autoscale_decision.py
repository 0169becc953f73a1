"""The autoscaler's decision (plugins/filter/autoscale_decision.py)."""

from __future__ import annotations

import pytest
from ansible_collections.facefleet.fleet.plugins.filter import autoscale_decision as module

decide = module.autoscale_decision


def status(active: int, queued: int, capacity: int) -> dict:
    return {"active": active, "queue_depth": queued, "capacity": capacity}


def test_busy_fleet_with_empty_queue_still_scales_up() -> None:
    # 8 of 8 slots busy and nothing queued: queue length alone would say "fine".
    decision = decide(status(8, 0, 8), 2, 4)
    assert decision["load"] == 1.0
    assert (decision["desired"], decision["action"]) == (3, "up")


def test_backlog_goes_straight_to_what_it_needs_within_max() -> None:
    assert decide(status(8, 100, 8), 2, 4)["desired"] == 10
    assert decide(status(8, 100, 8), 2, 4, max_workers=6)["desired"] == 6


def test_load_under_target_changes_nothing() -> None:
    decision = decide(status(5, 0, 8), 2, 4)
    assert (decision["desired"], decision["action"]) == (2, "none")


def test_scale_down_waits_for_quiet_then_steps_by_one() -> None:
    # load 0.40: under the 0.75 target, but not under half of it: keep the workers.
    assert decide(status(8, 0, 20), 5, 4)["action"] == "none"
    quiet = decide(status(1, 0, 20), 5, 4)
    assert (quiet["desired"], quiet["action"]) == (4, "down")


def test_never_below_min_even_when_idle() -> None:
    assert decide(status(0, 0, 4), 1, 4, min_workers=1)["action"] == "none"
    assert decide(status(0, 0, 8), 2, 4, min_workers=0)["desired"] == 1


def test_no_workers_and_a_queue_starts_some() -> None:
    decision = decide(status(0, 10, 0), 0, 4, min_workers=0)
    assert decision["load"] is None
    assert (decision["desired"], decision["action"]) == (4, "up")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"target_load": 0}, "target load"),
        ({"min_workers": 5, "max_workers": 2}, "min_workers <= max_workers"),
    ],
)
def test_bad_bounds_are_refused(kwargs: dict, message: str) -> None:
    with pytest.raises(module.AnsibleFilterError, match=message):
        decide(status(1, 1, 4), 1, 4, **kwargs)
