"""Unit tests for the Python that Ansible runs: the collection's plugins, imported as
Ansible imports them (ansible_collections.facefleet.fleet...), from this checkout."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from types import ModuleType

from ansible.plugins.loader import init_plugin_loader

REPO = Path(__file__).resolve().parents[1]
ROLES = sorted(p.name for p in (REPO / "roles").iterdir() if p.is_dir())
sys.path.insert(0, str(REPO / "lab"))  # role_values: the roles' variables as Ansible reads them

# This checkout as the facefleet.fleet collection: the same link `make controller` makes
# for ansible.cfg's collections_path.
COLLECTIONS = REPO / ".cache" / "collections"
_LINK = COLLECTIONS / "ansible_collections" / "facefleet" / "fleet"
if not _LINK.exists():
    _LINK.parent.mkdir(parents=True, exist_ok=True)
    _LINK.symlink_to(Path("../../../.."))
# Ansible's own collection loader, as ansible-playbook installs it, for every test.
init_plugin_loader([str(COLLECTIONS)])


def load(path: str, name: str) -> ModuleType:
    """A script that is no plugin (roles/app/files/build_wheelhouse.py), by its path."""
    spec = importlib.util.spec_from_file_location(name, REPO / path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def run_module(
    name: str, arguments: dict, *, check: bool = False, path_first: Path | None = None
) -> dict:
    """The result of the collection's module ``name`` (plugins/modules/<name>.py), run as
    Ansible runs it on a host: the module file, its arguments in a file (diff mode on).
    ``path_first`` goes first on PATH, for a stand-in command."""
    staged = {**arguments, "_ansible_check_mode": check, "_ansible_diff": True}
    with tempfile.NamedTemporaryFile("w", suffix=".json") as handle:
        json.dump({"ANSIBLE_MODULE_ARGS": staged}, handle)
        handle.flush()
        env = dict(os.environ, PYTHONPATH=str(COLLECTIONS))
        if path_first is not None:
            env["PATH"] = f"{path_first}{os.pathsep}{env['PATH']}"
        done = subprocess.run(
            [sys.executable, str(REPO / "plugins" / "modules" / f"{name}.py"), handle.name],
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
    return json.loads(done.stdout)
