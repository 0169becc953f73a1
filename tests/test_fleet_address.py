"""The fleet address (plugins/filter/fleet_address.py): the private network, not the
default route."""

from __future__ import annotations

import re

import pytest
from ansible_collections.facefleet.fleet.plugins.filter import fleet_address as module

# A VM with a public default route and a private fleet network, as hosts often have.
VM = {
    "inventory_hostname": "redis-01",
    "ansible_facts": {
        "default_ipv4": {"address": "203.0.113.10"},
        "all_ipv4_addresses": ["203.0.113.10", "10.20.0.10"],
        "all_ipv6_addresses": ["fe80::1%eth0", "fd00:20::10"],
    },
}


def test_the_private_network_wins_over_the_default_route() -> None:
    assert module.fleet_address(VM, "10.20.0.0/24") == "10.20.0.10"


def test_without_a_network_the_default_route_is_the_fleet() -> None:
    assert module.fleet_address(VM) == "203.0.113.10"
    assert module.fleet_address(VM, "") == "203.0.113.10"


def test_ipv6_network() -> None:
    assert module.fleet_address(VM, "fd00:20::/64") == "fd00:20::10"


def test_loopback_network_is_a_single_host() -> None:
    assert module.fleet_address({"ansible_facts": {}}, "127.0.0.0/8") == "127.0.0.1"


def test_a_host_off_the_network_is_refused_with_its_addresses() -> None:
    with pytest.raises(
        module.FleetAddressError, match=r"redis-01 has no address .*10\.99\.0\.0/24"
    ):
        module.fleet_address(VM, "10.99.0.0/24")
    with pytest.raises(module.FleetAddressError, match=re.escape("203.0.113.10, 10.20.0.10")):
        module.fleet_address(VM, "10.99.0.0/24")


def test_missing_facts_and_bad_networks_say_so() -> None:
    with pytest.raises(module.FleetAddressError, match="gather facts first"):
        module.fleet_address({"inventory_hostname": "w1", "ansible_facts": {}})
    with pytest.raises(module.FleetAddressError, match="gather facts first"):
        module.fleet_address({"inventory_hostname": "w1"}, "10.0.0.0/8")
    with pytest.raises(module.FleetAddressError, match="is not a network"):
        module.fleet_address(VM, "10.0.0.300/8")


def test_many_hosts() -> None:
    other = {"ansible_facts": {"all_ipv4_addresses": ["10.20.0.31"], "default_ipv4": {}}}
    assert module.fleet_addresses([VM, other], "10.20.0.0/24") == ["10.20.0.10", "10.20.0.31"]
