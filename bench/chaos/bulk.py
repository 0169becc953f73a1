"""The bulk scenario: two submitters at once import a photo library of large files.

Each sends its own batch: 12 MP JPEGs (phone photos), PNG and TIFF scans just under the
byte limit, and ordinary photos, in a shuffled order. Nothing is killed; the harm is the
size. Judged like every scenario (each image exactly one right result), and besides:

- Redis' peak used memory against its maxmemory (sampled every 100 ms): under 80 %;
- writes Redis refused for want of memory (its ``errorstat_OOM``, from anyone: the
  submitters, the workers storing results): none;
- worker restarts (a main process that changed, or a pool process that died): none.
"""

from __future__ import annotations

import io
import tempfile
import threading
import time
from pathlib import Path

from facefleet.redis_client import connect
from facefleet.redis_room import MIB, RedisMemory
from facefleet.submit import SubmitSummary, submit_files
from photos import FACES, expected_names
from PIL import Image

from chaos.batches import Batch
from chaos.judging import Outcome, judge
from chaos.scenarios import Scenario, pool_deaths, worker_mains

# Each large file: (made from this shared photo, scaled to this many pixels, as this format).
# The scans' pixel counts keep them just under the app's 20 MiB limit, uncompressed.
LARGE_FILES = [
    ("obama_and_biden.jpg", 12_000_000, "JPEG"),
    ("two_people.jpg", 6_500_000, "PNG"),
    ("kit_with_rose.jpg", 6_500_000, "TIFF"),
]
# A phone's JPEG quality; scans stored uncompressed (TIFF's default), as scanners do.
SAVE_OPTIONS: dict[str, dict[str, int]] = {"JPEG": {"quality": 92}, "PNG": {"compress_level": 0}}
# Of each submitter's files: this share is large (split evenly among LARGE_FILES).
LARGE_SHARE = 0.7
PEAK_LIMIT = 0.8  # of maxmemory
SUBMITTERS = 2


def make_large_files(folder: Path) -> list[Path]:
    made = []
    for source, pixels, kind in LARGE_FILES:
        with Image.open(FACES / source) as photo:
            scale = (pixels / (photo.width * photo.height)) ** 0.5
            big = photo.convert("RGB").resize((int(photo.width * scale), int(photo.height * scale)))
        path = folder / f"large-{Path(source).stem}.{kind.lower()}"
        big.save(path, kind, **SAVE_OPTIONS.get(kind, {}))
        made.append(path)
    return made


class PeakMemory(threading.Thread):
    def __init__(self, scenario: Scenario) -> None:
        super().__init__(daemon=True)
        self.client = connect(scenario.fleet.settings, socket_timeout=5)
        self.peak = RedisMemory.read(self.client)
        self.halt = threading.Event()

    def run(self) -> None:
        while not self.halt.wait(0.1):
            memory = RedisMemory.read(self.client)
            if memory.used > self.peak.used:
                self.peak = memory

    def refused(self) -> int:
        """Commands Redis refused with OOM since it started (INFO errorstats)."""
        stats = self.client.info("errorstats").get("errorstat_OOM") or {}
        return int(stats.get("count", 0))


def run_bulk(s: Scenario) -> Outcome:
    per_submitter = s.images
    outcome = Outcome("bulk", per_submitter * SUBMITTERS)
    mains, deaths = worker_mains(s.fleet), pool_deaths(s.fleet)
    with tempfile.TemporaryDirectory(prefix="facefleet-chaos-bulk-") as tmp:
        folder = Path(tmp)
        large = make_large_files(folder)
        batches = []
        for n in range(SUBMITTERS):
            batch = Batch(folder / f"submitter{n}")
            batch.folder.mkdir()
            large_count = int(per_submitter * LARGE_SHARE)
            for i in range(large_count):
                source = large[i % len(large)]
                path = batch.folder / f"{len(batch.files):04d}-{source.name}"
                path.symlink_to(source)
                batch.files.append(path)
                batch.expect[str(path)] = expected_names(LARGE_FILES[i % len(large)][0])
            batch.add_photos(per_submitter - large_count)
            batch.shuffle(s.rng)
            batches.append(batch)

        sampler = PeakMemory(s)
        refused_before = sampler.refused()
        outputs = [io.StringIO() for _ in batches]
        summaries: list[SubmitSummary] = []

        def submitter(batch: Batch, out: io.StringIO) -> None:
            summaries.append(
                submit_files(s.app, s.fleet.settings, batch.files, out, task_timeout=s.timeout)
            )

        start = time.monotonic()
        sampler.start()
        threads = [
            threading.Thread(target=submitter, args=pair)
            for pair in zip(batches, outputs, strict=True)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        sampler.halt.set()
        sampler.join()
        outcome.seconds = time.monotonic() - start
        for batch, out in zip(batches, outputs, strict=True):
            judge(batch, out.getvalue(), outcome)

    refused = sampler.refused() - refused_before
    restarted = sum(1 for key, pid in worker_mains(s.fleet).items() if mains.get(key) != pid)
    died = pool_deaths(s.fleet) - deaths
    peak = sampler.peak
    share = peak.used / peak.maxmemory if peak.maxmemory else 0.0
    outcome.figures.update(
        {
            "redis peak": f"{peak.used / MIB:.0f}/{peak.maxmemory / MIB:.0f} MiB",
            "refused": str(refused),
            "restarts": str(restarted + died),
        }
    )
    waited = sum(summary.refused_writes for summary in summaries)
    outcome.notes.append(
        f"{SUBMITTERS} submitters, {int(per_submitter * LARGE_SHARE)} large files each "
        f"(12 MP JPEG, PNG and TIFF scans near the byte limit); Redis peak "
        f"{100 * share:.0f} % of maxmemory; submitters' refused sends {waited}"
    )
    if len(summaries) != SUBMITTERS:
        outcome.problems.append(f"{SUBMITTERS - len(summaries)} submitters did not finish")
    if share >= PEAK_LIMIT:
        outcome.problems.append(f"Redis peaked at {100 * share:.0f} % of maxmemory")
    if refused:
        outcome.problems.append(f"Redis refused {refused} writes (OOM)")
    if restarted or died:
        outcome.problems.append(f"{restarted} workers restarted, {died} pool processes died")
    return outcome
