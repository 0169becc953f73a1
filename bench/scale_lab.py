"""Scaling on the running lab (`make demo` first): prints figures, asserts nothing.

    .venv/bin/python bench/scale_lab.py [--runs 3] [--images 54]

1. Wall time of `ansible-playbook playbooks/scale.yml -e workers=5`, starting from 2
   workers, until all 5 nodes answer ping (polled from this controller, not trusted
   from the playbook), for --runs runs; also the playbook's own time.
2. Throughput (images/s) of the same fixed batch (the shared photos, repeated) at 2 and
   at 5 workers, through the lab from this controller. Compare with the bare library on
   the same cores: app/bench/pipeline_throughput.py.
It leaves the lab at 2 workers.
"""

from __future__ import annotations

import argparse
import io
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "lab"))

from demo import FACES, container_address, lab_vault  # noqa: E402
from facefleet.celery_app import create_app  # noqa: E402
from facefleet.settings import Settings  # noqa: E402
from facefleet.submit import submit_files  # noqa: E402


def scale(workers: int) -> float:
    start = time.monotonic()
    subprocess.run(
        ["ansible-playbook", "playbooks/scale.yml", "-e", f"workers={workers}"],
        cwd=REPO,
        check=True,
        stdout=subprocess.DEVNULL,
        env=dict(os.environ, ANSIBLE_CONFIG=str(REPO / "ansible.cfg")),
    )
    return time.monotonic() - start


def nodes(workers: int) -> list[str]:
    # The planner's split for two equal hosts: worker1 gets the odd one.
    per_host = {"worker1": (workers + 1) // 2, "worker2": workers // 2}
    return [f"celery{n}@{h}" for h, count in per_host.items() for n in range(1, count + 1)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--images", type=int, default=54)
    args = parser.parse_args()

    secrets = lab_vault()
    address = container_address("facefleet-lab-redis1")
    settings = Settings(redis_url=f"redis://:{secrets['vault_redis_password']}@{address}:6379/0")
    app = create_app(settings)

    timings, playbook_times = [], []
    for _ in range(args.runs):
        scale(2)
        start = time.monotonic()
        process = subprocess.Popen(
            ["ansible-playbook", "playbooks/scale.yml", "-e", "workers=5"],
            cwd=REPO,
            stdout=subprocess.DEVNULL,
            env=dict(os.environ, ANSIBLE_CONFIG=str(REPO / "ansible.cfg")),
        )
        waiting = set(nodes(5))
        while waiting:
            for reply in app.control.ping(sorted(waiting), timeout=0.5) or []:
                waiting -= set(reply)
        timings.append(time.monotonic() - start)
        process.wait()
        playbook_times.append(time.monotonic() - start)
    print(
        f"scale 2 -> 5 until all 5 answer ping: median {statistics.median(timings):.1f} s "
        f"(runs: {', '.join(f'{t:.1f}' for t in timings)}); playbook finished at "
        f"median {statistics.median(playbook_times):.1f} s"
    )

    photos = sorted(p for p in FACES.iterdir() if p.suffix in (".jpg", ".png"))
    files = [photos[i % len(photos)] for i in range(args.images)]
    for workers in (2, 5):
        scale(workers)
        summary = submit_files(app, settings, files, io.StringIO(), window=64)
        print(
            f"{workers} workers (prefork, concurrency 4): {args.images} images, "
            f"{summary.done / summary.seconds:.2f} images/s, lost {summary.lost}"
        )
    scale(2)


if __name__ == "__main__":
    main()
