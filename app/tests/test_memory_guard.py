"""The memory guard under a real supervisord: the worker over budget is restarted, the
one within budget keeps its PID."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from facefleet.memory_guard import over_budget
from facefleet.process_memory import tree_pss_mb

HOG = "x = b'\\1' * (150 * 2**20)\nimport time\nwhile True: time.sleep(1)"
IDLE = "import time\nwhile True: time.sleep(1)"


def _status(conf: Path) -> dict[str, int | None]:
    out = subprocess.run(
        [sys.executable, "-m", "supervisor.supervisorctl", "-c", str(conf), "status"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout
    return {
        m[1]: int(m[2]) if m[2] else None
        for m in re.finditer(r"^(\S+)\s+\w+\s+(?:pid (\d+))?", out, re.M)
    }


@pytest.fixture
def supervised(tmp_path: Path):
    (tmp_path / "hog.py").write_text(HOG)
    (tmp_path / "idle.py").write_text(IDLE)
    python = sys.executable
    conf = tmp_path / "supervisord.conf"
    conf.write_text(f"""
[unix_http_server]
file={tmp_path}/supervisor.sock

[supervisord]
logfile={tmp_path}/supervisord.log
pidfile={tmp_path}/supervisord.pid
childlogdir={tmp_path}

[rpcinterface:supervisor]
supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface

[supervisorctl]
serverurl=unix://{tmp_path}/supervisor.sock

[program:facefleet-worker-1]
command={python} {tmp_path}/hog.py
startsecs=1
stopwaitsecs=5

[program:facefleet-worker-2]
command={python} {tmp_path}/idle.py
startsecs=1

[eventlistener:memory-guard]
command={python} -m facefleet.memory_guard --budget-mb 100
events=TICK_5
stderr_logfile={tmp_path}/guard.log
""")
    env = dict(os.environ, PYTHONWARNINGS="ignore")
    proc = subprocess.Popen(
        [sys.executable, "-m", "supervisor.supervisord", "-n", "-c", str(conf)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        pids = _status(conf)
        if pids.get("facefleet-worker-1") and pids.get("facefleet-worker-2"):
            break
        time.sleep(0.3)
    yield conf, tmp_path
    proc.terminate()
    proc.wait(30)


def test_pss_of_this_process_is_counted() -> None:
    assert 5 < tree_pss_mb(os.getpid()) < 2000


def test_only_running_matching_programs_are_checked() -> None:
    me = {
        "name": "facefleet-worker-1",
        "group": "facefleet-worker-1",
        "statename": "RUNNING",
        "pid": os.getpid(),
    }
    pattern = re.compile(r"facefleet-worker-\d+")
    assert over_budget([me], pattern, 1)[0][0] == "facefleet-worker-1:facefleet-worker-1"
    assert over_budget([me], pattern, 100_000) == []
    assert over_budget([{**me, "statename": "STOPPED"}], pattern, 1) == []
    assert over_budget([{**me, "name": "facefleet-flower"}], pattern, 1) == []


def _spawns(folder: Path, program: str) -> list[int]:
    """PIDs supervisord spawned for ``program``, in order, from its own log."""
    log = (folder / "supervisord.log").read_text()
    return [int(pid) for pid in re.findall(rf"spawned: '{program}' with pid (\d+)", log)]


def test_worker_over_budget_is_restarted_the_other_keeps_running(supervised) -> None:
    conf, folder = supervised
    deadline = time.monotonic() + 30
    while len(_spawns(folder, "facefleet-worker-1")) < 2 and time.monotonic() < deadline:
        time.sleep(0.5)
    log = (folder / "guard.log").read_text()
    assert len(_spawns(folder, "facefleet-worker-1")) >= 2, log
    assert "facefleet-worker-1:facefleet-worker-1 uses" in log
    assert "over its 100 MB budget: restarting it warmly" in log
    # The program within its budget was never restarted, and still runs as first spawned.
    assert len(_spawns(folder, "facefleet-worker-2")) == 1
    assert _status(conf)["facefleet-worker-2"] == _spawns(folder, "facefleet-worker-2")[0]
    assert "facefleet-worker-2" not in log.split("budget 100 MB", 1)[1]
