"""Builds the bad and unusual inputs the pipeline must handle, from a real photo."""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

from PIL import Image

# name -> the start of the one-line reason the result must give
BAD_INPUTS = {
    "empty.jpg": "empty file",
    "truncated.jpg": "corrupt or truncated",
    "corrupt.jpg": "corrupt",
    "notes.txt": "not an image",
    "program.bin": "not an image",
    "fake.png": "not an image",
    "bomb_header.png": "image too large",
    "bomb_pixels.png": "image too large",
    "oversized.jpg": "file too large",
}

# name -> a photo of one person (Obama) stored in an unusual way; each must be named
UNUSUAL_GOOD = [
    "gray.png",
    "rgba.png",
    "palette.png",
    "gray16.png",
    "cmyk.jpg",
    "photo.gif",
    "photo.webp",
    "photo.tiff",
    "exif_rotated.jpg",
]


def _png_chunk(kind: bytes, body: bytes) -> bytes:
    return (
        struct.pack(">I", len(body))
        + kind
        + body
        + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)
    )


def bomb_header_png(width: int, height: int) -> bytes:
    """A tiny PNG whose header claims width x height pixels (a decompression bomb)."""
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", header)
        + _png_chunk(b"IDAT", zlib.compress(b"\x00" * 64))
        + _png_chunk(b"IEND", b"")
    )


def write_bad_inputs(folder: Path, photo: Path, max_bytes: int, max_pixels: int) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    jpeg = photo.read_bytes()
    (folder / "empty.jpg").write_bytes(b"")
    (folder / "truncated.jpg").write_bytes(jpeg[: len(jpeg) // 3])
    corrupt = bytearray(jpeg)
    corrupt[600:] = bytes((i * 37) % 256 for i in range(len(corrupt) - 600))
    (folder / "corrupt.jpg").write_bytes(bytes(corrupt))
    (folder / "notes.txt").write_text("not a photo\n" * 20)
    (folder / "program.bin").write_bytes(b"\x7fELF\x02\x01\x01" + bytes(500))
    (folder / "fake.png").write_bytes(b"<html><body>a web page saved as .png</body></html>")
    (folder / "bomb_header.png").write_bytes(bomb_header_png(30000, 30000))
    side = int(max_pixels**0.5) + 10
    buffer = io.BytesIO()
    Image.new("L", (side, side)).save(buffer, "PNG")
    (folder / "bomb_pixels.png").write_bytes(buffer.getvalue())
    (folder / "oversized.jpg").write_bytes(jpeg + bytes(max_bytes + 1 - len(jpeg)))
    return folder


def write_unusual_good(folder: Path, photo: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    with Image.open(photo) as original:
        rgb = original.convert("RGB")
    rgb.thumbnail((640, 640))  # keeps the uncompressed TIFF under the test's byte limit
    rgb.convert("L").save(folder / "gray.png")
    rgba = rgb.convert("RGBA")
    rgba.putalpha(200)
    rgba.save(folder / "rgba.png")
    rgb.convert("P", palette=Image.Palette.ADAPTIVE, colors=256).save(folder / "palette.png")
    rgb.convert("L").point(lambda v: v * 257, mode="I").convert("I;16").save(folder / "gray16.png")
    rgb.convert("CMYK").save(folder / "cmyk.jpg", quality=92)
    rgb.save(folder / "photo.gif")
    rgb.save(folder / "photo.webp", quality=90)
    rgb.save(folder / "photo.tiff")
    # A phone stores the sensor's pixels and an EXIF tag saying how to turn them upright.
    sideways = rgb.transpose(Image.Transpose.ROTATE_90)
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 CW to display"
    sideways.save(folder / "exif_rotated.jpg", exif=exif, quality=92)
    return folder
