"""Real photos in, correct names out, through the deployed fleet.

On a multi-host fleet the batch goes from the controller (this test process) to the
Redis host's private address, as `facefleet submit` does for an operator. Where
Redis listens on loopback only (the single-host install), the same CLI runs on the host.
"""

from __future__ import annotations

import io
import json

from conftest import FACES, controller_settings, host, private_address, role_vars, run_ok

KNOWN = {"obama": ["obama.jpg", "obama2.jpg"], "biden": ["biden.jpg", "biden2.jpg"]}
BATCH = [
    "two_people.jpg",
    "obama_and_biden.jpg",
    "obama1.jpg",
    "lin_manuel_miranda.png",
]
EXPECTED = {  # names left to right; None for nobody enrolled
    "two_people.jpg": ["obama", "biden"],
    "obama_and_biden.jpg": ["biden", "obama", None],
    "obama1.jpg": ["obama"],
    "lin_manuel_miranda.png": [None],
}


def _names(result: dict) -> list[str | None]:
    return [f["name"] for f in sorted(result["faces"], key=lambda f: f["box"][3])]


def _from_controller(redis_host: str, worker: str) -> list[dict]:
    from facefleet.celery_app import create_app
    from facefleet.gallery_store import GalleryStore
    from facefleet.pipeline import encode_single_face
    from facefleet.redis_client import connect
    from facefleet.submit import submit_files

    settings = controller_settings(redis_host)
    store = GalleryStore(connect(settings), settings.gallery_key)
    for person, photos in KNOWN.items():
        store.enroll(
            person,
            [encode_single_face((FACES / p).read_bytes(), settings, p) for p in photos],
            replace=True,
        )
    out = io.StringIO()
    summary = submit_files(
        create_app(settings),
        settings,
        [FACES / p for p in BATCH],
        out,
        task_timeout=300,
    )
    assert summary.lost == 0
    return [json.loads(line) for line in out.getvalue().splitlines()]


def _on_host(worker: str) -> list[dict]:
    node = host(worker)
    cli = f"{role_vars(worker)['app_venv']}/bin/facefleet"
    run_ok(node, "mkdir -p /tmp/facefleet-verify")
    for photo in sorted({p for photos in KNOWN.values() for p in photos} | set(BATCH)):
        copied = node.ansible(
            "copy", f"src={FACES / photo} dest=/tmp/facefleet-verify/{photo}", check=False
        )
        assert not copied.get("failed"), copied
        assert copied.get("dest") == f"/tmp/facefleet-verify/{photo}", copied
    for person, photos in KNOWN.items():
        run_ok(
            node,
            f"{cli} enroll --replace {person} "
            + " ".join(f"/tmp/facefleet-verify/{p}" for p in photos),
        )
    run_ok(node, "rm -f /tmp/facefleet-verify.jsonl")
    run_ok(
        node,
        f"{cli} submit --out /tmp/facefleet-verify.jsonl "
        + " ".join(f"/tmp/facefleet-verify/{p}" for p in BATCH),
    )
    return [
        json.loads(line)
        for line in node.file("/tmp/facefleet-verify.jsonl").content_string.splitlines()
    ]


def test_batch_of_real_photos_gets_the_right_names(
    redis_host: str, worker_hosts: list[str]
) -> None:
    port = role_vars(redis_host)["redis_port"]
    reachable = host(redis_host).socket(f"tcp://{private_address(redis_host)}:{port}")
    results = (
        _from_controller(redis_host, worker_hosts[0])
        if reachable.is_listening
        else _on_host(worker_hosts[0])
    )
    by_photo = {r["image"].rsplit("/", 1)[-1]: r for r in results}
    assert set(by_photo) == set(BATCH)
    for photo, names in EXPECTED.items():
        assert by_photo[photo]["status"] == "ok", by_photo[photo]
        assert _names(by_photo[photo]) == names, photo
    workers = {r["worker"].split("@")[1] for r in results}
    assert workers <= set(worker_hosts)
