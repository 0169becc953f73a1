"""Worker identity: the one place where a Celery worker's supervisor program and node name
are made. The celery_worker role's template, handlers and workers.fact, the status
report, the benchmarks and the verifiers all take them from here (hosts read them from
the workers.fact the role writes).

    worker_programs("worker1", 3, 2, "facefleet-worker", "celery")
    -> [{"program": "facefleet-worker-1", "node": "celery1@worker1", "wanted": True},
        {"program": "facefleet-worker-2", "node": "celery2@worker1", "wanted": True},
        {"program": "facefleet-worker-3", "node": "celery3@worker1", "wanted": False}]
"""

from __future__ import annotations

from typing import Any


def worker_programs(
    host: str,
    count: Any,
    running: Any = 0,
    program_prefix: str = "facefleet-worker",
    node_prefix: str = "celery",
) -> list[dict[str, Any]]:
    """The ``count`` workers a host runs, numbered from 1, each with its supervisor program
    and unique Celery node; and, marked ``wanted: False``, those it runs now (``running``)
    beyond that count, which are to be drained and removed."""
    wanted, current = int(count), int(running or 0)
    return [
        {
            "program": f"{program_prefix}-{number}",
            "node": f"{node_prefix}{number}@{host}",
            "wanted": number <= wanted,
        }
        for number in range(1, max(wanted, current) + 1)
    ]


def fleet_workers(
    plan: dict[str, Any], program_prefix: str = "facefleet-worker", node_prefix: str = "celery"
) -> list[dict[str, Any]]:
    """Every worker of a plan ({host: count}), with its host."""
    return [
        {**worker, "host": host}
        for host, count in sorted(plan.items())
        for worker in worker_programs(host, count, 0, program_prefix, node_prefix)
    ]
