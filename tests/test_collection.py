"""The facefleet.fleet collection as a release: `ansible-galaxy collection build` of this
checkout, an offline install into a temporary folder, and what an operator who installs it
sees: its playbooks by their collection names from a folder outside the repository,
ansible-doc with the real defaults, and ansible-test's sanity tests that run offline. (The
cluster scenario deploys the Molecule fleet from the same kind of install.)"""

from __future__ import annotations

import ast
import json
import os
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest
import yaml
from conftest import REPO, ROLES

BIN = Path(sys.executable).parent
# ansible-test's sanity tests that need no virtual environment of their own (the others
# bootstrap pip from ci-files.testing.ansible.com, which this machine cannot reach; ruff,
# yamllint and ansible-lint in `make lint` cover that ground).
OFFLINE_SANITY = [
    "action-plugin-docs",
    "changelog",
    "compile",
    "empty-init",
    "ignores",
    "line-endings",
    "no-assert",
    "no-get-exception",
    "no-illegal-filenames",
    "no-smart-quotes",
    "replace-urlopen",
    "shebang",
    "symlinks",
    "use-argspec-type-path",
    "use-compat-six",
]


def _run(args: list[str], cwd: Path, collections: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANSIBLE_")}
    env.update(ANSIBLE_COLLECTIONS_PATH=str(collections), ANSIBLE_FORCE_COLOR="0")
    done = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, check=False)
    assert done.returncode == 0, f"{' '.join(args)}:\n{done.stdout}\n{done.stderr}"
    return done


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(the release tarball, the folder it was installed into)."""
    work = tmp_path_factory.mktemp("collection")
    dist, collections = work / "dist", work / "installed"
    _run(
        [str(BIN / "ansible-galaxy"), "collection", "build", "--output-path", str(dist), str(REPO)],
        work,
        collections,
    )
    (tarball,) = dist.glob("facefleet-fleet-*.tar.gz")
    _run(
        [
            str(BIN / "ansible-galaxy"),
            "collection",
            "install",
            "--offline",
            "-p",
            str(collections),
            str(tarball),
        ],
        work,
        collections,
    )
    return tarball, collections


def test_the_release_holds_the_collection_and_not_the_workbench(
    installed: tuple[Path, Path],
) -> None:
    tarball, _ = installed
    with tarfile.open(tarball) as archive:
        names = archive.getnames()
    tops = {name.split("/")[0] for name in names}
    assert {"roles", "plugins", "playbooks", "meta", "app", "MANIFEST.json"} <= tops
    assert not tops & {".venv", ".cache", "tests", "molecule", "lab", "bench", ".git"}
    assert not [
        n for n in names if "__pycache__" in n or n.startswith(("app/tests", "inventory/lab"))
    ]
    for role in ROLES:
        assert f"roles/{role}/meta/argument_specs.yml" in names


def test_a_playbook_outside_the_repository_finds_everything_in_the_install(
    installed: tuple[Path, Path], tmp_path: Path
) -> None:
    _, collections = installed
    listing = _run(
        [str(BIN / "ansible-galaxy"), "collection", "list", "facefleet.fleet", "--format", "json"],
        tmp_path,
        collections,
    )
    assert list(json.loads(listing.stdout)) == [str(collections / "ansible_collections")]
    # An operator's own site playbook, in a folder of their own, with an inventory of
    # their own: every role, filter and playbook it reaches must resolve in the install.
    (tmp_path / "site.yml").write_text(
        "- name: Deploy facefleet\n  ansible.builtin.import_playbook: facefleet.fleet.deploy\n"
        "- name: Scale it\n  ansible.builtin.import_playbook: facefleet.fleet.scale\n"
        "- name: Show it\n  ansible.builtin.import_playbook: facefleet.fleet.status\n"
    )
    shutil.copytree(REPO / "inventory" / "production.example", tmp_path / "inventory")
    _run(
        [str(BIN / "ansible-playbook"), "-i", "inventory", "site.yml", "--syntax-check"],
        tmp_path,
        collections,
    )
    plan = _run(
        [
            str(BIN / "ansible"),
            "localhost",
            "-m",
            "ansible.builtin.debug",
            "-a",
            json.dumps(
                {
                    "msg": "{{ {'ansible_facts': {'all_ipv4_addresses': ['192.0.2.7', '10.9.8.7']}}"
                    " | facefleet.fleet.fleet_address('10.9.0.0/16') }}"
                }
            ),
        ],
        tmp_path,
        collections,
    )
    assert '"msg": "10.9.8.7"' in plan.stdout, plan.stdout


def test_ansible_doc_shows_the_seed_knobs_defaults(
    installed: tuple[Path, Path], tmp_path: Path
) -> None:
    _, collections = installed
    doc = _run(
        [
            str(BIN / "ansible-doc"),
            "-t",
            "role",
            "--json",
            "-e",
            "main",
            "facefleet.fleet.celery_worker",
        ],
        tmp_path,
        collections,
    )
    options = json.loads(doc.stdout)["facefleet.fleet.celery_worker"]["entry_points"]["main"][
        "options"
    ]
    knobs = ("celery_worker_replicas", "celery_worker_concurrency", "celery_worker_pool")
    assert [options[k]["default"] for k in knobs] == [2, 4, "prefork"]


def test_ansible_test_sanity_offline(installed: tuple[Path, Path]) -> None:
    _, collections = installed
    root = collections / "ansible_collections" / "facefleet" / "fleet"
    args = [
        str(BIN / "ansible-test"),
        "sanity",
        "--python",
        f"{sys.version_info[0]}.{sys.version_info[1]}",
    ]
    for test in OFFLINE_SANITY:
        args += ["--test", test]
    done = _run(args, root, collections)
    assert done.stdout.count("Running sanity test") == len(OFFLINE_SANITY), done.stdout


@pytest.mark.parametrize(
    "module", sorted(p.stem for p in (REPO / "plugins" / "modules").glob("*.py")), ids=str
)
def test_each_module_documents_its_options_as_its_argument_spec_takes_them(module: str) -> None:
    """ansible-doc and ansible-lint only warn when a module's DOCUMENTATION is not YAML
    (a stray ': ' in a description did it once); here it fails."""
    tree = ast.parse((REPO / "plugins" / "modules" / f"{module}.py").read_text())
    texts = {
        node.targets[0].id: node.value.value
        for node in tree.body
        if isinstance(node, ast.Assign)
        and isinstance(node.targets[0], ast.Name)
        and isinstance(node.value, ast.Constant)
    }
    documentation = yaml.safe_load(texts["DOCUMENTATION"])
    assert documentation["module"] == module
    assert isinstance(yaml.safe_load(texts["EXAMPLES"]), list)
    assert isinstance(yaml.safe_load(texts["RETURN"]), dict)
    options = documentation["options"]
    source = (REPO / "plugins" / "modules" / f"{module}.py").read_text()
    for name in options:
        assert f'"{name}": {{' in source, f"{name} is documented but not in the argument spec"
