"""The chaos suite (bench/chaos_lab.py) as the cluster's last verifier stage: real photos
while workers are killed, Redis restarts, the fleet scales 5 -> 1, a worker host
restarts, and junk files arrive, on a replicated Redis (its failover scenario runs in
`make chaos LAB=lab-replicated`, see below). Every image must get exactly one final
result, the right one. The table goes to .cache/molecule/logs/cluster-chaos.report (run-scenario.sh
prints it).

Here IMAGES per scenario, so that `make test` stays within its time; every disruption
still lands mid-batch (the scenarios time them by the fraction done). `make chaos` runs
the suite's own default, 300, on the lab."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

SHARED = Path(__file__).resolve().parents[2] / "shared" / "tests"
sys.path.insert(0, str(SHARED))

from conftest import INVENTORY, REPO, hosts_in, saved_scale  # noqa: E402

IMAGES = 120
REPORT = REPO / ".cache" / "molecule" / "logs" / "cluster-chaos.report"


def test_chaos_loses_nothing_and_duplicates_nothing() -> None:
    workers = saved_scale(hosts_in("workers")[0])["workers"]
    run = subprocess.run(
        [
            sys.executable,
            "bench/chaos_lab.py",
            "--inventory",
            INVENTORY,
            "--workers",
            str(workers),
            "--images",
            str(IMAGES),
            # The bulk import (two submitters of large files) runs in `make chaos` only.
            "--skip",
            "bulk",
            # The failover scenario loses nothing here (CI of f028e7e: 120 of 120, results
            # again 12.8 s after the stop), but its deploy.yml afterwards rebuilt the app's
            # wheelhouse in ~/.cache/facefleet (lab/fleet.py dropped FACEFLEET_CACHE_DIR),
            # a change on worker1. Fixed since, and passed on the replicated lab; it comes
            # back here once a CI run has shown it.
            "--skip",
            "failover",
        ],
        cwd=REPO,
        env=dict(os.environ, ANSIBLE_CONFIG=str(REPO / "ansible.cfg")),
        capture_output=True,
        text=True,
        timeout=45 * 60,
    )
    REPORT.parent.mkdir(parents=True, exist_ok=True)
    REPORT.write_text(run.stdout + run.stderr[-4000:])
    lines = run.stdout.strip().splitlines()
    assert run.returncode == 0, run.stdout + run.stderr[-4000:]
    assert lines[-1] == "chaos: 5 scenarios, 0 lost, 0 duplicates", run.stdout
