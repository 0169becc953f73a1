"""A worker's detection slots: at most N detections at once across its pool processes and
threads, and a slot comes back when the process holding it is killed."""

from __future__ import annotations

import multiprocessing
import os
import signal
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path

from facefleet.pipeline import DetectionSlots


def _got_within(seconds: float, take: Callable[[], object]) -> bool:
    """Whether ``take()`` returns within ``seconds`` (it runs on in a thread otherwise)."""
    done = threading.Event()

    def run() -> None:
        take()
        done.set()

    threading.Thread(target=run, daemon=True).start()
    return done.wait(seconds)


def _hold_for_ever(slots: DetectionSlots, holding: multiprocessing.synchronize.Event) -> None:
    with slots.held():
        holding.set()
        signal.pause()


def _once(slots: DetectionSlots) -> Callable[[], None]:
    def take() -> None:
        with slots.held():
            pass

    return take


def test_a_slot_comes_back_when_its_holder_is_killed() -> None:
    slots = DetectionSlots(1)
    fork = multiprocessing.get_context("fork")
    holding = fork.Event()
    holder = fork.Process(target=_hold_for_ever, args=(slots, holding))
    holder.start()
    try:
        assert holding.wait(10), "the child never took the slot"
        assert not _got_within(0.5, _once(slots)), "two holders of one slot"
    finally:
        os.kill(holder.pid, signal.SIGKILL)
        holder.join(10)
    assert _got_within(5, _once(slots)), "the killed child's slot never came back"


def test_threads_share_the_slots_too() -> None:
    slots = DetectionSlots(2)
    release = threading.Event()
    inside = threading.Semaphore(0)

    def hold() -> None:
        with slots.held():
            inside.release()
            release.wait(10)

    holders = [threading.Thread(target=hold, daemon=True) for _ in range(2)]
    for thread in holders:
        thread.start()
    assert inside.acquire(timeout=5)
    assert inside.acquire(timeout=5)
    assert not _got_within(0.5, _once(slots)), "a third detection ran beside two"
    release.set()
    for thread in holders:
        thread.join(5)
    assert _got_within(5, _once(slots))


def test_a_killed_workers_slot_folder_is_swept_by_the_next() -> None:
    """A worker's main process killed with SIGKILL never removes its slot folder; the
    next worker to start on the host does, and leaves a live worker's folder alone."""
    ready = multiprocessing.get_context("fork").Event()

    def worker() -> None:
        DetectionSlots(2)
        ready.set()
        signal.pause()

    killed = multiprocessing.get_context("fork").Process(target=worker)
    killed.start()
    assert ready.wait(10)
    assert killed.pid is not None
    os.kill(killed.pid, signal.SIGKILL)
    killed.join(10)
    parent = Path(tempfile.gettempdir())
    [left] = parent.glob(f"{DetectionSlots.PREFIX}{killed.pid}-*")
    live = DetectionSlots(1)  # this process's: its owner is alive
    assert not left.exists(), "the killed worker's slot folder is still there"
    assert live.folder.exists()
    assert live.folder in parent.glob(f"{DetectionSlots.PREFIX}{os.getpid()}-*")
    assert live.folder not in DetectionSlots.sweep(parent)
    assert live.folder.exists()
