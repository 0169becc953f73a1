"""Turn untrusted bytes into an RGB pixel array, or a one-line reason why not."""

from __future__ import annotations

import io
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


def decode_image(data: bytes, limits: ImageLimits) -> np.ndarray:
    """Decode ``data`` to an upright H x W x 3 uint8 array.

    Raises BadImage for empty, oversized, truncated, corrupt or non-image input.
    The pixel limit is checked from the header, before any pixel is decoded.
    """
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
    try:
        # Animated formats (GIF, WebP): the first frame is the image.
        image.seek(0)
        image.load()
        image = ImageOps.exif_transpose(image)
        return _to_rgb_array(image)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise BadImage(f"image too large: {exc}") from None
    except (OSError, ValueError, SyntaxError, EOFError) as exc:
        raise BadImage(f"corrupt or truncated {image.format or 'image'}: {exc}") from None
