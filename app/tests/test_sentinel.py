"""A replicated Redis behind Sentinel: a real primary, a real replica and three real
Sentinels on loopback, a real Celery worker and the submitter. Clients find the primary
through the Sentinels, and follow the replica that Sentinel promotes when the primary
stops, in the middle of a batch."""

from __future__ import annotations

import io
import json
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import redis
from conftest import Worker, _free_port, _wait_for, start_redis_server

from facefleet.celery_app import celery_config, create_app
from facefleet.fleet_status import fleet_status, format_topology, redis_topology
from facefleet.redis_client import connect, credentials, primary_address, where
from facefleet.settings import Settings, SettingsError, load_settings
from facefleet.submit import SubmitSummary, submit_files

pytestmark = pytest.mark.slow
PASSWORD = "test-only-sentinel-password"
MASTER = "facefleet-test"


@dataclass
class Topology:
    url: str  # the credentials and database; its host is not used with Sentinel
    sentinels: str
    servers: dict[int, subprocess.Popen[bytes]]  # port -> redis-server
    sentinel_procs: list[subprocess.Popen[bytes]]

    def settings(self) -> Settings:
        return load_settings(
            environ={
                "FACEFLEET_REDIS_URL": self.url,
                "FACEFLEET_REDIS_SENTINELS": self.sentinels,
                "FACEFLEET_REDIS_MASTER_NAME": MASTER,
            },
            config_path=Path("/nonexistent"),
        )

    def primary_port(self) -> int:
        return primary_address(self.settings())[1]


