"""Monitoring on the cluster (role monitoring): Prometheus and Alertmanager behind nginx
with the operators' auth, every target up, the pipeline's series from the batch that
test_batch.py ran, and exporter ports shut to a stranger."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

SHARED = Path(__file__).resolve().parents[2] / "shared"
sys.path[:0] = [str(SHARED / "tests"), str(SHARED)]

from conftest import (  # noqa: E402
    REPO,
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
    # Each host's figures carry that host, not the exporter's.
    hosts = {r["metric"]["host"] for r in query("facefleet_workers_answering")}
    assert hosts == set(hosts_in("workers"))


def test_redis_exporter_reads_redis_as_its_own_user() -> None:
    assert [r["value"][1] for r in query("redis_up")] == ["1"] * len(hosts_in("redis"))


def test_the_alert_rules_are_loaded() -> None:
    groups = api(f"{PROMETHEUS}/api/v1/rules")["data"]["groups"]
    rules = {rule["name"]: rule for group in groups for rule in group["rules"]}
    assert "FacefleetWorkersMissing" in rules
    assert len(rules) == 8
    # Each evaluates against the real series (label clashes show only here).
    deadline = time.monotonic() + 60
    while any(rule["health"] == "unknown" for rule in rules.values()):
        assert time.monotonic() < deadline, "the rules were never evaluated"
        time.sleep(5)
        groups = api(f"{PROMETHEUS}/api/v1/rules")["data"]["groups"]
        rules = {rule["name"]: rule for group in groups for rule in group["rules"]}
    broken = {name: rule.get("lastError") for name, rule in rules.items() if rule["health"] != "ok"}
    assert not broken


def test_exporters_are_shut_to_hosts_outside_monitoring() -> None:
    outsider = hosts_in("outsiders")[0]
    worker = hosts_in("workers")[0]
    port = SETTINGS["fleet_node_exporter_port"]
    assert run_ok(host(outsider), connect_command(worker, port)).strip() == "TimeoutError"


class Panels(HTMLParser):
    """The overview page's panels, with the figures its script wrote on them."""

    def __init__(self) -> None:
        super().__init__()
        self.panels: dict[str, dict[str, str]] = {}
        self.status: dict[str, str] = {}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {k: v or "" for k, v in attrs}
        if tag == "div" and "panel" in values.get("class", "").split():
            self.panels[values["id"]] = values
        if values.get("id") == "status":
            self.status = values


def test_the_overview_page_shows_the_batch_in_a_browser() -> None:
    """Chromium, headless, opens the page as an operator would (basic auth), waits for its
    script to draw, and the graphs hold the batch test_batch.py ran; a screenshot stays
    in .cache/screenshots/ (the CA is not the browser's: certificate errors are ignored
    here, nginx's certificate is checked in test_flower.py)."""
    chromium = shutil.which("chromium")
    assert chromium, "chromium is missing (apt-get install chromium; make setup does)"
    address = run_ok(host(FLOWER), "hostname -I").split()[0]
    user, password = web_credentials().split(":", 1)
    page = web_url(FLOWER, f"/{SETTINGS['fleet_overview_prefix']}/", address)
    url = page.replace("https://", f"https://{user}:{password}@", 1)
    browser = [
        chromium, "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
        "--disable-background-networking", "--no-first-run", "--ignore-certificate-errors",
        "--window-size=1400,1000", "--virtual-time-budget=15000",
    ]  # fmt: skip
    dom = subprocess.run(
        [*browser, "--dump-dom", url], capture_output=True, text=True, timeout=180
    ).stdout
    parsed = Panels()
    parsed.feed(dom)
    assert parsed.status.get("data-loaded") == "yes", dom[-2000:]
    panels = parsed.panels
    assert set(panels) == {"throughput", "queue", "workers", "memory", "errors"}
    for name in ("throughput", "queue", "workers", "memory"):
        assert int(panels[name]["data-points"]) > 0, f"{name} has no data"
    assert float(panels["throughput"]["data-max"]) > 0, "no images in the last hour"
    assert float(panels["workers"]["data-max"]) >= 1
    assert float(panels["memory"]["data-max"]) > 50  # MB: real workers with their models
    shots = REPO / ".cache" / "screenshots"
    shots.mkdir(parents=True, exist_ok=True)
    shot = shots / "overview-cluster.png"
    subprocess.run([*browser, f"--screenshot={shot}", url], capture_output=True, timeout=180)
    assert shot.stat().st_size > 20_000
    print(f"screenshot: {shot}")
