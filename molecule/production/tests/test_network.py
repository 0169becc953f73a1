"""Two networks: Redis lives on the private fleet network only. It listens there and on
loopback, the firewall opens it to the fleet's private addresses (and the controller's),
and nothing on the public network reaches it. SSH stays open on the port Ansible uses."""

from __future__ import annotations

import json

from conftest import as_operator, connects, machine, role_default, run_ok, site

PORT = role_default("fleet_redis_port")


def test_redis_listens_on_loopback_and_its_fleet_address_only() -> None:
    redis = site().group("redis")[0]
    listening = {
        line.split()[3]
        for line in run_ok(redis.name, "ss -ltnH").splitlines()
        if line.split()[3].endswith(f":{PORT}")
    }
    assert listening == {f"127.0.0.1:{PORT}", f"{redis.fleet}:{PORT}"}


def test_the_firewall_opens_redis_to_fleet_addresses_only() -> None:
    redis = site().group("redis")[0]
    rules = json.loads(run_ok(redis.name, "nft --json list chain inet facefleet input"))
    sources: set[str] = set()
    for item in rules["nftables"]:
        rule = item.get("rule")
        if not rule or f"dport {PORT}" not in json.dumps(rule).replace('"right": ', "dport "):
            continue
        for statement in rule["expr"]:
            match = statement.get("match", {})
            if match.get("left", {}).get("payload", {}).get("field") == "saddr":
                right = match["right"]
                sources |= set(right["set"]) if isinstance(right, dict) else {right}
    expected = {h.fleet for h in site().fleet} | {site().controller.fleet}
    assert sources == expected


def test_nothing_on_the_public_network_reaches_redis() -> None:
    redis = site().group("redis")[0]
    assert connects(site()["stranger"], redis.public, PORT) == "TimeoutError"
    # Not even a fleet host, by the public address.
    worker = site().group("workers")[0]
    assert connects(worker.name, redis.public, PORT) != "open"


def test_the_workers_reach_redis_on_the_fleet_network() -> None:
    redis = site().group("redis")[0]
    for worker in site().group("workers"):
        assert connects(worker.name, redis.fleet, PORT) == "open"
        settings = run_ok(worker.name, "cat /etc/facefleet/facefleet.toml")
        assert f"@{redis.fleet}:{PORT}/" in settings
        assert 'redis_url = "rediss://' in settings  # TLS, as the example sets it


def test_ssh_stays_open_on_the_custom_port_after_the_firewall() -> None:
    worker = next(h for h in site().fleet if site().ssh_port(h.name) != 22)
    port = site().ssh_port(worker.name)
    assert "policy drop" in run_ok(worker.name, "nft list chain inet facefleet input")
    assert f"tcp dport {port} accept" in run_ok(worker.name, "nft list chain inet facefleet input")
    login = as_operator(
        site()["controller"],
        f"ssh -p {port} -o BatchMode=yes {site()['deploy_user']}@{worker.public} hostname",
    )
    assert login.rc == 0, login.stderr
    assert machine(worker.name).socket(f"tcp://0.0.0.0:{port}").is_listening
