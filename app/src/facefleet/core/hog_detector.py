"""dlib's frontal-face HOG detector in milliseconds instead of 0.4 s.

``dlib.get_frontal_face_detector()`` decodes the detector from a compressed text copy
built into dlib: about 0.4 s of CPU per call on a lab worker, paid by every worker at
start, and by each thread of a threads pool at its first image. dlib's own binary form
of the same detector loads in about 2 ms. So (``.venv/bin/python
app/bench/worker_start.py`` times worker starts with and without the cache):

- a process decodes it once, and keeps its binary form: each further detector (one per
  thread) is made from those bytes;
- the binary form is kept in a cache file, so that the next process on the host does
  not decode it either. The file's name carries dlib's version and the SHA-256 of its
  content; a file whose content does not match its name is ignored and replaced.

The detector from the cache is the same detector: its serialisation equals the built-in
one's, byte for byte (tests/test_hog_detector.py).
"""

from __future__ import annotations

import hashlib
import logging
import os
import pickle
import tempfile
import threading
from pathlib import Path
from typing import Any

import dlib

log = logging.getLogger(__name__)

_PREFIX = f"dlib-{dlib.__version__}-frontal-face-"
_SUFFIX = ".svm"


def _cached(folder: Path) -> Path | None:
    """The cache file of this dlib version whose content matches its name; None if none."""
    for path in folder.glob(f"{_PREFIX}*{_SUFFIX}"):
        digest = path.name[len(_PREFIX) : -len(_SUFFIX)]
        try:
            content = path.read_bytes()
        except OSError:
            continue
        if hashlib.sha256(content).hexdigest() == digest:
            return path
        log.warning("ignoring %s: its content does not match its name", path)
    return None


def _store(folder: Path, detector: Any) -> None:
    """Save ``detector`` in ``folder`` under its digest; a folder that cannot take it is
    only a slower start, never an error."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(prefix=".frontal-face-", dir=folder)
        os.close(handle)
        try:
            detector.save(temporary)
            digest = hashlib.sha256(Path(temporary).read_bytes()).hexdigest()
            os.replace(temporary, folder / f"{_PREFIX}{digest}{_SUFFIX}")
        finally:
            Path(temporary).unlink(missing_ok=True)
    except (OSError, RuntimeError) as exc:
        log.warning("cannot keep the face detector in %s (%s): later starts decode it", folder, exc)


class HogDetectors:
    """Makes frontal-face HOG detectors, one per caller (dlib's is not thread-safe).

    ``cache_dir`` is where the binary form is kept between processes; None keeps it in
    this process only."""

    def __init__(self, cache_dir: Path | None) -> None:
        self._cache_dir = cache_dir
        self._lock = threading.Lock()
        self._binary: bytes | None = None

    def new(self) -> Any:
        """A detector of its own for the caller."""
        with self._lock:
            if self._binary is None:
                detector = self._first()
                self._binary = pickle.dumps(detector)
                return detector
        # Bytes this process made itself a moment ago: unpickling them runs no foreign code.
        return pickle.loads(self._binary)

    def _first(self) -> Any:
        if self._cache_dir is not None:
            cached = _cached(self._cache_dir)
            if cached is not None:
                try:
                    return dlib.fhog_object_detector(str(cached))
                except RuntimeError as exc:
                    log.warning("ignoring %s: dlib cannot read it (%s)", cached, exc)
        detector = dlib.get_frontal_face_detector()
        if self._cache_dir is not None:
            _store(self._cache_dir, detector)
        return detector
