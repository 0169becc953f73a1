"""Images per second: the bare face_recognition library against facefleet's Celery workers.

Prints figures; asserts nothing. Run from the repo root after `make venv`:

    .venv/bin/python app/bench/pipeline_throughput.py [--copies 2] [--processes 2]

What it measures, on the same images and the same cores:
1. bare: face_recognition 1.3.0 (load, HOG locations, encodings) in a pool of N processes
   forked after the models are loaded; the best a process pool can do with the library.
2. celery-<pool>-<c>: a real `celery worker` (pool, concurrency c) against a real
   redis-server on loopback, fed by facefleet's submitter; wall time from the first send
   to the last result.
Then the ratio of each Celery figure to the bare one, and each worker's memory once
its models are loaded (RSS of the main process, PSS summed over it and its children).
"""

from __future__ import annotations

import argparse
import io
import multiprocessing
import os
import shutil
import socket
import subprocess
import tempfile
import time
import warnings
from pathlib import Path

import redis

REPO = Path(__file__).resolve().parents[2]
FACES = Path(os.environ.get("FACEFLEET_FACES_DIR", REPO.parent / "shared" / "data" / "faces"))

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    import face_recognition


def _bare_one(path: str) -> int:
    image = face_recognition.load_image_file(path)
    boxes = face_recognition.face_locations(image)
    return len(face_recognition.face_encodings(image, boxes))


def bare(files: list[str], processes: int) -> tuple[float, int]:
    start = time.perf_counter()
    with multiprocessing.get_context("fork").Pool(processes) as pool:
        faces = sum(pool.map(_bare_one, files, chunksize=1))
    return len(files) / (time.perf_counter() - start), faces


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _memory_kb(pid: int) -> tuple[int, int]:
    """(RSS of pid, PSS of pid plus its children) in kB."""

    def field(path: str, name: str) -> int:
        try:
            for line in Path(path).read_text().splitlines():
                if line.startswith(name):
                    return int(line.split()[1])
        except OSError:
            pass
        return 0

    rss = field(f"/proc/{pid}/status", "VmRSS:")
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    pss = sum(field(f"/proc/{p}/smaps_rollup", "Pss:") for p in [pid, *map(int, children)])
    return rss, pss


def celery_run(
    files: list[str], pool: str, concurrency: int, url: str, workdir: Path
) -> tuple[float, int, str]:
    from facefleet.celery_app import create_app, worker_argv
    from facefleet.settings import load_settings
    from facefleet.submit import submit_files

    env = dict(os.environ, FACEFLEET_REDIS_URL=url, FACEFLEET_CONFIG="/nonexistent")
    node = f"bench-{pool}@localhost"
    log = (workdir / f"{pool}.log").open("wb")
    worker = subprocess.Popen(
        worker_argv(pool, concurrency, node, loglevel="WARNING"),
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    settings = load_settings(environ=env)
    app = create_app(settings)
    try:
        while not app.control.ping([node], timeout=0.5):
            if worker.poll() is not None:
                raise RuntimeError(f"worker exited; see {log.name}")
        rss, pss = _memory_kb(worker.pid)
        out = io.StringIO()
        summary = submit_files(app, settings, [Path(f) for f in files], out, window=64)
        rate = summary.done / summary.seconds
        rss_after, pss_after = _memory_kb(worker.pid)
        memory = (
            f"loaded: RSS {rss // 1024} MB, PSS {pss // 1024} MB; after the batch: "
            f"RSS {rss_after // 1024} MB, PSS {pss_after // 1024} MB"
        )
        return rate, summary.faces, memory
    finally:
        worker.terminate()
        worker.wait(60)
        log.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--copies", type=int, default=2, help="times each photo is sent")
    parser.add_argument("--processes", type=int, default=os.cpu_count() or 2)
    args = parser.parse_args()

    photos = sorted(str(p) for p in FACES.iterdir() if p.suffix in (".jpg", ".png"))
    files = photos * args.copies
    print(f"{len(files)} images ({len(photos)} photos x {args.copies}), {os.cpu_count()} cores")

    workdir = Path(tempfile.mkdtemp(prefix="facefleet-bench-"))
    port = _free_port()
    server = subprocess.Popen(
        [
            shutil.which("redis-server") or "redis-server",
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--dir",
            str(workdir),
        ],
        stdout=subprocess.DEVNULL,
    )
    url = f"redis://127.0.0.1:{port}/0"
    while True:
        try:
            redis.Redis.from_url(url).ping()
            break
        except redis.ConnectionError:
            time.sleep(0.1)

    rows: list[tuple[str, float, int, str]] = []
    try:
        bare_rate, bare_faces = bare(files, args.processes)
        rows.append(
            (f"bare face_recognition, {args.processes} processes", bare_rate, bare_faces, "-")
        )
        for pool, concurrency in [("prefork", args.processes), ("prefork", 4), ("threads", 4)]:
            rate, faces, memory = celery_run(files, pool, concurrency, url, workdir)
            rows.append((f"celery {pool}, concurrency {concurrency}", rate, faces, memory))
    finally:
        server.terminate()
        shutil.rmtree(workdir, ignore_errors=True)

    print(
        f"{'mode':<40} {'images/s':>9} {'ratio':>6} {'faces':>6}  "
        "memory (main process RSS; PSS of it and its children)"
    )
    for name, rate, faces, memory in rows:
        print(f"{name:<40} {rate:>9.2f} {rate / bare_rate:>6.2f} {faces:>6}  {memory}")


if __name__ == "__main__":
    main()
