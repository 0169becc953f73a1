"""Images per second: the bare face_recognition library against facefleet's Celery workers,
by pool (which pool a worker should run).

    make bench-pools   (.venv/bin/python app/bench/pipeline_throughput.py [--copies 2])

On the same images (the shared photos, --copies times) and the same cores:
1. bare: face_recognition 1.3.0 (load, HOG locations, encodings) in a pool of N processes
   forked after the models are loaded; the best a process pool does with the library.
2. celery-<pool>-<c>: a real `celery worker` (pool, concurrency c) against a real
   redis-server on loopback, fed by facefleet's submitter; wall time from the first send
   to the last result.
Then the ratio of each Celery figure to the bare one, and each worker's memory (PSS of it
and its children) once loaded, at its peak and after the batch. Prints figures; asserts
nothing.
"""

from __future__ import annotations

import argparse
import os

from harness import bare_pool, celery_run, face_recognition_module, redis_server
from photos import photos


def _bare_one(path: str) -> int:
    fr = face_recognition_module()
    image = fr.load_image_file(path)
    return len(fr.face_encodings(image, fr.face_locations(image)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--copies", type=int, default=2, help="times each photo is sent")
    parser.add_argument("--processes", type=int, default=os.cpu_count() or 2)
    args = parser.parse_args()

    files = photos() * args.copies
    print(
        f"{len(files)} images ({len(files) // args.copies} photos x {args.copies}), "
        f"{os.cpu_count()} cores"
    )
    face_recognition_module()  # the models load before the pool forks
    bare = bare_pool([str(f) for f in files], args.processes, _bare_one)
    rows = [
        (
            f"bare face_recognition, {args.processes} processes",
            bare.images_per_s,
            sum(bare.results),
            "-",
        )
    ]
    with redis_server() as url:
        for pool, concurrency in [("prefork", args.processes), ("prefork", 4), ("threads", 4)]:
            run = celery_run(files, url, pool, concurrency)
            memory = f"{run.loaded_pss_mb:.0f} / {run.peak_pss_mb:.0f} / {run.after_pss_mb:.0f}"
            faces = sum(len(r["faces"]) for r in run.results)
            rows.append(
                (f"celery {pool}, concurrency {concurrency}", run.images_per_s, faces, memory)
            )

    print(
        f"{'mode':<40} {'images/s':>9} {'ratio':>6} {'faces':>6}  "
        "PSS MB: loaded / peak / after the batch"
    )
    for name, rate, faces, memory in rows:
        print(f"{name:<40} {rate:>9.2f} {rate / bare.images_per_s:>6.2f} {faces:>6}  {memory}")


if __name__ == "__main__":
    main()
