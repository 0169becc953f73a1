"""The production scenario's site: molecule.yml's containers, networks and addresses, with
what scenario.yml says each host is for. operator_steps.py, prepare.yml (which runs this
file: it prints the site as JSON) and the verifiers read the site through this module, so
no address is written twice.
"""

from __future__ import annotations

import functools
import json
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import yaml

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
FACES = REPO.parent / "shared" / "data" / "faces"


@dataclass(frozen=True)
class Host:
    name: str  # the operator's inventory name
    container: str
    addresses: dict[str, str]  # network role (public, fleet) -> address

    @property
    def public(self) -> str:
        return self.addresses["public"]

    @property
    def fleet(self) -> str | None:
        return self.addresses.get("fleet")


@dataclass(frozen=True)
class Site:
    hosts: dict[str, Host]
    subnets: dict[str, str]  # network role -> CIDR
    gateways: dict[str, str]
    scenario: dict[str, Any] = field(repr=False)

    def host(self, name: str) -> Host:
        return self.hosts[name]

    def group(self, group: str) -> list[Host]:
        return [self.hosts[name] for name in self.scenario["groups"][group]]

    @property
    def fleet(self) -> list[Host]:
        """Every host of the operator's inventory, once."""
        names = dict.fromkeys(n for group in self.scenario["groups"].values() for n in group)
        return [self.hosts[name] for name in names]

    @property
    def controller(self) -> Host:
        return self.hosts[self.scenario["controller"]]

    @property
    def baremetal(self) -> Host:
        return self.hosts[self.scenario["baremetal"]]

    @property
    def stranger(self) -> Host:
        return self.hosts[self.scenario["stranger"]]

    @property
    def fresh(self) -> Host:
        return self.hosts[self.scenario["fresh_host"]]

    def ssh_port(self, name: str) -> int:
        return int(self.scenario.get("ssh_ports", {}).get(name, 22))

    def __getitem__(self, key: str) -> Any:
        return self.scenario[key]


@functools.cache
def load() -> Site:
    molecule = yaml.safe_load((HERE / "molecule.yml").read_text())
    scenario = yaml.safe_load((HERE / "scenario.yml").read_text())
    roles = {name: role for role, name in scenario["networks"].items()}
    subnets, gateways = {}, {}
    for platform in molecule["platforms"]:
        for network in platform.get("docker_networks") or []:
            ipam = network["ipam_config"][0]
            subnets[roles[network["name"]]] = ipam["subnet"]
            if "gateway" in ipam:
                gateways[roles[network["name"]]] = ipam["gateway"]
    hosts = {}
    for platform in molecule["platforms"]:
        name = platform["name"].removeprefix(scenario["container_prefix"])
        addresses = {roles[n["name"]]: n["ipv4_address"] for n in platform["networks"]}
        hosts[name] = Host(name, platform["name"], addresses)
    return Site(hosts, subnets, gateways, scenario)


if __name__ == "__main__":
    # For prepare.yml: the site as JSON.
    site = load()
    json.dump(
        {
            "hosts": {
                name: {**asdict(host), "ssh_port": site.ssh_port(name)}
                for name, host in site.hosts.items()
            },
            "subnets": site.subnets,
            "gateways": site.gateways,
            "fleet": [h.name for h in site.fleet],
            "scenario": site.scenario,
        },
        sys.stdout,
    )
