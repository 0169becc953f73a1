"""What the benchmarks share: a real redis-server on loopback, a real Celery worker of the
app whose memory is sampled while it works, and the bare face_recognition library in a
process pool, on the same cores."""

from __future__ import annotations

import io
import multiprocessing
import os
import shutil
import socket
import subprocess
import tempfile
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import redis

from facefleet.process_memory import tree_pss_mb, tree_rss_mb


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def redis_server() -> Iterator[str]:
    """A redis-server on a free loopback port, with no persistence; yields its URL."""
    workdir = Path(tempfile.mkdtemp(prefix="facefleet-bench-redis-"))
    port = free_port()
    server = subprocess.Popen(
        [
            shutil.which("redis-server") or "redis-server",
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(workdir),
        ],
        stdout=subprocess.DEVNULL,
    )
    url = f"redis://127.0.0.1:{port}/0"
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                redis.Redis.from_url(url).ping()
                break
            except redis.ConnectionError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        yield url
    finally:
        server.terminate()
        server.wait(10)
        shutil.rmtree(workdir, ignore_errors=True)


@dataclass
class MemorySampler:
    """Samples the PSS of a process tree every ``interval`` seconds, in a thread."""

    pid: int
    interval: float = 0.2
    peak_mb: float = 0.0
    _stop: threading.Event = field(default_factory=threading.Event)

    def __enter__(self) -> MemorySampler:
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.peak_mb = max(self.peak_mb, tree_pss_mb(self.pid))

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()


@dataclass
class WorkerRun:
    images_per_s: float
    results: list[dict]
    loaded_pss_mb: float
    peak_pss_mb: float
    after_pss_mb: float
    after_rss_mb: float


def celery_run(
    files: list[Path],
    url: str,
    pool: str = "prefork",
    concurrency: int = 4,
    environ: dict[str, str] | None = None,
    send: Callable[..., Any] | None = None,
) -> WorkerRun:
    """``files`` through a real worker of the app, fed by the app's own submitter (or by
    ``send``, called as submit_files is); the wall time runs from the first send to the
    last result."""
    import json

    from facefleet import worker_main
    from facefleet.celery_app import create_app
    from facefleet.settings import load_settings
    from facefleet.submit import submit_files

    env = {
        **os.environ,
        "FACEFLEET_REDIS_URL": url,
        "FACEFLEET_CONFIG": "/nonexistent",
        **(environ or {}),
    }
    node = f"bench-{pool}-{os.getpid()}@localhost"
    with tempfile.TemporaryFile() as log:
        worker = subprocess.Popen(
            worker_main.argv(pool, concurrency, node, loglevel="WARNING"),
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        settings = load_settings(environ=env)
        app = create_app(settings)
        try:
            while not app.control.ping([node], timeout=0.5):
                if worker.poll() is not None:
                    log.seek(0)
                    raise RuntimeError(f"worker exited:\n{log.read().decode()[-3000:]}")
            time.sleep(1.0)  # every pool child up
            loaded = tree_pss_mb(worker.pid)
            out = io.StringIO()
            with MemorySampler(worker.pid) as sampler:
                summary = (send or submit_files)(app, settings, files, out, window=64)
            return WorkerRun(
                images_per_s=summary.done / summary.seconds,
                results=[json.loads(line) for line in out.getvalue().splitlines()],
                loaded_pss_mb=loaded,
                peak_pss_mb=max(sampler.peak_mb, tree_pss_mb(worker.pid)),
                after_pss_mb=tree_pss_mb(worker.pid),
                after_rss_mb=tree_rss_mb(worker.pid),
            )
        finally:
            worker.terminate()
            worker.wait(60)


def face_recognition_module():
    with warnings.catch_warnings():
        # face_recognition_models imports pkg_resources, which setuptools 81 deprecates.
        warnings.simplefilter("ignore")
        import face_recognition
    return face_recognition


@dataclass
class PoolRun:
    images_per_s: float
    results: list
    peak_pss_mb: float


def bare_pool(files: list[str], processes: int, one: Callable[[str], object]) -> PoolRun:
    """``one`` over ``files`` in a pool of ``processes``, forked after the models load
    (the caller imports them first): the best a plain process pool does with a library."""
    start = time.perf_counter()
    with (
        multiprocessing.get_context("fork").Pool(processes) as pool,
        MemorySampler(os.getpid()) as sampler,
    ):
        results = pool.map(one, files, chunksize=1)
    return PoolRun(len(files) / (time.perf_counter() - start), results, sampler.peak_mb)
