"""The fleet status report that status.yml prints: per host and worker, and for the whole
cluster. Pure Python over what the hosts return as data: each worker host's
`facefleet workers status --json` (supervisor's state and the memory of each worker's
process tree, against its budget) and, once, `facefleet status --json` (what Celery's
inspect says of each node, and the queues). Nothing is parsed from text, and no name is
derived here. Unit-tested in tests/test_fleet_report.py.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any


def fleet_report(
    hosts: Mapping[str, Sequence[Mapping[str, Any]]], celery: Mapping[str, Any]
) -> dict[str, Any]:
    """Rows for every worker on every host ({host: its `workers status` rows}), with what
    its Celery node answers; then cluster totals."""
    nodes = {w["node"]: w for w in celery.get("workers", [])}
    rows = []
    for host in sorted(hosts):
        for worker in hosts[host]:
            answer = nodes.pop(worker["node"], None)
            rows.append(
                {
                    "host": host,
                    **worker,
                    "answers": answer is not None,
                    "pool": answer.get("pool") if answer else None,
                    "concurrency": answer.get("concurrency") if answer else None,
                    "active": answer.get("active") if answer else None,
                    "processed": answer.get("processed") if answer else None,
                }
            )
    return {
        "workers": rows,
        "unmanaged_nodes": sorted(nodes),  # answering, but no host of ours runs them
        # A replicated Redis: the primary, the replicas' lag, the Sentinels that agree.
        "redis": celery.get("redis"),
        "queues": dict(
            celery.get("queues") or {celery.get("queue", "celery"): celery.get("queue_depth")}
        ),
        "capacity": sum(r["concurrency"] or 0 for r in rows if r["answers"]),
        "active": sum(r["active"] or 0 for r in rows),
        "running": sum(1 for r in rows if r["state"] == "RUNNING"),
        "restart_loops": [r["node"] for r in rows if r.get("restart_loop")],
    }


def _uptime(seconds: Any) -> str:
    if seconds is None:
        return "-"
    hours, rest = divmod(int(seconds), 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}"


def fleet_report_lines(report: Mapping[str, Any]) -> list[str]:
    """The report as terminal lines (a table, then the cluster totals)."""
    header = (
        f"{'host':<14} {'node':<22} {'state':<8} {'pid':>6} {'uptime':>9} "
        f"{'pss/budget MB':>13} {'pool':<8} {'conc':>4} {'active':>6} {'done':>6}"
    )
    lines = [header, "-" * len(header)]
    for r in report["workers"]:
        memory = f"{r['pss_mb'] if r['pss_mb'] is not None else '-'}/{r['budget_mb']}"
        memory += "!" if r["over_budget"] else ""
        lines.append(
            f"{r['host']:<14} {r['node']:<22} {r['state']:<8} {r['pid'] or '-':>6} "
            f"{_uptime(r['uptime_s']):>9} {memory:>13} {r['pool'] or '-':<8} "
            f"{r['concurrency'] if r['concurrency'] is not None else '-':>4} "
            f"{r['active'] if r['active'] is not None else '-':>6} "
            f"{r['processed'] if r['processed'] is not None else '-':>6}"
        )
    queues = ", ".join(f"{name}: {depth}" for name, depth in report["queues"].items())
    lines.append(
        f"workers running: {report['running']}/{len(report['workers'])}, "
        f"concurrent capacity: {report['capacity']}, active: {report['active']}, "
        f"queued: {queues}"
    )
    if report.get("redis"):
        lines.append(report["redis"]["summary"])
    if report["restart_loops"]:
        lines.append(
            "in a restart loop (over budget after repeated restarts; left running by the "
            "memory guard): " + ", ".join(report["restart_loops"])
        )
    if report["unmanaged_nodes"]:
        lines.append("answering but not managed here: " + ", ".join(report["unmanaged_nodes"]))
    return lines


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {"fleet_report": fleet_report, "fleet_report_lines": fleet_report_lines}
