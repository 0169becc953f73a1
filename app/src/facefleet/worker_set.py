"""This host's Celery workers under supervisor, as the celery_worker role declared them.

The role writes /etc/facefleet/workers.fact: each worker's supervisor program and Celery
node (the names come from one place, the collection's plugin_utils/workers.py; nothing
here derives them), whether the host should still run it, and the role's timeouts. What
the role's worker_set module (`facefleet workers apply`), restart.yml (`facefleet workers
restart`), status.yml (`facefleet workers status`) and the memory guard do to the
workers goes through here:

- a worker about to stop or restart is drained first (it stops taking tasks and finishes
  those it holds), then stopped warmly, so that nothing is in flight when the stop comes;
- a start is done only when its node answers ping.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from facefleet.process_memory import tree_pss_mb, tree_rss_mb
from facefleet.supervisor_rpc import Supervisor

if TYPE_CHECKING:
    from celery import Celery

WORKERS_FILE = Path("/etc/facefleet/workers.fact")


@dataclass(frozen=True)
class Worker:
    program: str
    node: str
    wanted: bool = True  # false: the host runs it no more; it is drained and removed


@dataclass(frozen=True)
class HostWorkers:
    workers: list[Worker]
    supervisor_socket: str
    queues: list[str]
    drain_timeout: float
    ping_timeout: float
    budget_mb: float
    # The memory guard: how many restarts within how many minutes make a restart loop,
    # and the file where it records the workers it left running in one.
    loop_restarts: int = 3
    loop_minutes: float = 30.0
    guard_state_file: str = ""
    # Each worker's pool size (the role's scale), for the exporter's capacity figures.
    concurrency: int = 0

    @classmethod
    def load(cls, path: Path = WORKERS_FILE) -> HostWorkers:
        document = json.loads(path.read_text())
        return cls(
            workers=[Worker(**w) for w in document["workers"]],
            supervisor_socket=document["supervisor_socket"],
            queues=list(document["queues"]),
            drain_timeout=float(document["drain_timeout"]),
            ping_timeout=float(document["ping_timeout"]),
            budget_mb=float(document["budget_mb"]),
            loop_restarts=int(document.get("loop_restarts", 3)),
            loop_minutes=float(document.get("loop_minutes", 30)),
            guard_state_file=str(document.get("guard_state_file", "")),
            concurrency=int(document.get("scale", {}).get("concurrency", 0)),
        )

    @property
    def wanted(self) -> list[Worker]:
        return [w for w in self.workers if w.wanted]

    def node_of(self, program: str) -> str | None:
        return next((w.node for w in self.workers if w.program == program), None)


# What the Celery side does: drain nodes (-> still busy), ping nodes (-> still silent).
Drain = Callable[[list[str], list[str], float], list[str]]
Ping = Callable[[list[str], float], list[str]]


@dataclass
class Report:
    started: list[str] = field(default_factory=list)
    restarted: list[str] = field(default_factory=list)
    stopped: list[str] = field(default_factory=list)
    still_busy: list[str] = field(default_factory=list)  # drained past the timeout
    silent: list[str] = field(default_factory=list)  # no ping answer in time

    @property
    def ok(self) -> bool:
        return not self.silent

    def line(self) -> str:
        parts = [
            f"{label}: {', '.join(names)}"
            for label, names in (
                ("started", self.started),
                ("restarted", self.restarted),
                ("stopped", self.stopped),
                ("stopped while still busy", self.still_busy),
                ("not answering ping", self.silent),
            )
            if names
        ]
        return "; ".join(parts) or "nothing to change"


class WorkerSet:
    def __init__(self, host: HostWorkers, supervisor: Supervisor, drain: Drain, ping: Ping) -> None:
        self.host = host
        self.supervisor = supervisor
        self._drain = drain
        self._ping = ping

    def _drained(self, programs: Iterable[str], report: Report) -> None:
        nodes = [n for n in map(self.host.node_of, programs) if n]
        if nodes:
            report.still_busy += self._drain(nodes, self.host.queues, self.host.drain_timeout)

    def _answering(self, programs: Iterable[str], report: Report) -> None:
        nodes = [n for n in map(self.host.node_of, programs) if n]
        if nodes:
            report.silent += self._ping(nodes, self.host.ping_timeout)

    def apply(self) -> Report:
        """Bring supervisor in line with the program files, as `supervisorctl update`
        would, but draining each worker before it stops, and waiting until every worker
        the host should run answers ping."""
        report = Report()
        added, changed, removed = self.supervisor.reread()
        self._drained([*changed, *removed], report)
        for group in removed:
            self.supervisor.stop(group)
            self.supervisor.remove(group)
            report.stopped.append(group)
        for group in changed:
            self.supervisor.stop(group)
            self.supervisor.remove(group)
            self.supervisor.add(group)
            report.restarted.append(group)
        for group in added:
            self.supervisor.add(group)
            report.started.append(group)
        self._answering([w.program for w in self.host.wanted], report)
        return report

    def restart(self, programs: list[str] | None = None) -> Report:
        """Drain, stop warmly and start these workers (all of them by default), then wait
        until they answer ping."""
        report = Report()
        names = programs or [w.program for w in self.host.wanted]
        unknown = sorted(set(names) - {w.program for w in self.host.workers})
        if unknown:
            raise ValueError(f"not a worker of this host: {', '.join(unknown)}")
        self._drained(names, report)
        for name in names:
            self.supervisor.stop(name)
            self.supervisor.start(name)
            report.restarted.append(name)
        self._answering(names, report)
        return report

    def status(self) -> list[dict[str, Any]]:
        """Each worker the host should run: supervisor's state, and the memory of its
        process tree (PSS, as the memory guard counts it, and RSS) against the budget."""
        from facefleet.memory_guard import read_state

        programs = self.supervisor.programs()
        loops = read_state(Path(self.host.guard_state_file)) if self.host.guard_state_file else {}
        rows = []
        for worker in self.host.wanted:
            state = programs.get(worker.program)
            pid = state.pid if state else None
            pss = round(tree_pss_mb(pid)) if pid else None
            rows.append(
                {
                    "program": worker.program,
                    "node": worker.node,
                    "state": state.state if state else "ABSENT",
                    "pid": pid,
                    "uptime_s": state.uptime_s if state else None,
                    "pss_mb": pss,
                    "rss_mb": round(tree_rss_mb(pid)) if pid else None,
                    "budget_mb": round(self.host.budget_mb),
                    "over_budget": pss is not None and pss > self.host.budget_mb,
                    # Over budget so often that the memory guard stopped restarting it.
                    "restart_loop": worker.program in loops,
                }
            )
        return rows


def celery_worker_set(host: HostWorkers, app: Celery | None = None) -> WorkerSet:
    """The host's workers with the app's own drain and ping (its settings' broker).

    The Celery app (and the broker client under it) is made on first use: a scale-up asks
    supervisor to start the new workers first, and imports Celery while they boot.
    """

    @functools.cache
    def the_app() -> Celery:
        if app is not None:
            return app
        from facefleet.celery_app import create_app
        from facefleet.settings import load_settings

        return create_app(load_settings())

    def drain(nodes: list[str], queues: list[str], timeout: float) -> list[str]:
        from facefleet.fleet_status import drain_nodes

        return drain_nodes(the_app(), nodes, queues, timeout)

    def ping(nodes: list[str], timeout: float) -> list[str]:
        from facefleet.fleet_status import wait_for_nodes

        return wait_for_nodes(the_app(), nodes, timeout)

    return WorkerSet(host, Supervisor(host.supervisor_socket), drain=drain, ping=ping)
