"""The HOG detector's cache: the same detector as dlib's built-in one, kept between
processes, and a bad or unwritable cache is only a slower start."""

from __future__ import annotations

import logging
import pickle
from pathlib import Path

import dlib
import numpy as np
import pytest
from PIL import Image

from facefleet.core import hog_detector
from facefleet.core.face_engine import FaceEngine
from facefleet.core.hog_detector import HogDetectors
from facefleet.core.model_files import locate_model_files
from facefleet.settings import load_settings


def _serialised(detector: object) -> bytes:
    return pickle.dumps(detector)


def _cache_files(folder: Path) -> list[Path]:
    return sorted(folder.glob("dlib-*-frontal-face-*.svm"))


def test_the_cached_detector_is_dlibs_own_byte_for_byte(tmp_path: Path, faces: Path) -> None:
    builtin = dlib.get_frontal_face_detector()
    HogDetectors(tmp_path).new()
    [cached_file] = _cache_files(tmp_path)
    assert dlib.__version__ in cached_file.name
    cached = dlib.fhog_object_detector(str(cached_file))
    assert _serialised(cached) == _serialised(builtin)

    pixels = np.asarray(Image.open(faces / "obama.jpg").convert("RGB"))
    boxes = [(r.left(), r.top(), r.right(), r.bottom()) for r in cached(pixels, 1)]
    assert boxes, "no face found in obama.jpg"
    assert boxes == [(r.left(), r.top(), r.right(), r.bottom()) for r in builtin(pixels, 1)]


def test_a_later_process_loads_the_cache_without_decoding(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = HogDetectors(tmp_path).new()

    def decode_again() -> None:
        raise AssertionError("decoded dlib's built-in detector although the cache holds it")

    monkeypatch.setattr(hog_detector.dlib, "get_frontal_face_detector", decode_again)
    later = HogDetectors(tmp_path)
    mine, my_threads = later.new(), later.new()
    assert mine is not my_threads, "two callers got one detector (dlib's is not thread-safe)"
    assert _serialised(mine) == _serialised(my_threads) == _serialised(first)


def test_a_file_that_does_not_match_its_name_is_replaced(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    HogDetectors(tmp_path).new()
    [good] = _cache_files(tmp_path)
    content = bytearray(good.read_bytes())
    content[len(content) // 2] ^= 0xFF  # one flipped byte: the weights would differ
    good.write_bytes(bytes(content))

    with caplog.at_level(logging.WARNING):
        detector = HogDetectors(tmp_path).new()
    assert f"ignoring {good}" in caplog.text
    assert _serialised(detector) == _serialised(dlib.get_frontal_face_detector())
    assert good.read_bytes() != bytes(content), "the damaged file was not replaced"


def test_a_folder_that_cannot_take_the_cache_still_gives_a_detector(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    with caplog.at_level(logging.WARNING):
        detector = HogDetectors(blocker / "cache").new()
    assert "cannot keep the face detector" in caplog.text
    assert _serialised(detector) == _serialised(dlib.get_frontal_face_detector())


def test_the_cache_folder_follows_the_settings_and_xdg(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    nowhere = tmp_path / "none.toml"
    assert load_settings({}, nowhere).detector_cache == tmp_path / "xdg" / "facefleet"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert load_settings({}, nowhere).detector_cache == tmp_path / "home" / ".cache" / "facefleet"
    chosen = load_settings({"FACEFLEET_DETECTOR_CACHE_DIR": str(tmp_path / "mine")}, nowhere)
    assert chosen.detector_cache == tmp_path / "mine"


def test_a_process_without_a_home_keeps_the_detector_in_memory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A uid with no HOME and no passwd entry (as some container platforms run) has no
    home: Path.home() raises RuntimeError. No cache folder then, and the engine works."""

    def no_home() -> Path:
        raise RuntimeError("Could not determine home directory.")

    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    monkeypatch.setattr(Path, "home", staticmethod(no_home))
    settings = load_settings({}, tmp_path / "none.toml")
    assert settings.detector_cache is None
    engine = FaceEngine(locate_model_files(settings.models_dir), settings.detector_cache)
    engine.warm_up()
