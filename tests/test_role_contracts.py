"""Every role documents each of its defaults: a comment, and an argument_specs entry."""

from __future__ import annotations

import re

import pytest
import yaml
from conftest import REPO

ROLES = sorted(p.name for p in (REPO / "roles").iterdir() if p.is_dir())


def test_there_are_roles() -> None:
    assert {"redis", "supervisor", "app", "celery_worker", "flower", "nginx", "firewall"} <= set(
        ROLES
    )


@pytest.mark.parametrize("role", ROLES)
def test_argument_specs_match_defaults(role: str) -> None:
    defaults = yaml.safe_load((REPO / "roles" / role / "defaults" / "main.yml").read_text())
    specs = yaml.safe_load((REPO / "roles" / role / "meta" / "argument_specs.yml").read_text())
    options = specs["argument_specs"]["main"]["options"]
    assert set(options) == set(defaults), "argument_specs and defaults list different variables"
    for name, option in options.items():
        assert option.get("description"), f"{name} has no description"
        assert name.startswith(f"{role}_"), f"{name} lacks the role prefix {role}_"


@pytest.mark.parametrize("role", ROLES)
def test_every_default_is_commented(role: str) -> None:
    lines = (REPO / "roles" / role / "defaults" / "main.yml").read_text().splitlines()
    previous = ""
    for line in lines:
        if re.match(r"^[a-z_]+:", line) and not previous.startswith("#"):
            # A variable may share the comment of the one just above it (a small group).
            assert re.match(r"^[a-z_]+:", previous), f"{role}: {line} has no comment"
        if line.strip():
            previous = line


@pytest.mark.parametrize("role", ROLES)
def test_role_has_readme_and_meta(role: str) -> None:
    assert (REPO / "roles" / role / "README.md").is_file()
    meta = yaml.safe_load((REPO / "roles" / role / "meta" / "main.yml").read_text())
    assert meta["galaxy_info"]["role_name"] == role
