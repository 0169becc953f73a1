"""Real photos in, correct names out, through the deployed fleet: the batch goes from the
controller (this test process) to Redis at its fleet address, with the settings deploy.yml
wrote for this controller, as `facefleet submit` does for an operator."""

from __future__ import annotations

import io
import json

from conftest import FACES, controller_settings

KNOWN = {"obama": ["obama.jpg", "obama2.jpg"], "biden": ["biden.jpg", "biden2.jpg"]}
EXPECTED = {  # names left to right; None for nobody enrolled
    "two_people.jpg": ["obama", "biden"],
    "obama_and_biden.jpg": ["biden", "obama", None],
    "obama1.jpg": ["obama"],
    "lin_manuel_miranda.png": [None],
}


def _names(result: dict) -> list[str | None]:
    return [f["name"] for f in sorted(result["faces"], key=lambda f: f["box"][3])]


def test_batch_of_real_photos_gets_the_right_names(worker_hosts: list[str]) -> None:
    from facefleet.celery_app import create_app
    from facefleet.gallery_store import GalleryStore
    from facefleet.pipeline import encode_single_face
    from facefleet.redis_client import connect
    from facefleet.submit import submit_files

    settings = controller_settings()
    store = GalleryStore(connect(settings), settings.gallery_key)
    for person, photos in KNOWN.items():
        store.enroll(
            person,
            [encode_single_face((FACES / p).read_bytes(), settings, p) for p in photos],
            replace=True,
        )
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
        assert _names(by_photo[photo]) == names, photo
    workers = {r["worker"].split("@")[1] for r in by_photo.values()}
    assert workers <= set(worker_hosts)
