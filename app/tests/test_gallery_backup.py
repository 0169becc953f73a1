"""Gallery backups against real Redis servers: a snapshot survives the loss of its Redis,
restores into a fresh one without touching the queue, makes every worker's cached copy
reload, and a damaged or foreign file is refused. The CLI as the playbooks call it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import redis
from conftest import _free_port, _wait_for, start_redis_server

from facefleet import gallery_backup
from facefleet.gallery_store import CachedGallery, GalleryStore

KEY = "facefleet:gallery"


def _encoding(seed: int) -> list[float]:
    return [float(x) for x in np.random.default_rng(seed).normal(0, 0.1, 128)]


class Server:
    """A redis-server on one port that can be replaced by a fresh one (no data kept)."""

    def __init__(self, workdir: Path) -> None:
        self.port = _free_port()
        self.workdir = workdir
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        data = self.workdir / f"data-{os.urandom(4).hex()}"  # a new, empty folder each time
        data.mkdir()
        self.proc = start_redis_server(data, "--port", str(self.port), "--appendonly", "no")
        _wait_for(lambda: redis.Redis(port=self.port).ping(), 10, "redis-server")

    def stop(self) -> None:
        assert self.proc is not None
        self.proc.terminate()
        self.proc.wait(10)


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    srv = Server(tmp_path)
    srv.start()
    yield srv
    srv.stop()


def test_a_backup_outlives_its_redis_and_every_cached_copy_reloads(
    server: Server, tmp_path: Path
) -> None:
    client = redis.Redis(port=server.port, socket_timeout=5)
    store = GalleryStore(client, KEY)
    store.enroll("ada", [_encoding(1), _encoding(2)])
    store.enroll("bob", [_encoding(3)])
    path, pruned = gallery_backup.write(gallery_backup.take(store), tmp_path / "backups", 3)
    assert pruned == []
    assert path.stat().st_mode & 0o777 == 0o600
    # Enrolled after the backup, and seen by a worker's cache: the Redis then dies.
    store.enroll("carol", [_encoding(4)])
    worker_cache = CachedGallery(store)
    assert worker_cache.current().people == ["ada", "bob", "carol"]
    before = store.version()

    server.stop()
    server.start()  # a fresh Redis: nothing enrolled
    assert store.people() == {}
    client.rpush("celery", "a task in flight")
    client.set("celery-task-meta-1", "a result")

    backup = gallery_backup.read(path)
    version = gallery_backup.restore(store, backup)
    assert store.people() == {"ada": 2, "bob": 1}
    assert version > before
    # The worker's copy is from the old Redis (carol in it): it must not be kept.
    assert worker_cache.current().people == ["ada", "bob"]
    match = worker_cache.current().identify(np.array(_encoding(3)), 0.6)
    assert match.name == "bob"
    # The queue and the results are as they were.
    assert client.lrange("celery", 0, -1) == [b"a task in flight"]
    assert client.get("celery-task-meta-1") == b"a result"
    # Enrolling goes on from the restored version.
    store.enroll("dan", [_encoding(5)])
    assert store.version() == version + 1
    client.close()


def test_retention_keeps_the_newest(server: Server, tmp_path: Path) -> None:
    store = GalleryStore(redis.Redis(port=server.port), KEY)
    store.enroll("ada", [_encoding(1)])
    folder = tmp_path / "backups"
    taken = gallery_backup.take(store)
    names = []
    for second in range(4):
        backup = gallery_backup.Backup(
            taken.taken_at.replace(second=second), taken.gallery_version, taken.people
        )
        path, _ = gallery_backup.write(backup, folder, keep=2)
        names.append(path.name)
    assert [p.name for p in gallery_backup.backups_in(folder)] == names[-2:]
    assert not list(folder.glob(".*partial"))


def test_damaged_and_foreign_files_are_refused(server: Server, tmp_path: Path) -> None:
    store = GalleryStore(redis.Redis(port=server.port), KEY)
    store.enroll("ada", [_encoding(1)])
    text = gallery_backup.dumps(gallery_backup.take(store))
    data = json.loads(text)
    data["people"]["ada"][0][0] += 0.5
    cases = {
        "damaged": json.dumps(data),
        "not JSON": text[: len(text) // 2],
        "no format": json.dumps({"people": {}}),
    }
    for expected, broken in cases.items():
        with pytest.raises(gallery_backup.BackupError, match=expected):
            gallery_backup.loads(broken, "f.json")
    assert store.people() == {"ada": 1}


def facefleet(port: int, *argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "facefleet.cli", "gallery", *argv],
        env={
            **os.environ,
            "FACEFLEET_CONFIG": "/nonexistent",
            "FACEFLEET_REDIS_URL": f"redis://127.0.0.1:{port}/0",
        },
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_cli_backs_up_and_restores_only_with_consent_to_drop(
    server: Server, tmp_path: Path
) -> None:
    store = GalleryStore(redis.Redis(port=server.port), KEY)
    store.enroll("ada", [_encoding(1)])
    folder = tmp_path / "backups"
    run = facefleet(server.port, "backup", str(folder), "--keep", "5")
    assert run.returncode == 0, run.stderr
    assert "1 people, 1 encodings" in run.stdout
    [path] = gallery_backup.backups_in(folder)

    store.enroll("bob", [_encoding(2)])  # not in the backup
    run = facefleet(server.port, "restore", str(path))
    assert run.returncode == 1
    assert "1 enrolled people are not in the backup (bob)" in run.stderr
    assert store.people() == {"ada": 1, "bob": 1}
    run = facefleet(server.port, "restore", str(path), "--replace")
    assert run.returncode == 0, run.stderr
    assert store.people() == {"ada": 1}

    path.write_text("{}")
    run = facefleet(server.port, "restore", str(path))
    assert run.returncode == 2
    assert run.stderr.startswith("facefleet: nothing restored:")
    assert "Traceback" not in run.stderr
