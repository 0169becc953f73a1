"""Helpers for the verifiers: hosts by group, and the roles' own variables.

As in bodsch/ansible-redis, the tests read the values the roles use (their defaults,
overridden by the scenario's inventory) instead of repeating literals, so a changed
default cannot leave a test asserting the old value.
"""

from __future__ import annotations

import functools
import io
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
from ansible.template import Templar
from testinfra.utils.ansible_runner import AnsibleRunner

REPO = Path(__file__).resolve().parents[3]
# The probes beside these tests, and the collection's own Python (worker identities):
# this checkout as facefleet.fleet (make controller links it).
# role_values (lab/): the roles' variables as Ansible reads them, shared with the unit tests.
sys.path[:0] = [
    str(Path(__file__).resolve().parents[1]),
    str(REPO / ".cache" / "collections"),
    str(REPO / "lab"),
]
from ansible_collections.facefleet.fleet.plugins.plugin_utils.workers import (  # noqa: E402
    worker_programs,
)
from probes import fetch_command, fetched  # noqa: E402
from role_values import all_role_defaults, trusted  # noqa: E402

init_plugin_loader()  # lookups in role defaults (env) need the collection loader

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


@functools.cache
def role_vars(name: str) -> dict[str, Any]:
    """A host's values of every role default, with its inventory variables on top."""
    merged = all_role_defaults()
    merged.update(vault())
    merged.update(runner().get_variables(name))
    merged.setdefault("groups", {g: hosts_in(g) for g in ("redis", "flower", "workers")})
    merged.setdefault("inventory_dir", str(Path(INVENTORY).parent))
    merged = trusted(merged)
    templar = Templar(loader=DataLoader(), variables=merged)
    resolved: dict[str, Any] = {}
    for key, value in merged.items():
        try:
            resolved[key] = templar.template(value)
        except AnsibleError:
            continue  # needs facts or hostvars: values these tests do not read
    return resolved


def declared_workers(name: str) -> dict[str, Any]:
    """The host's workers.fact: its workers, as the celery_worker role declared them,
    and the fleet's scale as it saved it."""
    fact = host(name).file(role_vars(name)["fleet_workers_file"])
    return json.loads(fact.content_string)


def saved_scale(name: str) -> dict[str, Any]:
    """The scale the celery_worker role applied and saved on the host."""
    return declared_workers(name)["scale"]


def host_workers(name: str) -> list[dict[str, Any]]:
    """`facefleet workers status` on the host: each worker's program, node, state, PID
    and memory, from supervisor and /proc."""
    settings = role_vars(name)
    cli = f"{settings['fleet_app_venv']}/bin/facefleet"
    out = run_ok(host(name), f"{cli} workers --file {settings['fleet_workers_file']} status --json")
    return json.loads(out)


def expected_workers(name: str) -> list[dict[str, Any]]:
    """The workers the host should run by its saved scale, named by the one function that
    names them (the collection's plugin_utils/workers.py)."""
    settings = role_vars(name)
    return worker_programs(
        name,
        saved_scale(name)["host_workers"],
        0,
        settings["celery_worker_program_prefix"],
        settings["celery_worker_node_prefix"],
    )


def controller_settings() -> Any:
    """App settings for talking to the fleet from this controller, as an operator would:
    the file deploy.yml wrote for this controller's CLI (TLS and all)."""
    from facefleet.settings import load_settings

    inventory = Path(INVENTORY).parent.name
    return load_settings(environ={}, config_path=Path.home() / ".facefleet" / f"{inventory}.toml")


def playbook(name: str, *extra: str) -> subprocess.CompletedProcess[str]:
    """``ansible-playbook playbooks/<name>`` against this scenario, as an operator runs it."""
    env = dict(os.environ, ANSIBLE_CONFIG=str(REPO / "ansible.cfg"), ANSIBLE_FORCE_COLOR="0")
    return subprocess.run(
        ["ansible-playbook", "-i", INVENTORY, f"playbooks/{name}", *extra],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )


# The people the batch tests enrol, from their photos in FACES, and the names each test
# photo must get, left to right (None: nobody enrolled).
KNOWN = {"obama": ["obama.jpg", "obama2.jpg"], "biden": ["biden.jpg", "biden2.jpg"]}
EXPECTED = {
    "two_people.jpg": ["obama", "biden"],
    "obama_and_biden.jpg": ["biden", "obama", None],
    "obama1.jpg": ["obama"],
    "lin_manuel_miranda.png": [None],
}


def enrol_known(settings: Any) -> None:
    """Enrol KNOWN in the fleet's gallery, as `facefleet enroll --replace` does."""
    from facefleet.gallery_store import GalleryStore
    from facefleet.pipeline import encode_single_face
    from facefleet.redis_client import connect

    store = GalleryStore(connect(settings), settings.gallery_key)
    for person, photos in KNOWN.items():
        store.enroll(
            person,
            [encode_single_face((FACES / p).read_bytes(), settings, p) for p in photos],
            replace=True,
        )


def named_batch(settings: Any) -> dict[str, dict[str, Any]]:
    """Send the EXPECTED photos through the fleet; each photo's result, all checked
    for the names EXPECTED gives it."""
    from facefleet.celery_app import create_app
    from facefleet.submit import submit_files

    out = io.StringIO()
    summary = submit_files(
        create_app(settings), settings, [FACES / p for p in EXPECTED], out, task_timeout=300
    )
    assert summary.lost == 0
    by_photo = {
        r["image"].rsplit("/", 1)[-1]: r for r in map(json.loads, out.getvalue().splitlines())
    }
    assert set(by_photo) == set(EXPECTED)
    for photo, names in EXPECTED.items():
        assert by_photo[photo]["status"] == "ok", by_photo[photo]
        faces = sorted(by_photo[photo]["faces"], key=lambda f: f["box"][3])
        assert [f["name"] for f in faces] == names, photo
    return by_photo


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
    port = int(settings[f"fleet_{scheme}_port"])
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
