"""Helpers for the verifiers: hosts by group, and the roles' own variables.

As in bodsch/ansible-redis, the tests read the values the roles use (their defaults,
overridden by the scenario's inventory) instead of repeating literals, so a changed
default cannot leave a test asserting the old value.
"""

from __future__ import annotations

import functools
import ipaddress
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import testinfra
import yaml
from ansible.errors import AnsibleError
from ansible.parsing.dataloader import DataLoader
from ansible.plugins.loader import init_plugin_loader
from ansible.template import Templar, trust_as_template
from testinfra.utils.ansible_runner import AnsibleRunner

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from probes import fetch_command, fetched

init_plugin_loader()  # lookups in role defaults (env) need the collection loader

REPO = Path(__file__).resolve().parents[3]
INVENTORY = os.environ["MOLECULE_INVENTORY_FILE"]
FACES = Path(os.environ.get("FACEFLEET_FACES_DIR", REPO.parent / "shared" / "data" / "faces"))
VAULT = REPO / "inventory" / "lab" / "group_vars" / "all" / "vault.yml"


@functools.cache
def runner() -> AnsibleRunner:
    return AnsibleRunner(INVENTORY)


def hosts_in(group: str) -> list[str]:
    return sorted(runner().get_hosts(group))


def host(name: str) -> Any:
    return testinfra.get_host(f"ansible://{name}?ansible_inventory={INVENTORY}")


@functools.cache
def vault() -> dict[str, str]:
    """The lab vault, decrypted the way the playbooks decrypt it."""
    text = subprocess.run(
        ["ansible-vault", "view", str(VAULT)],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return yaml.safe_load(text)


def _trusted(value: Any) -> Any:
    """Mark strings as templates, as Ansible does for variables read from the repo's files."""
    if isinstance(value, str):
        return trust_as_template(value)
    if isinstance(value, list):
        return [_trusted(v) for v in value]
    if isinstance(value, dict):
        return {k: _trusted(v) for k, v in value.items()}
    return value


@functools.cache
def role_vars(name: str) -> dict[str, Any]:
    """A host's values of every role default, with its inventory variables on top."""
    merged: dict[str, Any] = {}
    for defaults in sorted(REPO.glob("roles/*/defaults/main.yml")):
        merged.update(yaml.safe_load(defaults.read_text()) or {})
    merged.update(vault())
    merged.update(runner().get_variables(name))
    merged.setdefault("groups", {g: hosts_in(g) for g in ("redis", "flower", "workers")})
    merged.setdefault("inventory_dir", str(Path(INVENTORY).parent))
    merged = _trusted(merged)
    templar = Templar(loader=DataLoader(), variables=merged)
    resolved: dict[str, Any] = {}
    for key, value in merged.items():
        try:
            resolved[key] = templar.template(value)
        except AnsibleError:
            continue  # needs facts or hostvars: values these tests do not read
    return resolved


def saved_scale(name: str) -> dict[str, Any]:
    """The scale the celery_worker role applied and saved on the host."""
    fact = host(name).file("/etc/ansible/facts.d/facefleet_workers.fact")
    return json.loads(fact.content_string)


def private_address(name: str) -> str:
    """The host's IPv4 address on its default route (the lab network)."""
    return next(
        a for a in host(name).interface.default().addresses if ipaddress.ip_address(a).version == 4
    )


def controller_settings(redis_host: str) -> Any:
    """App settings for talking to the fleet from this controller, as an operator would."""
    from facefleet.settings import Settings

    port = role_vars(redis_host)["redis_port"]
    password = vault()["vault_redis_password"]
    return Settings(redis_url=f"redis://:{password}@{private_address(redis_host)}:{port}/0")


def http_get(
    name: str, url: str, credentials: str | None = None, cafile: str | None = None
) -> tuple[int, str]:
    """Status and body of ``url`` fetched from host ``name`` ("user:password" for auth);
    HTTPS is verified against ``cafile``, a file on that host. Redirects are not followed:
    the body is then the Location."""
    return fetched(host(name).run(fetch_command(url, cafile, credentials)).stdout)


def web_url(name: str, path: str, address: str = "127.0.0.1", https: bool = True) -> str:
    """The operators' entry point on the Flower host ``name``, as nginx serves it (and
    writes it in redirects: no port when it is the scheme's own)."""
    settings = role_vars(name)
    scheme = "https" if https else "http"
    port = int(settings[f"nginx_{scheme}_port"])
    shown = "" if port == {"https": 443, "http": 80}[scheme] else f":{port}"
    return f"{scheme}://{address}{shown}{path}"


def web_credentials(password: str | None = None) -> str:
    return f"{vault()['vault_flower_user']}:{password or vault()['vault_flower_password']}"


def run_ok(host_: Any, command: str) -> str:
    result = host_.run(command)
    assert result.rc == 0, f"{command}\nstdout: {result.stdout}\nstderr: {result.stderr}"
    return result.stdout


@pytest.fixture(scope="session")
def worker_hosts() -> list[str]:
    return hosts_in("workers")


@pytest.fixture(scope="session")
def flower_host() -> str:
    return hosts_in("flower")[0]


@pytest.fixture(scope="session")
def redis_host() -> str:
    return hosts_in("redis")[0]