def _start_sentinel(folder: Path, port: int, primary: int) -> subprocess.Popen[bytes]:
    """A Sentinel as the redis_sentinel role writes one: it must own its config file."""
    config = folder / f"sentinel-{port}.conf"
    config.write_text(
        f"port {port}\nbind 127.0.0.1\nrequirepass {PASSWORD}\ndir {folder}\n"
        f"sentinel monitor {MASTER} 127.0.0.1 {primary} 2\n"
        f"sentinel auth-pass {MASTER} {PASSWORD}\n"
        f"sentinel down-after-milliseconds {MASTER} 1000\n"
        f"sentinel failover-timeout {MASTER} 10000\n"
    )
    return subprocess.Popen(
        ["redis-server", str(config), "--sentinel"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
    )


@pytest.fixture
def topology(tmp_path: Path) -> Iterator[Topology]:
    ports = [_free_port(), _free_port()]
    auth = ("--requirepass", PASSWORD, "--masterauth", PASSWORD, "--appendonly", "yes")
    servers = {}
    for index, port in enumerate(ports):
        folder = tmp_path / f"redis-{port}"
        folder.mkdir()
        replica = ("--replicaof", "127.0.0.1", str(ports[0])) if index else ()
        servers[port] = start_redis_server(folder, "--port", str(port), *auth, *replica)
    for port in ports:
        _wait_for(lambda p=port: redis.Redis(port=p, password=PASSWORD).ping(), 10, "redis")
    primary = redis.Redis(port=ports[0], password=PASSWORD)
    _wait_for(
        lambda: primary.info("replication").get("slave0", {}).get("state") == "online",
        15,
        "the replica, in sync",
    )
    sentinel_ports = [_free_port() for _ in range(3)]
    procs = [_start_sentinel(tmp_path, port, ports[0]) for port in sentinel_ports]
    topo = Topology(
        url=f"redis://:{PASSWORD}@ignored.invalid:1/0",
        sentinels=",".join(f"127.0.0.1:{port}" for port in sentinel_ports),
        servers=servers,
        sentinel_procs=procs,
    )

    def sentinels_agree() -> bool:
        for port in sentinel_ports:
            client = redis.Redis(port=port, password=PASSWORD)
            master = client.sentinel_master(MASTER)
            if master["num-other-sentinels"] != 2 or master["num-slaves"] != 1:
                return False
        return True

    _wait_for(sentinels_agree, 30, "three Sentinels that know each other and the replica")
    yield topo
    for proc in [*procs, *servers.values()]:
        proc.terminate()
    for proc in [*procs, *servers.values()]:
        proc.wait(10)


def test_sentinels_are_host_port_pairs() -> None:
    with pytest.raises(SettingsError, match="host:port"):
        load_settings(
            environ={"FACEFLEET_REDIS_SENTINELS": "10.0.0.1:26379,10.0.0.2"},
            config_path=Path("/nonexistent"),
        )


def test_celery_asks_the_sentinels_for_the_primary() -> None:
    settings = load_settings(
        environ={
            "FACEFLEET_REDIS_URL": "rediss://:p%40ss@unused:6379/2",
            "FACEFLEET_REDIS_SENTINELS": "10.0.0.1:26379, [fd00::2]:26380",
        },
        config_path=Path("/nonexistent"),
    )
    config = celery_config(settings)
    expected = "sentinel://:p%40ss@10.0.0.1:26379/2;sentinel://:p%40ss@[fd00::2]:26380/2"
    assert config["broker_url"] == config["result_backend"] == expected
    options = config["broker_transport_options"]
    assert isinstance(options, dict)
    assert options["master_name"] == "facefleet"
    assert options["sentinel_kwargs"]["password"] == "p@ss"
    assert options["sentinel_kwargs"]["ssl"] is True  # the Sentinels speak TLS as Redis does
    # One try per Sentinel; and the options stay JSON, as each worker's stats reply
    # carries them (a redis-py Retry object silenced `inspect stats`).
    assert options["sentinel_kwargs"]["retry"] is None
    json.dumps(options)
    assert config["result_backend_transport_options"] == {
        "master_name": "facefleet",
        "sentinel_kwargs": options["sentinel_kwargs"],
    }
    assert "p@ss" not in where(settings)
    assert where(settings) == "primary 'facefleet' of the Sentinels at 10.0.0.1:26379,fd00::2:26380"


def test_a_batch_survives_the_primary_stopping(
    topology: Topology, faces: Path, tmp_path: Path
) -> None:
    """The worker and the submitter find the primary through the Sentinels; the primary
    stops (SIGTERM, as when its host shuts down) in the middle of the batch; Sentinel
    promotes the replica, and every image still gets its result, once."""
    settings = topology.settings()
    first = topology.primary_port()
    client = connect(settings)
    client.set("facefleet:test", "written through Sentinel")
    assert client.info("replication")["role"] == "master"
    topology_now = redis_topology(settings)
    assert topology_now is not None
    assert topology_now["primary"] == f"127.0.0.1:{first}"
    assert [r["state"] for r in topology_now["replicas"]] == ["online"]
    assert topology_now["sentinels"] == {
        "configured": 3,
        "answering": 3,
        "agreeing": 3,
        "quorum": 2,
    }
    assert "sentinels: 3 of 3 agree (3 answer, quorum 2)" in format_topology(topology_now)

    worker = Worker(
        "threads",
        topology.url,
        tmp_path / "worker.log",
        concurrency=2,
        environ={
            "FACEFLEET_REDIS_SENTINELS": topology.sentinels,
            "FACEFLEET_REDIS_MASTER_NAME": MASTER,
        },
    )
    app = create_app(settings)
    files = [faces / name for name in ("obama1.jpg", "biden2.jpg", "two_people.jpg")] * 8
    out = io.StringIO()
    summaries = []
    try:
        _wait_for(
            lambda: worker.proc.poll() is None and app.control.ping([worker.node], timeout=0.5),
            60,
            "celery worker through Sentinel",
        )
        # The worker's stats (status.yml's pool and concurrency) come back through Sentinel.
        mine = [w for w in fleet_status(app, settings)["workers"] if w["node"] == worker.node]
        assert [(w["pool"], w["concurrency"]) for w in mine] == [("threads", 2)]
        # ... without the password the Sentinel options carry (Flower shows these stats).
        stats = app.control.inspect([worker.node], timeout=5).stats() or {}
        sentinel_kwargs = stats[worker.node]["broker"]["transport_options"]["sentinel_kwargs"]
        assert sentinel_kwargs["password"] == "********"
        assert credentials(settings)["password"] not in json.dumps(stats)
        progress: list[SubmitSummary] = []  # the submitter's counters, as it goes
        raised: list[Exception] = []

        def keep(summary: SubmitSummary) -> None:
            progress[:] = [summary]

        def run_batch() -> None:
            # Kept here, so that a batch that fails late is reported by this test, not
            # raised into whichever test runs next.
            try:
                summaries.append(
                    submit_files(
                        app, settings, files, out, window=8, task_timeout=300, progress=keep
                    )
                )
            except Exception as exc:  # reported by the assertion below
                raised.append(exc)

        batch = threading.Thread(target=run_batch, daemon=True)
        batch.start()
        _wait_for(lambda: len(out.getvalue().splitlines()) >= 3, 120, "the first results")
        # The submitter waited for the replica before each task it sent.
        waits = client.info("commandstats")["cmdstat_wait"]["calls"]
        assert waits >= 3, f"the submitter sent WAIT {waits} times"
        topology.servers[first].terminate()
        stopped = time.monotonic()
        _wait_for(lambda: topology.primary_port() != first, 30, "Sentinel's failover")
        failover_s = time.monotonic() - stopped
        batch.join(400)
        tail = (tmp_path / "worker.log").read_text()[-3000:]
        assert not batch.is_alive(), (
            f"the batch did not finish {time.monotonic() - stopped:.0f} s after the primary "
            f"stopped (failover took {failover_s:.1f} s); the submitter's counters: "
            f"{progress[-1] if progress else 'none yet'}; the worker's log:\n{tail}"
        )
        assert not raised, f"the batch raised {raised[0]!r}; the worker's log:\n{tail}"
    finally:
        worker.stop()
    log = (tmp_path / "worker.log").read_text()[-3000:]
    results = [json.loads(line) for line in out.getvalue().splitlines()]
    assert sorted(r["image"] for r in results) == sorted(str(f) for f in files), log
    assert all(r["status"] == "ok" for r in results), [r for r in results if r["status"] != "ok"]
    assert (summaries[0].ok, summaries[0].lost) == (len(files), 0)
    promoted = connect(settings)
    assert promoted.info("replication")["role"] == "master"
    assert promoted.get("facefleet:test") == b"written through Sentinel"
    after = redis_topology(settings)
    assert after is not None
    assert after["primary"] == f"127.0.0.1:{topology.primary_port()}" != f"127.0.0.1:{first}"
    print(f"failover took {failover_s:.1f} s")
