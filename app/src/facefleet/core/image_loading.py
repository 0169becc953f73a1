"""Turn untrusted bytes into an RGB pixel array, or a one-line reason why not."""

from __future__ import annotations

import io
import math
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

# Modes whose samples are wider than 8 bits; Pillow's convert("RGB") would clip them.
_WIDE_GRAY_MODES = {"I", "I;16", "I;16B", "I;16L", "I;16N", "F"}


# File signatures, to tell a damaged image from something that never was one.
_SIGNATURES = {
    b"\xff\xd8\xff": "JPEG",
    b"\x89PNG\r\n\x1a\n": "PNG",
    b"GIF8": "GIF",
    b"II*\x00": "TIFF",
    b"MM\x00*": "TIFF",
    b"BM": "BMP",
}


def _claimed_format(data: bytes) -> str | None:
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "WebP"
    return next((name for magic, name in _SIGNATURES.items() if data.startswith(magic)), None)


class BadImage(ValueError):
    """The input is not an image this pipeline can read; the message says why, in one line."""


@dataclass(frozen=True)
class ImageLimits:
    max_bytes: int
    max_pixels: int


def _wide_gray_to_rgb(image: Image.Image) -> np.ndarray:
    samples = np.asarray(image, dtype=np.float64)
    low, high = float(samples.min()), float(samples.max())
    scale = 255.0 / (high - low) if high > low else 0.0
    gray = np.clip((samples - low) * scale, 0, 255).astype(np.uint8)
    return np.stack([gray, gray, gray], axis=-1)


def _to_rgb_array(image: Image.Image) -> np.ndarray:
    if image.mode in _WIDE_GRAY_MODES:
        return _wide_gray_to_rgb(image)
    if image.mode in ("P", "PA"):
        # Palette images may carry transparency; go through RGBA as Pillow asks.
        image = image.convert("RGBA")
    if image.mode != "RGB":
        image = image.convert("RGB")
    return np.ascontiguousarray(np.asarray(image, dtype=np.uint8))


def check_file_size(size: int, limits: ImageLimits) -> None:
    """Raise BadImage when a file of ``size`` bytes is empty or over the byte limit."""
    if size == 0:
        raise BadImage("empty file")
    if size > limits.max_bytes:
        raise BadImage(f"file too large: {size} bytes, limit {limits.max_bytes}")


def _open(data: bytes, limits: ImageLimits) -> Image.Image:
    """Open ``data`` lazily, after the byte limit; refuse what is not an image, or is over
    the pixel limit, from the header alone (nothing is decoded yet)."""
    check_file_size(len(data), limits)
    try:
        image = Image.open(io.BytesIO(data))
    except UnidentifiedImageError:
        claimed = _claimed_format(data)
        if claimed:
            raise BadImage(f"corrupt {claimed}: its header cannot be read") from None
        raise BadImage("not an image: unrecognised file format") from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise BadImage(f"image too large: {exc}") from None
    except (OSError, ValueError, SyntaxError) as exc:
        raise BadImage(f"corrupt image header: {exc}") from None

    width, height = image.size
    if width < 1 or height < 1:
        raise BadImage(f"image has no pixels: {width}x{height}")
    if width * height > limits.max_pixels:
        raise BadImage(
            f"image too large: {width}x{height} = {width * height} pixels, "
            f"limit {limits.max_pixels}"
        )
    return image


def _load(image: Image.Image, prepare: Callable[[Image.Image], Image.Image]) -> np.ndarray:
    """Decode, apply ``prepare`` (which may shrink the image), turn upright, make RGB."""
    try:
        # Animated formats (GIF, WebP): the first frame is the image.
        image.seek(0)
        image.load()
        image = ImageOps.exif_transpose(prepare(image))
        return _to_rgb_array(image)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise BadImage(f"image too large: {exc}") from None
    except (OSError, ValueError, SyntaxError, EOFError) as exc:
        raise BadImage(f"corrupt or truncated {image.format or 'image'}: {exc}") from None


def decode_image(data: bytes, limits: ImageLimits) -> np.ndarray:
    """Decode ``data`` to an upright H x W x 3 uint8 array, at full size.

    Raises BadImage for empty, oversized, truncated, corrupt or non-image input.
    The pixel limit is checked from the header, before any pixel is decoded.
    """
    return _load(_open(data, limits), lambda image: image)


@dataclass(frozen=True)
class WorkingImage:
    """An image decoded at a reduced size: ``pixels`` are ``scale`` times the original's
    width and height (1.0: full size), and the original measured ``size`` (w, h),
    upright."""

    pixels: np.ndarray
    scale: float
    size: tuple[int, int]


def decode_working(
    data: bytes,
    limits: ImageLimits,
    min_pixels: int,
    gate: Callable[[], AbstractContextManager[object]] = nullcontext,
) -> WorkingImage:
    """Decode ``data`` at the smallest size that still has ``min_pixels`` (or at full
    size, when it has fewer). The memory this takes follows that working size, not the
    file's: a JPEG is decoded straight to 1/2, 1/4 or 1/8 of its size (its DCT scaling,
    Pillow's draft), and any other format is reduced right after decoding, its full-size
    pixels freed at once. Those full-size decodes run inside ``gate()``, so that a
    caller can let only one happen at a time (see facefleet.pipeline)."""
    image = _open(data, limits)
    width, height = image.size
    factor = math.sqrt(min_pixels / (width * height))
    if factor >= 1:
        pixels = _load(image, lambda img: img)
        return WorkingImage(pixels, 1.0, _upright_size(image, width, height))
    if image.format == "JPEG":
        # Decodes at the largest 1/n scale that keeps at least the requested size.
        image.draft(image.mode, (math.ceil(width * factor), math.ceil(height * factor)))
        pixels = _load(image, lambda img: img)
    else:
        shrink = max(1, math.floor(1 / factor))
        with gate():
            pixels = _load(image, lambda img: _reduced(img, shrink))
    upright = _upright_size(image, width, height)
    return WorkingImage(pixels, pixels.shape[1] / upright[0], upright)


def _reduced(image: Image.Image, factor: int) -> Image.Image:
    """``image`` shrunk by a whole ``factor`` (box average), keeping its EXIF orientation."""
    if factor == 1:
        return image
    try:
        reduced = image.reduce(factor)
    except ValueError:  # a mode reduce() does not take (palette, 16-bit): keep full size
        return image
    reduced.info.update(image.info)
    return reduced


def _upright_size(image: Image.Image, width: int, height: int) -> tuple[int, int]:
    """(w, h) of the original once EXIF orientation is applied (5-8 swap the sides)."""
    try:
        orientation = image.getexif().get(0x0112, 1)
    except Exception:  # a damaged EXIF block orients nothing
        orientation = 1
    return (height, width) if orientation in (5, 6, 7, 8) else (width, height)
