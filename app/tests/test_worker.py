"""Real Celery workers (threads and prefork, concurrency 4) against a real redis-server."""

from __future__ import annotations

import io
import json
import shutil
from pathlib import Path

import pytest
import redis
from conftest import WORKER_LIMITS, Worker
from sample_files import BAD_INPUTS, UNUSUAL_GOOD, write_bad_inputs, write_unusual_good

from facefleet.celery_app import create_app
from facefleet.fleet_status import fleet_status
from facefleet.gallery_store import GalleryStore
from facefleet.pipeline import encode_single_face
from facefleet.settings import Settings, replace
from facefleet.submit import already_done, submit_files
from facefleet.tasks import ANALYZE_IMAGE, encode_payload

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def enrolled(redis_url: str, faces: Path) -> GalleryStore:
    settings = Settings(redis_url=redis_url)
    store = GalleryStore(redis.Redis.from_url(redis_url), settings.gallery_key)
    for name, photo in [("obama", "obama2.jpg"), ("biden", "biden2.jpg")]:
        store.enroll(
            name, [encode_single_face((faces / photo).read_bytes(), settings, photo)], replace=True
        )
    return store


def _pool_pids(app, node: str) -> set[int]:
    stats = app.control.inspect([node], timeout=2).stats()[node]
    return set(stats["pool"].get("processes") or [stats["pid"]])


def test_stats_show_pool_and_concurrency(worker: Worker, settings: Settings) -> None:
    status = fleet_status(create_app(settings), settings)
    mine = [w for w in status["workers"] if w["node"] == worker.node]
    assert len(mine) == 1
    assert (mine[0]["pool"], mine[0]["concurrency"]) == (worker.pool, 4)
    assert status["queue_depth"] == 0


def test_hundred_images_no_crash_no_loss(
    worker: Worker, settings: Settings, faces: Path, enrolled: GalleryStore, tmp_path: Path
) -> None:
    photos = sorted(p for p in faces.iterdir() if p.suffix in (".jpg", ".png"))
    files = []
    for copy in range(4):
        folder = tmp_path / f"copy{copy}"
        folder.mkdir()
        for photo in photos:
            files.append(Path(shutil.copy(photo, folder / photo.name)))
    assert len(files) >= 100
    out = io.StringIO()
    summary = submit_files(create_app(settings), settings, files, out, window=32, task_timeout=300)
    results = [json.loads(line) for line in out.getvalue().splitlines()]
    assert (summary.sent, summary.lost, summary.error) == (len(files), 0, 0)
    assert sorted(r["image"] for r in results) == sorted(map(str, files))
    assert {r["worker"] for r in results} == {worker.node}
    two = [r for r in results if r["image"].endswith("two_people.jpg")]
    for result in two:
        names = [f["name"] for f in sorted(result["faces"], key=lambda f: f["box"][3])]
        assert names == ["obama", "biden"]
    assert worker.proc.poll() is None


def test_a_batch_may_ask_for_exact_detection(
    worker: Worker, settings: Settings, faces: Path, enrolled: GalleryStore
) -> None:
    """The astronaut's mission patch is a "face" to HOG in colour (exact), not in grey."""
    app = create_app(settings)
    counts = {}
    for mode in ("fast", "exact"):
        out = io.StringIO()
        submit_files(app, settings, [faces / "astronaut.png"], out, detection=mode)
        counts[mode] = len(json.loads(out.getvalue())["faces"])
    assert counts == {"fast": 1, "exact": 2}
    wrong = app.send_task(
        ANALYZE_IMAGE, args=("x", encode_payload(b"x")), kwargs={"detection": "quick"}
    ).get(timeout=60)
    assert wrong["status"] == "error"
    assert "detection must be fast or exact" in wrong["error"]


