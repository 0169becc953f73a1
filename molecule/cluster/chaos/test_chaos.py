"""The chaos suite (bench/chaos_lab.py) as the cluster's last verifier stage: real photos
while workers are killed, Redis restarts, the fleet scales 5 -> 1, a worker host
restarts, junk files arrive, and the Redis primary's host is stopped (the cluster's
Redis is replicated, with three Sentinels). Every image must get exactly one final
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
    assert lines[-1] == "chaos: 6 scenarios, 0 lost, 0 duplicates", run.stdout
