"""The roles' variables as Ansible reads them, for the tests that check them: the
contracts test (tests/test_role_contracts.py) and the Molecule verifiers
(molecule/shared/tests/conftest.py)."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import yaml
from ansible.parsing.dataloader import DataLoader
from ansible.template import Templar, trust_as_template

REPO = Path(__file__).resolve().parents[1]


def trusted(value: Any) -> Any:
    """Mark strings as templates, as Ansible does for variables read from the repo's files."""
    if isinstance(value, str):
        return trust_as_template(value)
    if isinstance(value, list):
        return [trusted(v) for v in value]
    if isinstance(value, dict):
        return {k: trusted(v) for k, v in value.items()}
    return value


def role_defaults(role: str) -> dict[str, Any]:
    """One role's defaults/main.yml, unrendered."""
    return yaml.safe_load((REPO / "roles" / role / "defaults" / "main.yml").read_text()) or {}


@functools.cache
def _merged_defaults() -> dict[str, Any]:
    merged: dict[str, Any] = {}
    for defaults in sorted(REPO.glob("roles/*/defaults/main.yml")):
        merged.update(role_defaults(defaults.parts[-3]))
    return merged


def all_role_defaults() -> dict[str, Any]:
    """Every role's defaults, merged (role names are prefixes, so none overrides another);
    a copy the caller may change."""
    return dict(_merged_defaults())


@functools.cache
def role_default(name: str) -> Any:
    """One role default, rendered against the other defaults: for those that need no host
    (ports, paths, names: fleet_app_venv is "{{ fleet_app_home }}/venv")."""
    defaults = _merged_defaults()
    if name not in defaults:
        raise KeyError(name)
    templar = Templar(loader=DataLoader(), variables=trusted(defaults))
    return templar.template(trusted(defaults[name]))
