"""Known identities on the shared real photos, through the CLI and the pure pipeline."""

from __future__ import annotations

import json
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

from facefleet.core.gallery import Gallery
from facefleet.pipeline import analyze_path, encode_single_face
from facefleet.settings import Settings


def _names_left_to_right(result: dict) -> list[str | None]:
    return [f["name"] for f in sorted(result["faces"], key=lambda f: f["box"][3])]


def test_cli_analyze_names_obama_and_biden(faces: Path, known_dir: Path) -> None:
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "facefleet.cli",
            "analyze",
            "--known",
            str(known_dir),
            str(faces / "two_people.jpg"),
            str(faces / "obama_and_biden.jpg"),
        ],
        capture_output=True,
        text=True,
        check=True,
        env={"FACEFLEET_CONFIG": "/nonexistent", "PATH": "/usr/bin:/bin"},
    )
    results = [json.loads(line) for line in proc.stdout.splitlines()]
    assert [r["status"] for r in results] == ["ok", "ok"]
    # two_people.jpg: Obama left, Biden right.
    assert _names_left_to_right(results[0]) == ["obama", "biden"]
    # obama_and_biden.jpg: Biden left, Obama right, and a child nobody enrolled.
    assert _names_left_to_right(results[1]) == ["biden", "obama", None]
    for result in results:
        assert set(result["timings_ms"]) >= {"decode", "detect", "encode", "match", "total"}


@pytest.mark.parametrize(
    ("photo", "person"),
    [
        ("obama1.jpg", "obama"),
        ("obama3.jpg", "obama"),
        ("obama_small.jpg", "obama"),
        ("obama-480p.jpg", "obama"),
        ("biden.jpg", "biden"),
        ("kit_harington2.jpg", "kit_harington"),
        ("kit_harington3.jpg", "kit_harington"),
        ("rose_leslie2.jpg", "rose_leslie"),
        ("obama_32bit.png", "obama"),
    ],
)
def test_one_person_photos_are_named(
    faces: Path, known_gallery: Gallery, photo: str, person: str
) -> None:
    result = analyze_path(faces / photo, Settings(), known_gallery)
    assert [f["name"] for f in result["faces"]] == [person]
    assert result["faces"][0]["distance"] < 0.6


def test_strangers_get_no_name(faces: Path, known_gallery: Gallery) -> None:
    for photo in ("lin_manuel_miranda.png", "alex_lacamoire2.jpg"):
        result = analyze_path(faces / photo, Settings(), known_gallery)
        assert [f["name"] for f in result["faces"]] == [None], photo


def test_face_counts_match_the_sources_table(faces: Path) -> None:
    expected = {
        "two_people.jpg": 2,
        "obama_and_biden.jpg": 3,
        "kit_with_rose.jpg": 2,
        "astronaut.png": 2,
        "obama_partial_face.jpg": 1,
        "obama-1080p.jpg": 1,
    }
    for photo, count in expected.items():
        assert (
            len(analyze_path(faces / photo, Settings(detection="exact"), Gallery())["faces"])
            == count
        ), photo


def test_encodings_match_face_recognition_library(faces: Path) -> None:
    """Our direct dlib calls give face_recognition 1.3.0's boxes and encodings."""
    with warnings.catch_warnings():
        # face_recognition_models imports pkg_resources, which setuptools 81 deprecates.
        warnings.simplefilter("ignore")
        import face_recognition

    image = face_recognition.load_image_file(faces / "two_people.jpg")
    their_boxes = face_recognition.face_locations(image)
    theirs = face_recognition.face_encodings(image, their_boxes)
    exact = Settings(detection="exact")
    ours = analyze_path(faces / "two_people.jpg", exact, Gallery())
    assert sorted(tuple(f["box"]) for f in ours["faces"]) == sorted(their_boxes)
    one = encode_single_face((faces / "obama_small.jpg").read_bytes(), exact, "x")
    reference = face_recognition.face_encodings(
        face_recognition.load_image_file(faces / "obama_small.jpg")
    )[0]
    assert np.allclose(one, reference, atol=1e-6)
    assert len(theirs) == 2
