"""Secrets: generated once per inventory by playbooks/secrets.yml, encrypted, and the lab's
(committed on purpose) never appear in clear anywhere else in the repository."""

from __future__ import annotations

import os
import stat
import subprocess
from pathlib import Path

import pytest
import yaml
from ansible.parsing.vault import VaultLib, VaultSecret
from conftest import REPO

KEYS = [
    "vault_redis_password",
    "vault_redis_admin_password",
    "vault_redis_exporter_password",
    "vault_flower_user",
    "vault_flower_password",
]


def _run(inventory: Path, home: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["ansible-playbook", "playbooks/secrets.yml", "-e", f"secrets_inventory={inventory}"],
        cwd=REPO,
        capture_output=True,
        text=True,
        env=dict(os.environ, HOME=str(home), ANSIBLE_CONFIG=str(REPO / "ansible.cfg")),
    )


def _decrypt(vault_file: Path, password_file: Path) -> dict[str, str]:
    class Loader(yaml.SafeLoader):
        pass

    Loader.add_constructor("!vault", lambda loader, node: loader.construct_scalar(node))
    secret = VaultSecret(password_file.read_text().strip().encode())
    vault = VaultLib([("production", secret)])
    encrypted = yaml.load(vault_file.read_text(), Loader=Loader)  # a SafeLoader
    return {k: vault.decrypt(v).decode() for k, v in encrypted.items()}


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, str]:
    root = tmp_path_factory.mktemp("secrets")
    inventory = root / "production"
    (inventory / "group_vars" / "all").mkdir(parents=True)
    first = _run(inventory, root / "home")
    assert first.returncode == 0, first.stdout + first.stderr
    return inventory, root / "home" / ".facefleet" / "production.vault-pass", first.stdout


def test_every_secret_is_generated_and_encrypted(generated: tuple[Path, Path, str]) -> None:
    inventory, password_file, _ = generated
    vault_file = inventory / "group_vars" / "all" / "vault.yml"
    text = vault_file.read_text()
    values = _decrypt(vault_file, password_file)
    assert list(values) == KEYS
    for key in KEYS:
        assert values[key] not in text  # only ciphertext on disk
    passwords = [values[k] for k in KEYS if k.endswith("password")]
    assert len(set(passwords)) == len(passwords)
    assert all(len(p) >= 32 and p.isalnum() for p in passwords)
    assert stat.S_IMODE(vault_file.stat().st_mode) == 0o600
    assert stat.S_IMODE(password_file.stat().st_mode) == 0o600


def test_a_second_run_keeps_the_secrets(generated: tuple[Path, Path, str]) -> None:
    inventory, password_file, _ = generated
    vault_file = inventory / "group_vars" / "all" / "vault.yml"
    before = (vault_file.read_bytes(), password_file.read_bytes())
    again = _run(inventory, password_file.parent.parent)
    assert again.returncode == 0, again.stdout + again.stderr
    assert "changed=0" in again.stdout
    assert (vault_file.read_bytes(), password_file.read_bytes()) == before


def test_the_lab_inventory_is_refused(tmp_path: Path) -> None:
    result = _run(REPO / "inventory" / "lab", tmp_path)
    assert result.returncode != 0
    assert "not the lab" in result.stdout


def test_lab_secrets_appear_in_clear_in_no_committed_file() -> None:
    view = subprocess.run(
        ["ansible-vault", "view", "inventory/lab/group_vars/all/vault.yml"],
        cwd=REPO,
        check=True,
        capture_output=True,
        text=True,
        env=dict(os.environ, ANSIBLE_CONFIG=str(REPO / "ansible.cfg")),
    ).stdout
    secrets = [v for k, v in yaml.safe_load(view).items() if k.endswith("password")]
    assert len(secrets) == 4
    tracked = subprocess.run(
        ["git", "ls-files", "-z"], cwd=REPO, check=True, capture_output=True, text=True
    ).stdout.split("\0")
    for name in filter(None, tracked):
        path = REPO / name
        if not path.is_file():
            continue
        data = path.read_bytes()
        for secret in secrets:
            assert secret.encode() not in data, f"a lab secret is in clear in {name}"
