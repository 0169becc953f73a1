"""The model files are found without pkg_resources, and a missing model fails loudly."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from facefleet.core.model_files import ModelFilesMissing, locate_model_files


def test_package_models_are_found() -> None:
    files = locate_model_files()
    for path in (files.shape_predictor_5, files.face_encoder, files.cnn_detector):
        assert path.stat().st_size > 100_000, path


def test_missing_models_folder_raises(tmp_path: Path) -> None:
    with pytest.raises(ModelFilesMissing, match="face model files missing"):
        locate_model_files(str(tmp_path))


def test_models_load_when_pkg_resources_is_gone() -> None:
    """setuptools 82 removed pkg_resources; the app must not depend on it."""
    code = (
        "import sys; sys.modules['pkg_resources'] = None\n"
        "try:\n"
        "    import face_recognition_models\n"
        "    raise SystemExit('pkg_resources should be unimportable here')\n"
        "except ImportError:\n"
        "    pass\n"
        "from facefleet.pipeline import engine_for\n"
        "from facefleet.settings import Settings\n"
        "engine_for(Settings()).warm_up()\n"
        "print('loaded')\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "loaded"
