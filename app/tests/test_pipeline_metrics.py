"""The pipeline's metrics: counted once per image by the pool process that analysed it,
and served by the exporter, from a real prefork worker and a real redis-server."""

from __future__ import annotations

import io
import json
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from conftest import WORKER_LIMITS, Worker, answering_worker
from prometheus_client.exposition import generate_latest
from prometheus_client.parser import text_string_to_metric_families
from sample_files import BAD_INPUTS, write_bad_inputs

from facefleet.celery_app import create_app
from facefleet.core.analysis import analyze_bytes
from facefleet.core.gallery import Gallery
from facefleet.gallery_store import GalleryStore
from facefleet.metrics_exporter import registry_for
from facefleet.pipeline import analysis_options, engine_for
from facefleet.pipeline_metrics import WorkerFigures, error_reason, publish_host
from facefleet.settings import Settings, replace
from facefleet.submit import submit_files
from facefleet.tasks import ANALYZE_STORED_IMAGE

EXPECTED_REASONS = {
    "empty.jpg": "empty",
    "truncated.jpg": "corrupt",
    "corrupt.jpg": "corrupt",
    "notes.txt": "not_an_image",
    "program.bin": "not_an_image",
    "fake.png": "not_an_image",
    "bomb_header.png": "too_large",
    "bomb_pixels.png": "too_large",
    "oversized.jpg": "too_large",
}


def samples(registry) -> dict[tuple[str, frozenset], float]:
    """Every sample the registry serves, parsed back from Prometheus' text format."""
    text = generate_latest(registry).decode()
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def total(found: dict, name: str, **labels: str) -> float:
    want = set(labels.items())
    return sum(v for (n, lab), v in found.items() if n == name and want <= lab)


