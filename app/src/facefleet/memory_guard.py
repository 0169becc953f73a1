"""A supervisor event listener that restarts a worker whose memory exceeds its budget.

Memory is counted as PSS (proportional set size) of the worker's whole process tree (see
facefleet.process_memory): the models its prefork children share count once. The
workers and their budget are the ones the celery_worker role declared
(/etc/facefleet/workers.fact); a restart is the same as everywhere else (facefleet.
worker_set): drained, stopped warmly, started, and awaited until it answers ping.

A worker restarted ``loop_restarts`` times within ``loop_minutes`` (both in workers.fact)
that goes over budget once more is in a restart loop: restarting it again helps nobody,
so it is left running, said once in the log, and recorded in the guard's state file
(``guard_state_file``) for status.yml, until its restarts have left the window.

Supervisor runs it beside the workers (see roles/celery_worker/templates/workers.conf.j2):
    [eventlistener:facefleet-worker-memory-guard]
    command=/opt/facefleet/venv/bin/python -m facefleet.memory_guard
    events=TICK_60
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from facefleet.pipeline_metrics import WorkerFigures, host_of, publish_host
from facefleet.process_memory import tree_pss_mb
from facefleet.worker_set import WORKERS_FILE, HostWorkers, WorkerSet, celery_worker_set

if TYPE_CHECKING:
    import redis


class RestartLoops:
    """When each worker was restarted, and which ones restart too often to help."""

    def __init__(self, restarts: int, window_s: float, clock: Callable[[], float]) -> None:
        self.restarts = restarts
        self.window_s = window_s
        self.clock = clock
        self._times: dict[str, deque[float]] = {}
        self.announced: set[str] = set()  # loops already said in the log

    def _recent(self, program: str) -> deque[float]:
        times = self._times.setdefault(program, deque())
        while times and self.clock() - times[0] > self.window_s:
            times.popleft()
        return times

    def looping(self, program: str) -> bool:
        if len(self._recent(program)) >= self.restarts:
            return True
        self.announced.discard(program)
        return False

    def restarted(self, program: str) -> None:
        self._recent(program).append(self.clock())

    def state(self) -> dict[str, dict[str, object]]:
        return {
            program: {"restarts_in_window": len(self._recent(program)), "loop": True}
            for program in list(self._times)
            if self.looping(program)
        }


def over_budget(workers: WorkerSet) -> list[tuple[str, float]]:
    """Running workers whose tree PSS exceeds the budget: (program, MB)."""
    found = []
    guarded = {w.program for w in workers.host.wanted}
    for name, state in workers.supervisor.programs().items():
        if state.state != "RUNNING" or state.pid is None or name not in guarded:
            continue
        used = tree_pss_mb(state.pid)
        if used > workers.host.budget_mb:
            found.append((name, used))
    return found


def _log(stream: TextIO, message: str) -> None:
    stream.write(f"{time.strftime('%Y-%m-%d %H:%M:%S')} memory-guard: {message}\n")
    stream.flush()


def check(workers: WorkerSet, loops: RestartLoops, log: TextIO, state_file: Path | None) -> None:
    """One tick: restart each worker over budget, unless it is in a restart loop."""
    budget = workers.host.budget_mb
    for program, used in over_budget(workers):
        if loops.looping(program):
            if program not in loops.announced:
                loops.announced.add(program)
                _log(
                    log,
                    f"{program} uses {used:.0f} MB (PSS), over its {budget:.0f} MB budget, "
                    f"after {loops.restarts} restarts in {loops.window_s / 60:.0f} minutes: "
                    "a restart loop. Left running: its budget is too small for its work "
                    "(status.yml shows it; see the README on memory)",
                )
            continue
        loops.restarted(program)
        _log(
            log,
            f"{program} uses {used:.0f} MB (PSS, with its children), over its "
            f"{budget:.0f} MB budget: restarting it warmly",
        )
        try:
            report = workers.restart([program])
            _log(log, f"{program}: {report.line()}")
        except Exception as exc:
            _log(log, f"could not restart {program}: {exc}")
    if state_file is not None:
        _write_state(state_file, loops.state())


def _write_state(path: Path, state: dict[str, dict[str, object]]) -> None:
    partial = path.with_suffix(".partial")
    partial.write_text(json.dumps({"loops": state, "at": time.time()}))
    os.replace(partial, path)


def read_state(path: Path) -> dict[str, dict[str, object]]:
    """The workers the guard left running in a restart loop, as it last wrote them."""
    try:
        return json.loads(path.read_text()).get("loops", {})
    except (OSError, ValueError):
        return {}


def publish(workers: WorkerSet, client: redis.Redis, prefix: str) -> None:
    """Write the host's planned workers and their memory for the metrics exporter
    (facefleet.pipeline_metrics); a Redis hiccup skips one minute's figures."""
    import socket

    from redis.exceptions import RedisError

    rows = workers.status()
    host = host_of(rows[0]["node"]) if rows else socket.gethostname()
    figures = [
        WorkerFigures(r["node"], r["program"], r["state"] == "RUNNING", r["pss_mb"]) for r in rows
    ]
    try:
        publish_host(
            client,
            prefix,
            host,
            planned=len(rows),
            concurrency=workers.host.concurrency,
            budget_mb=workers.host.budget_mb,
            workers=figures,
        )
    except RedisError as exc:
        _log(sys.stderr, f"could not publish this host's figures: {exc}")


def run(workers_file: Path) -> None:
    """Check at every tick, with the workers as the role declares them now (a scale
    changes them, and not this program)."""
    from supervisor import childutils

    from facefleet.celery_app import create_app
    from facefleet.redis_client import connect
    from facefleet.settings import load_settings

    settings = load_settings()
    app = create_app(settings)
    client = connect(settings, socket_timeout=5, health_check_interval=30)
    host = HostWorkers.load(workers_file)
    loops = RestartLoops(host.loop_restarts, host.loop_minutes * 60, time.monotonic)
    _log(sys.stderr, f"watching the workers of {workers_file}")
    while True:
        headers, _ = childutils.listener.wait(sys.stdin, sys.stdout)
        if headers.get("eventname", "").startswith("TICK"):
            host = HostWorkers.load(workers_file)
            state = Path(host.guard_state_file) if host.guard_state_file else None
            workers = celery_worker_set(host, app)
            check(workers, loops, sys.stderr, state)
            publish(workers, client, settings.metrics_key_prefix)
        childutils.listener.ok(sys.stdout)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers-file", type=Path, default=WORKERS_FILE)
    run(parser.parse_args(argv).workers_file)


if __name__ == "__main__":
    main()
