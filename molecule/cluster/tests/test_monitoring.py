"""Monitoring on the cluster (role monitoring): Prometheus and Alertmanager behind nginx
with the operators' auth, every target up, the pipeline's series from the batch that
test_batch.py ran, and exporter ports shut to a stranger."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

import pytest

SHARED = Path(__file__).resolve().parents[2] / "shared"
sys.path[:0] = [str(SHARED / "tests"), str(SHARED)]

from conftest import (  # noqa: E402
    expected_workers,
    host,
    hosts_in,
    http_get,
    role_vars,
    run_ok,
    web_credentials,
    web_url,
)
from probes import connect_command  # noqa: E402

FLOWER = hosts_in("flower")[0]
MONITOR = hosts_in(role_vars(FLOWER)["fleet_monitoring_group"])[0]
SETTINGS = role_vars(MONITOR)
PROMETHEUS = f"/{SETTINGS['fleet_prometheus_prefix']}"
ALERTMANAGER = f"/{SETTINGS['fleet_alertmanager_prefix']}"
CA = f"{role_vars(FLOWER)['nginx_tls_dir']}/ca.crt"


def api(path: str) -> Any:
    status, body = http_get(FLOWER, web_url(FLOWER, path), web_credentials(), CA)
    assert status == 200, f"{path}: {status} {body[:300]}"
    return json.loads(body)


def query(expression: str) -> list[dict[str, Any]]:
    from urllib.parse import quote

    return api(f"{PROMETHEUS}/api/v1/query?query={quote(expression)}")["data"]["result"]


@pytest.mark.parametrize("path", [f"{PROMETHEUS}/", f"{ALERTMANAGER}/"])
def test_prometheus_and_alertmanager_ask_for_credentials(path: str) -> None:
    status, _ = http_get(FLOWER, web_url(FLOWER, path), None, CA)
    assert status == 401


def test_every_target_is_up_and_each_group_is_scraped() -> None:
    deadline = time.monotonic() + 90
    while True:
        targets = api(f"{PROMETHEUS}/api/v1/targets")["data"]["activeTargets"]
        down = [t["scrapeUrl"] + ": " + t["lastError"] for t in targets if t["health"] != "up"]
        if not down or time.monotonic() > deadline:
            break
        time.sleep(5)
    assert not down
    by_job: dict[str, set[str]] = {}
    for target in targets:
        by_job.setdefault(target["labels"]["job"], set()).add(target["labels"]["host"])
    assert by_job["node"] == set(hosts_in(SETTINGS["fleet_group"]))
    assert by_job["redis"] == set(hosts_in("redis"))
    assert by_job["facefleet"] == {FLOWER}
    assert by_job["flower"] == set(hosts_in("flower"))
    assert {"prometheus", "alertmanager"} <= set(by_job)


def test_the_pipeline_series_hold_the_batch_and_the_fleet() -> None:
    assert query("facefleet_queue_depth"), "no queue depth series"
    done = query("sum(facefleet_images_total)")
    assert done, "no images series"
    assert float(done[0]["value"][1]) > 0
    assert query("sum(facefleet_step_seconds_count{step='detect'})")
    planned = sum(len(expected_workers(w)) for w in hosts_in("workers"))
    deadline = time.monotonic() + 150  # the memory guard writes once a minute
    while True:
        found = query("sum(facefleet_workers_planned)")
        if found and int(float(found[0]["value"][1])) == planned:
            break
        assert time.monotonic() < deadline, f"planned workers: {found}, want {planned}"
        time.sleep(5)
    assert query("facefleet_worker_memory_pss_bytes")
    answering = query("sum(facefleet_workers_answering)")
    assert int(float(answering[0]["value"][1])) == planned


def test_redis_exporter_reads_redis_as_its_own_user() -> None:
    assert [r["value"][1] for r in query("redis_up")] == ["1"]


def test_the_alert_rules_are_loaded() -> None:
    groups = api(f"{PROMETHEUS}/api/v1/rules")["data"]["groups"]
    names = {rule["name"] for group in groups for rule in group["rules"]}
    assert "FacefleetWorkersMissing" in names
    assert len(names) == 8


def test_exporters_are_shut_to_hosts_outside_monitoring() -> None:
    outsider = hosts_in("outsiders")[0]
    worker = hosts_in("workers")[0]
    port = SETTINGS["fleet_node_exporter_port"]
    assert run_ok(host(outsider), connect_command(worker, port)).strip() == "TimeoutError"
