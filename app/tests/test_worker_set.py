"""The host-side worker commands under a real supervisord, with real Celery workers and a
real redis-server: apply starts what is new and drains what goes, restart keeps the
others' PIDs, status reads supervisor and /proc; the memory guard, which restarts a
worker over budget until it sees a restart loop, and writes the host's figures for the
metrics exporter; and `facefleet workers logs`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from facefleet import worker_main
from facefleet.memory_guard import RestartLoops, check, publish, read_state
from facefleet.supervisor_rpc import Supervisor
from facefleet.worker_set import HostWorkers, celery_worker_set

# Names are data to these tools: whatever workers.fact says (the collection's
# plugin_utils/workers.py makes the real ones).
WORKERS = {"prog-a": "node-a@worker-set-test", "prog-b": "node-b@worker-set-test"}
# Stand-ins for the memory guard's test: no Celery, a fixed memory.
SCRIPTS = {
    "hog": "x = b'\\1' * (150 * 2**20)\nimport time\nwhile True: time.sleep(1)",
    "idle": "import time\nwhile True: time.sleep(1)",
    # Writes a Celery-style line every 0.3 s, a traceback line after every third.
    "chatty": (
        "import sys, time\nn = 0\nwhile True:\n"
        "    n += 1\n"
        "    stamp = time.strftime('%Y-%m-%d %H:%M:%S')\n"
        "    print(f'[{stamp},000: INFO/MainProcess] line {n} of {sys.argv[0]}', flush=True)\n"
        "    if n % 3 == 0: print('Traceback (most recent call last):', flush=True)\n"
        "    time.sleep(0.3)"
    ),
}


class Site:
    """A supervisord with an include folder, and the workers.fact the role would write."""

    def __init__(self, folder: Path, redis_url: str) -> None:
        self.folder = folder
        self.redis_url = redis_url
        self.socket = folder / "supervisor.sock"
        self.programs_dir = folder / "conf.d"
        self.programs_dir.mkdir()
        self.workers_file = folder / "workers.fact"
        self.conf = folder / "supervisord.conf"
        self.conf.write_text(f"""
[unix_http_server]
file={self.socket}

[supervisord]
logfile={folder}/supervisord.log
pidfile={folder}/supervisord.pid
childlogdir={folder}

[rpcinterface:supervisor]
supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface

