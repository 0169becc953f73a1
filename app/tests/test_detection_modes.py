"""Fast and exact detection: exact is face_recognition's default use, bit for bit; fast names
the same people, on the shared photos, on 12 MP versions and on a group photo with small
faces, while decoding and scanning a bounded working copy."""

from __future__ import annotations

import io
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from facefleet.core.analysis import scale_boxes
from facefleet.core.gallery import Gallery
from facefleet.core.image_loading import ImageLimits, decode_image, decode_working
from facefleet.pipeline import analyze_path
from facefleet.settings import Settings

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
from image_set import GROUP_FACES, build

EXACT = Settings(detection="exact")
FAST = Settings(detection="fast")
LIMITS = ImageLimits(max_bytes=Settings().max_image_bytes, max_pixels=Settings().max_image_pixels)


def _names(result: dict) -> list[str | None]:
    return [f["name"] for f in sorted(result["faces"], key=lambda f: f["box"][3])]


def _named(result: dict) -> list[str]:
    """The names given, sorted: what "equal recall, no false name" compares (a face
    nobody is enrolled as may be found by one mode and not the other)."""
    return sorted(n for n in _names(result) if n)


@pytest.fixture(scope="module")
def bench_images(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Two 12 MP photos and the group photo (the benchmark's own builder)."""
    folder = tmp_path_factory.mktemp("bench-images")
    images = build(
        folder,
        lambda p: [tuple(f["box"]) for f in analyze_path(p, EXACT, Gallery())["faces"]],
        large=["two_people.jpg", "kit_with_rose.jpg"],
    )
    return {i.path.name: i.path for i in images if i.path.parent == folder}


@pytest.fixture(scope="module")
def analysed(bench_images: dict[str, Path], known_gallery: Gallery) -> dict[tuple[str, str], dict]:
    """Each of them analysed in both modes, once: (name, mode) -> result."""
    return {
        (name, settings.detection): analyze_path(path, settings, known_gallery)
        for name, path in bench_images.items()
        for settings in (FAST, EXACT)
    }


def test_exact_mode_is_face_recognition_on_a_photo_above_the_fast_budget(faces: Path) -> None:
    """obama_and_biden.jpg has 2.9 MP, more than fast mode scans: exact still matches."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # face_recognition_models imports pkg_resources
        import face_recognition

    image = face_recognition.load_image_file(faces / "obama_and_biden.jpg")
    boxes = face_recognition.face_locations(image)
    theirs = face_recognition.face_encodings(image, boxes)
    ours = analyze_path(faces / "obama_and_biden.jpg", EXACT, Gallery())
    assert [tuple(f["box"]) for f in ours["faces"]] == boxes
    gallery = Gallery.from_people({"x": [theirs[0]]})
    again = analyze_path(faces / "obama_and_biden.jpg", EXACT, gallery)
    assert again["faces"][0]["distance"] == 0.0  # the very same encoding


@pytest.mark.parametrize(
    "photo", ["two_people.jpg", "kit_with_rose.jpg", "obama-1080p.jpg", "obama_and_biden.jpg"]
)
def test_fast_names_the_same_faces_on_the_shared_photos(
    faces: Path, known_gallery: Gallery, photo: str
) -> None:
    fast = analyze_path(faces / photo, FAST, known_gallery)
    exact = analyze_path(faces / photo, EXACT, known_gallery)
    assert len(fast["faces"]) == len(exact["faces"])
    assert _names(fast) == _names(exact)
    assert fast["size"] == exact["size"]


def test_fast_mode_drops_the_false_face_on_the_astronauts_patch(
    faces: Path, known_gallery: Gallery
) -> None:
    """HOG in colour finds a "face" on the mission patch (SOURCES.md); in grey it does not."""
    assert len(analyze_path(faces / "astronaut.png", EXACT, known_gallery)["faces"]) == 2
    assert len(analyze_path(faces / "astronaut.png", FAST, known_gallery)["faces"]) == 1


def test_fast_names_the_same_people_on_large_and_small_faces(
    bench_images: dict[str, Path], analysed: dict[tuple[str, str], dict]
) -> None:
    for name in bench_images:
        fast, exact = analysed[name, "fast"], analysed[name, "exact"]
        assert fast["status"] == exact["status"] == "ok"
        assert _named(fast) == _named(exact), name
        assert fast["size"] == exact["size"]
        assert fast["timings_ms"]["detect"] < exact["timings_ms"]["detect"] or name.startswith(
            "group"
        )
    group = analysed["group-small-faces.jpg", "fast"]
    assert _named(group) == sorted(n for _, _, n in GROUP_FACES if n)
    assert len(group["faces"]) == len(GROUP_FACES)


def test_fast_boxes_are_in_the_originals_pixels(analysed: dict[tuple[str, str], dict]) -> None:
    results = {mode: analysed["12mp-two_people.jpg", mode] for mode in ("fast", "exact")}
    fast, exact = ({f["name"]: f for f in r["faces"] if f["name"]} for r in results.values())
    assert sorted(fast) == sorted(exact) == ["biden", "obama"]
    for name, ours in fast.items():
        theirs = exact[name]
        top, right, bottom, left = ours["box"]
        t_top, t_right, t_bottom, t_left = theirs["box"]
        overlap_w = max(0, min(right, t_right) - max(left, t_left))
        overlap_h = max(0, min(bottom, t_bottom) - max(top, t_top))
        union = (right - left) * (bottom - top) + (t_right - t_left) * (t_bottom - t_top)
        assert overlap_w * overlap_h / (union - overlap_w * overlap_h) > 0.6


def test_a_large_jpeg_is_decoded_at_a_fraction_of_its_size(bench_images: dict[str, Path]) -> None:
    data = bench_images["12mp-two_people.jpg"].read_bytes()
    working = decode_working(data, LIMITS, FAST.detect_pixels)
    height, width = working.pixels.shape[:2]
    assert FAST.detect_pixels <= width * height <= 4 * FAST.detect_pixels
    assert working.size[0] * working.size[1] > 11_000_000
    assert working.scale == pytest.approx(width / working.size[0])


def test_other_formats_shrink_right_after_decoding_and_keep_their_orientation() -> None:
    # A 3000x2000 PNG whose EXIF says: rotate 90 degrees (orientation 6).
    pixels = np.zeros((2000, 3000, 3), dtype=np.uint8)
    pixels[:, :1500] = 255  # the left half white: after rotating, the top half
    image = Image.fromarray(pixels)
    exif = image.getexif()
    exif[0x0112] = 6
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", exif=exif)
    entered = []

    class Gate:
        def __enter__(self) -> None:
            entered.append(True)

        def __exit__(self, *_: object) -> None:
            return None

    working = decode_working(buffer.getvalue(), LIMITS, 1_000_000, gate=Gate)
    assert entered == [True]  # the full-size decode went through the gate
    assert working.size == (2000, 3000)  # upright: the sides swapped
    height, width = working.pixels.shape[:2]
    assert (width, height) == (1000, 1500)  # reduced by 2, rotated
    assert working.pixels[:10].mean() > 250
    assert working.pixels[-10:].mean() < 5
    full = decode_image(buffer.getvalue(), LIMITS)
    assert full.shape[:2] == (3000, 2000)


def test_scale_boxes_stays_inside_the_image() -> None:
    assert scale_boxes([(10, 50, 40, 0)], 2.0, (70, 90)) == [(20, 90, 70, 0)]
