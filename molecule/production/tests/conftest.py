"""Helpers for the production scenario's verifiers: the site (site_layout.py), its machines
as testinfra hosts (reached by Molecule over the docker connection, as root), and the
operators' own commands, run as the operator user where the operator ran them.
"""

from __future__ import annotations

import functools
import json
import os
import re
import shlex
import sys
from pathlib import Path
from typing import Any

import testinfra

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE.parents[1] / "shared"))
sys.path.insert(0, str(HERE.parents[2] / "lab"))  # role_values: the roles' own defaults

from probes import connect_command, fetch_command, fetched  # noqa: E402
from role_values import role_default as role_default  # noqa: E402  (the tests import it from here)
from site_layout import REPO, Host, Site, load  # noqa: E402

INVENTORY = os.environ["MOLECULE_INVENTORY_FILE"]
CHECKOUT = "facefleet"  # the folder the README's steps clone into, in the operator's home


def site() -> Site:
    return load()


@functools.cache
def machine(name: str) -> Any:
    """The testinfra host of one of the site's machines, by its inventory name."""
    container = site().host(name).container
    return testinfra.get_host(f"ansible://{container}?ansible_inventory={INVENTORY}")


def run_ok(name: str, command: str) -> str:
    result = machine(name).run(command)
    assert result.rc == 0, f"{name}: {command}\nstdout: {result.stdout}\nstderr: {result.stderr}"
    return result.stdout


def as_operator(name: str, command: str, stdin: str | None = None) -> Any:
    """Run ``command`` as the operator, in the checkout, as the README's steps ran."""
    operator = site()["operator_user"]
    script = f"cd ~/{CHECKOUT} && {command}"
    if stdin is not None:
        script = f"printf %s {shlex.quote(stdin)} | ({script})"
    return machine(name).run(f"runuser -l {operator} -c {shlex.quote(script)}")


VAULT_ID = {"controller": "production", "baremetal": "local"}


@functools.cache
def secret(operator_machine: str, name: str) -> str:
    """A secret from the vault that secrets.yml generated on that operator's machine."""
    inventory = VAULT_ID[operator_machine]
    result = as_operator(
        operator_machine,
        f".venv/bin/ansible -i inventory/{inventory} localhost -m ansible.builtin.debug "
        f"-a var={name} --vault-id {inventory}@~/.facefleet/{inventory}.vault-pass -o",
    )
    assert result.rc == 0, result.stdout + result.stderr
    return json.loads(result.stdout.split("=>", 1)[1])[name]


def fetch(
    from_machine: str, url: str, cafile: str | None = None, credentials: str | None = None
) -> tuple[int, str]:
    return fetched(run_ok(from_machine, fetch_command(url, cafile, credentials)))


def connects(from_machine: str, address: str, port: int) -> str:
    return run_ok(from_machine, connect_command(address, port)).strip()


def recap(output: str) -> dict[str, dict[str, int]]:
    """PLAY RECAP lines: host -> {ok, changed, failed, ...}."""
    found = {}
    for host, counts in re.findall(r"^(\S+)\s+: (ok=.*)$", output, re.M):
        found[host] = {k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", counts)}
    return found


def steps_log(which: str) -> str:
    return (REPO / ".cache" / "molecule" / "logs" / f"production-{which}-steps.log").read_text()


__all__ = ["Host"]
