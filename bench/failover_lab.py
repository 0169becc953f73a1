"""A replicated Redis on a running fleet (its redis group has two hosts or more, and
Sentinels): what the write settings cost, and how long a failover stops the work. Prints
figures, asserts nothing.

    make bench-failover    (.venv/bin/python bench/failover_lab.py [--inventory PATH])

1. Write cost, in the same run: --images sends of one photo as the submitter makes them
   (store the image, then send the task; to a queue of its own that no worker reads),
   per second, median of --runs:
   - no wait (submit_wait_replica_ms = 0);
   - WAIT 1 after each image, before its task (the default with Sentinel);
   - min-replicas-to-write 1 on the primary (CONFIG SET, put back after), no WAIT.
2. Failover, --runs times: stop the primary's container (as a host shuts down) and time,
   from the stop, until one photo sent then has its result:
   the Sentinels agree the primary is down, promote the replica, and the workers and the
   submitter follow. Then start the stopped host again and wait until it is a replica in
   sync (no Ansible run); the next run stops the new primary, so the runs alternate
   between the hosts.
"""

from __future__ import annotations

import argparse
import io
import statistics
import sys
import time
from dataclasses import replace
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO / "lab"), str(REPO / "app" / "bench")]

from facefleet.celery_app import create_app  # noqa: E402
from facefleet.image_store import ImageStore  # noqa: E402
from facefleet.redis_client import connect  # noqa: E402
from facefleet.settings import Settings  # noqa: E402
from facefleet.submit import submit_files  # noqa: E402
from facefleet.tasks import ANALYZE_STORED_IMAGE  # noqa: E402
from fleet import LAB, Fleet  # noqa: E402
from photos import photos  # noqa: E402

BENCH_QUEUE = "facefleet-bench-writes"


def sends_per_second(settings: Settings, data: bytes, images: int) -> float:
    """The submitter's two writes per image (and its WAIT when the settings ask for it)."""
    app = create_app(settings)
    client = connect(settings, socket_timeout=30)
    store = ImageStore(client, settings.image_key_prefix)
    keys = []
    try:
        start = time.perf_counter()
        for _ in range(images):
            key = store.new_key()
            store.put(key, data, 600)
            if settings.submit_wait_replica_ms:
                client.wait(1, settings.submit_wait_replica_ms)
            app.send_task(ANALYZE_STORED_IMAGE, args=("bench", key), queue=BENCH_QUEUE)
            keys.append(key)
        return images / (time.perf_counter() - start)
    finally:
        store.delete(keys)
        client.delete(BENCH_QUEUE)
        client.close()


def write_cost(fleet: Fleet, images: int, runs: int) -> None:
    settings = fleet.settings
    data = photos()[0].read_bytes()
    primary = fleet.redis_admin(fleet.redis_primary())
    modes = {
        "no wait": (replace(settings, submit_wait_replica_ms=0), 0),
        "WAIT 1 per image": (replace(settings, submit_wait_replica_ms=1000), 0),
        "min-replicas-to-write 1": (replace(settings, submit_wait_replica_ms=0), 1),
    }
    figures: dict[str, list[float]] = {mode: [] for mode in modes}
    was = primary.config_get("min-replicas-to-write")["min-replicas-to-write"]
    try:
        for _ in range(runs):
            for mode, (mode_settings, min_replicas) in modes.items():
                primary.config_set("min-replicas-to-write", min_replicas)
                figures[mode].append(sends_per_second(mode_settings, data, images))
    finally:
        primary.config_set("min-replicas-to-write", was)
    base = statistics.median(figures["no wait"])
    print(f"write cost: {images} sends of a {len(data) // 1024} KiB photo, median of {runs}")
    for mode, values in figures.items():
        median = statistics.median(values)
        print(f"  {mode:<24} {median:7.1f} sends/s  {median / base:5.2f}x of no wait")


def failover(fleet: Fleet, runs: int) -> None:
    settings = fleet.settings
    app = create_app(settings)
    photo = photos()[0]
    times = []
    for run in range(1, runs + 1):
        old = fleet.redis_primary()
        start, silent = fleet.stop_redis_host(old)
        out = io.StringIO()
        summary = submit_files(app, settings, [photo], out, task_timeout=600)
        flowing = time.monotonic() - start
        new = fleet.redis_primary()
        fleet.start_host(old)
        back = fleet.wait_until_replica(old)
        times.append(flowing)
        print(
            f"  run {run}: stopped {old} (its Redis silent after {silent - start:.1f} s); "
            f"{new} promoted; a task's result after {flowing:.1f} s (ok {summary.ok}); "
            f"{old} a replica again {back:.0f} s after start"
        )
    print(
        f"failover: from the stop until tasks flow again, median of {runs}: "
        f"{statistics.median(times):.1f} s"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--inventory", type=Path, default=LAB)
    parser.add_argument("--images", type=int, default=300, help="sends per write-cost run")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    fleet = Fleet.from_inventory(args.inventory)
    if not fleet.replicated:
        parser.error(f"{args.inventory}: Redis is not replicated (one host in its redis group)")
    write_cost(fleet, args.images, args.runs)
    failover(fleet, args.runs)
    return 0


if __name__ == "__main__":
    sys.exit(main())
