"""Workers: each host runs the workers its saved scale plans, under the names the one
naming function gives them, each RUNNING under supervisor and answering as a Celery node
with the configured pool and concurrency."""

from __future__ import annotations

import json
import re

from conftest import (
    declared_workers,
    expected_workers,
    host,
    host_workers,
    role_vars,
    run_ok,
    saved_scale,
)


def test_each_host_runs_the_workers_its_plan_names(worker_hosts: list[str]) -> None:
    total = 0
    for name in worker_hosts:
        expected = [(w["program"], w["node"]) for w in expected_workers(name)]
        assert expected, f"no workers planned on {name}"
        assert [(w["program"], w["node"]) for w in declared_workers(name)["workers"]] == expected
        running = host_workers(name)
        assert [(w["program"], w["node"]) for w in running] == expected
        assert {w["state"] for w in running} == {"RUNNING"}, running
        total += len(running)
    assert total == saved_scale(worker_hosts[0])["workers"]


def test_every_node_answers_with_its_pool_and_concurrency(worker_hosts: list[str]) -> None:
    settings = role_vars(worker_hosts[0])
    status = json.loads(
        run_ok(host(worker_hosts[0]), f"{settings['fleet_app_venv']}/bin/facefleet status --json")
    )
    nodes = {w["node"]: w for w in status["workers"]}
    assert set(nodes) == {w["node"] for name in worker_hosts for w in expected_workers(name)}
    scale = saved_scale(worker_hosts[0])
    for worker in nodes.values():
        assert worker["pool"] == scale["pool"]
        assert worker["concurrency"] == scale["concurrency"]


def test_workers_shut_down_warmly(worker_hosts: list[str]) -> None:
    settings = role_vars(worker_hosts[0])
    conf = host(worker_hosts[0]).file(
        f"{settings['fleet_supervisor_include_dir']}/{settings['celery_worker_program_prefix']}s.conf"
    )
    assert conf.contains("^stopsignal=TERM$")
    assert conf.contains("^stopasgroup=false$")
    assert conf.contains("^killasgroup=true$")
    stopwait = int(re.search(r"^stopwaitsecs=(\d+)$", conf.content_string, re.MULTILINE)[1])
    assert stopwait > int(settings["fleet_task_time_limit"])


def test_settings_file_is_private(worker_hosts: list[str]) -> None:
    settings = role_vars(worker_hosts[0])
    for path in (settings["fleet_app_config_file"], settings["fleet_workers_file"]):
        config = host(worker_hosts[0]).file(path)
        assert (config.user, config.group, config.mode) == (
            "root",
            settings["fleet_app_group"],
            0o640,
        ), path
