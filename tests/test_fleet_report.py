"""The status report (plugins/filter/fleet_report.py) over the hosts' and Celery's data."""

from __future__ import annotations

from ansible_collections.facefleet.fleet.plugins.filter.fleet_report import (
    fleet_report,
    fleet_report_lines,
)
from ansible_collections.facefleet.fleet.plugins.plugin_utils.workers import worker_programs


def _rows(host: str, states: list[tuple[str, int | None, int | None]]) -> list[dict]:
    """What `facefleet workers status --json` prints on ``host``: (state, pid, pss)."""
    workers = worker_programs(host, len(states))
    return [
        {
            "program": w["program"],
            "node": w["node"],
            "state": state,
            "pid": pid,
            "uptime_s": 3725 if pid else None,
            "pss_mb": pss,
            "rss_mb": 2 * pss if pss else None,
            "budget_mb": 500,
            "over_budget": pss is not None and pss > 500,
            "restart_loop": pss is not None and pss > 600,
        }
        for w, (state, pid, pss) in zip(workers, states, strict=True)
    ]


HOSTS = {"w1": _rows("w1", [("RUNNING", 100, 310), ("FATAL", None, None), ("RUNNING", 300, 620)])}
NODES = [w["node"] for w in HOSTS["w1"]]
CELERY = {
    "queue": "celery",
    "queue_depth": 7,
    "queues": {"celery": 7},
    "workers": [
        {"node": NODES[0], "pool": "prefork", "concurrency": 4, "active": 2, "processed": 40},
        {"node": NODES[2], "pool": "prefork", "concurrency": 4, "active": 0, "processed": 0},
        {
            "node": "stray@elsewhere",
            "pool": "threads",
            "concurrency": 4,
            "active": 0,
            "processed": 1,
        },
    ],
}


def test_report_rows_and_totals() -> None:
    report = fleet_report(HOSTS, CELERY)
    rows = {r["node"]: r for r in report["workers"]}
    assert list(rows) == NODES
    one = rows[NODES[0]]
    assert (one["host"], one["pss_mb"], one["active"], one["over_budget"]) == ("w1", 310, 2, False)
    assert rows[NODES[2]]["over_budget"] is True
    assert rows[NODES[1]]["answers"] is False
    assert report["capacity"] == 8
    assert report["running"] == 2
    assert report["queues"] == {"celery": 7}
    assert report["unmanaged_nodes"] == ["stray@elsewhere"]
    assert report["restart_loops"] == [NODES[2]]


def test_report_lines() -> None:
    lines = fleet_report_lines(fleet_report(HOSTS, CELERY))
    assert "310/500 " in lines[2]
    assert "1:02:05" in lines[2]
    assert "620/500!" in lines[4]
    assert lines[5].startswith("workers running: 2/3, concurrent capacity: 8")
    assert lines[6].endswith(f"memory guard): {NODES[2]}")
    assert lines[7] == "answering but not managed here: stray@elsewhere"


def test_names_come_from_the_one_place() -> None:
    assert (
        [w["program"] for w in HOSTS["w1"]]
        == [f"facefleet-worker-{n}" for n in (1, 2, 3)]
        == [w["program"] for w in worker_programs("w1", 3)]
    )


def test_a_replicated_redis_gets_its_line() -> None:
    summary = (
        "redis: primary 10.0.0.2:6379; replicas: 10.0.0.1:6379 (online, lag 0 s, 0 bytes behind)"
    )
    report = fleet_report(
        HOSTS, {**CELERY, "redis": {"primary": "10.0.0.2:6379", "summary": summary}}
    )
    assert report["redis"]["primary"] == "10.0.0.2:6379"
    assert fleet_report_lines(report)[6] == summary
    assert fleet_report(HOSTS, CELERY)["redis"] is None  # one Redis: no line
    assert not any(
        line.startswith("redis:") for line in fleet_report_lines(fleet_report(HOSTS, CELERY))
    )
