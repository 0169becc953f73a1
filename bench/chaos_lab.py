"""Chaos runs on the running lab (`make demo` first); `make chaos` runs them all.

    .venv/bin/python bench/chaos_lab.py [--images 300] [--only kill-workers] [--seed N]
                                        [--inventory inventory/lab]

`--inventory` takes any fleet whose hosts are containers on this Docker host: the
Molecule cluster scenario runs the suite as its last verifier stage.

Each scenario sends its own batch of real photos (at least 300, each under its own
name) from this controller, does something harmful in the middle of it, and then
checks that every image has exactly one final result, the right one:

  kill-workers   kill -9 Celery processes on random worker hosts, several times, pool
                 children and main processes in turn; supervisor restarts the dead,
                 their tasks are delivered again
  redis-restart  restart redis-server while hundreds of tasks wait in its queue;
                 the queue survives through the AOF, workers and submitter reconnect
  scale-down     scale to 5 workers, then `scale.yml -e workers=1` mid-batch
  host-restart   `docker restart` a worker host; it comes back with no Ansible run
  bad-files      a batch mixed with junk files: every junk file gets an error, every
                 photo the right names, and no worker process restarts

Lost: an image without its right final result (no result, a result the disruption
caused, or a wrong one). Duplicates: extra results for one image. The table goes to
stdout and the last line is `chaos: <n> scenarios, <lost> lost, <dup> duplicates`;
the exit status is 1 if anything was lost or duplicated or a check failed.
"""

from __future__ import annotations

import argparse
import io
import json
import logging
import os
import random
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import redis
import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "lab"))

from demo import FACES, container_address, enrol, lab_vault  # noqa: E402
from facefleet.celery_app import create_app  # noqa: E402
from facefleet.fleet_status import wait_for_nodes  # noqa: E402
from facefleet.redis_client import connect, tls_options  # noqa: E402
from facefleet.settings import Settings  # noqa: E402
from facefleet.submit import SubmitSummary, submit_files  # noqa: E402

# Who each shared photo shows, among the people demo.py enrols (SOURCES.md); the rest
# of their faces must come back unnamed.
EXPECTED_NAMES = {
    "obama": "obama",
    "biden": "biden",
    "two_people": "biden obama",
    "obama_and_biden": "biden obama",
    "kit_harington": "kit_harington",
    "kit_with_rose": "kit_harington rose_leslie",
    "rose_leslie": "rose_leslie",
    "alex_lacamoire": "",
    "lin_manuel_miranda": "",
    "astronaut": "",
}
# Photos whose only face is cut at the edge: found, but not always close enough to name.
UNCERTAIN = {"obama_partial_face.jpg", "obama_partial_face2.jpg"}


def expected_names(photo: str) -> set[str] | None:
    if photo in UNCERTAIN:
        return None
    stem = photo.rsplit(".", 1)[0]
    for prefix in sorted(EXPECTED_NAMES, key=len, reverse=True):
        if stem.startswith(prefix):
            return set(EXPECTED_NAMES[prefix].split())
    raise KeyError(f"no expected names for {photo}")


def docker(*argv: str, check: bool = True) -> str:
    return subprocess.run(
        ["docker", *argv], check=check, capture_output=True, text=True
    ).stdout.strip()


