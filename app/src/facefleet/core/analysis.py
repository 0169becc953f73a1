"""One image in, one result out: the pipeline that every entry point runs."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, TypedDict

import numpy as np

from facefleet.core.face_engine import Box, DetectorOptions, FaceEngine
from facefleet.core.gallery import Gallery
from facefleet.core.image_loading import BadImage, ImageLimits, decode_image


@dataclass(frozen=True)
class AnalysisOptions:
    detector: DetectorOptions
    limits: ImageLimits
    tolerance: float = 0.6
    num_jitters: int = 1


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


def _ms(start: float) -> float:
    return round((time.perf_counter() - start) * 1000, 1)


def error_result(image: str, reason: str, timings: dict[str, float] | None = None) -> ImageResult:
    return ImageResult(
        image=image, status="error", faces=[], error=reason, size=None, timings_ms=timings or {}
    )


def faces_in(
    pixels: np.ndarray, engine: FaceEngine, options: AnalysisOptions
) -> tuple[list[Box], list[np.ndarray], dict[str, float]]:
    """Boxes and encodings of every face in ``pixels``, with the time each step took."""
    start = time.perf_counter()
    boxes = engine.locate(pixels, options.detector)
    detect_ms = _ms(start)
    start = time.perf_counter()
    encodings = engine.encode(pixels, boxes, options.num_jitters)
    return boxes, encodings, {"detect": detect_ms, "encode": _ms(start)}


def analyze_bytes(
    image: str, data: bytes, engine: FaceEngine, gallery: Gallery, options: AnalysisOptions
) -> ImageResult:
    """Analyse one image. Never raises for bad input: the result says what went wrong."""
    started = time.perf_counter()
    timings: dict[str, float] = {}
    try:
        step = time.perf_counter()
        pixels = decode_image(data, options.limits)
        timings["decode"] = _ms(step)
        boxes, encodings, face_timings = faces_in(pixels, engine, options)
        timings.update(face_timings)
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
    height, width = pixels.shape[:2]
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
