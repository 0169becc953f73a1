"""Room in Redis for one more image: what a submitter asks before it sends one.

Each image waits in Redis until a worker has finished it (facefleet/image_store.py).
Left to the number of tasks in flight, a bulk import of large photos fills Redis up to
``maxmemory``, and with ``noeviction`` Redis then refuses every write, from everyone. So
a submitter sends an image only when both hold:

- its own bytes in flight stay within its window (``submit_window_bytes``; by default a
  quarter of ``maxmemory``);
- Redis' used memory, that image included twice (its buffers), stays under
  ``submit_redis_fill`` of ``maxmemory``. Every submitter reads the same figure from
  Redis, so several at once share what is left without a counter of their own to keep
  right; a race between them costs at most one image each.
"""

from __future__ import annotations

from dataclasses import dataclass

import redis

from facefleet.settings import Settings

MIB = 1024 * 1024
# The window when Redis has no maxmemory, and a submitter's window cannot be derived.
UNBOUNDED_REDIS_WINDOW = 256 * MIB
# What an image's task adds to it in Redis: the message (Celery's headers, kombu's
# envelope), the key, and the result.
ENVELOPE_BYTES = 4096
# A submitter with nothing in flight may send while Redis stays under this fraction of
# maxmemory, even above submit_redis_fill: it always makes progress unless Redis is full.
LAST_ROOM = 0.9


@dataclass(frozen=True)
class RedisMemory:
    used: int
    maxmemory: int  # 0: no limit

    @classmethod
    def read(cls, client: redis.Redis) -> RedisMemory:
        info = client.info("memory")
        return cls(int(info["used_memory"]), int(info.get("maxmemory") or 0))

    def describe(self) -> str:
        if not self.maxmemory:
            return f"Redis uses {self.used / MIB:.0f} MiB (no maxmemory)"
        share = 100 * self.used / self.maxmemory
        return (
            f"Redis uses {self.used / MIB:.0f} MiB of its {self.maxmemory / MIB:.0f} MiB "
            f"maxmemory ({share:.0f} %)"
        )


def stored_bytes(data: bytes) -> int:
    """What an image of ``data`` and its task take in Redis (facefleet/image_store.py)."""
    return len(data) + ENVELOPE_BYTES


def window_bytes(settings: Settings, memory: RedisMemory) -> int:
    """Bytes of images one submitter may keep in Redis."""
    if settings.submit_window_bytes:
        return settings.submit_window_bytes
    return memory.maxmemory // 4 if memory.maxmemory else UNBOUNDED_REDIS_WINDOW


def wait_reason(settings: Settings, memory: RedisMemory, size: int, own: int) -> str | None:
    """Why an image of ``size`` bytes must wait, with ``own`` bytes of this submitter's
    in flight; None when it may go now. A reason that starts with "own window" is the
    submitter's ordinary pace, the others are about Redis."""
    if memory.maxmemory:
        fill = settings.submit_redis_fill if own else LAST_ROOM
        # Twice: while the message arrives, Redis holds it in the client's input buffer
        # as well as in the queue (and again in a worker's output buffer as it leaves).
        if memory.used + 2 * size > fill * memory.maxmemory:
            return (
                f"{memory.describe()}; an image of {size / MIB:.1f} MiB waits until it "
                f"stays under {100 * fill:.0f} %"
            )
    window = window_bytes(settings, memory)
    if own and own + size > window:
        return f"own window: {own / MIB:.0f} MiB in flight of {window / MIB:.0f} MiB"
    return None


def refused_write(exc: BaseException) -> str | None:
    """Redis' reason when ``exc`` (or what it wraps) is a write Redis refused for want
    of memory (``OOM command not allowed ...``); None for anything else."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, redis.exceptions.OutOfMemoryError) or str(seen).startswith("OOM "):
            return str(seen)
        seen = seen.__cause__ or seen.__context__
    return None
