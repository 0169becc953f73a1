"""The memory of a process tree, read from /proc: PSS (what the memory guard acts on, and
status reports) and RSS.

PSS (proportional set size) splits every shared page among the processes that share it:
a prefork worker's children share the face models copy-on-write with their parent, so
summing their RSS (what superlance's memmon does) counts those pages once per child, and
for a 4-child worker reports about 470 MB for what really costs about 190 MB. The PSS
of the tree is its real cost.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

PROC = Path("/proc")


def _children(pid: int) -> list[int]:
    found: list[int] = []
    for task in (PROC / str(pid) / "task").glob("*"):
        try:
            found += [int(c) for c in (task / "children").read_text().split()]
        except OSError:
            continue
    return found


def process_tree(pid: int) -> Iterator[int]:
    """``pid`` and every process below it."""
    todo = [pid]
    while todo:
        current = todo.pop()
        yield current
        todo.extend(_children(current))


def _field_kb(path: Path, name: str) -> int:
    try:
        match = re.search(rf"^{name}:\s+(\d+) kB", path.read_text(), re.M)
    except OSError:
        return 0  # the process is gone
    return int(match[1]) if match else 0


def pss_kb(pid: int) -> int:
    """PSS of one process in kB; 0 if it is gone."""
    return _field_kb(PROC / str(pid) / "smaps_rollup", "Pss")


def rss_kb(pid: int) -> int:
    """RSS of one process in kB; 0 if it is gone."""
    return _field_kb(PROC / str(pid) / "status", "VmRSS")


def tree_pss_mb(pid: int) -> float:
    return sum(pss_kb(p) for p in process_tree(pid)) / 1024


def tree_rss_mb(pid: int) -> float:
    return sum(rss_kb(p) for p in process_tree(pid)) / 1024
