"""Bare metal: the operator's own machine keeps its site and its openness; facefleet's
services sit on loopback, its web entry point on its own HTTPS port."""

from __future__ import annotations

import yaml
from conftest import REPO, as_operator, fetch, machine, role_default, run_ok, secret, site

# What inventory/local sets for the machine it shares.
LOCAL = yaml.safe_load(
    (REPO / "inventory" / "local" / "group_vars" / "all" / "main.yml").read_text()
)


def _machine() -> str:
    return site()["baremetal"]


def test_the_site_that_was_there_still_answers_on_port_80() -> None:
    assert fetch(_machine(), "http://127.0.0.1/") == (200, site()["existing_site"] + "\n")


def test_facefleet_on_its_own_https_port_with_credentials() -> None:
    ca = as_operator(_machine(), "echo ~/.facefleet/local/pki/ca.crt").stdout.strip()
    url = f"https://localhost:{LOCAL['fleet_https_port']}/flower/"
    assert fetch(_machine(), url, ca)[0] == 401
    user = secret("baremetal", "vault_flower_user")
    password = secret("baremetal", "vault_flower_password")
    assert fetch(_machine(), url, ca, f"{user}:{password}")[0] == 200


def test_redis_and_flower_listen_on_loopback_only() -> None:
    for port in (role_default("fleet_redis_port"), role_default("fleet_flower_port")):
        listening = {
            line.split()[3]
            for line in run_ok(_machine(), "ss -ltnH").splitlines()
            if line.split()[3].endswith(f":{port}")
        }
        assert listening == {f"127.0.0.1:{port}"}


def test_the_host_firewall_is_left_off() -> None:
    assert machine(_machine()).run("nft list table inet facefleet").rc != 0


def test_the_cli_settings_are_the_operators_alone() -> None:
    settings = machine(_machine()).file(f"/home/{site()['operator_user']}/.facefleet/local.toml")
    assert settings.user == site()["operator_user"]
    assert settings.mode == 0o600
    assert 'redis_url = "redis://:' in settings.content_string
    assert "@127.0.0.1:" in settings.content_string