@dataclass
class Lab:
    """The lab as inventory/lab describes it: host name -> container, by group."""

    inventory: Path
    containers: dict[str, str]
    groups: dict[str, list[str]]
    settings: Settings

    @classmethod
    def from_inventory(cls, inventory: Path) -> Lab:
        listing = json.loads(
            subprocess.run(
                ["ansible-inventory", "-i", str(inventory), "--list"],
                check=True,
                capture_output=True,
                text=True,
                cwd=REPO,
            ).stdout
        )
        hostvars = listing["_meta"]["hostvars"]
        # The lab names its containers in ansible_host; Molecule names them as the hosts.
        containers = {host: hostvars[host].get("ansible_host", host) for host in hostvars}
        groups = {
            name: sorted(body.get("hosts", []))
            for name, body in listing.items()
            if name != "_meta" and isinstance(body, dict)
        }
        password = lab_vault()["vault_redis_password"]
        address = container_address(containers[groups["redis"][0]])
        settings = Settings(redis_url=f"redis://:{password}@{address}:6379/0")
        return cls(inventory, containers, groups, settings)

    def playbook(self, *argv: str) -> None:
        subprocess.run(
            ["ansible-playbook", "-i", str(self.inventory), *argv],
            cwd=REPO,
            check=True,
            stdout=subprocess.DEVNULL,
            env=dict(os.environ, ANSIBLE_CONFIG=str(REPO / "ansible.cfg")),
        )

    @property
    def workers(self) -> list[str]:
        return self.groups["workers"]

    def exec(self, host: str, *argv: str, check: bool = True) -> str:
        return docker("exec", self.containers[host], *argv, check=check)

    def programs(self, host: str) -> dict[str, tuple[str, int]]:
        """supervisorctl status: program -> (state, pid)."""
        programs = {}
        for line in self.exec(host, "supervisorctl", "status", check=False).splitlines():
            parts = line.split()
            if len(parts) >= 2:
                pid = int(parts[3].rstrip(",")) if len(parts) > 3 and parts[2] == "pid" else 0
                programs[parts[0]] = (parts[1], pid)
        return programs

    def worker_pids(self, host: str) -> dict[int, int]:
        """Every Celery worker process on ``host``: pid -> parent pid."""
        out = self.exec(host, "ps", "-eo", "pid=,ppid=,args=", check=False)
        return {
            int(pid): int(ppid)
            for pid, ppid, args in (line.split(None, 2) for line in out.splitlines())
            if "celery --app=facefleet.celery_app worker" in args
        }

    def nodes(self) -> list[str]:
        """The worker nodes supervisor runs now (celeryN@host, from the program names)."""
        nodes = []
        for host in self.workers:
            for program in self.programs(host):
                if program.startswith("facefleet-worker-") and program[17:].isdigit():
                    nodes.append(f"celery{program[17:]}@{host}")
        return sorted(nodes)


@dataclass
class Outcome:
    scenario: str
    images: int
    results: int = 0
    ok: int = 0
    errors: int = 0
    lost: int = 0
    duplicates: int = 0
    seconds: float = 0.0
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


class Batch:
    """A batch of image files, each under a name of its own, and what each must give."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.files: list[Path] = []
        self.expect: dict[str, set[str] | str | None] = {}  # str: an error is expected

    def add_photos(self, count: int) -> None:
        photos = sorted(p for p in FACES.iterdir() if p.suffix in (".jpg", ".png"))
        for i in range(count):
            photo = photos[i % len(photos)]
            path = self.folder / f"{len(self.files):04d}-{photo.name}"
            path.symlink_to(photo)
            self.files.append(path)
            self.expect[str(path)] = expected_names(photo.name)

    def add_junk(self, count: int) -> None:
        sample = (FACES / "obama.jpg").read_bytes()
        makers: list[tuple[str, Callable[[], bytes]]] = [
            ("empty.jpg", lambda: b""),
            ("text.jpg", lambda: b"this is not a picture\n" * 20),
            ("truncated.jpg", lambda: sample[: len(sample) // 3]),
            ("garbage.png", lambda: b"\x89PNG\r\n\x1a\n" + os.urandom(4096)),
            ("random.bin", lambda: os.urandom(8192)),
            ("page.jpg", lambda: b"<html><body>404</body></html>"),
            ("huge.jpg", lambda: sample + b"\0" * (21 * 1024 * 1024)),
            ("bomb.png", _pixel_bomb),
        ]
        made: dict[str, Path] = {}
        for i in range(count):
            name, make = makers[i % len(makers)]
            path = self.folder / f"{len(self.files):04d}-{name}"
            if name in made:
                path.symlink_to(made[name])
            else:
                path.write_bytes(make())
                made[name] = path
            self.files.append(path)
            self.expect[str(path)] = "error"

    def shuffle(self, rng: random.Random) -> None:
        rng.shuffle(self.files)


def _pixel_bomb() -> bytes:
    """A small PNG that claims 50 000 x 50 000 pixels."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", 50_000, 50_000, 8, 0, 0, 0, 0)
    row = b"\0" * (50_000 + 1)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(row * 16))
        + chunk(b"IEND", b"")
    )


