"""Unit tests for the Python that Ansible runs: the collection's plugins, imported as
Ansible imports them (ansible_collections.facefleet.fleet...), from this checkout."""

from __future__ import annotations

import importlib.util
import sys
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
