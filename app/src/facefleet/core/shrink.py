"""The detector's working copy in fast mode: an RGB pixel array shrunk to a pixel budget,
in shades of grey."""

from __future__ import annotations

import math

import numpy as np
from PIL import Image


def shrink_to(pixels: np.ndarray, max_pixels: int) -> np.ndarray:
    """``pixels`` itself when it has at most ``max_pixels``; else a copy scaled down to fit,
    its aspect kept (a box reduce by the whole factor, then bilinear for the rest)."""
    height, width = pixels.shape[:2]
    if width * height <= max_pixels:
        return pixels
    factor = math.sqrt(max_pixels / (width * height))
    size = (max(1, math.floor(width * factor)), max(1, math.floor(height * factor)))
    image = Image.fromarray(pixels).resize(size, Image.Resampling.BILINEAR, reducing_gap=2.0)
    return np.ascontiguousarray(np.asarray(image, dtype=np.uint8))


def gray_copy(pixels: np.ndarray) -> np.ndarray:
    """The luminance of an RGB array (ITU-R 601, as Pillow's "L"). dlib's HOG detector
    scans one channel instead of three: about 15 % faster, and a third of the memory for
    the upsampled image it builds."""
    gray = Image.fromarray(pixels).convert("L")
    return np.ascontiguousarray(np.asarray(gray, dtype=np.uint8))
