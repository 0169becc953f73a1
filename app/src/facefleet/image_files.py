"""Expand the paths a user gives into the files to analyse."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path


def walk_files(paths: Iterable[Path]) -> Iterator[Path]:
    """Every regular, non-hidden file under ``paths``, sorted within each folder.

    Files are not filtered by suffix: a junk file gets its own error result rather
    than being skipped in silence.
    """
    for path in paths:
        if path.is_dir():
            for child in sorted(path.rglob("*")):
                relative = child.relative_to(path)
                if child.is_file() and not any(p.startswith(".") for p in relative.parts):
                    yield child
        else:
            yield path
