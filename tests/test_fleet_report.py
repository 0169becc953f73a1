"""The status report (plugins/filter/fleet_report.py) over real command output shapes."""

from __future__ import annotations

from conftest import load

module = load("plugins/filter/fleet_report.py", "fleet_report")

SUPERVISOR = """\
facefleet-flower                 RUNNING   pid 99, uptime 1:00:00
facefleet-worker-1               RUNNING   pid 100, uptime 0:10:00
facefleet-worker-2               FATAL     Exited too quickly (process log may have details)
facefleet-worker-10              RUNNING   pid 300, uptime 0:00:05
facefleet-worker-memory-guard    RUNNING   pid 400, uptime 0:10:00
"""
PS = """\
    1     0  9000
  100     1 110000
  101   100 200000
  102   100 210000
  300     1 600000
"""
CELERY = {
    "queue": "celery",
    "queue_depth": 7,
    "queues": {"celery": 7},
    "workers": [
        {"node": "celery1@w1", "pool": "prefork", "concurrency": 4, "active": 2, "processed": 40},
        {"node": "celery10@w1", "pool": "prefork", "concurrency": 4, "active": 0, "processed": 0},
        {
            "node": "stray@elsewhere",
            "pool": "threads",
            "concurrency": 4,
            "active": 0,
            "processed": 1,
        },
    ],
}


def test_supervisor_lines_are_parsed() -> None:
    programs = module.parse_supervisor(SUPERVISOR)
    assert programs["facefleet-worker-1"] == {"state": "RUNNING", "pid": 100, "uptime": "0:10:00"}
    assert programs["facefleet-worker-2"]["state"] == "FATAL"
    assert programs["facefleet-worker-2"]["pid"] is None


def test_rss_includes_pool_children() -> None:
    assert module.tree_rss_kb(PS, 100) == 520000
    assert module.tree_rss_kb(PS, 555) is None


def test_report_rows_and_totals() -> None:
    pss = {"100": 310, "300": 520}  # what `python -m facefleet.memory_guard --pss` prints
    hosts = {"w1": {"supervisor": SUPERVISOR, "ps": PS, "pss": pss}}
    report = module.fleet_report(hosts, CELERY, "500", "facefleet-worker", "celery")
    rows = {r["program"]: r for r in report["workers"]}
    assert list(rows) == ["facefleet-worker-1", "facefleet-worker-2", "facefleet-worker-10"]
    one = rows["facefleet-worker-1"]
    assert (one["node"], one["rss_mb"], one["pss_mb"], one["active"]) == ("celery1@w1", 508, 310, 2)
    # Summed RSS (508 MB) is over the budget, PSS (310 MB) is not: PSS decides.
    assert one["over_budget"] is False
    assert rows["facefleet-worker-10"]["over_budget"] is True
    assert rows["facefleet-worker-2"]["answers"] is False
    assert report["capacity"] == 8
    assert report["running"] == 2
    assert report["queues"] == {"celery": 7}
    assert report["unmanaged_nodes"] == ["stray@elsewhere"]
    lines = module.fleet_report_lines(report)
    assert "310/500 " in lines[2]
    assert "520/500!" in lines[4]
    assert lines[-2].startswith("workers running: 2/3, concurrent capacity: 8")
    assert lines[-1] == "answering but not managed here: stray@elsewhere"
