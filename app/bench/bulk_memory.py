"""A worker's memory and speed on large files: the image in the task's message (the
``facefleet.analyze_image`` task, as submitters did before) against the image stored
under its own key, fetched by the pool process inside its detection slot (what
`facefleet submit` sends now: ``facefleet.analyze_stored_image``).

    make bench-bulk   (.venv/bin/python app/bench/bulk_memory.py [--copies 16])

For each large file of the chaos suite's bulk scenario (bench/chaos/bulk.py: a 12 MP
JPEG, PNG and TIFF scans just under the 20 MiB limit), --copies of it through a real
prefork worker of 4 processes against a real redis-server on loopback, one way then the
other. Prints images per second and the worker's PSS (its main process and children) at
its peak, against the light profile's 500 MB budget. Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, TextIO

from harness import celery_run, redis_server

REPO = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(REPO / "bench"), str(REPO / "lab")]

from chaos.bulk import LARGE_FILES, make_large_files  # noqa: E402
from role_values import role_default  # noqa: E402

from facefleet.submit import SubmitSummary  # noqa: E402
from facefleet.tasks import ANALYZE_IMAGE, encode_payload  # noqa: E402


def send_in_message(app: Any, settings: Any, files: list[Path], out: TextIO, window: int) -> Any:
    """Every file as an ``analyze_image`` task, the image base64 in its message."""
    start = time.monotonic()
    results = [
        app.send_task(ANALYZE_IMAGE, args=(str(path), encode_payload(path.read_bytes())))
        for path in files
    ]
    summary = SubmitSummary()
    for result in results:
        record = result.get(timeout=600)
        out.write(json.dumps(record) + "\n")
        summary.count(record)
    summary.seconds = time.monotonic() - start
    return summary


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--copies", type=int, default=16, help="copies of each large file")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="facefleet-bulk-memory-") as tmp:
        large = make_large_files(Path(tmp))
        print(f"{'file':<34} {'MB':>5}  {'how':<9} {'images/s':>8} {'peak PSS MB':>11}")
        for path, (source, _, kind) in zip(large, LARGE_FILES, strict=True):
            files = [path] * args.copies
            for how, send in (("message", send_in_message), ("key", None)):
                with redis_server() as url:
                    run = celery_run(files, url, send=send)
                bad = [r for r in run.results if r.get("status") != "ok"]
                print(
                    f"{kind + ' from ' + source:<34} {path.stat().st_size / 1e6:>5.1f}  "
                    f"{how:<9} {run.images_per_s:>8.2f} {run.peak_pss_mb:>11.0f}"
                    + (f"  ({len(bad)} errors: {bad[0].get('error')})" if bad else "")
                )
    light = role_default("celery_worker_profiles")["light"]["memory_mb"]
    print(f"budget of the light profile (celery_worker_profiles): {light} MB per worker")
    return 0


if __name__ == "__main__":
    sys.exit(main())