[include]
files = {self.programs_dir}/*.conf
""")

    def declare(
        self,
        programs: dict[str, str],
        gone: dict[str, str],
        budget_mb: int = 2000,
        scripts: dict[str, str] | None = None,
    ) -> HostWorkers:
        """What the role does: program files, and workers.fact. A program named in
        ``scripts`` runs that stand-in (hog, idle) instead of a Celery worker."""
        scripts = scripts or {}
        environment = (
            f'environment=FACEFLEET_REDIS_URL="{self.redis_url}",FACEFLEET_CONFIG="/nonexistent"'
        )
        sections = []
        for program, node in programs.items():
            command = (
                f"{sys.executable} {self.folder / scripts[program]}.py"
                if program in scripts
                else " ".join(worker_main.argv("threads", 1, node, loglevel="WARNING"))
            )
            sections.append(
                f"[program:{program}]\ncommand={command}\n{environment}\nstartsecs=1\n"
                f"stopwaitsecs=20\nstdout_logfile={self.folder}/{program}.log\nredirect_stderr=true\n"
            )
        (self.programs_dir / "workers.conf").write_text("\n".join(sections))
        for name, script in SCRIPTS.items():
            (self.folder / f"{name}.py").write_text(script)
        document = {
            "workers": [
                *({"program": p, "node": n, "wanted": True} for p, n in programs.items()),
                *({"program": p, "node": n, "wanted": False} for p, n in gone.items()),
            ],
            "supervisor_socket": str(self.socket),
            "queues": ["celery"],
            "drain_timeout": 20,
            "ping_timeout": 60,
            "budget_mb": budget_mb,
            "loop_restarts": 2,
            "loop_minutes": 10,
            "guard_state_file": str(self.folder / "guard.json"),
        }
        self.workers_file.write_text(json.dumps(document))
        return HostWorkers.load(self.workers_file)


@pytest.fixture
def site(tmp_path: Path, redis_url: str) -> Iterator[Site]:
    site = Site(tmp_path, redis_url)
    proc = subprocess.Popen(
        [sys.executable, "-m", "supervisor.supervisord", "-n", "-c", str(site.conf)],
        env=dict(os.environ, PYTHONWARNINGS="ignore", FACEFLEET_REDIS_URL=redis_url),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 20
    while not site.socket.exists() and time.monotonic() < deadline:
        time.sleep(0.2)
    yield site
    proc.terminate()
    proc.wait(60)


def _pids(site: Site) -> dict[str, int | None]:
    return {n: s.pid for n, s in Supervisor(str(site.socket)).programs().items()}


@pytest.fixture
def app_settings(redis_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The CLI side (drain, ping) talks to the same Redis as the workers."""
    monkeypatch.setenv("FACEFLEET_REDIS_URL", redis_url)
    monkeypatch.setenv("FACEFLEET_CONFIG", "/nonexistent")


@pytest.mark.slow
@pytest.mark.usefixtures("app_settings")
def test_apply_starts_new_workers_and_drains_the_ones_that_go(site: Site) -> None:
    host = site.declare(WORKERS, gone={})
    report = celery_worker_set(host).apply()
    assert sorted(report.started) == sorted(WORKERS)
    assert report.ok, report.line()
    before = _pids(site)

    # Scale down to one: prog-b drains, stops and leaves; prog-a keeps its process.
    host = site.declare({"prog-a": WORKERS["prog-a"]}, gone={"prog-b": WORKERS["prog-b"]})
    report = celery_worker_set(host).apply()
    assert report.stopped == ["prog-b"]
    assert (report.started, report.restarted, report.silent) == ([], [], [])
    assert _pids(site) == {"prog-a": before["prog-a"]}

    # A repeat changes nothing.
    assert celery_worker_set(host).apply().line() == "nothing to change"

    # restart: a new process, answering again.
    report = celery_worker_set(host).restart()
    assert report.restarted == ["prog-a"]
    assert report.ok
    assert _pids(site)["prog-a"] not in (None, before["prog-a"])

    [row] = celery_worker_set(host).status()
    assert (row["program"], row["node"], row["state"]) == ("prog-a", WORKERS["prog-a"], "RUNNING")
    assert row["pss_mb"] > 20
    assert (row["over_budget"], row["restart_loop"]) == (False, False)

    with pytest.raises(ValueError, match="not a worker of this host: prog-z"):
        celery_worker_set(host).restart(["prog-z"])


@pytest.mark.usefixtures("app_settings")
def test_the_memory_guard_restarts_a_worker_over_budget_until_it_loops(site: Site) -> None:
    """A program that holds 150 MB against a 100 MB budget (no Celery worker: it answers
    no ping, and restarts go on without it): restarted twice (loop_restarts), then over
    budget again within the window, it is a restart loop and left running; status.yml's
    source says so. The program within its budget keeps its first process throughout."""
    host = site.declare(
        WORKERS, gone={}, budget_mb=100, scripts={"prog-a": "hog", "prog-b": "idle"}
    )
    host = HostWorkers(**{**host.__dict__, "ping_timeout": 1.0, "drain_timeout": 1.0})
    workers = celery_worker_set(host)
    workers.apply()
    time.sleep(2)  # the hog has its memory
    now = [1000.0]
    loops = RestartLoops(host.loop_restarts, host.loop_minutes * 60, lambda: now[0])
    log = site.folder / "guard.log"
    state = Path(host.guard_state_file)
    pids = [_pids(site)["prog-a"]]
    within_budget = _pids(site)["prog-b"]
    with log.open("w") as stream:
        for _ in range(4):
            check(workers, loops, stream, state)
            time.sleep(2)
            pids.append(_pids(site)["prog-a"])
            now[0] += 60
    text = log.read_text()
    assert "prog-a uses" in text
    assert "over its 100 MB budget: restarting it warmly" in text
    assert text.count("a restart loop. Left running") == 1  # said once
    assert len(set(pids)) == 3  # two restarts ...
    assert pids[2] == pids[3] == pids[4]  # ... then left running
    assert read_state(state)["prog-a"] == {"restarts_in_window": 2, "loop": True}
    assert "prog-b" not in text
    assert within_budget is not None
    assert _pids(site)["prog-b"] == within_budget
    rows = {row["program"]: row for row in workers.status()}
    assert rows["prog-a"]["restart_loop"] is True
    assert rows["prog-b"]["restart_loop"] is False
    # A window later, the loop is over.
    now[0] += 3600
    assert not loops.looping("prog-a")


@pytest.mark.usefixtures("app_settings")
def test_the_memory_guard_writes_the_hosts_figures(site: Site, redis_url: str) -> None:
    import redis

    from facefleet.pipeline_metrics import host_key

    scripts = {"prog-a": "hog", "prog-b": "idle"}
    host = site.declare(WORKERS, gone={}, budget_mb=100, scripts=scripts)
    host = HostWorkers(**{**host.__dict__, "ping_timeout": 1.0, "concurrency": 4})
    workers = celery_worker_set(host)
    workers.apply()
    Supervisor(str(site.socket)).stop("prog-b")
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    publish(workers, client, "test-metrics")
    figures = client.hgetall(host_key("test-metrics", "worker-set-test"))
    assert (figures["planned"], figures["concurrency"], figures["budget_mb"]) == ("2", "4", "100.0")
    assert figures["running:node-a@worker-set-test"] == "1"
    assert figures["running:node-b@worker-set-test"] == "0"
    assert float(figures["pss_mb:node-a@worker-set-test"]) > 150
    assert "pss_mb:node-b@worker-set-test" not in figures


def _logs(site: Site, *arguments: str, timeout: float = 30) -> list[str]:
    command = [sys.executable, "-m", "facefleet.cli", "workers", "--file", str(site.workers_file)]
    run = subprocess.run(
        [*command, "logs", *arguments], capture_output=True, text=True, timeout=timeout, check=True
    )
    return run.stdout.splitlines()


def test_worker_logs_are_prefixed_merged_and_followed(site: Site) -> None:
    host = site.declare(WORKERS, gone={}, scripts={"prog-a": "chatty", "prog-b": "chatty"})
    host = HostWorkers(**{**host.__dict__, "ping_timeout": 1.0})
    celery_worker_set(host).apply()
    time.sleep(3)
    lines = _logs(site, "-n", "4")
    assert len(lines) == 8
    prefixes = {line.split(" | ")[0] for line in lines}
    assert prefixes == set(WORKERS.values())
    stamps = [line.split(" | ")[1][1:20] for line in lines if " | [" in line]
    assert stamps == sorted(stamps)
    # Everything since a minute ago: every line either worker wrote, tracebacks included.
    everything = _logs(site, "--since", "1m", "-n", "1000")
    assert any(line.endswith("| Traceback (most recent call last):") for line in everything)
    assert len(everything) > len(lines)
    # No -n: it follows, and new lines keep coming from both workers.
    command = [sys.executable, "-m", "facefleet.cli", "workers", "--file", str(site.workers_file)]
    follow = subprocess.Popen([*command, "logs"], stdout=subprocess.PIPE, text=True)
    seen: set[str] = set()
    try:
        assert follow.stdout is not None
        for count, line in enumerate(follow.stdout):
            seen.add(line.split(" | ")[0])
            if count > 40:
                break
    finally:
        follow.terminate()
        follow.wait(10)
        if follow.stdout is not None:
            follow.stdout.close()
    assert seen == set(WORKERS.values())
