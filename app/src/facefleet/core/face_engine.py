"""Face detection and 128-d encodings on dlib, safe under threads and processes.

face_recognition keeps one module-level HOG detector; dlib releases the GIL while it
runs, and four threads calling it at once segfaulted here. So:

- each thread gets its own detector (``threading.local``): they run in parallel. They
  come from dlib's binary form, kept in a cache folder (facefleet/core/hog_detector.py):
  milliseconds each, where decoding dlib's built-in copy takes 0.4 s;
- the 5-point shape predictor and the ResNet encoder hold the GIL while they run,
  so they are shared, behind a lock that makes that serialisation explicit.

The computations are the same dlib calls that face_recognition 1.3.0 makes
(``face_locations`` and ``face_encodings`` with model="small"), so results match it.
Models load once per process (shared ones) or once per thread (detectors), never per task.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dlib
import numpy as np

from facefleet.core.hog_detector import HogDetectors
from facefleet.core.model_files import ModelFiles

# (top, right, bottom, left), the order face_recognition uses.
Box = tuple[int, int, int, int]

# The smallest image the HOG detector scans: one window (see FaceEngine.locate).
_BLANK = np.zeros((80, 80, 3), dtype=np.uint8)


@dataclass(frozen=True)
class DetectorOptions:
    kind: str = "hog"  # "hog" or "cnn"
    upsample: int = 1


def _trimmed_box(rect: Any, height: int, width: int) -> Box:
    return (
        max(rect.top(), 0),
        min(rect.right(), width),
        min(rect.bottom(), height),
        max(rect.left(), 0),
    )


class FaceEngine:
    """Locates faces and computes their encodings. One per process; share it freely.

    ``detector_cache`` is the folder that keeps the HOG detector's binary form between
    processes (None: decode dlib's built-in copy once per process)."""

    def __init__(self, files: ModelFiles, detector_cache: Path | None = None) -> None:
        self._files = files
        self._hog = HogDetectors(detector_cache)
        self._local = threading.local()
        self._shared_lock = threading.Lock()
        self._predictor = dlib.shape_predictor(str(files.shape_predictor_5))
        self._encoder = dlib.face_recognition_model_v1(str(files.face_encoder))

    def _detector(self, kind: str) -> Callable[..., Any]:
        detectors: dict[str, Callable[..., Any]] | None = getattr(self._local, "detectors", None)
        if detectors is None:
            detectors = self._local.detectors = {}
        if kind not in detectors:
            if kind == "hog":
                detectors[kind] = self._hog.new()
            elif kind == "cnn":
                detectors[kind] = dlib.cnn_face_detection_model_v1(str(self._files.cnn_detector))
            else:
                raise ValueError(f"unknown detector {kind!r}")
        return detectors[kind]

    def warm_up(self, kind: str = "hog") -> None:
        """Load this thread's detector now rather than on its first image."""
        self._detector(kind)

    def locate(self, pixels: np.ndarray, options: DetectorOptions) -> list[Box]:
        height, width = pixels.shape[:2]
        detector = self._detector(options.kind)
        found = detector(pixels, options.upsample)
        if options.kind == "hog":
            # dlib's HOG detector keeps the feature pyramid of the last image it scanned
            # (for a 2 MP image at upsample 1, about 60 MB) until the next scan; scanning
            # a blank thumbnail (under a millisecond) lets that memory go now.
            detector(_BLANK, 0)
        if options.kind == "cnn":
            found = [detection.rect for detection in found]
        return [_trimmed_box(rect, height, width) for rect in found]

    def encode(
        self, pixels: np.ndarray, boxes: Sequence[Box], num_jitters: int = 1
    ) -> list[np.ndarray]:
        if not boxes:
            return []
        rects = [dlib.rectangle(left, top, right, bottom) for top, right, bottom, left in boxes]
        with self._shared_lock:
            shapes = dlib.full_object_detections()
            for rect in rects:
                shapes.append(self._predictor(pixels, rect))
            descriptors = self._encoder.compute_face_descriptor(pixels, shapes, num_jitters)
        return [np.array(descriptor) for descriptor in descriptors]


_engines: dict[tuple[ModelFiles, Path | None], FaceEngine] = {}
_engines_lock = threading.Lock()


def shared_engine(files: ModelFiles, detector_cache: Path | None = None) -> FaceEngine:
    """The process-wide engine for these model files, created on first use."""
    with _engines_lock:
        engine = _engines.get((files, detector_cache))
        if engine is None:
            engine = _engines[files, detector_cache] = FaceEngine(files, detector_cache)
        return engine
