"""Images waiting for a worker, kept in Redis under keys of their own.

A task names its image's key instead of carrying the image: the Celery message stays a
few hundred bytes, so a worker's main process never holds images it has reserved, and a
pool process fetches its image only when it may decode it (inside a detection slot).
The submitter stores the image before it sends the task, and deletes it once it has the
result; the key expires on its own after the submitter's task timeout, should the
submitter die first.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable

import redis


class ImageStore:
    def __init__(self, client: redis.Redis, prefix: str) -> None:
        self.client = client
        self.prefix = prefix

    def new_key(self) -> str:
        return f"{self.prefix}:{uuid.uuid4().hex}"

    def put(self, key: str, data: bytes, ttl: int) -> None:
        self.client.set(key, data, ex=max(1, ttl))

    def get(self, key: str) -> bytes | None:
        data = self.client.get(key)
        return data if isinstance(data, bytes) else None

    def exists(self, key: str) -> bool:
        return bool(self.client.exists(key))

    def delete(self, keys: Iterable[str]) -> None:
        keys = list(keys)
        if keys:
            self.client.delete(*keys)
