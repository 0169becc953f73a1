"""Chaos runs on a running fleet (`make demo` first); `make chaos` runs them all.

    .venv/bin/python bench/chaos_lab.py [--images 300] [--only kill-workers] [--seed N]
                                        [--inventory inventory/lab]

`--inventory` takes any fleet whose hosts are containers on this Docker host: the
Molecule cluster scenario runs the suite as its last verifier stage.

Each scenario (bench/chaos/scenarios.py) sends its own batch of real photos (at least
300, each under its own name) from this controller, does something harmful in the middle
of it, and then checks that every image has exactly one final result, the right one
(bench/chaos/judging.py). The table goes to stdout and the last line is
`chaos: <n> scenarios, <lost> lost, <dup> duplicates`; the exit status is 1 if anything
was lost or duplicated, a check failed, or Redis refused the fleet's user a command.
"""

from __future__ import annotations

import argparse
import logging
import random
import shutil
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO / "lab"), str(REPO / "bench"), str(REPO / "app" / "bench")]

from chaos.bulk import run_bulk  # noqa: E402
from chaos.judging import Outcome  # noqa: E402
from chaos.scenarios import SCENARIOS, Scenario, bad_files, kill_workers, scale_down  # noqa: E402
from demo import enrol  # noqa: E402
from fleet import LAB, Fleet  # noqa: E402


def refused_by_redis(fleet: Fleet) -> list[str]:
    """What Redis' ACLs refused (ACL LOG, read as the admin user on each Redis host) since
    it last started: the fleet's user must never need a command it was denied."""
    refused = []
    for host in fleet.groups["redis"]:
        admin = fleet.redis_admin(host)
        try:
            refused += [f"{host} {e['username']}: {e['object']}" for e in admin.acl_log()]
        finally:
            admin.close()
    return refused


def table(outcomes: list[Outcome]) -> list[str]:
    extra = sorted({k for o in outcomes for k in o.figures})
    lines = [
        f"{'scenario':<15} {'sent':>5} {'results':>7} {'ok':>5} {'errors':>6} "
        f"{'lost':>5} {'dup':>4} {'wall s':>7}" + "".join(f" {k:>14}" for k in extra) + "  checks"
    ]
    for o in outcomes:
        lines.append(
            f"{o.scenario:<15} {o.images:>5} {o.results:>7} {o.ok:>5} {o.errors:>6} "
            f"{o.lost:>5} {o.duplicates:>4} {o.seconds:>7.0f}"
            + "".join(f" {o.figures.get(k, '-'):>14}" for k in extra)
            + "  "
            + ("; ".join(o.problems) if o.problems else "passed")
        )
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=300, help="images per scenario")
    names = [*SCENARIOS, "bulk"]
    parser.add_argument("--only", action="append", choices=names, help="run just these")
    parser.add_argument("--skip", action="append", choices=names, default=[], help="leave out")
    parser.add_argument("--seed", type=int, default=int(time.time()))
    parser.add_argument("--kills", type=int, default=4, help="kill -9s in kill-workers")
    parser.add_argument(
        "--timeout",
        type=float,
        help="seconds an image may take before it is lost (default: the submitter's resend "
        "deadline, Settings.resend_after, plus one hard time limit and a minute)",
    )
    parser.add_argument("--workers", type=int, default=2, help="workers to leave the fleet at")
    parser.add_argument(
        "--inventory",
        type=Path,
        default=LAB,
        help="the fleet's inventory (its hosts must be containers on this Docker host)",
    )
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    # Celery logs each retry of a result-store call with its traceback; the table says
    # what matters.
    logging.getLogger("celery.backends.base").setLevel(logging.ERROR)
    if shutil.which("docker") is None:
        parser.error("docker is not on PATH")

    fleet = Fleet.from_inventory(args.inventory)
    settings = fleet.settings
    timeout = args.timeout or settings.resend_after + settings.task_time_limit + 60
    rng = random.Random(args.seed)
    print(
        f"chaos on {args.inventory}: {args.images} images per scenario, seed {args.seed}",
        flush=True,
    )
    enrol(fleet.settings)  # the people app/bench/photos.py knows, as make demo enrols them
    outcomes = []
    if not fleet.replicated and "failover" not in (args.only or []):
        args.skip.append("failover")  # one Redis: nothing to fail over to
    for name in [n for n in args.only or names if n not in args.skip]:
        s = Scenario(fleet, args.images, timeout, rng)
        if name == "bulk":
            outcome = run_bulk(s)
        else:
            if name == "kill-workers":
                plan = kill_workers(s, args.kills)
            elif name == "scale-down":
                plan = scale_down(s, args.workers)
            elif name == "bad-files":
                plan = bad_files(s)
            else:
                plan = SCENARIOS[name](s)
            outcome = s.run(name, plan)
        outcomes.append(outcome)
        print(
            f"  {name}: {outcome.ok} ok, {outcome.errors} errors, lost {outcome.lost}, "
            f"duplicates {outcome.duplicates}, {outcome.seconds:.0f} s; "
            + "; ".join(outcome.notes + outcome.problems),
            flush=True,
        )
    fleet.playbook("scale.yml", "-e", f"workers={args.workers}")
    refused = refused_by_redis(fleet)
    print(f"Redis ACL log: {'; '.join(refused) if refused else 'nothing refused'}")

    print()
    print("\n".join(table(outcomes)))
    lost = sum(o.lost for o in outcomes)
    dup = sum(o.duplicates for o in outcomes)
    failed = [o.scenario for o in outcomes if o.problems]
    print(f"chaos: {len(outcomes)} scenarios, {lost} lost, {dup} duplicates")
    return 1 if lost or dup or failed or refused else 0


if __name__ == "__main__":
    sys.exit(main())