def judge(batch: Batch, output: str, outcome: Outcome) -> None:
    by_image: dict[str, list[dict]] = {}
    for line in output.splitlines():
        record = json.loads(line)
        by_image.setdefault(record["image"], []).append(record)
    outcome.results = sum(len(v) for v in by_image.values())
    outcome.duplicates = sum(len(v) - 1 for v in by_image.values() if len(v) > 1)
    strays = set(by_image) - set(batch.expect)
    if strays:
        outcome.problems.append(f"{len(strays)} results for images never sent")
    wrong: list[str] = []
    for image, expect in batch.expect.items():
        records = by_image.get(image, [])
        if not records:
            outcome.lost += 1
            continue
        record = records[0]
        if record["status"] == "ok":
            outcome.ok += 1
        else:
            outcome.errors += 1
        if expect == "error":
            good = record["status"] == "error" and bool(record.get("error"))
        elif record["status"] != "ok":
            good = False
        else:
            names = {f["name"] for f in record["faces"] if f.get("name")}
            good = expect is None or names == expect
        if not good:
            outcome.lost += 1
            wrong.append(f"{Path(image).name}: {record.get('error') or record.get('faces')}")
    if wrong:
        outcome.problems.append(f"wrong or failed results, e.g. {wrong[:3]}")


class Scenario:
    """Runs a batch through the lab while ``disrupt`` does its damage in a thread."""

    def __init__(self, lab: Lab, images: int, timeout: float, rng: random.Random) -> None:
        self.lab = lab
        self.images = images
        self.timeout = timeout
        self.rng = rng
        self.app = create_app(lab.settings)
        self.done = 0

    def wait_done(self, fraction: float, limit: float = 600.0) -> None:
        deadline = time.monotonic() + limit
        while self.done < self.images * fraction and time.monotonic() < deadline:
            time.sleep(0.2)

    def queue_depth(self) -> int:
        client = connect(self.lab.settings, socket_timeout=5)
        try:
            return int(client.llen(self.lab.settings.queue))
        finally:
            client.close()

    def run(
        self,
        name: str,
        disrupt: Callable[[Outcome], None],
        junk: int = 0,
        after: Callable[[Outcome], None] | None = None,
    ) -> Outcome:
        outcome = Outcome(name, self.images)
        with tempfile.TemporaryDirectory(prefix=f"facefleet-chaos-{name}-") as tmp:
            batch = Batch(Path(tmp))
            batch.add_photos(self.images - junk)
            batch.add_junk(junk)
            batch.shuffle(self.rng)
            self.done = 0

            def progress(summary: SubmitSummary) -> None:
                self.done = summary.done

            def disruptor() -> None:
                try:
                    disrupt(outcome)
                except Exception as exc:  # reported in the table, not swallowed
                    outcome.problems.append(f"disruption failed: {exc!r}")

            thread = threading.Thread(target=disruptor, daemon=True)
            out = io.StringIO()
            start = time.monotonic()
            thread.start()
            summary = submit_files(
                self.app,
                self.lab.settings,
                batch.files,
                out,
                window=len(batch.files),  # all queued at once: a deep queue to survive
                task_timeout=self.timeout,
                progress=progress,
            )
            thread.join()
            outcome.seconds = time.monotonic() - start
            if summary.reconnects:
                outcome.notes.append(f"submitter rode out {summary.reconnects} Redis errors")
            judge(batch, out.getvalue(), outcome)
        if after:
            after(outcome)
        return outcome

    def fleet_answers(self, outcome: Outcome, limit: float = 180.0) -> None:
        """Every node supervisor runs answers ping again (supervisor restarted the dead)."""
        start = time.monotonic()
        nodes = self.lab.nodes()
        silent = wait_for_nodes(self.app, nodes, limit)
        if silent:
            outcome.problems.append(f"no answer within {limit:.0f} s from {silent}")
        else:
            outcome.notes.append(
                f"all {len(nodes)} nodes answer ({time.monotonic() - start:.0f} s after the batch)"
            )


