"""Build, on the controller, the wheelhouse that hosts install the app from with no index.

The wheelhouse holds the facefleet wheel and every dependency as a wheel, resolved for
the hosts' Python version and platform (not the controller's: redis-py needs
async-timeout below Python 3.11.3, and Debian 12 runs 3.11.2), pinned by the app's
constraints file. face-recognition-models is published only as a source package, so it
is built into a wheel once and cached.

A wheelhouse is named by a hash of everything that goes into it, so an unchanged app
is never rebuilt: the second run prints "changed": false. The facefleet wheel carries
that hash as a local version (0.1.0+src.<hash>), so pip on the hosts sees a new release
whenever the code changed. The wheelhouse is also packed as one uncompressed tar (wheels
are compressed already), so that it travels to a host as one file. Prints one JSON
object: path, archive, id, changed.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from email.parser import Parser
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name, parse_wheel_filename

SDIST_ONLY = ["face-recognition-models==0.3.0"]
KEEP_WHEELHOUSES = 3


def source_hash(app_dir: Path, constraints: Path, python: str, platform: str) -> str:
    digest = hashlib.sha256()
    files = [app_dir / "pyproject.toml", constraints, Path(__file__)]
    files += sorted(
        p
        for p in (app_dir / "src").rglob("*")
        if p.is_file() and "__pycache__" not in p.parts
    )
    for path in files:
        digest.update(
            str(
                path.relative_to(app_dir) if path.is_relative_to(app_dir) else path.name
            ).encode()
        )
        digest.update(path.read_bytes())
    digest.update(f"{python} {platform}".encode())
    return digest.hexdigest()[:12]


def pip(*args: str) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "--disable-pip-version-check", *args],
        check=False,
        capture_output=True,
        text=True,
    )
    if proc.returncode != 0:
        raise SystemExit(
            f"pip {args[0]} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
        )


def platform_tags(platform: str) -> list[str]:
    """manylinux_2_36_x86_64 -> itself and every older manylinux tag the host accepts.

    pip takes --platform literally, so a host with glibc 2.36 must be told that wheels
    for glibc 2.17 ... 2.35 run on it too.
    """
    match = re.fullmatch(r"manylinux_(\d+)_(\d+)_(\w+)", platform)
    if not match:
        return [platform]
    major, minor, arch = int(match[1]), int(match[2]), match[3]
    tags = [f"manylinux_{major}_{m}_{arch}" for m in range(minor, 16, -1)]
    return [
        *tags,
        f"manylinux2014_{arch}",
        f"manylinux2010_{arch}",
        f"manylinux1_{arch}",
    ]


def build_sdist_only_wheels(cache: Path) -> Path:
    built = cache / "sdist-wheels"
    built.mkdir(parents=True, exist_ok=True)
    for requirement in SDIST_ONLY:
        name = requirement.split("==")[0].replace("-", "_")
        version = requirement.split("==")[1]
        if not list(built.glob(f"{name}-{version}-*.whl")):
            pip("wheel", "--no-deps", "-w", str(built), requirement)
    return built


def build_app_wheel(app_dir: Path, release: str, into: Path) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        copy = Path(tmp) / "app"
        shutil.copytree(
            app_dir,
            copy,
            ignore=shutil.ignore_patterns(
                "tests", "bench", "__pycache__", "*.egg-info", "build", "dist"
            ),
        )
        pyproject = copy / "pyproject.toml"
        text = pyproject.read_text()
        text, count = re.subn(
            r'^version = "([^"+]+)"',
            rf'version = "\1+src.{release}"',
            text,
            count=1,
            flags=re.MULTILINE,
        )
        if count != 1:
            raise SystemExit("pyproject.toml has no version line to stamp")
        pyproject.write_text(text)
        pip("wheel", "--no-deps", "--no-build-isolation", "-w", str(into), str(copy))


def target_environment(python: str, platform: str) -> dict[str, str]:
    """Marker values of the hosts' interpreter, for evaluating Requires-Dist ourselves."""
    match = re.fullmatch(r"manylinux_\d+_\d+_(\w+)", platform)
    return {
        "python_version": ".".join(python.split(".")[:2]),
        "python_full_version": python,
        "implementation_version": python,
        "implementation_name": "cpython",
        "platform_python_implementation": "CPython",
        "platform_machine": match[1] if match else platform,
        "sys_platform": "linux",
        "platform_system": "Linux",
        "os_name": "posix",
        "extra": "",
    }


