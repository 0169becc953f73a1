"""Every role documents each of its defaults, and its argument_specs say the truth about
them: the same variables, each with a description, a matching type, and the real
default (a templated default is rendered for a fresh fleet, as ansible-doc readers meet
it: no saved scale, no seed environment variables, no make-exported cache folder)."""

from __future__ import annotations

import re
from typing import Any

import pytest
import yaml
from ansible.errors import AnsibleError
from ansible.parsing.dataloader import DataLoader
from ansible.template import Templar
from conftest import REPO, ROLES
from role_values import role_defaults, trusted

TYPES: dict[str, tuple[type, ...]] = {
    "str": (str,),
    "path": (str,),
    "int": (int,),
    "float": (float, int),
    "bool": (bool,),
    "list": (list,),
    "dict": (dict,),
}
SPEC_KEYS = {
    "type",
    "elements",
    "default",
    "description",
    "choices",
    "required",
    "no_log",
    "options",
}


def _specs(role: str) -> dict[str, dict[str, Any]]:
    return yaml.safe_load((REPO / "roles" / role / "meta" / "argument_specs.yml").read_text())[
        "argument_specs"
    ]


FRESH_FLEET = {
    "groups": {"workers": ["worker1"], "redis": ["redis1"], "flower": ["flower1"]},
    "hostvars": {"worker1": {}, "redis1": {}, "flower1": {}},
    "inventory_hostname": "worker1",
}


@pytest.fixture(scope="module")
def render(monkeypatch_module: pytest.MonkeyPatch) -> Any:
    """A role default's value for a fresh fleet, or AnsibleError where it needs a host."""
    for name in (
        "CELERY_WORKER_REPLICAS",
        "CELERY_WORKER_CONCURRENCY",
        "CELERY_WORKER_POOL",
        "FACEFLEET_CACHE_DIR",
    ):
        monkeypatch_module.delenv(name, raising=False)
    context: dict[str, Any] = {}
    for role in ROLES:
        context.update(role_defaults(role))
    context.update(FRESH_FLEET)
    templar = Templar(loader=DataLoader(), variables=trusted(context))

    def value(default: Any) -> Any:
        return templar.template(trusted(default))

    return value


@pytest.fixture(scope="module")
def monkeypatch_module() -> Any:
    patch = pytest.MonkeyPatch()
    yield patch
    patch.undo()


def test_there_are_roles() -> None:
    assert {
        "fleet",
        "redis",
        "supervisor",
        "app",
        "celery_worker",
        "flower",
        "nginx",
        "firewall",
    } <= set(ROLES)


@pytest.mark.parametrize("role", ROLES)
def test_argument_specs_list_every_default(role: str) -> None:
    options = _specs(role)["main"]["options"]
    assert set(options) == set(role_defaults(role)), (
        "argument_specs and defaults list other variables"
    )
    for name, option in options.items():
        assert option.get("description"), f"{name} has no description"
        # A comma in an unquoted flow-style description makes a key of its own.
        assert set(option) <= SPEC_KEYS, f"{name}: unknown keys {set(option) - SPEC_KEYS}"
        assert name.startswith(f"{role}_"), f"{name} lacks the role prefix {role}_"


def _templated(value: Any) -> bool:
    if isinstance(value, list):
        return any(_templated(v) for v in value)
    if isinstance(value, dict):
        return any(_templated(v) for v in value.values())
    return isinstance(value, str) and "{{" in value


@pytest.mark.parametrize("role", ROLES)
def test_specs_carry_the_defaults_real_values_and_types(role: str, render: Any) -> None:
    wrong = []
    for name, option in _specs(role)["main"]["options"].items():
        default = role_defaults(role)[name]
        kind = option.get("type", "str")
        if _templated(default):
            try:
                value = render(default)
            except AnsibleError:
                # It needs a host (facts, hostvars, the inventory's folder): the spec
                # says so by naming no default.
                if "default" in option:
                    wrong.append(
                        f"{name}: needs a host to render, yet the spec says {option['default']!r}"
                    )
                continue
            if kind in ("int", "float", "bool") and isinstance(value, str):
                value = yaml.safe_load(value)
        else:
            value = default
        if (kind in TYPES and not isinstance(value, TYPES[kind])) or (
            kind in ("int", "float") and isinstance(value, bool)
        ):
            wrong.append(f"{name}: {value!r} is not of the spec's type {kind}")
        if "default" not in option:
            wrong.append(f"{name}: the spec names no default (it is {value!r})")
        elif option["default"] != value:
            wrong.append(f"{name}: the spec says {option['default']!r}, the default is {value!r}")
    assert not wrong, "\n".join(wrong)


@pytest.mark.parametrize("role", ROLES)
def test_entry_points_agree_with_main(role: str) -> None:
    specs = _specs(role)
    main = specs["main"]["options"]
    for entry, spec in specs.items():
        for name, option in (spec.get("options") or {}).items():
            if name in main:
                assert option == main[name], f"{entry}: {name} differs from main"
            else:
                assert option.get("description"), f"{entry}: {name} has no description"
                assert set(option) <= SPEC_KEYS, f"{entry}: {name}: unknown keys"


def test_the_seed_knobs_show_their_values_in_ansible_doc() -> None:
    options = _specs("celery_worker")["main"]["options"]
    assert (
        options["celery_worker_replicas"]["default"],
        options["celery_worker_concurrency"]["default"],
        options["celery_worker_pool"]["default"],
    ) == (2, 4, "prefork")


@pytest.mark.parametrize("role", ROLES)
def test_every_default_is_commented(role: str) -> None:
    """Each paragraph of defaults/main.yml starts with a comment: a variable shares the
    comment of the ones just above it (a small group), never one across a blank line."""
    lines = (REPO / "roles" / role / "defaults" / "main.yml").read_text().splitlines()
    commented = False
    for line in lines:
        if not line.strip():
            commented = False
        elif line.startswith("#"):
            commented = True
        elif re.match(r"^[a-z_]+:", line):
            assert commented, f"{role}: {line} has no comment"


@pytest.mark.parametrize("role", ROLES)
def test_role_has_readme_and_meta(role: str) -> None:
    assert (REPO / "roles" / role / "README.md").is_file()
    meta = yaml.safe_load((REPO / "roles" / role / "meta" / "main.yml").read_text())
    assert meta["galaxy_info"]["role_name"] == role
