"""The fleet status report that playbooks/status.yml prints: per host and worker, and
for the whole cluster. Pure Python over what the hosts return (supervisorctl, ps, and
Celery's inspect through `facefleet status --json`); unit-tested in tests/test_fleet_report.py.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

_SUPERVISOR_LINE = re.compile(
    r"^(?P<name>\S+)\s+(?P<state>[A-Z]+)\s*(?:pid (?P<pid>\d+), uptime (?P<uptime>\S+))?"
)


def parse_supervisor(text: str) -> dict[str, dict[str, Any]]:
    """`supervisorctl status` lines to {program: {state, pid, uptime}}."""
    programs = {}
    for line in text.splitlines():
        match = _SUPERVISOR_LINE.match(line.strip())
        if match:
            programs[match["name"]] = {
                "state": match["state"],
                "pid": int(match["pid"]) if match["pid"] else None,
                "uptime": match["uptime"] or "",
            }
    return programs


def tree_rss_kb(ps_text: str, pid: int | None) -> int | None:
    """RSS of ``pid`` and all its descendants, from `ps -eo pid=,ppid=,rss=`."""
    if pid is None:
        return None
    rss: dict[int, int] = {}
    children: dict[int, list[int]] = {}
    for line in ps_text.splitlines():
        parts = line.split()
        if len(parts) != 3 or not all(p.isdigit() for p in parts):
            continue
        proc, parent, kb = map(int, parts)
        rss[proc] = kb
        children.setdefault(parent, []).append(proc)
    if pid not in rss:
        return None
    total, todo = 0, [pid]
    while todo:
        proc = todo.pop()
        total += rss.get(proc, 0)
        todo.extend(children.get(proc, []))
    return total


def fleet_report(
    hosts: Mapping[str, Mapping[str, str]],
    celery: Mapping[str, Any],
    budget_mb: Any,
    program_prefix: str,
    node_prefix: str,
) -> dict[str, Any]:
    """Rows for every worker program on every host, plus cluster totals."""
    nodes = {w["node"]: w for w in celery.get("workers", [])}
    rows = []
    for host in sorted(hosts):
        programs = parse_supervisor(hosts[host].get("supervisor", ""))
        for name in sorted(programs, key=lambda n: (len(n), n)):
            if not re.fullmatch(rf"{re.escape(program_prefix)}-\d+", name):
                continue
            number = name.rsplit("-", 1)[1]
            node = f"{node_prefix}{number}@{host}"
            program = programs[name]
            rss_kb = tree_rss_kb(hosts[host].get("ps", ""), program["pid"])
            pss_mb = (hosts[host].get("pss") or {}).get(str(program["pid"]))
            answer = nodes.pop(node, None)
            rows.append(
                {
                    "host": host,
                    "program": name,
                    "node": node,
                    "state": program["state"],
                    "pid": program["pid"],
                    "uptime": program["uptime"],
                    "rss_mb": round(rss_kb / 1024) if rss_kb is not None else None,
                    # PSS counts the models the pool children share with their parent once;
                    # the memory guard restarts a worker by this figure, not by summed RSS.
                    "pss_mb": pss_mb,
                    "budget_mb": int(budget_mb),
                    "over_budget": pss_mb is not None and pss_mb > int(budget_mb),
                    "answers": answer is not None,
                    "pool": answer.get("pool") if answer else None,
                    "concurrency": answer.get("concurrency") if answer else None,
                    "active": answer.get("active") if answer else None,
                    "processed": answer.get("processed") if answer else None,
                }
            )
    return {
        "workers": rows,
        "unmanaged_nodes": sorted(nodes),  # answering, but no program of ours runs them
        "queues": dict(
            celery.get("queues") or {celery.get("queue", "celery"): celery.get("queue_depth")}
        ),
        "capacity": sum(r["concurrency"] or 0 for r in rows if r["answers"]),
        "active": sum(r["active"] or 0 for r in rows),
        "running": sum(1 for r in rows if r["state"] == "RUNNING"),
    }


def fleet_report_lines(report: Mapping[str, Any]) -> list[str]:
    """The report as terminal lines (a table, then the cluster totals)."""
    header = (
        f"{'host':<14} {'node':<22} {'state':<8} {'pid':>6} {'uptime':>9} "
        f"{'pss/budget MB':>13} {'pool':<8} {'conc':>4} {'active':>6} {'done':>6}"
    )
    lines = [header, "-" * len(header)]
    for r in report["workers"]:
        memory = f"{r['pss_mb'] if r['pss_mb'] is not None else '-'}/{r['budget_mb']}"
        if r["over_budget"]:
            memory += "!"
        lines.append(
            f"{r['host']:<14} {r['node']:<22} {r['state']:<8} {r['pid'] or '-':>6} "
            f"{r['uptime'] or '-':>9} {memory:>13} {r['pool'] or '-':<8} "
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
    if report["unmanaged_nodes"]:
        lines.append("answering but not managed here: " + ", ".join(report["unmanaged_nodes"]))
    return lines


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {
            "facefleet_fleet_report": fleet_report,
            "facefleet_fleet_report_lines": fleet_report_lines,
        }
