"""Scaling on the 4-host cluster, with real batches running through it:
scale up keeps running workers, a deploy after it keeps the scale, an impossible plan
changes nothing, status shows everything, a new concurrency restarts one host at a time,
and a rolling restart loses no task. Scaling down in the middle of a batch is the chaos
suite's scale-down scenario (5 -> 1, every image exactly once). Runs after the shared
verifiers."""

from __future__ import annotations

import io
import json
import re
import shutil
import sys
import threading
import time
from pathlib import Path

import pytest

SHARED = Path(__file__).resolve().parents[2] / "shared" / "tests"
sys.path.insert(0, str(SHARED))

from conftest import (  # noqa: E402
    FACES,
    controller_settings,
    host,
    host_workers,
    hosts_in,
    playbook,
    role_vars,
    saved_scale,
    worker_programs,
)

WORKERS = hosts_in("workers")


def _prefixes() -> tuple[str, str]:
    settings = role_vars(WORKERS[0])
    return settings["celery_worker_program_prefix"], settings["celery_worker_node_prefix"]


def fleet_status() -> dict:
    """`facefleet status --json` on a worker host: what Celery's nodes answer."""
    cli = f"{role_vars(WORKERS[0])['fleet_app_venv']}/bin/facefleet"
    return json.loads(host(WORKERS[0]).check_output(f"{cli} status --json"))


def programs(name: str) -> dict[str, int | None]:
    """The host's worker programs and their PIDs (None: not RUNNING)."""
    return {w["program"]: w["pid"] if w["state"] == "RUNNING" else None for w in host_workers(name)}


def fleet_pids() -> dict[str, int | None]:
    """Every worker program's PID, once supervisor counts them all started (startsecs)."""
    deadline = time.monotonic() + 60
    while True:
        pids = {
            f"{name}/{program}": pid for name in WORKERS for program, pid in programs(name).items()
        }
        if all(pids.values()) or time.monotonic() > deadline:
            return pids
        time.sleep(1)


def settings():
    return controller_settings()


class Batch(threading.Thread):
    """`n` distinct image files sent from the controller while the test does other things."""

    def __init__(self, folder: Path, n: int) -> None:
        super().__init__(daemon=True)
        photos = sorted(p for p in FACES.iterdir() if p.suffix in (".jpg", ".png"))
        folder.mkdir(parents=True, exist_ok=True)
        self.files = []
        for i in range(n):
            photo = photos[i % len(photos)]
            self.files.append(Path(shutil.copy(photo, folder / f"{i:04d}-{photo.name}")))
        self.out = io.StringIO()
        self.summary = None
        self.started_results = threading.Event()

    def run(self) -> None:
        from facefleet.celery_app import create_app
        from facefleet.submit import submit_files

        def progress(summary) -> None:
            if summary.done >= 20:
                self.started_results.set()

        app = create_app(settings())
        self.summary = submit_files(
            app, settings(), self.files, self.out, window=64, task_timeout=600, progress=progress
        )

    def results(self) -> list[dict]:
        return [json.loads(line) for line in self.out.getvalue().splitlines()]


def assert_every_image_once(batch: Batch) -> None:
    results = batch.results()
    images = [r["image"] for r in results]
    assert sorted(images) == sorted(map(str, batch.files)), "missing or duplicate results"
    assert batch.summary is not None
    assert batch.summary.lost == 0
    assert all(r["status"] == "ok" for r in results), [r for r in results if r["status"] != "ok"]


@pytest.fixture(scope="module", autouse=True)
def back_to_two_workers():
    yield
    assert playbook("scale.yml", "-e", "workers=2").returncode == 0


def test_scale_up_to_five_keeps_the_running_workers() -> None:
    before = fleet_pids()
    result = playbook("scale.yml", "-e", "workers=5")
    assert result.returncode == 0, result.stdout[-3000:]
    assert "5 workers (prefork, concurrency 4" in result.stdout  # the plan, printed first
    counts = sorted((len(programs(name)) for name in WORKERS), reverse=True)
    assert counts == [3, 2]
    after = fleet_pids()
    assert all(after.values()), after
    assert {k: after[k] for k in before} == before, "running workers were restarted"
    assert len({w["node"] for w in fleet_status()["workers"]}) == 5
    assert saved_scale(WORKERS[0])["workers"] == 5


