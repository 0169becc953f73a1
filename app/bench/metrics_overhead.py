"""What counting each image for Prometheus costs the pipeline: images per second of a real
prefork worker with the pipeline's metrics on and off (the ``metrics`` setting).

    make bench-metrics   (.venv/bin/python app/bench/metrics_overhead.py [--copies 2 --rounds 3])

The shared photos, --copies times, through a real `celery worker` (prefork, 4) against a
real redis-server on loopback, fed by facefleet's submitter; on and off alternate, each
--rounds times, on the same cores. Prints each run and the medians; asserts nothing.
"""

from __future__ import annotations

import argparse
import os
import statistics

from harness import celery_run, redis_server
from photos import photos


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--copies", type=int, default=2, help="times each photo is sent")
    parser.add_argument("--rounds", type=int, default=3, help="runs of each, alternating")
    args = parser.parse_args()
    files = photos() * args.copies
    print(f"{len(files)} images per run, prefork worker of 4, {os.cpu_count()} cores")
    figures: dict[str, list[float]] = {"on": [], "off": []}
    with redis_server() as url:
        for round_ in range(args.rounds):
            for state in ("on", "off") if round_ % 2 == 0 else ("off", "on"):
                run = celery_run(files, url, environ={"FACEFLEET_METRICS": str(state == "on")})
                figures[state].append(run.images_per_s)
                print(f"round {round_ + 1}  metrics {state:<3}  {run.images_per_s:6.2f} images/s")
    on, off = statistics.median(figures["on"]), statistics.median(figures["off"])
    print(f"median: metrics on {on:.2f} images/s, off {off:.2f}: {(on / off - 1) * 100:+.1f} %")


if __name__ == "__main__":
    main()