def test_bad_batch_completes_and_worker_survives(
    worker: Worker, settings: Settings, faces: Path, enrolled: GalleryStore, tmp_path: Path
) -> None:
    app = create_app(settings)
    before = _pool_pids(app, worker.node)
    bad = write_bad_inputs(
        tmp_path / "bad",
        faces / "obama.jpg",
        WORKER_LIMITS["max_image_bytes"],
        WORKER_LIMITS["max_image_pixels"],
    )
    good = write_unusual_good(tmp_path / "good", faces / "obama.jpg")
    sent = {}
    for path in [*(bad / n for n in BAD_INPUTS), *(good / n for n in UNUSUAL_GOOD)]:
        # Straight to the worker: the submitter would refuse the oversized file itself.
        sent[path.name] = app.send_task(
            ANALYZE_IMAGE, args=(path.name, encode_payload(path.read_bytes()))
        )
    sent["not-base64"] = app.send_task(ANALYZE_IMAGE, args=("not-base64", "@@@"))
    results = {name: r.get(timeout=120) for name, r in sent.items()}
    for name, reason in BAD_INPUTS.items():
        assert results[name]["status"] == "error", name
        assert results[name]["error"].startswith(reason), results[name]["error"]
    for name in UNUSUAL_GOOD:
        assert [f["name"] for f in results[name]["faces"]] == ["obama"], name
    assert results["not-base64"]["error"] == "payload is not valid base64"
    assert worker.proc.poll() is None
    assert _pool_pids(app, worker.node) == before


def test_gallery_change_is_seen_without_restart(
    worker: Worker, settings: Settings, faces: Path, enrolled: GalleryStore
) -> None:
    app = create_app(settings)
    photo = faces / "kit_harington2.jpg"

    def name_of_kit() -> str | None:
        result = app.send_task(ANALYZE_IMAGE, args=(photo.name, encode_payload(photo.read_bytes())))
        return result.get(timeout=60)["faces"][0]["name"]

    assert name_of_kit() is None
    enrolled.enroll(
        "kit", [encode_single_face((faces / "kit_harington1.jpg").read_bytes(), settings, "kit")]
    )
    try:
        assert name_of_kit() == "kit"
    finally:
        enrolled.remove("kit")
    assert name_of_kit() is None


def test_submit_resumes_from_its_output(
    worker: Worker, settings: Settings, faces: Path, tmp_path: Path
) -> None:
    files = [
        faces / n
        for n in (
            "obama.jpg",
            "biden.jpg",
            "two_people.jpg",
            "rose_leslie1.jpg",
            "kit_harington1.jpg",
            "astronaut.png",
        )
    ]
    out = tmp_path / "results.jsonl"
    app = create_app(replace(settings))
    with out.open("w") as handle:
        submit_files(app, settings, files[:3], handle)
    with out.open("a") as handle:
        handle.write('{"image": "cut short by Ctrl-C')  # an interrupted last line
    done = already_done(out)
    assert done == {str(f) for f in files[:3]}
    with out.open("a") as handle:
        handle.write("\n")
        summary = submit_files(app, settings, files, handle, done=done)
    assert (summary.skipped, summary.sent) == (3, 3)
    assert already_done(out) == {str(f) for f in files}


def test_drain_leaves_nothing_in_flight_and_the_rest_queued(
    worker: Worker, settings: Settings, faces: Path
) -> None:
    from facefleet.fleet_status import drain_nodes, queue_depths

    app = create_app(settings)
    data = encode_payload((faces / "obama_and_biden.jpg").read_bytes())
    results = [app.send_task(ANALYZE_IMAGE, args=(f"drain-{i}", data)) for i in range(16)]
    while not any(r.ready() for r in results):
        pass
    try:
        assert drain_nodes(app, [worker.node], [settings.queue], timeout=120) == []
        inspect = app.control.inspect([worker.node], timeout=2)
        assert (inspect.active() or {}).get(worker.node, []) == []
        assert (inspect.reserved() or {}).get(worker.node, []) == []
        waiting = queue_depths(settings, [settings.queue])[settings.queue]
        assert waiting == sum(1 for r in results if not r.ready())
        assert waiting > 0
    finally:
        app.control.add_consumer(settings.queue, destination=[worker.node], reply=True)
    assert all(r.get(timeout=300)["status"] == "ok" for r in results)
