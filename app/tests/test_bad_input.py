"""Every kind of bad or unusual input gets a clear per-item result in the pure pipeline."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import WORKER_LIMITS as LIMITS
from PIL import Image
from sample_files import BAD_INPUTS, UNUSUAL_GOOD, write_bad_inputs, write_unusual_good

from facefleet.core.gallery import Gallery
from facefleet.core.image_loading import BadImage, ImageLimits, decode_image
from facefleet.pipeline import analyze_path
from facefleet.settings import Settings, replace


@pytest.fixture(scope="module")
def small_limits() -> Settings:
    return replace(Settings(), **LIMITS)


@pytest.fixture(scope="module")
def bad_dir(tmp_path_factory: pytest.TempPathFactory, faces: Path) -> Path:
    return write_bad_inputs(
        tmp_path_factory.mktemp("bad"),
        faces / "obama.jpg",
        LIMITS["max_image_bytes"],
        LIMITS["max_image_pixels"],
    )


@pytest.fixture(scope="module")
def unusual_dir(tmp_path_factory: pytest.TempPathFactory, faces: Path) -> Path:
    return write_unusual_good(tmp_path_factory.mktemp("unusual"), faces / "obama.jpg")


@pytest.mark.parametrize(("name", "reason"), sorted(BAD_INPUTS.items()))
def test_bad_input_gets_a_one_line_error(
    bad_dir: Path, small_limits: Settings, name: str, reason: str
) -> None:
    result = analyze_path(bad_dir / name, small_limits, Gallery())
    assert result["status"] == "error"
    assert result["faces"] == []
    assert result["error"].startswith(reason), result["error"]
    assert "\n" not in result["error"]


def test_pixel_limit_is_checked_before_decoding() -> None:
    from sample_files import bomb_header_png

    # 60000 x 60000 would need 10 GB decoded; the header alone must be enough to refuse it.
    with pytest.raises(BadImage, match="image too large"):
        decode_image(bomb_header_png(60000, 60000), ImageLimits(10**9, 40_000_000))


def test_missing_file_is_an_error_result(tmp_path: Path, small_limits: Settings) -> None:
    result = analyze_path(tmp_path / "gone.jpg", small_limits, Gallery())
    assert result["status"] == "error"
    assert result["error"].startswith("cannot read file")


@pytest.mark.parametrize("name", UNUSUAL_GOOD)
def test_unusual_formats_are_read_and_named(
    unusual_dir: Path, small_limits: Settings, obama_gallery: Gallery, name: str
) -> None:
    result = analyze_path(unusual_dir / name, small_limits, obama_gallery)
    assert result["status"] == "ok", result["error"]
    assert [f["name"] for f in result["faces"]] == ["obama"]


def test_exif_orientation_is_applied(unusual_dir: Path, small_limits: Settings) -> None:
    with Image.open(unusual_dir / "photo.tiff") as upright:
        width, height = upright.size  # the same photo, stored upright
    result = analyze_path(unusual_dir / "exif_rotated.jpg", small_limits, Gallery())
    assert result["size"] == [width, height]
    assert len(result["faces"]) == 1


def test_no_face_is_ok_with_no_faces(tmp_path: Path, small_limits: Settings) -> None:
    Image.new("RGB", (320, 240), (90, 140, 200)).save(tmp_path / "sky.jpg")
    result = analyze_path(tmp_path / "sky.jpg", small_limits, Gallery())
    assert result["status"] == "ok"
    assert result["faces"] == []
    assert result["error"] is None
