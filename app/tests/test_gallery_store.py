"""The shared gallery in a real Redis: enrol, list, remove, and caches that notice changes."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import numpy as np
import pytest
import redis
from conftest import _free_port, _wait_for, start_redis_server

from facefleet.gallery_store import CachedGallery, GalleryStore


@pytest.fixture
def store(redis_url: str, request: pytest.FixtureRequest) -> GalleryStore:
    return GalleryStore(redis.Redis.from_url(redis_url), f"test:{request.node.name}")


def _encoding(seed: int) -> list[float]:
    return list(np.random.default_rng(seed).normal(0, 0.1, 128))


def test_enroll_list_remove(store: GalleryStore) -> None:
    assert store.enroll("ada", [_encoding(1)]) == 1
    assert store.enroll("ada", [_encoding(2)]) == 2
    assert store.enroll("bob", [_encoding(3)]) == 1
    assert store.people() == {"ada": 2, "bob": 1}
    assert store.enroll("ada", [_encoding(4)], replace=True) == 1
    assert store.remove("bob") is True
    assert store.remove("bob") is False
    assert store.people() == {"ada": 1}


def test_enroll_refuses_bad_encodings(store: GalleryStore) -> None:
    with pytest.raises(ValueError, match="128"):
        store.enroll("ada", [[0.1, 0.2]])
    with pytest.raises(ValueError, match="empty"):
        store.enroll("  ", [_encoding(1)])


def test_cache_notices_changes_without_restart(store: GalleryStore) -> None:
    cache = CachedGallery(store)
    assert len(cache.current()) == 0
    store.enroll("ada", [_encoding(1)])
    gallery = cache.current()
    assert gallery.people == ["ada"]
    assert cache.current() is gallery  # unchanged version: no reload
    match = gallery.identify(np.array(_encoding(1)), 0.6)
    assert (match.name, match.distance) == ("ada", 0.0)
    store.remove("ada")
    assert len(cache.current()) == 0


def test_cache_rides_out_a_redis_restart(tmp_path: Path) -> None:
    """A worker with a copy keeps answering while Redis is down; one without waits, then
    gives up after the outage it was told to allow."""
    port = _free_port()

    def start() -> subprocess.Popen[bytes]:
        proc = start_redis_server(tmp_path, "--port", str(port), "--appendonly", "yes")

        def answers() -> bool:
            with redis.Redis(port=port) as client:
                return bool(client.ping())

        _wait_for(answers, 10, "redis-server")
        return proc

    server = start()
    client = redis.Redis(port=port, socket_timeout=2)
    store = GalleryStore(client, "test:outage")
    store.enroll("ada", [_encoding(1)])
    warm = CachedGallery(store, outage_seconds=5)
    assert len(warm.current()) == 1
    server.terminate()
    server.wait(10)
    try:
        assert len(warm.current()) == 1  # the copy in hand, no exception
        cold = CachedGallery(store, outage_seconds=1.5)
        started = time.monotonic()
        with pytest.raises(redis.exceptions.ConnectionError):
            cold.current()
        assert time.monotonic() - started >= 1.0
    finally:
        server = start()
    store.enroll("bob", [_encoding(2)])  # the AOF kept ada; a change after the restart
    assert sorted(warm.current().names) == ["ada", "bob"]
    client.close()
    server.terminate()
    server.wait(10)
