"""Batches of image files, each under a name of its own, and what each must give: the
people in it (app/bench/photos.py), or an error for junk."""

from __future__ import annotations

import os
import random
import struct
import zlib
from collections.abc import Callable
from pathlib import Path

from photos import FACES, expected_names, photos

# What a result must be: the set of names (None: not sure it can be named), or "error".
Expected = set[str] | str | None


class Batch:
    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.files: list[Path] = []
        self.expect: dict[str, Expected] = {}

    def add_photos(self, count: int) -> None:
        shared = photos()
        for i in range(count):
            photo = shared[i % len(shared)]
            path = self.folder / f"{len(self.files):04d}-{photo.name}"
            path.symlink_to(photo)
            self.files.append(path)
            self.expect[str(path)] = expected_names(photo.name)

    def add_junk(self, count: int) -> None:
        sample = (FACES / "obama.jpg").read_bytes()
        makers: list[tuple[str, Callable[[], bytes]]] = [
            ("empty.jpg", lambda: b""),
            ("text.jpg", lambda: b"this is not a picture\n" * 20),
            ("truncated.jpg", lambda: sample[: len(sample) // 3]),
            ("garbage.png", lambda: b"\x89PNG\r\n\x1a\n" + os.urandom(4096)),
            ("random.bin", lambda: os.urandom(8192)),
            ("page.jpg", lambda: b"<html><body>404</body></html>"),
            ("huge.jpg", lambda: sample + b"\0" * (21 * 1024 * 1024)),
            ("bomb.png", pixel_bomb),
        ]
        made: dict[str, Path] = {}
        for i in range(count):
            name, make = makers[i % len(makers)]
            path = self.folder / f"{len(self.files):04d}-{name}"
            if name in made:
                path.symlink_to(made[name])
            else:
                path.write_bytes(make())
                made[name] = path
            self.files.append(path)
            self.expect[str(path)] = "error"

    def shuffle(self, rng: random.Random) -> None:
        rng.shuffle(self.files)


def pixel_bomb() -> bytes:
    """A small PNG that claims 50 000 x 50 000 pixels."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", 50_000, 50_000, 8, 0, 0, 0, 0)
    row = b"\0" * (50_000 + 1)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(row * 16))
        + chunk(b"IEND", b"")
    )
