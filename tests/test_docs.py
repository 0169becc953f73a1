"""The docs name only what exists: every playbook, make target, role variable and repository
path that a README mentions is in the tree. A renamed variable or a moved file fails here
instead of leaving the README behind."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml
from conftest import REPO

DOCS = sorted(
    p
    for p in [REPO / "README.md", *REPO.glob("*/README.md"), *REPO.glob("*/*/README.md")]
    # The project's own docs: none of the hidden folders tools make (.venv, .cache,
    # .pytest_cache), whose READMEs are theirs.
    if not any(part.startswith(".") for part in p.relative_to(REPO).parts)
)
TOP_LEVEL = {p.name for p in REPO.iterdir() if not p.name.startswith(".")}
ROLE_PREFIXES = sorted((p.name for p in (REPO / "roles").iterdir()), key=len, reverse=True)
PLACEHOLDER = re.compile(r"[<>*{}$]|\.\.\.|…")
# Paths the README's own steps create (cp -r inventory/production.example inventory/production).
CREATED_BY_THE_STEPS = ("inventory/production",)


def _code_spans(text: str) -> list[str]:
    """Inline `code` and the lines of fenced blocks."""
    spans = re.findall(r"`([^`\n]+)`", re.sub(r"```.*?```", "", text, flags=re.S))
    for block in re.findall(r"```[a-z]*\n(.*?)```", text, flags=re.S):
        spans += block.splitlines()
    return spans


def _known_variables() -> set[str]:
    # A role's own name (redis_sentinel) is no variable, but a word the docs may use.
    names: set[str] = {role.name for role in (REPO / "roles").iterdir()}
    for role in (REPO / "roles").iterdir():
        names |= set(yaml.safe_load((role / "defaults" / "main.yml").read_text()) or {})
        specs = yaml.safe_load((role / "meta" / "argument_specs.yml").read_text())
        for entry in specs["argument_specs"].values():
            names |= set(entry.get("options") or {})
    # Inventory and playbook variables, facts the roles set, and the vault's secrets
    # (which the roles and inventories read).
    yaml_files = [
        *REPO.glob("inventory/*/group_vars/all/main.yml"),
        *REPO.glob("playbooks/**/*.yml"),
        *REPO.glob("roles/*/tasks/*.yml"),
    ]
    for path in yaml_files:
        text = path.read_text()
        names |= set(re.findall(r"^\s*(?:# )?([a-z][a-z0-9_]+):", text, flags=re.M))
    for path in [*yaml_files, *REPO.glob("roles/*/defaults/main.yml")]:
        names |= set(re.findall(r"\b(vault_[a-z_]+)\b", path.read_text()))
    return names


def _make_targets() -> set[str]:
    makefile = (REPO / "Makefile").read_text()
    return set(re.findall(r"^([a-z][a-z0-9-]*):", makefile, flags=re.M))


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: str(p.relative_to(REPO)))
def test_named_playbooks_and_paths_exist(doc: Path) -> None:
    missing = []
    for span in _code_spans(doc.read_text()):
        for word in re.findall(r"[\w./-]+", span):
            path = word.rstrip(".,:;)")
            first = path.split("/", 1)[0]
            if "/" not in path or first not in TOP_LEVEL or PLACEHOLDER.search(span):
                continue
            if path.split("/")[:2] == CREATED_BY_THE_STEPS[0].split("/"):
                continue
            # Relative to the doc (a role's README names its own files), to the
            # repository, or to every role (the main README on all roles at once).
            bases = [doc.parent, REPO, *(REPO / "roles").iterdir()]
            if not any((base / path).exists() for base in bases):
                missing.append(path)
    where = doc.relative_to(REPO)
    assert missing == [], f"{where} names paths that do not exist: {sorted(set(missing))}"


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: str(p.relative_to(REPO)))
def test_named_make_targets_exist(doc: Path) -> None:
    targets = _make_targets()
    named = set()
    for span in _code_spans(doc.read_text()):
        named |= set(re.findall(r"\bmake ([a-z][a-z0-9-]*)", span))
    where = doc.relative_to(REPO)
    assert named - targets == set(), f"{where} names make targets that do not exist"


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: str(p.relative_to(REPO)))
def test_named_variables_exist(doc: Path) -> None:
    known = _known_variables()
    # A role-prefixed word that is not a file name (fleet_status.py is a module).
    # (facefleet.fleet.fleet_report is a filter: the next test checks those.)
    pattern = re.compile(
        rf"(?<!facefleet\.fleet\.)\b((?:{'|'.join(ROLE_PREFIXES)}|vault)_[a-z0-9_]+)\b(?!\.\w)"
    )
    named = set()
    for span in _code_spans(doc.read_text()):
        named |= set(pattern.findall(span))
    where = doc.relative_to(REPO)
    assert sorted(named - known) == [], f"{where} names variables no role or inventory has"


def _collection_names() -> set[str]:
    """What facefleet.fleet.<name> may be: a role, a playbook, a module or a filter."""
    names = {p.name for p in (REPO / "roles").iterdir()}
    names |= {p.stem for p in (REPO / "playbooks").glob("*.yml")}
    names |= {p.stem for p in (REPO / "plugins" / "modules").glob("*.py")}
    for plugin in (REPO / "plugins" / "filter").glob("*.py"):
        body = plugin.read_text().split("def filters", 1)[-1]
        names |= set(re.findall(r'"([a-z_]+)":', body))
    return names


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: str(p.relative_to(REPO)))
def test_named_collection_contents_exist(doc: Path) -> None:
    named = set()
    for span in _code_spans(doc.read_text()):
        named |= set(re.findall(r"\bfacefleet\.fleet\.([a-z_]+)", span))
    where = doc.relative_to(REPO)
    assert sorted(named - _collection_names()) == [], f"{where} names what the collection lacks"


def test_the_docs_are_found() -> None:
    assert REPO / "README.md" in DOCS
    assert len([d for d in DOCS if d.parent.parent.name == "roles"]) == len(ROLE_PREFIXES)
