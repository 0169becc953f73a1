"""Deploy, scaling and throughput on the running lab (`make demo` first), with the seed's
docker-compose set-up as the anchor, in the same run: prints figures, asserts nothing.

    make bench-scale    (.venv/bin/python bench/scale_lab.py [--runs 5] [--deploys 3] [--images 54])

1. A deploy that changes nothing (the lab is deployed already), --deploys times: the
   wall times and their median, and that every host reports changed=0.
2. Scaling 2 -> 5 workers with `scale.yml -e workers=5`, from its start until 5 workers
   answer a broadcast ping (polled from this controller, not trusted from the playbook),
   and when the playbook itself returns. The seed's `docker-compose up -d --scale
   celery=5` (../shared/bench/compose-scale-anchor.sh, which needs docker-compose) is
   timed the same way, in turns with facefleet: --runs pairs, each one run of each,
   which goes first alternating, so that the machine's drift falls on both. Medians,
   and their ratio.
3. Throughput: the same batch (the shared photos, repeated) through the lab at 2 workers
   with exact detection (the pipeline as it was) and fast detection (as it is), against
   the bare face_recognition library on this controller's cores (the lab's cores).
It leaves the lab at 2 workers.
"""

from __future__ import annotations

import argparse
import io
import re
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO / "lab"), str(REPO / "app" / "bench")]

from facefleet.celery_app import create_app  # noqa: E402
from facefleet.submit import submit_files  # noqa: E402
from fleet import Fleet  # noqa: E402
from harness import bare_pool, face_recognition_module  # noqa: E402
from photos import photos  # noqa: E402

# How long a scale-up may take before the benchmark gives up on it.
PATIENCE_S = 300
ANCHOR = REPO.parent / "shared" / "bench" / "compose-scale-anchor.sh"


def no_op_deploy(fleet: Fleet) -> tuple[float, str]:
    start = time.monotonic()
    out = fleet.playbook("deploy.yml")
    seconds = time.monotonic() - start
    changed = re.findall(r"^(\S+)\s+: ok=\d+\s+changed=(\d+)", out, re.M)
    return seconds, ", ".join(f"{host} changed={n}" for host, n in changed)


def scale_up(fleet: Fleet, runs: int) -> tuple[list[float], list[float]]:
    """(until 5 answer, until the playbook returns) for each run, from 2 workers."""
    app = create_app(fleet.settings)
    answered, returned = [], []
    for _ in range(runs):
        fleet.playbook("scale.yml", "-e", "workers=2")
        ended: list[float] = []
        start = time.monotonic()

        def play(ended: list[float] = ended, start: float = start) -> None:
            fleet.playbook("scale.yml", "-e", "workers=5")
            ended.append(time.monotonic() - start)

        thread = threading.Thread(target=play)
        thread.start()
        nodes: set[str] = set()
        while len(nodes) < 5 and time.monotonic() - start < PATIENCE_S:
            nodes = {n for reply in app.control.ping(timeout=0.5, limit=5) or [] for n in reply}
        if len(nodes) < 5:
            raise SystemExit(f"only {len(nodes)} of 5 workers answered within {PATIENCE_S} s")
        answered.append(time.monotonic() - start)
        thread.join()
        returned.append(ended[0])
    return answered, returned


def compose_anchor() -> float:
    """One run of the seed's compose --scale, timed by the shared anchor script."""
    result = subprocess.run(
        ["bash", str(ANCHOR), "1"], cwd=REPO, capture_output=True, text=True, check=False
    )
    match = re.search(r"until all 5 answer ping: median ([\d.]+) s", result.stdout)
    if not match:
        raise SystemExit(
            f"compose anchor failed:\n{result.stdout[-1500:]}\n{result.stderr[-1500:]}"
        )
    return float(match[1])


def scale_in_turns(fleet: Fleet, runs: int) -> None:
    """facefleet's scale.yml and compose's --scale, one run of each per pair."""
    answered: list[float] = []
    returned: list[float] = []
    compose: list[float] = []
    for pair in range(runs):
        for way in ("facefleet", "compose") if pair % 2 == 0 else ("compose", "facefleet"):
            if way == "compose":
                compose.append(compose_anchor())
            else:
                until_answered, until_returned = scale_up(fleet, 1)
                answered += until_answered
                returned += until_returned
        print(
            f"pair {pair + 1}: facefleet {answered[-1]:.2f} s, compose {compose[-1]:.2f} s",
            flush=True,
        )
    ours, theirs = statistics.median(answered), statistics.median(compose)
    print(
        f"facefleet scale.yml 2 -> 5 until all 5 answer ping: median {ours:.2f} s "
        f"(runs: {', '.join(f'{t:.2f}' for t in answered)}); the playbook returned at "
        f"median {statistics.median(returned):.2f} s"
    )
    print(
        f"compose scale 2 -> 5 until all 5 answer ping: median {theirs:.2f} s "
        f"(runs: {', '.join(f'{t:.2f}' for t in compose)})"
    )
    print(
        f"scale 2 -> 5, in turns: facefleet {ours:.2f} s vs compose {theirs:.2f} s "
        f"({ours / theirs:.2f}x)",
        flush=True,
    )


def _bare_one(path: str) -> int:
    fr = face_recognition_module()
    image = fr.load_image_file(path)
    return len(fr.face_encodings(image, fr.face_locations(image)))


def throughput(fleet: Fleet, images: int) -> None:
    shared = photos()
    files = [shared[i % len(shared)] for i in range(images)]
    face_recognition_module()
    bare = bare_pool([str(f) for f in files], 2, _bare_one).images_per_s
    print(f"bare face_recognition on this machine's 2 cores: {bare:.2f} images/s")
    fleet.playbook("scale.yml", "-e", "workers=2")
    app = create_app(fleet.settings)
    for mode, label in (("exact", "before (exact detection)"), ("fast", "after (fast detection)")):
        summary = submit_files(app, fleet.settings, files, io.StringIO(), window=64, detection=mode)
        rate = summary.done / summary.seconds
        print(
            f"lab, 2 workers (prefork, concurrency 4), {label}: {images} images, "
            f"{rate:.2f} images/s = {rate / bare:.2f} of the bare library, lost {summary.lost}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--images", type=int, default=54)
    parser.add_argument("--deploys", type=int, default=3, help="no-op deploys timed")
    parser.add_argument("--skip-compose", action="store_true")
    args = parser.parse_args()
    fleet = Fleet.from_inventory()

    deploys = [no_op_deploy(fleet) for _ in range(args.deploys)]
    print(
        f"deploy.yml with nothing to change: median "
        f"{statistics.median(seconds for seconds, _ in deploys):.1f} s (runs: "
        f"{', '.join(f'{seconds:.1f}' for seconds, _ in deploys)}; last: {deploys[-1][1]})",
        flush=True,
    )

    if args.skip_compose:
        answered, _ = scale_up(fleet, args.runs)
        print(
            f"facefleet scale.yml 2 -> 5 until all 5 answer ping: median "
            f"{statistics.median(answered):.2f} s (no compose anchor)",
            flush=True,
        )
    else:
        scale_in_turns(fleet, args.runs)
    throughput(fleet, args.images)
    fleet.playbook("scale.yml", "-e", "workers=2")


if __name__ == "__main__":
    main()