def missing_for_target(
    wheelhouse: Path, environment: dict[str, str], extras: dict[str, set[str]]
) -> list[str]:
    """Requirements the hosts need that no wheel in ``wheelhouse`` provides.

    pip evaluates environment markers for the interpreter it runs on, even with
    --python-version; so `async-timeout; python_full_version < "3.11.3"` is dropped
    on a 3.11.7 controller although Debian 12's 3.11.2 needs it.
    """
    present = {
        canonicalize_name(parse_wheel_filename(w.name)[0]) for w in wheelhouse.glob("*.whl")
    }
    requires: dict[str, list[Requirement]] = {}
    for wheel in wheelhouse.glob("*.whl"):
        with zipfile.ZipFile(wheel) as archive:
            meta_name = next(n for n in archive.namelist() if n.endswith(".dist-info/METADATA"))
            metadata = Parser().parsestr(archive.read(meta_name).decode())
        name = canonicalize_name(parse_wheel_filename(wheel.name)[0])
        requires[name] = [Requirement(r) for r in metadata.get_all("Requires-Dist") or []]

    # Extras that one package asks of another (celery[redis]) switch on requirements of
    # that other package, so repeat until no new extra turns up.
    while True:
        before = {k: set(v) for k, v in extras.items()}
        missing: set[str] = set()
        for name, requirements in requires.items():
            for requirement in requirements:
                wanted = requirement.marker is None or any(
                    requirement.marker.evaluate({**environment, "extra": extra})
                    for extra in ["", *sorted(extras.get(name, set()))]
                )
                if not wanted:
                    continue
                dependency = canonicalize_name(requirement.name)
                if requirement.extras:
                    extras.setdefault(dependency, set()).update(requirement.extras)
                if dependency not in present:
                    missing.add(requirement.name)
        if extras == before:
            return sorted(missing)


def requirements_of(wheelhouse: Path) -> list[str]:
    pins = []
    for wheel in sorted(wheelhouse.glob("*.whl")):
        name, version = wheel.name.split("-")[:2]
        pins.append(f"{name.replace('_', '-').lower()}=={version}")
    return pins


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--app-dir", type=Path, required=True)
    parser.add_argument("--constraints", type=Path, required=True)
    parser.add_argument(
        "--python", required=True, help="the hosts' version, e.g. 3.11.2"
    )
    parser.add_argument("--platform", required=True, help="e.g. manylinux_2_36_x86_64")
    parser.add_argument(
        "--extra",
        action="append",
        default=[],
        help="an extra of the app to include (repeat for more)",
    )
    parser.add_argument("--cache", type=Path, required=True)
    args = parser.parse_args()

    release = source_hash(
        args.app_dir, args.constraints, args.python, f"{args.platform} {sorted(set(args.extra))}"
    )
    py_tag = "".join(args.python.split(".")[:2])
    out = args.cache / f"wheelhouse-cp{py_tag}-{args.platform}-{release}"
    archive = out.with_name(out.name + ".tar")
    if (out / "requirements.txt").is_file() and archive.is_file():
        print(json.dumps(_built(out, archive, release, changed=False)))
        return

    args.cache.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=args.cache, prefix=".staging-"))
    try:
        sdist_wheels = build_sdist_only_wheels(args.cache)
        build_app_wheel(args.app_dir, release, staging)
        app_wheel = next(staging.glob("facefleet-*.whl"))
        extras = ",".join(sorted(set(args.extra)))
        platforms = [
            arg for tag in platform_tags(args.platform) for arg in ("--platform", tag)
        ]
        # What the hosts can install: binary wheels for their Python and platform only,
        # at the versions the constraints pin.
        for_hosts = [
            "--only-binary=:all:",
            "--python-version",
            args.python,
            "--implementation",
            "cp",
            "--abi",
            f"cp{py_tag}",
            *platforms,
            "-c",
            str(args.constraints.resolve()),
            "-d",
            str(staging),
        ]
        pip(
            "download",
            *for_hosts,
            "--find-links",
            str(sdist_wheels),
            f"{app_wheel}[{extras}]" if extras else str(app_wheel),
        )
        environment = target_environment(args.python, args.platform)
        wanted_extras = {"facefleet": set(args.extra)}
        while missing := missing_for_target(staging, environment, wanted_extras):
            pip("download", "--no-deps", *for_hosts, *missing)
        pins = requirements_of(staging)
        (staging / "requirements.txt").write_text(
            f"# facefleet release {release} for CPython {args.python} on {args.platform}\n"
            + "\n".join(pins)
            + "\n"
        )
        packing = archive.with_suffix(".tar.partial")
        with tarfile.open(packing, "w") as tar:
            for item in sorted(staging.iterdir()):
                tar.add(item, arcname=item.name)
        staging.rename(out)
        packing.rename(archive)
    finally:
        shutil.rmtree(staging, ignore_errors=True)

    old = sorted(
        (p for p in args.cache.glob(f"wheelhouse-cp{py_tag}-{args.platform}-*") if p.is_dir()),
        key=lambda p: p.stat().st_mtime,
    )
    for stale in old[:-KEEP_WHEELHOUSES]:
        shutil.rmtree(stale, ignore_errors=True)
        stale.with_name(stale.name + ".tar").unlink(missing_ok=True)
    print(json.dumps(_built(out, archive, release, changed=True)))


def _built(out: Path, archive: Path, release: str, changed: bool) -> dict[str, object]:
    return {"path": str(out), "archive": str(archive), "id": release, "changed": changed}


if __name__ == "__main__":
    main()
