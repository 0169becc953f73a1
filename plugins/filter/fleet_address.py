"""The address a host uses on the fleet's private network.

Operators' VMs often have two networks: a public one (the default route, where SSH and
the operators come in) and a private one where the fleet talks to itself. Redis binds to
this address, the firewall opens Redis to the fleet's addresses, and every client dials
it. ``fleet_network`` says which network that is (a CIDR); left empty, it is the address
of the default route, which is right for one flat network. Unit-tested in
tests/test_fleet_address.py.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from typing import Any

from ansible.errors import AnsibleFilterError

LOOPBACK = {4: "127.0.0.1", 6: "::1"}


class FleetAddressError(AnsibleFilterError):
    """The host has no address on the fleet's network; the message lists those it has."""


def fleet_address(host: Mapping[str, Any], network: Any = "") -> str:
    """``host`` is one host's hostvars (its gathered facts); ``network`` a CIDR or ''."""
    facts = host.get("ansible_facts") or {}
    name = host.get("inventory_hostname", "this host")
    if not network:
        address = (facts.get("default_ipv4") or {}).get("address")
        if not address:
            raise FleetAddressError(
                f"{name}: no default IPv4 route in its facts; gather facts first, or set "
                "fleet_network to the fleet's private network (CIDR)"
            )
        return str(address)
    try:
        net = ipaddress.ip_network(str(network), strict=False)
    except ValueError as exc:
        raise FleetAddressError(f"fleet_network {network!r} is not a network: {exc}") from None
    if net.is_loopback:
        # Everything on one host: the fleet talks over loopback, which facts never list.
        return LOOPBACK[net.version]
    if "all_ipv4_addresses" not in facts:
        raise FleetAddressError(f"{name}: no network facts; gather facts first")
    key = "all_ipv4_addresses" if net.version == 4 else "all_ipv6_addresses"
    candidates = [str(a) for a in facts.get(key) or []]
    for address in candidates:
        if ipaddress.ip_address(address.split("%")[0]) in net:
            return address
    raise FleetAddressError(
        f"{name} has no address in the fleet network {net} (fleet_network); its addresses: "
        + (", ".join(candidates) or "none")
    )


def fleet_addresses(hosts: Any, network: Any = "") -> list[str]:
    """``fleet_address`` of each host in a list of hostvars (``map('extract', hostvars)``)."""
    return [fleet_address(host, network) for host in hosts]


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {
            "fleet_address": fleet_address,
            "fleet_addresses": fleet_addresses,
        }
