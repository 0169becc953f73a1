"""One image in, one result out: the pipeline that every entry point runs.

Two detection modes (AnalysisOptions.detection):
- "exact": face_recognition's default use, call for call: the full-size image, HOG with
  the configured upsample, encodings on the full-size image. Bit for bit its boxes and
  encodings.
- "fast" (the default): the detector scans a grey copy of at most ``detect_pixels``
  pixels, with the same upsample, and the encodings are computed on the colour image as
  decoded, which is at least that size (a JPEG decoded straight to 1/2, 1/4 or 1/8 when
  it is that much larger). Up to ``detect_pixels`` the detector finds the faces it finds
  in colour, down to about 40 px at upsample 1 (grey scans one channel instead of three:
  faster, a third of the memory, and it drops some false faces on colourful patterns);
  above, the smallest face found grows with the image: 40 * sqrt(pixels / detect_pixels)
  px in the original (110 px in a 12 MP photo with the default 1.6 MP). HOG's cost grows
  with the pixels it scans, so a 12 MP photo costs about what a 2 MP one does, and its
  memory likewise. Boxes are given in the original image's pixels in both modes.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from typing import Any, TypedDict

import numpy as np

from facefleet.core.face_engine import Box, DetectorOptions, FaceEngine
from facefleet.core.gallery import Gallery
from facefleet.core.image_loading import BadImage, ImageLimits, decode_image, decode_working
from facefleet.core.shrink import gray_copy, shrink_to

DETECTION_MODES = ("fast", "exact")


@dataclass(frozen=True)
class AnalysisOptions:
    detector: DetectorOptions
    limits: ImageLimits
    detection: str
    detect_pixels: int
    tolerance: float = 0.6
    num_jitters: int = 1
    # Wraps each full-size decode that fast mode makes before shrinking (not JPEG): the
    # workers let one happen at a time, so that their memory follows working sizes.
    decode_gate: Callable[[], AbstractContextManager[object]] = field(
        default=nullcontext, compare=False
    )
    # Wraps each decode and detection, the steps that take most CPU and memory: a worker
    # runs as many at once as the host has cores; more would only share the cores and add
    # up the memory.
    detect_gate: Callable[[], AbstractContextManager[object]] = field(
        default=nullcontext, compare=False
    )


class FaceResult(TypedDict):
    box: list[int]
    name: str | None
    distance: float | None


class ImageResult(TypedDict, total=False):
    image: str
    status: str  # "ok" or "error"
    faces: list[FaceResult]
    error: str | None
    size: list[int] | None  # [width, height]
    timings_ms: dict[str, float]
    worker: str
    pid: int
    task_id: str


def _ms(start: float) -> float:
    return round((time.perf_counter() - start) * 1000, 1)


def error_result(image: str, reason: str, timings: dict[str, float] | None = None) -> ImageResult:
    return ImageResult(
        image=image, status="error", faces=[], error=reason, size=None, timings_ms=timings or {}
    )


def locate_faces(pixels: np.ndarray, engine: FaceEngine, options: AnalysisOptions) -> list[Box]:
    """Boxes of every face in ``pixels``, in their coordinates. In fast mode the detector
    scans a grey copy of at most ``detect_pixels``."""
    if options.detection == "exact":
        return engine.locate(pixels, options.detector)
    copy = gray_copy(shrink_to(pixels, options.detect_pixels))
    boxes = engine.locate(copy, options.detector)
    return scale_boxes(boxes, pixels.shape[1] / copy.shape[1], pixels.shape[:2])


def faces_in(
    pixels: np.ndarray, engine: FaceEngine, options: AnalysisOptions
) -> tuple[list[Box], list[np.ndarray], dict[str, float]]:
    """Boxes (in ``pixels``' coordinates) and encodings of every face in ``pixels``, with
    the time each step took; the encodings are computed on ``pixels`` themselves."""
    start = time.perf_counter()
    with options.detect_gate():
        boxes = locate_faces(pixels, engine, options)
    detect_ms = _ms(start)
    start = time.perf_counter()
    encodings = engine.encode(pixels, boxes, options.num_jitters)
    return boxes, encodings, {"detect": detect_ms, "encode": _ms(start)}


def scale_boxes(boxes: list[Box], factor: float, bounds: tuple[int, ...]) -> list[Box]:
    """(top, right, bottom, left) boxes times ``factor``, kept inside (height, width)."""
    height, width = bounds[0], bounds[1]
    return [
        (
            max(round(top * factor), 0),
            min(round(right * factor), width),
            min(round(bottom * factor), height),
            max(round(left * factor), 0),
        )
        for top, right, bottom, left in boxes
    ]


def decode(data: bytes, options: AnalysisOptions) -> tuple[np.ndarray, float, tuple[int, int]]:
    """The pixels to analyse, their scale to the original, and the original's (w, h)."""
    if options.detection == "exact":
        pixels = decode_image(data, options.limits)
        return pixels, 1.0, (pixels.shape[1], pixels.shape[0])
    working = decode_working(data, options.limits, options.detect_pixels, options.decode_gate)
    return working.pixels, working.scale, working.size


def analyze_bytes(
    image: str,
    data: bytes | Callable[[], bytes],
    engine: FaceEngine,
    gallery: Gallery,
    options: AnalysisOptions,
) -> ImageResult:
    """Analyse one image. Never raises for bad input: the result says what went wrong.

    ``data`` is the file's bytes, or a function that fetches them (and raises BadImage
    when it cannot): it is called inside the detection slot, so that only the images
    being decoded are in memory."""
    started = time.perf_counter()
    timings: dict[str, float] = {}
    try:
        # Decoding and detection take most of the memory and CPU: they run in one of the
        # worker's detection slots, so that no more of them run at once than there are
        # cores. A task waiting for a slot holds only its bytes.
        with options.detect_gate():
            step = time.perf_counter()
            if callable(data):
                data = data()
                timings["fetch"] = _ms(step)
                step = time.perf_counter()
            pixels, scale, (width, height) = decode(data, options)
            del data
            timings["decode"] = _ms(step)
            step = time.perf_counter()
            boxes = locate_faces(pixels, engine, options)
            timings["detect"] = _ms(step)
        step = time.perf_counter()
        encodings = engine.encode(pixels, boxes, options.num_jitters)
        timings["encode"] = _ms(step)
        if scale != 1.0:
            boxes = scale_boxes(boxes, 1 / scale, (height, width))
        del pixels  # the image's memory goes before matching, not after the result
        step = time.perf_counter()
        faces: list[FaceResult] = []
        for box, encoding in zip(boxes, encodings, strict=True):
            match = gallery.identify(encoding, options.tolerance)
            faces.append(FaceResult(box=list(box), name=match.name, distance=match.distance))
        timings["match"] = _ms(step)
    except BadImage as exc:
        timings["total"] = _ms(started)
        return error_result(image, str(exc), timings)
    except (RuntimeError, ValueError, MemoryError) as exc:
        # dlib reports its own failures as RuntimeError; keep the batch going.
        timings["total"] = _ms(started)
        return error_result(image, f"analysis failed: {type(exc).__name__}: {exc}", timings)
    timings["total"] = _ms(started)
    return ImageResult(
        image=image, status="ok", faces=faces, error=None, size=[width, height], timings_ms=timings
    )


def summarize(results: list[ImageResult]) -> dict[str, Any]:
    ok = sum(1 for r in results if r.get("status") == "ok")
    return {
        "images": len(results),
        "ok": ok,
        "error": len(results) - ok,
        "faces": sum(len(r.get("faces") or []) for r in results),
    }
