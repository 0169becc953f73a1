"""The gallery of enrolled people, kept in Redis so that every worker sees the same one.

Layout: a hash ``<key>`` maps each name to a JSON list of 128-d encodings, and
``<key>:version`` is incremented on every change. Workers cache the gallery and reload
it when the version moves, so enrolments take effect without a restart.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Sequence

import redis

from facefleet.core.gallery import Gallery

log = logging.getLogger(__name__)


class GalleryStore:
    def __init__(self, client: redis.Redis, key: str) -> None:
        self._client = client
        self._key = key
        self._version_key = f"{key}:version"

    def enroll(self, name: str, encodings: Sequence[Sequence[float]], replace: bool = False) -> int:
        """Add encodings to ``name`` (or replace them); returns how many the person has."""
        if not name.strip():
            raise ValueError("a person's name must not be empty")
        rows = [list(map(float, e)) for e in encodings]
        if any(len(row) != 128 for row in rows):
            raise ValueError("encodings must have 128 values")
        with self._client.pipeline() as pipe:
            while True:
                try:
                    pipe.watch(self._key)
                    existing = [] if replace else self._person(pipe, name)
                    merged = existing + rows
                    pipe.multi()
                    pipe.hset(self._key, name, json.dumps(merged))
                    pipe.incr(self._version_key)
                    pipe.execute()
                    return len(merged)
                except redis.WatchError:
                    continue

    def _person(self, client: redis.Redis | redis.client.Pipeline, name: str) -> list[list[float]]:
        raw = client.hget(self._key, name)
        return json.loads(raw) if raw else []

    def remove(self, name: str) -> bool:
        with self._client.pipeline(transaction=True) as pipe:
            pipe.hdel(self._key, name)
            pipe.incr(self._version_key)
            removed, _ = pipe.execute()
        return bool(removed)

    def people(self) -> dict[str, int]:
        """Each enrolled name with its number of encodings."""
        raw = self._client.hgetall(self._key)
        return {k.decode(): len(json.loads(v)) for k, v in sorted(raw.items())}

    def version(self) -> int:
        return int(self._client.get(self._version_key) or 0)

    def encodings(self) -> tuple[int, dict[str, list[list[float]]]]:
        """The version and every person's encodings, read in one transaction: a consistent
        snapshot even while people are enrolled."""
        with self._client.pipeline(transaction=True) as pipe:
            pipe.get(self._version_key)
            pipe.hgetall(self._key)
            version, raw = pipe.execute()
        return int(version or 0), {k.decode(): json.loads(v) for k, v in raw.items()}

    def load(self) -> tuple[int, Gallery]:
        version, people = self.encodings()
        return version, Gallery.from_people(people)

    def replace_all(self, people: dict[str, list[list[float]]], version_at_least: int) -> int:
        """Make ``people`` the whole gallery, in one transaction, and set the version to
        at least ``version_at_least`` and above the current one; returns the version.

        Workers reload on any version they have not seen. A caller restoring into a fresh
        Redis passes a number that no counter of the old Redis reached (see
        gallery_backup.restore), so that no worker keeps a copy from before."""
        for name, rows in people.items():
            if not name.strip() or any(len(row) != 128 for row in rows):
                raise ValueError(f"{name!r}: encodings must have 128 values")
        with self._client.pipeline() as pipe:
            while True:
                try:
                    pipe.watch(self._version_key)
                    version = max(int(pipe.get(self._version_key) or 0) + 1, version_at_least)
                    pipe.multi()
                    pipe.delete(self._key)
                    if people:
                        pipe.hset(self._key, mapping={n: json.dumps(r) for n, r in people.items()})
                    pipe.set(self._version_key, version)
                    pipe.execute()
                    return version
                except redis.WatchError:
                    continue


class CachedGallery:
    """A worker's copy of the gallery: one GET per call, a reload only after a change.

    While Redis is unreachable (a restart), the copy in hand is used as it is: it is at
    most that outage old. A worker with no copy yet waits up to ``outage_seconds``.
    """

    def __init__(self, store: GalleryStore, outage_seconds: float = 60.0) -> None:
        self._store = store
        self._lock = threading.Lock()
        self._version = -1
        self._gallery = Gallery()
        self._outage_seconds = outage_seconds

    def _version_now(self) -> int | None:
        deadline = time.monotonic() + self._outage_seconds
        while True:
            try:
                return self._store.version()
            except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError):
                if self._version >= 0:
                    log.warning("Redis unreachable; using gallery version %s", self._version)
                    return None
                if time.monotonic() >= deadline:
                    raise
                time.sleep(1.0)

    def current(self) -> Gallery:
        version = self._version_now()
        if version is not None and version != self._version:
            with self._lock:
                if version != self._version:
                    self._version, self._gallery = self._store.load()
        return self._gallery
