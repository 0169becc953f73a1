"""Workers: one RUNNING supervisor program per planned worker, each a Celery node that
answers with the configured pool and concurrency."""

from __future__ import annotations

import json
import re

from conftest import host, role_vars, run_ok, saved_scale


def _programs(name: str) -> dict[str, str]:
    prefix = role_vars(name)["celery_worker_program_prefix"]
    out = host(name).run("supervisorctl status").stdout
    return {m[1]: m[2] for m in re.finditer(rf"^({prefix}-\d+)\s+(\w+)", out, re.MULTILINE)}


def test_planned_workers_are_running(worker_hosts: list[str]) -> None:
    total = 0
    for name in worker_hosts:
        programs = _programs(name)
        assert programs, f"no worker programs on {name}"
        assert set(programs.values()) == {"RUNNING"}, programs
        total += len(programs)
    assert total == saved_scale(worker_hosts[0])["workers"]
    for name in worker_hosts:
        assert len(_programs(name)) == saved_scale(name)["host_workers"]


def test_every_node_answers_with_its_pool_and_concurrency(
    worker_hosts: list[str],
) -> None:
    settings = role_vars(worker_hosts[0])
    status = json.loads(
        run_ok(host(worker_hosts[0]), f"{settings['app_venv']}/bin/facefleet status --json")
    )
    nodes = {w["node"]: w for w in status["workers"]}
    expected = {
        f"{settings['celery_worker_node_prefix']}{n + 1}@{name}"
        for name in worker_hosts
        for n in range(len(_programs(name)))
    }
    assert set(nodes) == expected
    scale = saved_scale(worker_hosts[0])
    for worker in nodes.values():
        assert worker["pool"] == scale["pool"]
        assert worker["concurrency"] == scale["concurrency"]


def test_workers_shut_down_warmly(worker_hosts: list[str]) -> None:
    settings = role_vars(worker_hosts[0])
    conf = host(worker_hosts[0]).file(
        f"/etc/supervisor/conf.d/{settings['celery_worker_program_prefix']}s.conf"
    )
    assert conf.contains("^stopsignal=TERM$")
    assert conf.contains("^stopasgroup=false$")
    assert conf.contains("^killasgroup=true$")
    stopwait = int(re.search(r"^stopwaitsecs=(\d+)$", conf.content_string, re.MULTILINE)[1])
    assert stopwait > int(settings["app_task_time_limit"])


def test_settings_file_is_private(worker_hosts: list[str]) -> None:
    settings = role_vars(worker_hosts[0])
    config = host(worker_hosts[0]).file(settings["app_config_file"])
    assert (config.user, config.group, config.mode) == (
        "root",
        settings["app_group"],
        0o640,
    )
