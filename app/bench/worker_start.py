"""How long a worker takes from its start until Celery logs it `ready`, started as the
supervisor programs start it (``python -m facefleet.worker_main``), the same without the
HOG detector's cache (each start decodes dlib's built-in copy, as before
facefleet/core/hog_detector.py), and with Celery's command line (``celery
--app=facefleet.celery_app worker``, as they did before), in turns against a real
redis-server on loopback: prints figures, asserts nothing.

    .venv/bin/python app/bench/worker_start.py [--runs 6] [--pool prefork] [--concurrency 4]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from harness import redis_server

from facefleet import worker_main

PATIENCE_S = 60


def started(argv: list[str], env: dict[str, str]) -> float:
    """Seconds from launching ``argv`` until its log says ready; then stops it warmly."""
    with tempfile.TemporaryFile() as log:
        start = time.monotonic()
        worker = subprocess.Popen(argv, env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            while time.monotonic() - start < PATIENCE_S:
                log.seek(0)
                if b" ready." in log.read():
                    return time.monotonic() - start
                if worker.poll() is not None:
                    break
                time.sleep(0.02)
            log.seek(0)
            raise SystemExit(f"no ready from {' '.join(argv)}:\n{log.read().decode()[-2000:]}")
        finally:
            worker.terminate()
            worker.wait(timeout=PATIENCE_S)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=6)
    parser.add_argument("--pool", default="prefork")
    parser.add_argument("--concurrency", type=int, default=4)
    args = parser.parse_args()
    supervised = worker_main.argv(args.pool, args.concurrency, "bench-start@localhost")
    scratch = Path(tempfile.mkdtemp(prefix="facefleet-bench-start-"))
    cache = str(scratch / "detector-cache")
    # A cache folder below a file: never written, so each start decodes the detector.
    (scratch / "file").touch()
    no_cache = str(scratch / "file" / "cache")
    ways: dict[str, tuple[list[str], dict[str, str]]] = {
        "python -m facefleet.worker_main": (supervised, {"FACEFLEET_DETECTOR_CACHE_DIR": cache}),
        "the same, without the detector cache": (
            supervised,
            {"FACEFLEET_DETECTOR_CACHE_DIR": no_cache},
        ),
        "celery --app=facefleet.celery_app worker": (
            [
                sys.executable,
                "-m",
                "celery",
                "--app=facefleet.celery_app",
                "worker",
                f"--pool={args.pool}",
                f"--concurrency={args.concurrency}",
                "--hostname=bench-start@localhost",
                "--loglevel=INFO",
                "--without-mingle",
                "--without-gossip",
            ],
            {"FACEFLEET_DETECTOR_CACHE_DIR": cache},
        ),
    }
    with redis_server() as url:
        env = {**os.environ, "FACEFLEET_REDIS_URL": url, "FACEFLEET_CONFIG": "/nonexistent"}
        seconds: dict[str, list[float]] = {way: [] for way in ways}
        for _ in range(args.runs):
            for way, (argv, extra) in ways.items():
                seconds[way].append(started(argv, {**env, **extra}))
    shutil.rmtree(scratch)
    print(f"worker start until ready ({args.pool}, concurrency {args.concurrency}), in turns:")
    for way, times in seconds.items():
        runs = ", ".join(f"{t:.2f}" for t in times)
        print(f"  {way}: median {statistics.median(times):.2f} s (runs: {runs})")


if __name__ == "__main__":
    main()
