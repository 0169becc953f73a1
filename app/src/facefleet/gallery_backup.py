"""Backups of the enrolled gallery: one JSON file per snapshot, restorable into any Redis.

A backup holds the gallery only: every enrolled name with its 128-d encodings, the
gallery's version, and when it was taken. It holds no task and no result. Restoring one
replaces the gallery in one transaction and leaves the queue and the results as they
are, so tasks in flight are not touched (see ``restore``).

Files are named ``gallery-<UTC time>.json``, written whole or not at all (a temporary
file, then a rename), readable by their owner only, and carry a SHA-256 of their people,
which ``read`` checks.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from facefleet.gallery_store import GalleryStore

FORMAT = "facefleet-gallery-backup"
FORMAT_VERSION = 1
FILE_PREFIX = "gallery-"
FILE_SUFFIX = ".json"
TIME_FORMAT = "%Y%m%dT%H%M%SZ"

People = dict[str, list[list[float]]]


class BackupError(ValueError):
    """A backup file that cannot be restored: not one, damaged, or of another format."""


@dataclass(frozen=True)
class Backup:
    taken_at: datetime
    gallery_version: int
    people: People

    @property
    def encodings(self) -> int:
        return sum(len(rows) for rows in self.people.values())

    def summary(self) -> str:
        return (
            f"{len(self.people)} people, {self.encodings} encodings, gallery version "
            f"{self.gallery_version}, taken {self.taken_at.strftime(TIME_FORMAT)}"
        )


def _checksum(people: People) -> str:
    canonical = json.dumps(people, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def take(store: GalleryStore) -> Backup:
    """A consistent snapshot of the gallery (one Redis transaction)."""
    version, people = store.encodings()
    return Backup(datetime.now(UTC).replace(microsecond=0), version, people)


def dumps(backup: Backup) -> str:
    return json.dumps(
        {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "taken_at": backup.taken_at.isoformat(),
            "gallery_version": backup.gallery_version,
            "sha256": _checksum(backup.people),
            "people": backup.people,
        },
        sort_keys=True,
    )


def loads(text: str, source: str) -> Backup:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise BackupError(f"{source}: not a gallery backup (not JSON: {exc})") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise BackupError(f"{source}: not a gallery backup (no format {FORMAT!r})")
    if data.get("format_version") != FORMAT_VERSION:
        raise BackupError(
            f"{source}: backup format {data.get('format_version')!r}, this facefleet reads "
            f"{FORMAT_VERSION}"
        )
    people = data.get("people")
    if not isinstance(people, dict) or _checksum(people) != data.get("sha256"):
        raise BackupError(f"{source}: damaged: its people do not match its SHA-256")
    for name, rows in people.items():
        if not isinstance(rows, list) or any(len(row) != 128 for row in rows):
            raise BackupError(f"{source}: {name!r} has an encoding without 128 values")
    return Backup(datetime.fromisoformat(data["taken_at"]), int(data["gallery_version"]), people)


def read(path: Path) -> Backup:
    return loads(path.read_text(), str(path))


def file_name(backup: Backup) -> str:
    return f"{FILE_PREFIX}{backup.taken_at.strftime(TIME_FORMAT)}{FILE_SUFFIX}"


def backups_in(folder: Path) -> list[Path]:
    """The backup files in ``folder``, oldest first (their names sort by time)."""
    return sorted(folder.glob(f"{FILE_PREFIX}*{FILE_SUFFIX}"))


def write(backup: Backup, folder: Path, keep: int) -> tuple[Path, list[Path]]:
    """Write ``backup`` into ``folder`` (0600, atomically), then delete all but the newest
    ``keep`` backups there. Returns the new file and the files deleted."""
    if keep < 1:
        raise ValueError("keep must be at least 1")
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    path = folder / file_name(backup)
    partial = folder / f".{path.name}.partial"
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(dumps(backup))
        out.flush()
        os.fsync(out.fileno())
    partial.replace(path)
    existing = backups_in(folder)
    pruned = existing[: max(0, len(existing) - keep)]
    for old in pruned:
        old.unlink()
    return path, pruned


def restore(store: GalleryStore, backup: Backup) -> int:
    """Make the backup the whole gallery; returns the gallery's new version.

    Only the gallery's two keys change: queued, running and finished tasks are left as
    they are. The new version is at least the current Unix time: higher than any count of
    changes an old Redis reached, so every worker reloads, including one that cached a
    gallery from the Redis this one replaces."""
    return store.replace_all(backup.people, max(backup.gallery_version + 1, int(time.time())))


def missing_from(backup: Backup, current: dict[str, int]) -> list[str]:
    """People enrolled now that the backup does not hold: what a restore would drop."""
    return sorted(set(current) - set(backup.people))
