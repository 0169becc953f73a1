"""Find the dlib model files without importing face_recognition_models.

That package's ``__init__`` imports ``pkg_resources``, which setuptools 82 removed;
``face_recognition`` then prints a hint and calls ``quit()``, so a worker would exit
with status 0 at import. Locating the package's folder with ``find_spec`` never runs
its ``__init__``.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path

MODELS_PACKAGE = "face_recognition_models"


class ModelFilesMissing(RuntimeError):
    """The model files are not where the settings or the package say."""


@dataclass(frozen=True)
class ModelFiles:
    shape_predictor_5: Path
    face_encoder: Path
    cnn_detector: Path

    @classmethod
    def in_folder(cls, folder: Path) -> ModelFiles:
        files = cls(
            shape_predictor_5=folder / "shape_predictor_5_face_landmarks.dat",
            face_encoder=folder / "dlib_face_recognition_resnet_model_v1.dat",
            cnn_detector=folder / "mmod_human_face_detector.dat",
        )
        missing = [
            str(p)
            for p in (files.shape_predictor_5, files.face_encoder, files.cnn_detector)
            if not p.is_file()
        ]
        if missing:
            raise ModelFilesMissing("face model files missing: " + ", ".join(missing))
        return files


def package_models_folder() -> Path:
    """The ``models`` folder inside the installed face-recognition-models package."""
    spec = importlib.util.find_spec(MODELS_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ModelFilesMissing(
            f"package {MODELS_PACKAGE} is not installed (pip install face-recognition-models)"
        )
    return Path(next(iter(spec.submodule_search_locations))) / "models"


def locate_model_files(models_dir: str = "") -> ModelFiles:
    """The model files in ``models_dir``, or in the installed package when it is empty."""
    return ModelFiles.in_folder(Path(models_dir) if models_dir else package_models_folder())
