"""The wheelhouse builder's target-aware parts (roles/app/files/build_wheelhouse.py)."""

from __future__ import annotations

import zipfile
from pathlib import Path

from conftest import load

builder = load("roles/app/files/build_wheelhouse.py", "build_wheelhouse")


def _wheel(folder: Path, name: str, version: str, requires: list[str]) -> None:
    dist = f"{name.replace('-', '_')}-{version}"
    with zipfile.ZipFile(folder / f"{dist}-py3-none-any.whl", "w") as archive:
        metadata = ["Metadata-Version: 2.1", f"Name: {name}", f"Version: {version}"]
        metadata += [f"Requires-Dist: {r}" for r in requires]
        archive.writestr(f"{dist}.dist-info/METADATA", "\n".join(metadata) + "\n")


def test_platform_tags_include_older_glibc() -> None:
    tags = builder.platform_tags("manylinux_2_36_x86_64")
    assert tags[0] == "manylinux_2_36_x86_64"
    assert "manylinux_2_28_x86_64" in tags
    assert "manylinux_2_17_x86_64" in tags
    assert "manylinux2014_x86_64" in tags


def test_marker_for_the_hosts_python_finds_what_pip_left_out(tmp_path: Path) -> None:
    _wheel(
        tmp_path,
        "redis",
        "8.1.0",
        [
            "async-timeout>=4.0.3; python_full_version < '3.11.3'",
            "hiredis>=3.2.0; extra == 'hiredis'",
        ],
    )
    debian12 = builder.target_environment("3.11.2", "manylinux_2_36_x86_64")
    newer = builder.target_environment("3.11.7", "manylinux_2_36_x86_64")
    assert builder.missing_for_target(tmp_path, debian12, {}) == ["async-timeout"]
    assert builder.missing_for_target(tmp_path, newer, {}) == []


def test_requested_extras_pull_their_requirements(tmp_path: Path) -> None:
    _wheel(tmp_path, "facefleet", "0.1.0", ["celery[redis]>=5.5", "flower>=2; extra == 'flower'"])
    _wheel(tmp_path, "celery", "5.7.0", ["kombu[redis]; extra == 'redis'"])
    env = builder.target_environment("3.11.2", "manylinux_2_36_x86_64")
    assert builder.missing_for_target(tmp_path, env, {}) == ["kombu"]
    extras = {"facefleet": {"flower"}}
    assert builder.missing_for_target(tmp_path, env, extras) == ["flower", "kombu"]


def test_requirements_pin_every_wheel(tmp_path: Path) -> None:
    _wheel(tmp_path, "face-recognition-models", "0.3.0", [])
    _wheel(tmp_path, "dlib-bin", "20.0.1.post1", [])
    assert builder.requirements_of(tmp_path) == [
        "dlib-bin==20.0.1.post1",
        "face-recognition-models==0.3.0",
    ]
