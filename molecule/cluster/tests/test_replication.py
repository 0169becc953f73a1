"""A replicated Redis (two hosts in the redis group, three Sentinels): one primary, its
replica in sync, every Sentinel naming the same primary, the clients going through them,
redis.conf left as Ansible wrote it, and the Sentinels' port closed to strangers. The
failover itself is the chaos suite's `failover` scenario (molecule/cluster/chaos)."""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path

SHARED = Path(__file__).resolve().parents[2] / "shared"
sys.path[:0] = [str(SHARED / "tests"), str(SHARED)]

from conftest import (  # noqa: E402
    controller_settings,
    host,
    hosts_in,
    playbook,
    role_vars,
    run_ok,
)
from probes import connect_command  # noqa: E402

REDIS = hosts_in("redis")
SENTINELS = hosts_in("sentinels")


def _address(name: str) -> str:
    """The host's fleet address: the lab's flat network, its default route's address."""
    facts = host(name).ansible("setup", "gather_subset=network")["ansible_facts"]
    return str(facts["ansible_default_ipv4"]["address"])


def test_the_inventory_makes_a_replicated_redis() -> None:
    assert len(REDIS) == 2
    assert len(SENTINELS) == 3
    assert set(SENTINELS) - set(REDIS), "one Sentinel must run outside the Redis hosts"


def test_one_primary_one_replica_and_every_sentinel_agrees() -> None:
    from facefleet.fleet_status import redis_topology

    settings = controller_settings()
    first = role_vars(REDIS[0])
    port = first["fleet_redis_port"]
    assert settings.redis_master_name == first["fleet_redis_master_name"]
    assert len(settings.sentinel_addresses) == 3
    topology = redis_topology(settings)
    assert topology is not None
    # Which host is the primary is the Sentinels' to say (a failover may have happened
    # since the first deploy); the other one must be its replica, in sync.
    addresses = {f"{_address(name)}:{port}" for name in REDIS}
    assert topology["primary"] in addresses
    assert [(r["address"], r["state"]) for r in topology["replicas"]] == [
        (replica, "online") for replica in sorted(addresses - {topology["primary"]})
    ]
    assert topology["sentinels"] == {"configured": 3, "answering": 3, "agreeing": 3, "quorum": 2}


def test_redis_conf_names_no_primary_and_sentinel_cannot_rewrite_it() -> None:
    """Sentinel sends CONFIG REWRITE with each change of role; it must fail, so that the
    file stays Ansible's and a deploy after a failover changes nothing."""
    for name in REDIS:
        redis_host = host(name)
        conf = redis_host.file("/etc/redis/redis.conf")
        assert "replicaof" not in conf.content_string
        before = hashlib.sha256(conf.content).hexdigest()
        rewrite = redis_host.run(
            "REDISCLI_AUTH=%s redis-cli --no-auth-warning --tls --cacert %s/ca.crt "
            "-h 127.0.0.1 -p %s --user %s config rewrite",
            role_vars(name)["redis_admin_password"],
            role_vars(name)["redis_tls_dir"],
            str(role_vars(name)["fleet_redis_port"]),
            role_vars(name)["fleet_redis_admin_user"],
        )
        assert "Read-only file system" in rewrite.stdout + rewrite.stderr, rewrite
        assert (
            hashlib.sha256(redis_host.file("/etc/redis/redis.conf").content).hexdigest() == before
        )


def test_status_shows_the_topology() -> None:
    from facefleet.fleet_status import redis_topology

    status = playbook("status.yml")
    assert status.returncode == 0, status.stdout[-3000:]
    topology = redis_topology(controller_settings())
    assert topology is not None
    replica = topology["replicas"][0]["address"]
    assert f"redis: primary {topology['primary']}; replicas: {replica} (online" in status.stdout
    assert "sentinels: 3 of 3 agree (3 answer, quorum 2)" in status.stdout


def test_the_sentinels_answer_the_fleet_and_no_stranger() -> None:
    port = role_vars(SENTINELS[-1])["fleet_redis_sentinel_port"]
    worker, outsider = hosts_in("workers")[0], hosts_in("outsiders")[0]
    for name in SENTINELS:
        assert run_ok(host(worker), connect_command(name, port)).strip() == "open"
        assert run_ok(host(outsider), connect_command(name, port)).strip() == "TimeoutError"