def kill_workers(s: Scenario, kills: int) -> Callable[[Outcome], None]:
    def disrupt(outcome: Outcome) -> None:
        killed = Counter()
        for i in range(kills):
            s.wait_done((i + 1) / (kills + 2))
            host = s.rng.choice(s.lab.workers)
            pids = s.lab.worker_pids(host)
            # Alternate: a pool child (what the OOM killer picks first: it holds the
            # image buffers), then a worker's main process (its reserved tasks come
            # back only after the visibility timeout).
            kind = "child" if i % 2 == 0 else "main"
            children = {pid for pid, parent in pids.items() if parent in pids}
            targets = sorted(children if kind == "child" else set(pids) - children)
            if not targets:
                continue
            pid = s.rng.choice(targets)
            s.lab.exec(host, "kill", "-9", str(pid), check=False)
            killed[kind] += 1
            time.sleep(2)
        outcome.notes.append(
            f"killed {killed['child']} pool children, {killed['main']} main processes"
        )

    return disrupt


def restart_redis(s: Scenario) -> Callable[[Outcome], None]:
    host = s.lab.groups["redis"][0]

    def disrupt(outcome: Outcome) -> None:
        s.wait_done(0.2)
        before = s.queue_depth()
        s.lab.exec(host, "systemctl", "restart", "redis-server")
        deadline = time.monotonic() + 30
        while True:
            try:
                after = s.queue_depth()
                break
            except redis.exceptions.RedisError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        outcome.notes.append(f"queue {before} before the restart, {after} right after")
        if before > 20 and after < before // 2:
            outcome.problems.append(f"the queue did not survive: {before} -> {after}")

    return disrupt


def scale_down(s: Scenario) -> Callable[[Outcome], None]:
    def disrupt(outcome: Outcome) -> None:
        s.wait_done(0.25)
        start = time.monotonic()
        s.lab.playbook("playbooks/scale.yml", "-e", "workers=1")
        outcome.notes.append(f"scale.yml 5 -> 1 took {time.monotonic() - start:.0f} s")
        nodes = s.lab.nodes()
        if len(nodes) != 1:
            outcome.problems.append(f"after scaling to 1, supervisor runs {nodes}")

    return disrupt


def restart_host(s: Scenario) -> Callable[[Outcome], None]:
    host = s.rng.choice(s.lab.workers)

    def disrupt(outcome: Outcome) -> None:
        s.wait_done(0.3)
        before = [n for n in s.lab.nodes() if n.endswith("@" + host)]
        if not before:
            outcome.problems.append(f"{host} runs no worker: nothing to restart")
            return
        start = time.monotonic()
        # A graceful reboot: systemd stops supervisor, which stops the workers (their
        # unfinished tasks go back to the queue), within docker's 60 s.
        docker("restart", "--time", "60", s.lab.containers[host])
        silent = wait_for_nodes(s.app, before, 180)
        if silent:
            outcome.problems.append(f"{silent} did not come back after restarting {host}")
        else:
            outcome.notes.append(
                f"{host} restarted; its {len(before)} nodes answered after "
                f"{time.monotonic() - start:.0f} s, with no Ansible run"
            )
        rules = s.lab.exec(host, "nft", "list", "chain", "inet", "facefleet", "input", check=False)
        if "policy drop" not in rules:
            outcome.problems.append(f"{host}'s firewall rules did not come back after the restart")

    return disrupt


def watch_no_restarts(s: Scenario) -> tuple[Callable[[Outcome], None], Callable[[Outcome], None]]:
    before = {host: s.lab.worker_pids(host) for host in s.lab.workers}

    def disrupt(outcome: Outcome) -> None:
        return None

    def after(outcome: Outcome) -> None:
        now = {host: s.lab.worker_pids(host) for host in s.lab.workers}
        if now != before:
            outcome.problems.append("worker processes changed: a worker or pool child restarted")
        else:
            total = sum(len(p) for p in now.values())
            outcome.notes.append(f"the same {total} worker processes before and after")

    return disrupt, after


