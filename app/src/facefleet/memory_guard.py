"""A supervisor event listener that restarts a worker whose memory exceeds its budget.

Memory is counted as PSS (proportional set size) of the worker's whole process tree (see
facefleet.process_memory): the models its prefork children share count once.

The restart is supervisor's own stop (SIGTERM, Celery's warm shutdown: running tasks
finish, and with late acks anything cut short goes back to the queue), then start.

Supervisor runs it beside the workers (see roles/celery_worker/templates/workers.conf.j2):
    [eventlistener:facefleet-worker-memory-guard]
    command=/opt/facefleet/venv/bin/python -m facefleet.memory_guard --budget-mb 500 ...
    events=TICK_60
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import time
from collections.abc import Callable
from typing import Any, TextIO

from facefleet.process_memory import tree_pss_mb


def over_budget(
    processes: list[dict[str, Any]], pattern: re.Pattern[str], budget_mb: float
) -> list[tuple[str, float]]:
    """Running programs matching ``pattern`` whose tree PSS exceeds ``budget_mb``."""
    found = []
    for info in processes:
        if info.get("statename") != "RUNNING" or not pattern.fullmatch(info["name"]):
            continue
        used = tree_pss_mb(int(info["pid"]))
        if used > budget_mb:
            found.append((f"{info['group']}:{info['name']}", used))
    return found


def _log(stream: TextIO, message: str) -> None:
    stream.write(f"{time.strftime('%Y-%m-%d %H:%M:%S')} memory-guard: {message}\n")
    stream.flush()


def run(
    budget_mb: float,
    pattern: re.Pattern[str],
    stdin: TextIO = sys.stdin,
    stdout: TextIO = sys.stdout,
    stderr: TextIO = sys.stderr,
    drain: Callable[[str], None] | None = None,
) -> None:
    from supervisor import childutils

    rpc = childutils.getRPCInterface(os.environ)
    _log(stderr, f"watching programs matching {pattern.pattern!r}, budget {budget_mb:.0f} MB")
    while True:
        headers, _ = childutils.listener.wait(stdin, stdout)
        if headers.get("eventname", "").startswith("TICK"):
            for name, used in over_budget(rpc.supervisor.getAllProcessInfo(), pattern, budget_mb):
                _log(
                    stderr,
                    f"{name} uses {used:.0f} MB (PSS, with its children), over "
                    f"its {budget_mb:.0f} MB budget: restarting it warmly",
                )
                try:
                    if drain is not None:
                        drain(name.rsplit(":", 1)[-1])
                    rpc.supervisor.stopProcess(name, True)
                    rpc.supervisor.startProcess(name, False)
                except Exception as exc:
                    _log(stderr, f"could not restart {name}: {exc}")
        childutils.listener.ok(stdout)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--budget-mb", type=float, help="memory budget per program, PSS of its process tree"
    )
    parser.add_argument(
        "--programs",
        default=r"facefleet-worker-\d+",
        help="regular expression for the program names to guard",
    )
    parser.add_argument(
        "--node-template",
        help="Celery node of a program, {n} being its number (celery{n}@host1); when "
        "given, the node is drained before it is restarted",
    )
    parser.add_argument("--drain-timeout", type=float, default=150.0)
    parser.add_argument(
        "--pss",
        type=int,
        nargs="+",
        metavar="PID",
        help="print the PSS in MB of each PID's process tree as JSON, and exit",
    )
    args = parser.parse_args(argv)
    if args.pss:
        print(json.dumps({str(pid): round(tree_pss_mb(pid)) for pid in args.pss}))
        return
    if args.budget_mb is None:
        parser.error("--budget-mb is required to guard")
    drain = _celery_drain(args.node_template, args.drain_timeout) if args.node_template else None
    run(args.budget_mb, re.compile(args.programs), drain=drain)


def _celery_drain(node_template: str, timeout: float) -> Callable[[str], None]:
    """Drain the worker's Celery node before the stop, as scaling does (see drain_nodes)."""
    from facefleet.celery_app import create_app
    from facefleet.fleet_status import drain_nodes
    from facefleet.settings import load_settings

    settings = load_settings()
    app = create_app(settings)

    def drain(program: str) -> None:
        node = node_template.format(n=program.rsplit("-", 1)[-1])
        drain_nodes(app, [node], [settings.queue], timeout)

    return drain


if __name__ == "__main__":
    main()
