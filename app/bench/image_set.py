"""The benchmark's images, and whom each must be named as: the shared photos, 12 MP
versions of those that show enrolled people (as a phone would take them), and a group
photo whose faces are 60-80 px high (the small faces a fast path could miss). Built
once into a folder and kept there."""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from photos import FACES, expected_names, photos
from PIL import Image, ImageFilter

# Photos of enrolled people that also come as 12 MP JPEGs (quality 92, as phones save).
LARGE = [
    "two_people.jpg",
    "obama_and_biden.jpg",
    "kit_with_rose.jpg",
    "obama1.jpg",
    "biden2.jpg",
    "rose_leslie2.jpg",
    "kit_harington3.jpg",
    "alex_lacamoire3.jpg",
]
LARGE_PIXELS = 12_000_000

# The group photo: (source photo, the face's place left to right in it, its name or None).
GROUP_FACES = [
    ("obama1.jpg", 0, "obama"),
    ("biden2.jpg", 0, "biden"),
    ("kit_harington3.jpg", 0, "kit_harington"),
    ("rose_leslie2.jpg", 0, "rose_leslie"),
    ("alex_lacamoire2.jpg", 0, None),
    ("lin_manuel_miranda.png", 0, None),
    ("two_people.jpg", 0, "obama"),
    ("two_people.jpg", 1, "biden"),
]
GROUP_SIZE = (1800, 1200)
GROUP_FACE_HEIGHTS = (60, 64, 68, 72, 76, 80, 62, 70)


@dataclass(frozen=True)
class BenchImage:
    path: Path
    # The enrolled people it shows, each as many times as they appear (None: not sure
    # it can be named).
    names: Counter[str] | None


def _large(source: Path, folder: Path) -> Path:
    target = folder / f"12mp-{source.stem}.jpg"
    if not target.exists():
        with Image.open(source) as image:
            rgb = image.convert("RGB")
            factor = math.sqrt(LARGE_PIXELS / (rgb.width * rgb.height))
            size = (round(rgb.width * factor), round(rgb.height * factor))
            rgb.resize(size, Image.Resampling.LANCZOS).save(target, quality=92)
    return target


def _group(folder: Path, locate: object) -> Path:
    """``locate(path)`` gives the (top, right, bottom, left) boxes of a photo's faces."""
    target = folder / "group-small-faces.jpg"
    if target.exists():
        return target
    width, height = GROUP_SIZE
    # A soft, faceless background: a photo's colours, blurred beyond recognition.
    with Image.open(FACES / "obama3.jpg") as scene:
        canvas = (
            scene.convert("RGB")
            .resize((64, 40))
            .resize(GROUP_SIZE)
            .filter(ImageFilter.GaussianBlur(30))
        )
    columns = 4
    cell_w, cell_h = width // columns, height // 2
    for index, ((photo, place, _), face_height) in enumerate(
        zip(GROUP_FACES, GROUP_FACE_HEIGHTS, strict=True)
    ):
        boxes = sorted(locate(FACES / photo), key=lambda b: b[3])  # type: ignore[operator]
        top, right, bottom, left = boxes[place]
        margin = (bottom - top) * 0.6
        with Image.open(FACES / photo) as source:
            crop = source.convert("RGB").crop(
                (
                    max(0, int(left - margin)),
                    max(0, int(top - margin)),
                    min(source.width, int(right + margin)),
                    min(source.height, int(bottom + margin)),
                )
            )
        scale = face_height / (bottom - top)
        crop = crop.resize(
            (round(crop.width * scale), round(crop.height * scale)), Image.Resampling.LANCZOS
        )
        x = (index % columns) * cell_w + (cell_w - crop.width) // 2
        y = (index // columns) * cell_h + (cell_h - crop.height) // 2
        canvas.paste(crop, (x, y))
    canvas.save(target, quality=92)
    return target


def build(folder: Path, locate: object, large: list[str] = LARGE) -> list[BenchImage]:
    """The whole set (or only the ``large`` photos among the 12 MP ones), making what
    ``folder`` does not hold yet."""
    folder.mkdir(parents=True, exist_ok=True)
    images = [BenchImage(p, _counted(expected_names(p.name))) for p in photos()]
    images += [BenchImage(_large(FACES / p, folder), _counted(expected_names(p))) for p in large]
    group = Counter(name for _, _, name in GROUP_FACES if name)
    images.append(BenchImage(_group(folder, locate), group))
    return images


def _counted(names: set[str] | None) -> Counter[str] | None:
    return None if names is None else Counter(names)
