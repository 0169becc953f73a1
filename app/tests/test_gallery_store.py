"""The shared gallery in a real Redis: enrol, list, remove, and caches that notice changes."""

from __future__ import annotations

import numpy as np
import pytest
import redis

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
