"""Bulk import against a real redis-server with a small maxmemory and a real worker:
submitters bound the bytes they keep in Redis, wait when Redis has no room, and send
again a task whose message was lost."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import redis
from conftest import Worker, _free_port, _wait_for, start_redis_server
from kombu.exceptions import OperationalError
from PIL import Image

from facefleet.celery_app import create_app
from facefleet.gallery_store import GalleryStore
from facefleet.pipeline import encode_single_face
from facefleet.redis_room import MIB, RedisMemory, refused_write, wait_reason, window_bytes
from facefleet.settings import Settings, load_settings, replace
from facefleet.submit import SubmitSummary, submit_files
from facefleet.tasks import ANALYZE_IMAGE, ANALYZE_STORED_IMAGE

pytestmark = pytest.mark.slow

# Large files, as a bulk import sends them: a real photo of Obama (910x1137) scaled
# 1.4 times and stored as an uncompressed PNG of 6.1 MB.
BIG_SCALE = 1.4
# What the workers accept here: the app's own defaults, not conftest's small limits.
BULK_LIMITS = {"FACEFLEET_MAX_IMAGE_BYTES": "20971520", "FACEFLEET_MAX_IMAGE_PIXELS": "40000000"}


def _settings(url: str, **changes: object) -> Settings:
    base = load_settings(environ={"FACEFLEET_REDIS_URL": url}, config_path=Path("/nonexistent"))
    return replace(base, **changes)


@pytest.fixture(scope="module")
def big_photos(tmp_path_factory: pytest.TempPathFactory, faces: Path) -> list[Path]:
    folder = tmp_path_factory.mktemp("big")
    with Image.open(faces / "obama.jpg") as photo:
        width, height = photo.size
        big = photo.convert("RGB").resize((int(width * BIG_SCALE), int(height * BIG_SCALE)))
    files = []
    for i in range(8):
        path = folder / f"obama-{i}.png"
        big.save(path, compress_level=0)
        files.append(path)
    return files


@contextmanager
def _redis(tmp_path: Path, *options: str) -> Iterator[str]:
    port = _free_port()
    proc = start_redis_server(tmp_path, "--port", str(port), "--appendonly", "no", *options)
    url = f"redis://127.0.0.1:{port}/0"
    try:
        _wait_for(lambda: redis.Redis.from_url(url).ping(), 10, "redis-server")
        yield url
    finally:
        proc.terminate()
        proc.wait(10)


@pytest.fixture
def small_redis(tmp_path: Path, faces: Path) -> Iterator[str]:
    """A redis-server with 256 MiB maxmemory and noeviction (the fleet's policy), with
    Obama enrolled."""
    with _redis(tmp_path, "--maxmemory", "256mb", "--maxmemory-policy", "noeviction") as url:
        settings = _settings(url)
        store = GalleryStore(redis.Redis.from_url(url), settings.gallery_key)
        photo = (faces / "obama2.jpg").read_bytes()
        store.enroll("obama", [encode_single_face(photo, settings, "obama2")], replace=True)
        yield url


def _start_worker(url: str, tmp_path: Path) -> Worker:
    worker = Worker("threads", url, tmp_path / "worker.log", concurrency=2, environ=BULK_LIMITS)
    app = create_app(_settings(url))

    def answers() -> bool:
        assert worker.proc.poll() is None, worker.logfile.read_text()
        return bool(app.control.ping([worker.node], timeout=0.5))

    _wait_for(answers, 60, "celery worker")
    return worker


class PeakMemory(threading.Thread):
    """Samples Redis' used memory every 20 ms until stopped."""

    def __init__(self, url: str) -> None:
        super().__init__(daemon=True)
        self.client = redis.Redis.from_url(url)
        self.peak = 0
        self.halt = threading.Event()

    def run(self) -> None:
        while not self.halt.is_set():
            self.peak = max(self.peak, RedisMemory.read(self.client).used)
            time.sleep(0.02)


def _names(output: str) -> list[set[str]]:
    records = [json.loads(line) for line in output.splitlines()]
    assert all(r["status"] == "ok" for r in records), records
    return [{f["name"] for f in r["faces"]} for r in records]


def test_the_wait_reasons() -> None:
    settings = Settings()
    gib = RedisMemory(used=100 * MIB, maxmemory=1024 * MIB)
    assert window_bytes(settings, gib) == 256 * MIB
    assert window_bytes(settings, RedisMemory(0, 0)) == 256 * MIB
    assert window_bytes(replace(settings, submit_window_bytes=10 * MIB), gib) == 10 * MIB
    assert wait_reason(settings, gib, 20 * MIB, own=0) is None
    assert wait_reason(settings, gib, 20 * MIB, own=200 * MIB) is None
    reason = wait_reason(settings, gib, 20 * MIB, own=250 * MIB)
    assert reason is not None
    assert reason.startswith("own window")
    # Redis at 58 %: another 20 MiB would pass 60 %; with nothing in flight, up to 90 %.
    busy = RedisMemory(used=600 * MIB, maxmemory=1024 * MIB)
    reason = wait_reason(settings, busy, 20 * MIB, own=10 * MIB)
    assert reason is not None
    assert "of its 1024 MiB maxmemory (59 %)" in reason
    assert wait_reason(settings, busy, 20 * MIB, own=0) is None
    full = RedisMemory(used=930 * MIB, maxmemory=1024 * MIB)
    assert wait_reason(settings, full, 1 * MIB, own=0) is not None


def _fill_until_refused(client: redis.Redis) -> redis.exceptions.OutOfMemoryError:
    for i in range(100):
        try:
            client.set(f"filler{i}", b"x" * 100_000)
        except redis.exceptions.OutOfMemoryError as exc:
            return exc
    pytest.fail("Redis accepted 10 MB with a maxmemory of 2 MB")


def test_a_write_redis_refuses_is_told_apart(tmp_path: Path) -> None:
    """The real exceptions: redis-py's, and what Celery's send_task raises for it."""
    with _redis(tmp_path, "--maxmemory", "2mb", "--maxmemory-policy", "noeviction") as url:
        client = redis.Redis.from_url(url)
        refusal = _fill_until_refused(client)
        assert "maxmemory" in (refused_write(refusal) or "")
        # Kombu wraps it: OperationalError("Command # 1 (LLEN celery) of pipeline ...").
        with pytest.raises(OperationalError) as sent:
            create_app(_settings(url)).send_task(ANALYZE_IMAGE, args=("x", "x" * 100_000))
        assert "maxmemory" in (refused_write(sent.value) or ""), repr(sent.value)
        client.close()
        assert refused_write(redis.exceptions.ConnectionError("gone")) is None


def test_two_submitters_share_redis_without_filling_it(
    small_redis: str, big_photos: list[Path], tmp_path: Path
) -> None:
    # Each submitter's own window alone (128 MiB, its whole batch) would let the two fill
    # Redis' 256 MiB: what keeps them under 60 % is Redis' used memory, which both read.
    settings = _settings(small_redis, submit_window_bytes=128 * MIB)
    files = big_photos * 2
    worker = _start_worker(small_redis, tmp_path)
    sampler = PeakMemory(small_redis)
    sampler.start()
    outputs = [io.StringIO(), io.StringIO()]
    summaries: list[SubmitSummary] = []

    def one(out: io.StringIO) -> None:
        summaries.append(submit_files(create_app(settings), settings, files, out))

    try:
        threads = [threading.Thread(target=one, args=(out,)) for out in outputs]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(300)
    finally:
        sampler.halt.set()
        worker.stop()
    assert len(summaries) == 2
    for summary, out in zip(summaries, outputs, strict=True):
        assert (summary.ok, summary.lost, summary.refused_writes) == (16, 0, 0), summary
        assert _names(out.getvalue()) == [{"obama"}] * 16
    assert sum(summary.room_waits for summary in summaries) > 0, "Redis' memory never held one"
    assert sampler.peak < 0.8 * 256 * MIB, f"peak {sampler.peak / MIB:.0f} MiB of 256"
    # Each image was deleted once its result was in.
    assert redis.Redis.from_url(small_redis).keys(f"{settings.image_key_prefix}:*") == []


def test_shrinking_redis_headroom_mid_submit_makes_the_submitter_wait_then_finish(
    small_redis: str, big_photos: list[Path], tmp_path: Path
) -> None:
    out = tmp_path / "results.jsonl"
    files = [str(path) for path in big_photos * 2]
    env = dict(
        os.environ,
        FACEFLEET_REDIS_URL=small_redis,
        FACEFLEET_CONFIG="/nonexistent",
        **BULK_LIMITS,
    )
    submitter = subprocess.Popen(
        [sys.executable, "-m", "facefleet.cli", "submit", "--out", str(out), *files],
        env=env,
        stderr=subprocess.PIPE,
        text=True,
    )
    client = redis.Redis.from_url(small_redis)
    # No worker yet: the queue fills up to the submitter's window (64 MiB: 10 photos of 16).
    _wait_for(lambda: client.llen("celery") >= 6, 60, "six queued tasks")
    used = RedisMemory.read(client).used
    client.config_set("maxmemory", used + MIB)
    time.sleep(3)
    worker = _start_worker(small_redis, tmp_path)
    try:
        _, stderr = submitter.communicate(timeout=300)
    finally:
        worker.stop()
    assert submitter.returncode == 0, stderr
    assert "Traceback" not in stderr
    assert "waits until it stays under 60 %; waiting" in stderr, stderr
    assert "summary: submitted 16, skipped 0 already done: ok 16, error 0" in stderr, stderr
    assert "lost 0" in stderr, stderr
    assert _names(out.read_text()) == [{"obama"}] * 16


def test_a_task_whose_message_is_lost_is_sent_again(
    small_redis: str, big_photos: list[Path], tmp_path: Path
) -> None:
    # The shortest limits the settings allow make resend_after 3 + 10 + 2 = 15 s.
    settings = _settings(
        small_redis, task_soft_time_limit=1, task_time_limit=2, visibility_timeout=3
    )
    assert settings.resend_after == 15
    client = redis.Redis.from_url(small_redis)
    out = io.StringIO()
    summaries: list[SubmitSummary] = []
    thread = threading.Thread(
        target=lambda: summaries.append(
            submit_files(create_app(settings), settings, big_photos[:1], out, task_timeout=120)
        )
    )
    thread.start()
    _wait_for(lambda: client.llen("celery") == 1, 30, "the task in the queue")
    # What a worker killed between BRPOP and recording the task as unacknowledged
    # leaves behind: the message is nowhere.
    client.delete("celery")
    worker = _start_worker(small_redis, tmp_path)
    try:
        thread.join(120)
    finally:
        worker.stop()
    assert len(summaries) == 1
    assert (summaries[0].ok, summaries[0].lost, summaries[0].resent) == (1, 0, 1)
    assert _names(out.getvalue()) == [{"obama"}]


def test_a_task_whose_image_is_gone_gets_an_error_result(small_redis: str, tmp_path: Path) -> None:
    """A task delivered after its submitter gave up (the image expired): one clear error."""
    worker = _start_worker(small_redis, tmp_path)
    try:
        app = create_app(_settings(small_redis))
        key = f"{_settings(small_redis).image_key_prefix}:never-stored"
        result = app.send_task(ANALYZE_STORED_IMAGE, args=("photo.jpg", key)).get(timeout=60)
    finally:
        worker.stop()
    assert result["status"] == "error"
    assert result["error"] == "image data no longer in Redis (its submitter gave up on it)"