def test_second_scale_run_changes_nothing() -> None:
    result = playbook("scale.yml", "-e", "workers=5")
    assert result.returncode == 0
    assert re.findall(r"changed=(\d+)", result.stdout) == ["0"] * len(WORKERS)


def test_a_deploy_after_a_scale_keeps_it() -> None:
    """deploy.yml reads the scale the hosts saved (their workers.fact, as a local fact) as
    its default: it changes nothing and restarts no worker. A wrong path to that fact
    falls back to the role's defaults and scales the fleet back down to 2."""
    before = fleet_pids()
    result = playbook("deploy.yml", "--limit", "workers")
    assert result.returncode == 0, result.stdout[-3000:]
    assert "5 workers (prefork, concurrency 4" in result.stdout
    assert re.findall(r"changed=(\d+)", result.stdout) == ["0"] * len(WORKERS)
    assert fleet_pids() == before
    assert saved_scale(WORKERS[0])["workers"] == 5


def test_check_mode_previews_without_changing() -> None:
    before = fleet_pids()
    result = playbook("scale.yml", "-e", "workers=3", "--check", "--diff")
    assert result.returncode == 0, result.stdout[-3000:]
    third = worker_programs(WORKERS[0], 3, 0, *_prefixes())[2]["program"]
    assert f"-[program:{third}]" in result.stdout
    assert fleet_pids() == before


def test_impossible_plan_fails_before_changing_anything() -> None:
    before = fleet_pids()
    result = playbook("scale.yml", "-e", "workers=4", "-e", "celery_worker_memory_mb=1000000")
    assert result.returncode != 0
    assert "cannot place 4 workers at 1000000 MB each" in result.stdout
    for name in WORKERS:
        assert f"{name} room for 0" in result.stdout
    assert fleet_pids() == before
    assert saved_scale(WORKERS[0])["workers"] == 5


def test_status_shows_queue_depth_and_every_worker(tmp_path: Path) -> None:
    report_file = tmp_path / "status.json"
    result = playbook("status.yml", "-e", f"status_file={report_file}")
    assert result.returncode == 0, result.stdout[-3000:]
    assert "workers running: 5/5, concurrent capacity: 20" in result.stdout
    report = json.loads(report_file.read_text())
    assert report["queues"] == {"celery": 0}
    assert {(r["host"], r["state"], r["answers"]) for r in report["workers"]} == {
        (name, "RUNNING", True) for name in WORKERS
    }
    assert len(report["workers"]) == 5
    assert all(r["rss_mb"] and r["pool"] == "prefork" for r in report["workers"])


def _start_times(name: str) -> list[int]:
    """Start times (seconds since boot x clock ticks) of this host's worker main processes."""
    pids = [pid for pid in programs(name).values() if pid]
    return [int(host(name).file(f"/proc/{pid}/stat").content_string.split()[21]) for pid in pids]


def test_new_concurrency_restarts_the_hosts_one_at_a_time() -> None:
    assert playbook("scale.yml", "-e", "workers=4").returncode == 0
    before = fleet_pids()
    result = playbook("scale.yml", "-e", "concurrency=2")
    assert result.returncode == 0, result.stdout[-3000:]
    assert "running workers restart one host at a time" in result.stdout
    after = fleet_pids()
    assert all(after[k] != before[k] for k in before), "a worker kept its old concurrency"
    assert {w["concurrency"] for w in fleet_status()["workers"]} == {2}
    # One host's workers all started after the other host's had started and answered
    # ping (several seconds): the hosts took turns. All hosts share one kernel clock.
    first, second = sorted((_start_times(name) for name in WORKERS), key=min)
    assert max(first) < min(second)
    assert playbook("scale.yml", "-e", "concurrency=4").returncode == 0


def test_rolling_restart_restarts_every_worker_and_loses_nothing(tmp_path: Path) -> None:
    assert playbook("scale.yml", "-e", "workers=2").returncode == 0
    before = fleet_pids()
    batch = Batch(tmp_path / "batch", 60)
    batch.start()
    assert batch.started_results.wait(300)
    result = playbook("restart.yml")
    assert result.returncode == 0, result.stdout[-3000:]
    after = fleet_pids()
    assert all(after.values()), after
    assert set(after) == set(before)
    assert all(after[k] != before[k] for k in before), "a worker kept its process"
    batch.join(600)
    assert_every_image_once(batch)
