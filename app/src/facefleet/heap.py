"""Give freed memory back to the system, so that a worker's memory follows the images it
holds now, not the largest it ever held.

glibc's malloc keeps freed heap pages for reuse, and raises its mmap threshold each time
a large block is freed (up to 32 MB): after a few large images, a worker's image buffers
come from a heap that never shrinks. Here the thresholds are pinned, so that buffers of
128 kB and more are mmapped and unmapped when freed, and the heap's free top is trimmed
after each task. Elsewhere than glibc, both are no-ops.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools

# mallopt parameters (malloc.h).
M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
PINNED_BYTES = 128 * 1024


@functools.cache
def _libc() -> ctypes.CDLL | None:
    name = ctypes.util.find_library("c")
    if not name:
        return None
    libc = ctypes.CDLL(name)
    return libc if hasattr(libc, "mallopt") and hasattr(libc, "malloc_trim") else None


def pin_malloc_thresholds() -> bool:
    """mmap blocks of 128 kB and more, and trim the heap above 128 kB free; True if set."""
    libc = _libc()
    if libc is None:
        return False
    mmap = libc.mallopt(M_MMAP_THRESHOLD, PINNED_BYTES)
    trim = libc.mallopt(M_TRIM_THRESHOLD, PINNED_BYTES)
    return bool(mmap and trim)


def release_free_memory() -> None:
    """Return the heap's free pages to the system (malloc_trim)."""
    libc = _libc()
    if libc is not None:
        libc.malloc_trim(0)
