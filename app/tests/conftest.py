"""Shared fixtures: the real photos, a real redis-server and real Celery workers."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from facefleet import worker_main
from facefleet.core.gallery import Gallery
from facefleet.settings import Settings, load_settings

REPO = Path(__file__).resolve().parents[2]
FACES = Path(os.environ.get("FACEFLEET_FACES_DIR", REPO.parent / "shared" / "data" / "faces"))


@pytest.fixture(scope="session")
def faces() -> Path:
    """The shared real photos (see their SOURCES.md). Missing photos fail, never skip."""
    if not (FACES / "SOURCES.md").is_file():
        pytest.fail(f"the shared face photos are missing: {FACES} (set FACEFLEET_FACES_DIR)")
    return FACES


@pytest.fixture(scope="session")
def known_dir(tmp_path_factory: pytest.TempPathFactory, faces: Path) -> Path:
    """A --known folder built from photos that the identity tests never query."""
    known = tmp_path_factory.mktemp("known")
    for person, photos in {
        "obama": ["obama.jpg", "obama2.jpg"],
        "biden": ["biden.jpg", "biden2.jpg"],
        "kit_harington": ["kit_harington1.jpg"],
        "rose_leslie": ["rose_leslie1.jpg"],
    }.items():
        (known / person).mkdir()
        for photo in photos:
            shutil.copy(faces / photo, known / person / photo)
    return known


# Small limits so that the bad-input batch can test them without huge files.
WORKER_LIMITS = {"max_image_bytes": 2_000_000, "max_image_pixels": 12_000_000}


@pytest.fixture(scope="session")
def known_gallery(known_dir: Path) -> Gallery:
    from facefleet.known_folder import gallery_from_folder

    return gallery_from_folder(known_dir, Settings())


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_for(check: object, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if check():  # type: ignore[operator]
                return
        except Exception:
            pass
        time.sleep(0.2)
    pytest.fail(f"{what} did not come up within {timeout} s")


def start_redis_server(workdir: Path, *options: str) -> subprocess.Popen[bytes]:
    """A real redis-server on loopback, its data in ``workdir``, with no snapshots; the
    caller adds the port (``--port`` or ``--tls-port``) and the rest, and waits for it."""
    server = shutil.which("redis-server")
    if server is None:
        pytest.fail("redis-server is not installed (apt-get install redis-server)")
    return subprocess.Popen(
        [server, "--bind", "127.0.0.1", "--dir", str(workdir), "--save", "", *options],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
    )


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real redis-server on a free loopback port, with a password, for this session."""
    port = _free_port()
    password = "test-only-password"
    proc = start_redis_server(
        tmp_path_factory.mktemp("redis"),
        *("--port", str(port), "--requirepass", password, "--appendonly", "no"),
    )
    url = f"redis://:{password}@127.0.0.1:{port}/0"
    _wait_for(lambda: redis.Redis.from_url(url).ping(), 10, "redis-server")
    yield url
    proc.terminate()
    proc.wait(10)


@pytest.fixture
def settings(redis_url: str) -> Settings:
    return load_settings(
        environ={"FACEFLEET_REDIS_URL": redis_url}, config_path=Path("/nonexistent")
    )


class Worker:
    """A real Celery worker process of the facefleet app (python -m facefleet.worker_main)."""

    def __init__(
        self,
        pool: str,
        redis_url: str,
        logfile: Path,
        concurrency: int = 4,
        environ: dict[str, str] | None = None,
    ) -> None:
        self.pool = pool
        self.node = f"test-{pool}-{os.getpid()}@localhost"
        env = {
            **os.environ,
            "FACEFLEET_REDIS_URL": redis_url,
            "FACEFLEET_CONFIG": "/nonexistent",
            **{f"FACEFLEET_{k.upper()}": str(v) for k, v in WORKER_LIMITS.items()},
            **(environ or {}),  # the caller's own values win
        }
        self.logfile = logfile
        self._log_handle = logfile.open("wb")
        self.proc = subprocess.Popen(
            worker_main.argv(pool, concurrency, self.node),
            env=env,
            stdout=self._log_handle,
            stderr=subprocess.STDOUT,
        )

    @property
    def pid(self) -> int:
        return self.proc.pid

    def stop(self) -> None:
        self.proc.terminate()  # warm shutdown
        try:
            self.proc.wait(60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)
        self._log_handle.close()


def answering_worker(pool: str, redis_url: str, log: Path) -> Worker:
    """A worker of ``pool``, concurrency 4, once it answers ping."""
    from facefleet.celery_app import create_app

    proc = Worker(pool, redis_url, log)
    app = create_app(
        load_settings(environ={"FACEFLEET_REDIS_URL": redis_url}, config_path=Path("/nonexistent"))
    )

    def answers() -> bool:
        assert proc.proc.poll() is None, log.read_text()
        return bool(app.control.ping([proc.node], timeout=0.5))

    _wait_for(answers, 60, f"celery worker ({pool})")
    return proc


@pytest.fixture(scope="module", params=["threads", "prefork"])
def worker(
    request: pytest.FixtureRequest, redis_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Worker]:
    """A worker of each pool, concurrency 4, answering ping before the test starts."""
    log = tmp_path_factory.mktemp("worker") / f"{request.param}.log"
    proc = answering_worker(request.param, redis_url, log)
    yield proc
    alive = proc.proc.poll() is None
    proc.stop()
    assert alive, f"worker died during the tests:\n{log.read_text()[-3000:]}"


@pytest.fixture(scope="session")
def obama_gallery(faces: Path) -> Gallery:
    """Obama and Biden, each enrolled from one photo."""
    from facefleet.pipeline import encode_single_face

    base = Settings()
    return Gallery.from_people(
        {
            "obama": [encode_single_face((faces / "obama2.jpg").read_bytes(), base, "obama2")],
            "biden": [encode_single_face((faces / "biden2.jpg").read_bytes(), base, "biden2")],
        }
    )