def refused_by_redis(lab: Lab) -> list[str]:
    """What Redis' ACLs refused (ACL LOG, read as the admin user) since it last started:
    the fleet's user must never need a command it was denied."""
    defaults = yaml.safe_load((REPO / "roles" / "redis" / "defaults" / "main.yml").read_text())
    url = urlsplit(lab.settings.redis_url)
    admin = redis.Redis(
        host=url.hostname,
        port=url.port or 6379,
        username=defaults["redis_admin_user"],
        password=lab_vault()["vault_redis_admin_password"],
        socket_timeout=5,
        **tls_options(lab.settings),
    )
    try:
        return [f"{entry['username']}: {entry['object']}" for entry in admin.acl_log()]
    finally:
        admin.close()


SCENARIOS = ["kill-workers", "redis-restart", "scale-down", "host-restart", "bad-files"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=300, help="images per scenario")
    parser.add_argument("--only", action="append", choices=SCENARIOS, help="run just these")
    parser.add_argument("--seed", type=int, default=int(time.time()))
    parser.add_argument("--kills", type=int, default=4, help="kill -9s in kill-workers")
    parser.add_argument(
        "--timeout", type=float, default=900, help="seconds an image may take before it is lost"
    )
    parser.add_argument("--workers", type=int, default=2, help="workers to leave the lab at")
    parser.add_argument(
        "--inventory",
        type=Path,
        default=REPO / "inventory" / "lab",
        help="the fleet's inventory (its hosts must be containers on this Docker host)",
    )
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    # Celery logs each retry of a result-store call with its traceback; the table says
    # what matters.
    logging.getLogger("celery.backends.base").setLevel(logging.ERROR)
    if shutil.which("docker") is None:
        parser.error("docker is not on PATH")

    lab = Lab.from_inventory(args.inventory)
    rng = random.Random(args.seed)
    print(
        f"chaos on {args.inventory}: {args.images} images per scenario, seed {args.seed}",
        flush=True,
    )
    enrol(lab.settings)  # the people EXPECTED_NAMES knows, as make demo enrols them
    outcomes = []
    for name in args.only or SCENARIOS:
        s = Scenario(lab, args.images, args.timeout, rng)
        if name == "kill-workers":
            outcome = s.run(name, kill_workers(s, args.kills), after=s.fleet_answers)
        elif name == "redis-restart":
            outcome = s.run(name, restart_redis(s), after=s.fleet_answers)
        elif name == "scale-down":
            lab.playbook("playbooks/scale.yml", "-e", "workers=5")
            silent = wait_for_nodes(s.app, lab.nodes(), 120)
            outcome = s.run(name, scale_down(s))
            if silent:
                outcome.problems.append(f"before the batch, {silent} never answered")
            lab.playbook("playbooks/scale.yml", "-e", f"workers={args.workers}")
        elif name == "host-restart":
            outcome = s.run(name, restart_host(s), after=s.fleet_answers)
        else:
            disrupt, after = watch_no_restarts(s)
            outcome = s.run(name, disrupt, junk=max(8, args.images // 5), after=after)
        outcomes.append(outcome)
        print(
            f"  {name}: {outcome.ok} ok, {outcome.errors} errors, lost {outcome.lost}, "
            f"duplicates {outcome.duplicates}, {outcome.seconds:.0f} s; "
            + "; ".join(outcome.notes + outcome.problems),
            flush=True,
        )
    lab.playbook("playbooks/scale.yml", "-e", f"workers={args.workers}")
    refused = refused_by_redis(lab)
    print(f"Redis ACL log: {'; '.join(refused) if refused else 'nothing refused'}")

    print()
    print(
        f"{'scenario':<15} {'sent':>5} {'results':>7} {'ok':>5} {'errors':>6} "
        f"{'lost':>5} {'dup':>4} {'wall s':>7}  checks"
    )
    for o in outcomes:
        print(
            f"{o.scenario:<15} {o.images:>5} {o.results:>7} {o.ok:>5} {o.errors:>6} "
            f"{o.lost:>5} {o.duplicates:>4} {o.seconds:>7.0f}  "
            + ("; ".join(o.problems) if o.problems else "passed")
        )
    lost = sum(o.lost for o in outcomes)
    dup = sum(o.duplicates for o in outcomes)
    failed = [o.scenario for o in outcomes if o.problems]
    print(f"chaos: {len(outcomes)} scenarios, {lost} lost, {dup} duplicates")
    return 1 if lost or dup or failed or refused else 0


if __name__ == "__main__":
    sys.exit(main())
