"""This host's worker logs, each line prefixed with its worker's node (``celery1@worker1``,
which names the host too): ``facefleet workers logs``, and through it ``facefleet logs``
on the controller, for the whole fleet.

The log files are the ones supervisor writes for the programs the role declared
(workers.fact); supervisor says where each is. Lines are matched to a time by Celery's
log prefix (``[2026-11-29 10:07:02,342: INFO/...]``); a line without one (a traceback's)
belongs to the line before it.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import BinaryIO

STAMP = re.compile(rb"^\[(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d)")
_DURATION = re.compile(r"^(\d+(?:\.\d+)?)([smhd])$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_BLOCK = 64 * 1024


def parse_since(text: str, now: float) -> float:
    """``--since``: a duration before now (``90s``, ``10m``, ``2h``, ``1d``) or a local
    time (``2026-11-29 10:00`` or ``2026-11-29T10:00:00``), as a UNIX time."""
    match = _DURATION.match(text.strip())
    if match:
        return now - float(match.group(1)) * _UNITS[match.group(2)]
    try:
        return datetime.fromisoformat(text.strip()).timestamp()
    except ValueError:
        raise ValueError(
            f"--since {text!r}: give a duration (90s, 10m, 2h, 1d) or a time (2026-11-29 10:00)"
        ) from None


def line_time(line: bytes) -> float | None:
    match = STAMP.match(line)
    if not match:
        return None
    return time.mktime(time.strptime(match.group(1).decode(), "%Y-%m-%d %H:%M:%S"))


@dataclass
class LogFile:
    """One worker's log, read from an offset on, across supervisor's rotations."""

    prefix: str
    path: Path
    _handle: BinaryIO | None = field(default=None, repr=False)
    _inode: int | None = None
    _partial: bytes = b""

    def _open(self) -> BinaryIO | None:
        self.close()
        try:
            handle = self.path.open("rb")
        except OSError:
            return None
        self._inode = os.fstat(handle.fileno()).st_ino
        return handle

    def close(self) -> None:
        if self._handle is not None:
            self._handle.close()
            self._handle = None

    def last(self, count: int) -> list[bytes]:
        """The last ``count`` lines; the file is then read on from its end."""
        handle = self._handle = self._open()
        if handle is None:
            return []
        end = handle.seek(0, os.SEEK_END)
        data = b""
        position = end
        while position > 0 and data.count(b"\n") <= count:
            step = min(_BLOCK, position)
            position -= step
            handle.seek(position)
            data = handle.read(step) + data
        handle.seek(end)
        lines = data.splitlines()
        return lines[-count:] if count else []

    def everything(self) -> list[bytes]:
        handle = self._handle = self._open()
        return handle.read().splitlines() if handle else []

    def new(self) -> list[bytes]:
        """Whole lines written since the last read; a rotated or truncated file is read
        again from its start."""
        try:
            stat = self.path.stat()
        except OSError:
            return []
        if self._handle is None or stat.st_ino != self._inode:
            self._handle = self._open()
            self._partial = b""
        elif stat.st_size < self._handle.tell():
            self._handle.seek(0)
            self._partial = b""
        if self._handle is None:
            return []
        data = self._partial + self._handle.read()
        *lines, self._partial = data.split(b"\n")
        return lines


def since(lines: Iterable[bytes], start: float) -> list[bytes]:
    """The lines at or after ``start``; unstamped lines go with the line before them."""
    kept: list[bytes] = []
    keep = False
    for line in lines:
        stamp = line_time(line)
        if stamp is not None:
            keep = stamp >= start
        if keep:
            kept.append(line)
    return kept


def merged(logs: dict[str, list[bytes]]) -> list[bytes]:
    """Every worker's lines, prefixed, in time order (a line without a time keeps its
    place after the line before it)."""
    rows: list[tuple[float, int, bytes]] = []
    order = 0
    for prefix, lines in logs.items():
        current = 0.0
        for line in lines:
            current = line_time(line) or current
            rows.append((current, order, prefix.encode() + b" | " + line))
            order += 1
    return [row for _, _, row in sorted(rows)]


def show(
    files: list[LogFile],
    write: Callable[[bytes], None],
    lines: int | None,
    start: float | None,
    follow: bool,
    poll_s: float = 0.5,
    running: Callable[[], bool] = lambda: True,
) -> None:
    """Print the logs: the last ``lines`` of each (10 by default), or everything since
    ``start``; then, with ``follow``, every new line until ``running()`` is false."""
    if start is not None:
        found = {f.prefix: since(f.everything(), start) for f in files}
        if lines is not None:
            found = {prefix: kept[-lines:] if lines else [] for prefix, kept in found.items()}
    else:
        found = {f.prefix: f.last(10 if lines is None else lines) for f in files}
    for row in merged(found):
        write(row + b"\n")
    try:
        while follow and running():
            for log in files:
                for line in log.new():
                    write(log.prefix.encode() + b" | " + line + b"\n")
            time.sleep(poll_s)
    finally:
        for log in files:
            log.close()
