"""What a host next to the fleet, but not in it, can reach: nginx (with auth), not Redis
and not Flower itself."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

SHARED = Path(__file__).resolve().parents[2] / "shared"
sys.path[:0] = [str(SHARED / "tests"), str(SHARED)]

from conftest import (  # noqa: E402
    host,
    hosts_in,
    http_get,
    role_vars,
    run_ok,
    web_credentials,
    web_url,
)
from probes import connect_command  # noqa: E402

REDIS = hosts_in("redis")[0]
FLOWER = hosts_in("flower")[0]
WORKER = hosts_in("workers")[0]


@pytest.fixture(scope="module")
def outsider() -> str:
    names = hosts_in("outsiders")
    assert names, "the cluster scenario must have a host outside the fleet"
    assert not set(names) & set(hosts_in("facefleet"))
    return names[0]


def test_redis_is_unreachable_from_outside_the_fleet(outsider: str) -> None:
    port = role_vars(REDIS)["fleet_redis_port"]
    assert run_ok(host(outsider), connect_command(REDIS, port)).strip() == "TimeoutError"


def test_but_reachable_from_a_worker() -> None:
    port = role_vars(REDIS)["fleet_redis_port"]
    assert run_ok(host(WORKER), connect_command(REDIS, port)).strip() == "open"


def test_flower_itself_is_unreachable_from_outside(outsider: str) -> None:
    port = role_vars(FLOWER)["fleet_flower_port"]
    assert run_ok(host(outsider), connect_command(FLOWER, port)).strip() == "TimeoutError"


def test_the_web_ui_only_through_nginx_over_https_with_auth(outsider: str) -> None:
    """The outsider trusts the fleet's CA (as an operator's browser would, once given
    ca.crt), and reaches nginx by the Flower host's name, which its certificate holds."""
    ca = Path(role_vars(FLOWER)["fleet_pki_dir"]).expanduser() / "ca.crt"
    copied = host(outsider).ansible("copy", f"src={ca} dest=/tmp/fleet-ca.crt", check=False)
    assert not copied.get("failed"), copied
    url = web_url(FLOWER, f"/{role_vars(FLOWER)['fleet_flower_prefix']}/", address=FLOWER)
    assert http_get(outsider, url, cafile="/tmp/fleet-ca.crt")[0] == 401
    assert http_get(outsider, url, web_credentials(), cafile="/tmp/fleet-ca.crt")[0] == 200
    wrong = web_credentials("not-the-password")
    assert http_get(outsider, url, wrong, cafile="/tmp/fleet-ca.crt")[0] == 401
    plain = web_url(FLOWER, "/flower/", address=FLOWER, https=False)
    assert http_get(outsider, plain) == (301, url)
