"""The memory guard's parts that need no supervisord: how it measures a worker, and when
restarts become a loop. Under a real supervisord: test_worker_set.py."""

from __future__ import annotations

import os

from facefleet.memory_guard import RestartLoops
from facefleet.process_memory import tree_pss_mb


def test_pss_of_this_process_is_counted() -> None:
    assert 5 < tree_pss_mb(os.getpid()) < 2000


def test_restarts_become_a_loop_within_the_window_and_end_after_it() -> None:
    now = [0.0]
    loops = RestartLoops(restarts=3, window_s=600, clock=lambda: now[0])
    for _ in range(2):
        loops.restarted("w1")
        now[0] += 100
    assert not loops.looping("w1")
    loops.restarted("w1")
    assert loops.looping("w1")
    assert not loops.looping("w2")
    assert loops.state() == {"w1": {"restarts_in_window": 3, "loop": True}}
    # The first restart leaves the window: two remain, no loop any more.
    now[0] += 450
    assert not loops.looping("w1")
    assert loops.state() == {}
