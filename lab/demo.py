"""The end of `make demo`: enrol the people of app/bench/photos.py, send a batch of the
shared photos through the lab fleet from this controller, and print what came back.

It talks to the lab as an operator's controller talks to a fleet (lab/fleet.py): to
Redis at the redis host's fleet address, with the settings deploy.yml wrote for this
controller.
"""

from __future__ import annotations

import io
import json
import os
import sys
from pathlib import Path

from facefleet.celery_app import create_app
from facefleet.fleet_status import fleet_status
from facefleet.gallery_store import GalleryStore
from facefleet.pipeline import encode_single_face
from facefleet.redis_client import connect
from facefleet.settings import Settings
from facefleet.submit import submit_files
from fleet import REPO, Fleet
from photos import FACES, KNOWN
from role_values import role_default

BATCH = [
    "two_people.jpg",
    "obama_and_biden.jpg",
    "obama1.jpg",
    "obama3.jpg",
    "biden2.jpg",
    "kit_with_rose.jpg",
    "kit_harington3.jpg",
    "rose_leslie2.jpg",
    "lin_manuel_miranda.png",
    "astronaut.png",
]


def enrol(settings: Settings) -> GalleryStore:
    """Enrol the KNOWN people from their photos (again: replacing what is there)."""
    store = GalleryStore(connect(settings), settings.gallery_key)
    for person, photos in KNOWN.items():
        encodings = [encode_single_face((FACES / p).read_bytes(), settings, p) for p in photos]
        store.enroll(person, encodings, replace=True)
    return store


def main() -> int:
    fleet = Fleet.from_inventory()
    settings = fleet.settings
    store = enrol(settings)
    print(f"demo: enrolled {', '.join(f'{k} ({v})' for k, v in store.people().items())}")

    app = create_app(settings)
    out = io.StringIO()
    summary = submit_files(app, settings, [FACES / p for p in BATCH], out, task_timeout=300)
    results = [json.loads(line) for line in out.getvalue().splitlines()]
    results_file = REPO / ".cache" / "demo-results.jsonl"
    results_file.write_text(out.getvalue())

    print(f"\n{'image':<24} {'status':<7} {'names, left to right':<38} worker")
    for result in sorted(results, key=lambda r: r["image"]):
        faces = sorted(result["faces"], key=lambda f: f["box"][3])
        names = ", ".join(f["name"] or "(unknown)" for f in faces) or "-"
        print(
            f"{Path(result['image']).name:<24} {result['status']:<7} {names:<38} "
            f"{result.get('worker', '')}"
        )
    print(f"\n{summary.line()}")
    print(f"results: {results_file}")

    status = fleet_status(app, settings)
    print(
        f"fleet: {len(status['workers'])} workers, capacity {status['capacity']}, "
        f"queue depth {status['queue_depth']}"
    )
    flower = fleet.web_base
    print(
        f"\nFlower: {flower}/{role_default('fleet_flower_prefix')}/  user and password: "
        "ansible-vault view inventory/lab/group_vars/all/vault.yml (vault_flower_user, "
        "vault_flower_password); its certificate is signed by the lab's CA, "
        f"~/.facefleet/{fleet.name}/pki/ca.crt"
    )
    if fleet.groups.get(role_default("fleet_monitoring_group")):
        print(
            f"Graphs: {flower}/{role_default('fleet_overview_prefix')}/  (the last hour; "
            f"Prometheus at /{role_default('fleet_prometheus_prefix')}/, Alertmanager at "
            f"/{role_default('fleet_alertmanager_prefix')}/, same user and password)"
        )
        inventory = os.path.relpath(fleet.inventory)
        print(f"Logs:   .venv/bin/facefleet logs -i {inventory} -n 20   (without -n: follow)")
    print(
        f"Try:    FACEFLEET_CONFIG=~/.facefleet/{fleet.name}.toml .venv/bin/facefleet submit "
        "../shared/data/faces --out /tmp/out.jsonl"
    )
    print("        ansible-playbook playbooks/scale.yml -e workers=5   (or -e profile=medium)")
    print("        ansible-playbook playbooks/status.yml")
    print("        make lab-down   (removes the lab)")
    return 0 if summary.lost == 0 and summary.error == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
