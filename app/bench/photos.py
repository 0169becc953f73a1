"""The shared test photos (../shared/data/faces, see its SOURCES.md): where they are, whom
to enrol, and whom each photo shows. The benchmarks, the lab's demo and the chaos suite
judge results by this one table."""

from __future__ import annotations

import os
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
FACES = Path(os.environ.get("FACEFLEET_FACES_DIR", REPO.parent / "shared" / "data" / "faces"))

# The enrolled people, each from photos that show only them.
KNOWN = {
    "obama": ["obama.jpg", "obama2.jpg"],
    "biden": ["biden.jpg", "biden2.jpg"],
    "rose_leslie": ["rose_leslie1.jpg"],
    "kit_harington": ["kit_harington1.jpg"],
}

# Whom each shared photo shows among the enrolled people, by the start of its name; every
# other face in it must come back unnamed.
EXPECTED_NAMES = {
    "obama": "obama",
    "biden": "biden",
    "two_people": "biden obama",
    "obama_and_biden": "biden obama",
    "kit_harington": "kit_harington",
    "kit_with_rose": "kit_harington rose_leslie",
    "rose_leslie": "rose_leslie",
    "alex_lacamoire": "",
    "lin_manuel_miranda": "",
    "astronaut": "",
}
# Photos whose only face is cut at the edge: found, but not always close enough to name.
UNCERTAIN = {"obama_partial_face.jpg", "obama_partial_face2.jpg"}


def photos() -> list[Path]:
    return sorted(p for p in FACES.iterdir() if p.suffix in (".jpg", ".png"))


def expected_names(photo: str) -> set[str] | None:
    """The enrolled people ``photo`` shows (None: not sure it can be named)."""
    if photo in UNCERTAIN:
        return None
    stem = photo.rsplit(".", 1)[0]
    for prefix in sorted(EXPECTED_NAMES, key=len, reverse=True):
        if stem.startswith(prefix):
            return set(EXPECTED_NAMES[prefix].split())
    raise KeyError(f"no expected names for {photo}")
