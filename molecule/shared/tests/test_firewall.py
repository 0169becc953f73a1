"""The host firewall: nftables drops what the fleet does not open, on every fleet host."""

from __future__ import annotations

import json

from conftest import host, hosts_in, role_vars, run_ok


def _input_chain(name: str) -> tuple[dict, list[dict]]:
    listing = json.loads(run_ok(host(name), "nft --json list table inet facefleet"))["nftables"]
    chain = next(i["chain"] for i in listing if "chain" in i and i["chain"]["name"] == "input")
    rules = [i["rule"] for i in listing if "rule" in i and i["rule"]["chain"] == "input"]
    return chain, rules


def _open_ports(rules: list[dict]) -> set[int]:
    ports = set()
    for rule in rules:
        for statement in rule["expr"]:
            match = statement.get("match", {})
            if match.get("left", {}).get("payload", {}).get("field") == "dport":
                ports.add(int(match["right"]))
    return ports


def test_every_fleet_host_drops_unless_a_rule_accepts() -> None:
    for name in hosts_in("facefleet"):
        chain, _ = _input_chain(name)
        assert (chain["hook"], chain["policy"]) == ("input", "drop"), name
        assert host(name).service("nftables").is_enabled, name


def test_each_host_opens_only_its_own_services() -> None:
    for name in hosts_in("facefleet"):
        settings = role_vars(name)
        expected = {settings["firewall_ssh_port"]}
        monitored = bool(hosts_in(settings["fleet_monitoring_group"]))
        if monitored:  # each exporter, to the monitoring hosts only (role monitoring)
            expected.add(settings["fleet_node_exporter_port"])
        if name in hosts_in("redis"):
            expected.add(settings["fleet_redis_port"])
            if monitored:
                expected.add(settings["fleet_redis_exporter_port"])
        # A replicated Redis (two Redis hosts): the Sentinels' port, to the fleet.
        if len(hosts_in("redis")) > 1 and name in hosts_in("sentinels"):
            expected.add(settings["fleet_redis_sentinel_port"])
        if name in hosts_in("flower"):
            expected |= {settings["fleet_https_port"], settings["fleet_http_port"]} - {0}
            if monitored:
                expected.add(settings["fleet_metrics_exporter_port"])
        if name in hosts_in(settings["fleet_monitoring_group"]):
            expected |= {settings["fleet_prometheus_port"], settings["fleet_alertmanager_port"]}
        _, rules = _input_chain(name)
        assert _open_ports(rules) - {68, 546} == expected, name