def test_every_bad_input_has_a_reason_label(
    tmp_path: Path, faces: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from PIL import ImageFile

    # face_recognition, which other tests import as their reference, turns this on for
    # the whole process at import; the workers never import it.
    monkeypatch.setattr(ImageFile, "LOAD_TRUNCATED_IMAGES", False)
    assert set(EXPECTED_REASONS) == set(BAD_INPUTS)
    folder = write_bad_inputs(
        tmp_path, faces / "obama.jpg", WORKER_LIMITS["max_image_bytes"],
        WORKER_LIMITS["max_image_pixels"],
    )  # fmt: skip
    settings = replace(Settings(), **WORKER_LIMITS)
    options = analysis_options(settings)
    for name, reason in EXPECTED_REASONS.items():
        data = (folder / name).read_bytes()
        result = analyze_bytes(name, data, engine_for(settings), Gallery(), options)
        assert result["status"] == "error", name
        assert error_reason(result["error"]) == reason, (name, result["error"])
    assert error_reason("took longer than the 120 s time limit") == "timeout"
    assert error_reason("something nobody foresaw") == "other"


@pytest.fixture(scope="module")
def prefork(redis_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Worker]:
    log = tmp_path_factory.mktemp("metrics-worker") / "prefork.log"
    worker = answering_worker("prefork", redis_url, log)
    yield worker
    worker.stop()


@pytest.mark.slow
def test_each_image_is_counted_once_across_pool_processes(
    prefork: Worker, redis_url: str, faces: Path, tmp_path: Path
) -> None:
    settings = Settings(redis_url=redis_url, **WORKER_LIMITS)
    client = redis.Redis.from_url(redis_url)
    for key in client.scan_iter(match=f"{settings.metrics_key_prefix}:*"):
        client.delete(key)
    photos = sorted(p for p in faces.iterdir() if p.suffix == ".jpg")
    files = []
    for copy in range(2):
        folder = tmp_path / f"copy{copy}"
        folder.mkdir()
        files += [Path(shutil.copy(p, folder / p.name)) for p in photos]
    bad = write_bad_inputs(tmp_path / "bad", faces / "obama.jpg", 10**9, 10**9)
    files += sorted(p for p in bad.iterdir() if p.name in EXPECTED_REASONS)

    out = io.StringIO()
    submit_files(create_app(settings), settings, files, out, window=16, task_timeout=300)
    results = [json.loads(line) for line in out.getvalue().splitlines()]
    analysed = [r for r in results if r.get("worker") == prefork.node]
    assert len({r["pid"] for r in analysed}) > 1, "the batch should spread over the children"

    found = samples(registry_for(client, settings, create_app(settings)))
    node = {"node": prefork.node, "host": "localhost"}
    ok = [r for r in analysed if r["status"] == "ok"]
    errors = [r for r in analysed if r["status"] == "error"]
    assert total(found, "facefleet_images_total", outcome="ok", **node) == len(ok)
    assert total(found, "facefleet_images_total", outcome="error", **node) == len(errors)
    by_reason: dict[str, int] = {}
    for result in errors:
        reason = error_reason(result["error"])
        by_reason[reason] = by_reason.get(reason, 0) + 1
    for reason, count in by_reason.items():
        assert total(found, "facefleet_image_errors_total", reason=reason, **node) == count
    faces_found = sum(len(r["faces"]) for r in ok)
    assert total(found, "facefleet_faces_per_image_sum", **node) == faces_found
    assert total(found, "facefleet_faces_per_image_count", **node) == len(ok)
    assert total(found, "facefleet_step_seconds_count", step="detect", **node) == len(ok)
    detect_s = sum(r["timings_ms"]["detect"] for r in ok) / 1000
    assert total(found, "facefleet_step_seconds_sum", step="detect", **node) == pytest.approx(
        detect_s, rel=1e-6
    )
    infinity = {("le", "+Inf"), ("step", "detect"), *node.items()}
    assert found[("facefleet_step_seconds_bucket", frozenset(infinity))] == len(ok)
    assert total(found, "facefleet_workers_answering", host="localhost") == 1
    assert total(found, "facefleet_queue_depth", queue=settings.queue) == 0
    assert total(found, "facefleet_exporter_redis_up") == 1


@pytest.mark.slow
def test_a_task_that_runs_again_is_counted_once(
    prefork: Worker, redis_url: str, faces: Path
) -> None:
    """kombu delivers a task again when its worker died before acknowledging it; if the
    task had finished, it runs twice under one id. The images are counted once, the
    second run as redelivered."""
    from facefleet.image_store import ImageStore

    settings = Settings(redis_url=redis_url, **WORKER_LIMITS)
    client = redis.Redis.from_url(redis_url)
    for key in client.scan_iter(match=f"{settings.metrics_key_prefix}:*"):
        client.delete(key)
    store = ImageStore(client, settings.image_key_prefix)
    key = store.new_key()
    store.put(key, (faces / "obama.jpg").read_bytes(), ttl=300)
    app = create_app(settings)
    task_id = f"redelivered-{time.time_ns()}"
    for _ in range(2):
        result = app.send_task(ANALYZE_STORED_IMAGE, args=("obama.jpg", key), task_id=task_id)
        assert result.get(timeout=120)["status"] == "ok"
        result.forget()  # the second get then waits for the second run
    found = samples(registry_for(client, settings, None))
    node = {"node": prefork.node, "host": "localhost"}
    assert total(found, "facefleet_images_total", **node) == 1
    assert total(found, "facefleet_tasks_redelivered_total", **node) == 1
    assert (
        0
        < client.ttl(f"{settings.metrics_key_prefix}:counted:{task_id}")
        <= (2 * settings.visibility_timeout)
    )


def test_oldest_waiting_task_age_and_host_figures(redis_url: str) -> None:
    """A queue nobody consumes: its depth, and the age from submit's header; the
    figures a host's memory guard writes, and the gallery's size."""
    settings = Settings(redis_url=redis_url, queue=f"nobody-{time.time_ns()}")
    client = redis.Redis.from_url(redis_url)
    app = create_app(settings)
    sent = float(client.time()[0]) - 100
    for index in range(3):
        app.send_task(
            ANALYZE_STORED_IMAGE, args=(f"img{index}", "key"), headers={"facefleet_sent": sent}
        )
    publish_host(
        client, settings.metrics_key_prefix, "hostA", planned=2, concurrency=4, budget_mb=500,
        workers=[
            WorkerFigures("celery1@hostA", "facefleet-worker-1", True, 612.5),
            WorkerFigures("celery2@hostA", "facefleet-worker-2", False, None),
        ],
    )  # fmt: skip
    found = samples(registry_for(client, settings, None))
    client.delete(settings.queue)
    assert total(found, "facefleet_queue_depth", queue=settings.queue) == 3
    assert total(found, "facefleet_queue_oldest_age_seconds", queue=settings.queue) >= 100
    assert total(found, "facefleet_workers_planned", host="hostA") == 2
    assert total(found, "facefleet_worker_concurrency", host="hostA") == 4
    assert total(found, "facefleet_worker_running", node="celery1@hostA") == 1
    assert total(found, "facefleet_worker_running", node="celery2@hostA") == 0
    mb = 1024 * 1024
    assert total(found, "facefleet_worker_memory_pss_bytes", node="celery1@hostA") == 612.5 * mb
    assert total(found, "facefleet_worker_memory_budget_bytes", node="celery1@hostA") == 500 * mb
    assert client.ttl(f"{settings.metrics_key_prefix}:host:hostA") > 0
    people = GalleryStore(client, settings.gallery_key).people()
    assert total(found, "facefleet_gallery_people") == len(people)
    assert total(found, "facefleet_gallery_encodings") == sum(people.values())


def test_the_exporter_says_when_redis_is_away() -> None:
    settings = Settings(redis_url="redis://127.0.0.1:1/0")
    client = redis.Redis.from_url(settings.redis_url, socket_connect_timeout=0.5)
    found = samples(registry_for(client, settings, None))
    assert found == {("facefleet_exporter_redis_up", frozenset()): 0}
