"""Build a gallery from a folder with one subfolder of photos per person.

That is the layout the ``face_recognition`` command line takes for known people.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TextIO

from facefleet.core.gallery import Gallery
from facefleet.image_files import walk_files
from facefleet.pipeline import EnrolmentError, encode_single_face, read_limited
from facefleet.settings import Settings


def gallery_from_folder(folder: Path, settings: Settings, warnings: TextIO = sys.stderr) -> Gallery:
    if not folder.is_dir():
        raise FileNotFoundError(f"known-people folder not found: {folder}")
    people: dict[str, list[list[float]]] = {}
    for person_dir in sorted(p for p in folder.iterdir() if p.is_dir()):
        for photo in walk_files([person_dir]):
            try:
                data = read_limited(photo, settings.max_image_bytes)
                people.setdefault(person_dir.name, []).append(
                    encode_single_face(data, settings, str(photo))
                )
            except (EnrolmentError, OSError) as exc:
                print(f"facefleet: skipping known photo: {exc}", file=warnings)
    return Gallery.from_people(people)
