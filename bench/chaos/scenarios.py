"""The chaos scenarios: each sends its own batch through the fleet from this controller while
a disruption does its damage in a thread, then judges every result.

  kill-workers   kill -9 Celery processes on random worker hosts, several times, pool
                 children and main processes in turn; supervisor restarts the dead,
                 their tasks are delivered again; with monitoring, the "workers
                 missing" alert fires and then resolves
  redis-restart  restart redis-server while hundreds of tasks wait in its queue;
                 the queue survives through the AOF, workers and submitter reconnect
  scale-down     scale to 5 workers, then `scale.yml -e workers=1` mid-batch
  host-restart   `docker restart` a worker host; it comes back with no Ansible run
  bad-files      a batch mixed with junk files: every junk file gets an error, every
                 photo the right names, no worker restarts and no pool process dies
  failover       (a replicated Redis only) stop the primary's host mid-batch: Sentinel
                 promotes a replica, workers and submitter follow it; the old primary
                 comes back as a replica with no Ansible run, and deploy.yml then
                 reports changed=0 and leaves the new primary in place
  bulk           two submitters at once import large files (bench/chaos/bulk.py)
"""

from __future__ import annotations

import io
import random
import re
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import redis
from facefleet.celery_app import create_app
from facefleet.fleet_status import wait_for_nodes
from facefleet.redis_client import connect
from facefleet.submit import SubmitSummary, submit_files
from fleet import Fleet, docker
from role_values import role_default

from chaos.alerts import AlertWatch
from chaos.batches import Batch
from chaos.judging import Outcome, judge

Step = Callable[[Outcome], None]


@dataclass
class Plan:
    """What a scenario does: before the batch, during it (in a thread), after it."""

    disrupt: Step
    junk: int = 0
    before: Step | None = None
    after: Step | None = None


class Scenario:
    """Runs a batch through the fleet while ``disrupt`` does its damage in a thread."""

    def __init__(self, fleet: Fleet, images: int, timeout: float, rng: random.Random) -> None:
        self.fleet = fleet
        self.images = images
        self.timeout = timeout
        self.rng = rng
        self.app = create_app(fleet.settings)
        self.done = 0

    def wait_done(self, fraction: float, limit: float = 600.0) -> None:
        deadline = time.monotonic() + limit
        while self.done < self.images * fraction and time.monotonic() < deadline:
            time.sleep(0.2)

    def queue_depth(self) -> int:
        client = connect(self.fleet.settings, socket_timeout=5)
        try:
            return int(client.llen(self.fleet.settings.queue))
        finally:
            client.close()

    def run(self, name: str, plan: Plan) -> Outcome:
        outcome = Outcome(name, self.images)
        if plan.before:
            plan.before(outcome)
        with tempfile.TemporaryDirectory(prefix=f"facefleet-chaos-{name}-") as tmp:
            batch = Batch(Path(tmp))
            batch.add_photos(self.images - plan.junk)
            batch.add_junk(plan.junk)
            batch.shuffle(self.rng)
            self.done = 0

            def progress(summary: SubmitSummary) -> None:
                self.done = summary.done

            def disruptor() -> None:
                try:
                    plan.disrupt(outcome)
                except Exception as exc:  # reported in the table, not swallowed
                    outcome.problems.append(f"disruption failed: {exc!r}")

            thread = threading.Thread(target=disruptor, daemon=True)
            out = io.StringIO()
            start = time.monotonic()
            thread.start()
            summary = submit_files(
                self.app,
                self.fleet.settings,
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
            if summary.resent:
                outcome.notes.append(
                    f"submitter sent {summary.resent} tasks again after "
                    f"{self.fleet.settings.resend_after} s without a result"
                )
            judge(batch, out.getvalue(), outcome)
        if plan.after:
            plan.after(outcome)
        return outcome

    def fleet_answers(self, outcome: Outcome, limit: float = 180.0) -> None:
        """Every node the hosts declare answers ping again (supervisor restarted the dead)."""
        start = time.monotonic()
        nodes = self.fleet.nodes()
        silent = wait_for_nodes(self.app, nodes, limit)
        if silent:
            outcome.problems.append(f"no answer within {limit:.0f} s from {silent}")
        else:
            outcome.notes.append(
                f"all {len(nodes)} nodes answer ({time.monotonic() - start:.0f} s after the batch)"
            )


# The alert that says workers are missing (role monitoring), watched during kill-workers
# when the fleet has a monitoring host: it must fire, and resolve once supervisor has
# restarted what was killed.
WORKERS_MISSING = "FacefleetWorkersMissing"


def kill_workers(s: Scenario, kills: int) -> Plan:
    monitored = bool(s.fleet.groups.get(role_default("fleet_monitoring_group")))
    watch = AlertWatch(s.fleet, WORKERS_MISSING) if monitored else None

    def before(outcome: Outcome) -> None:
        if watch:
            watch.start()

    def after(outcome: Outcome) -> None:
        s.fleet_answers(outcome)
        if watch is None:
            return
        resolved = watch.resolved_within(120)
        if watch.fired_at is None:
            outcome.problems.append(f"{WORKERS_MISSING} never fired while workers were killed")
        elif resolved is None:
            outcome.problems.append(f"{WORKERS_MISSING} still fires 120 s after all answered")
        else:
            outcome.notes.append(
                f"alert {WORKERS_MISSING} fired {watch.fired_at:.0f} s into the scenario and "
                f"last resolved at {watch.resolved_at or 0:.0f} s, once supervisor had "
                "restarted the killed workers"
            )

    def disrupt(outcome: Outcome) -> None:
        killed: Counter[str] = Counter()
        for i in range(kills):
            s.wait_done((i + 1) / (kills + 2))
            host = s.rng.choice(s.fleet.workers)
            pids = s.fleet.worker_pids(host)
            # Alternate: a pool child (what the OOM killer picks first: it holds the
            # image buffers), then a worker's main process (its reserved tasks come
            # back only after the visibility timeout).
            kind = "child" if i % 2 == 0 else "main"
            children = {pid for pid, parent in pids.items() if parent in pids}
            targets = sorted(children if kind == "child" else set(pids) - children)
            if not targets:
                continue
            pid = s.rng.choice(targets)
            s.fleet.exec(host, "kill", "-9", str(pid), check=False)
            killed[kind] += 1
            time.sleep(2)
        outcome.notes.append(
            f"killed {killed['child']} pool children, {killed['main']} main processes"
        )

    return Plan(disrupt, before=before, after=after)


def restart_redis(s: Scenario) -> Plan:
    host = s.fleet.groups["redis"][0]

    def disrupt(outcome: Outcome) -> None:
        s.wait_done(0.2)
        before = s.queue_depth()
        s.fleet.exec(host, "systemctl", "restart", "redis-server")
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

    return Plan(disrupt, after=s.fleet_answers)


def scale_down(s: Scenario, workers_after: int) -> Plan:
    def before(outcome: Outcome) -> None:
        s.fleet.playbook("scale.yml", "-e", "workers=5")
        silent = wait_for_nodes(s.app, s.fleet.nodes(), 120)
        if silent:
            outcome.problems.append(f"before the batch, {silent} never answered")

    def disrupt(outcome: Outcome) -> None:
        s.wait_done(0.25)
        start = time.monotonic()
        s.fleet.playbook("scale.yml", "-e", "workers=1")
        outcome.notes.append(f"scale.yml 5 -> 1 took {time.monotonic() - start:.0f} s")
        nodes = s.fleet.nodes()
        if len(nodes) != 1:
            outcome.problems.append(f"after scaling to 1, the hosts declare {nodes}")

    def after(outcome: Outcome) -> None:
        s.fleet.playbook("scale.yml", "-e", f"workers={workers_after}")

    return Plan(disrupt, before=before, after=after)


def restart_host(s: Scenario) -> Plan:
    host = s.rng.choice(s.fleet.workers)

    def disrupt(outcome: Outcome) -> None:
        s.wait_done(0.3)
        before = [w["node"] for w in s.fleet.host_workers(host)]
        if not before:
            outcome.problems.append(f"{host} runs no worker: nothing to restart")
            return
        start = time.monotonic()
        # A graceful reboot: systemd stops supervisor, which stops the workers (their
        # unfinished tasks go back to the queue), within docker's 60 s.
        docker("restart", "--time", "60", s.fleet.containers[host])
        silent = wait_for_nodes(s.app, before, 180)
        if silent:
            outcome.problems.append(f"{silent} did not come back after restarting {host}")
        else:
            outcome.notes.append(
                f"{host} restarted; its {len(before)} nodes answered after "
                f"{time.monotonic() - start:.0f} s, with no Ansible run"
            )
        chain = ("nft", "list", "chain", "inet", "facefleet", "input")
        if "policy drop" not in s.fleet.exec(host, *chain, check=False):
            outcome.problems.append(f"{host}'s firewall rules did not come back after the restart")

    return Plan(disrupt, after=s.fleet_answers)


def fail_over(s: Scenario) -> Plan:
    """Stop the primary's host (its container, as a host shuts down) a quarter into the
    batch. The figure is the time from the stop until results flow again."""
    state: dict[str, str] = {}

    def disrupt(outcome: Outcome) -> None:
        s.wait_done(0.25)
        old = state["old"] = s.fleet.redis_primary()
        start, silent = s.fleet.stop_redis_host(old)
        deadline = start + 180
        new = old
        while new == old and time.monotonic() < deadline:
            time.sleep(0.5)
            try:
                new = s.fleet.redis_primary()
            except redis.exceptions.RedisError:
                continue  # no Sentinel names a primary for now
        if new == old:
            outcome.problems.append(f"the Sentinels still name {old}, down for 180 s")
            return
        state["new"] = new
        promoted = time.monotonic() - start
        # Results of tasks that ran on the new primary: the queue moves again.
        done_at_switch = s.done
        while s.done < min(done_at_switch + 3, s.images) and time.monotonic() < deadline:
            time.sleep(0.2)
        moved = time.monotonic() - start
        outcome.figures["promoted after s"] = f"{promoted:.1f}"
        outcome.figures["flowing after s"] = f"{moved:.1f}"
        outcome.notes.append(
            f"{old} stopped; its Redis silent after {silent - start:.1f} s, {new} promoted "
            f"after {promoted:.1f} s, results again after {moved:.1f} s"
        )

    def after(outcome: Outcome) -> None:
        old, new = state.get("old"), state.get("new")
        if old:
            s.fleet.start_host(old)  # whatever happened: never left down
        if not old or not new:
            return
        try:
            s.fleet.wait_until_replica(old)
        except TimeoutError as exc:
            outcome.problems.append(f"{old} did not rejoin: {exc}")
            return
        outcome.notes.append(f"{old} rejoined as a replica with no Ansible run")
        recap = s.fleet.playbook("deploy.yml")
        changed = sorted(set(re.findall(r"^(\S+)\s+: ok=\d+\s+changed=([1-9]\d*)", recap, re.M)))
        if changed:
            outcome.problems.append(
                f"deploy.yml after the failover changed {changed}: {_changed_tasks(recap)}"
            )
        else:
            outcome.notes.append("deploy.yml after it: changed=0")
        if s.fleet.redis_primary() != new:
            outcome.problems.append(f"after deploy.yml the primary is no longer {new}")
        s.fleet_answers(outcome)

    return Plan(disrupt, after=after)


def _changed_tasks(output: str) -> list[str]:
    """The tasks an ansible-playbook output reports as changed, as "host: task"."""
    task, found = "", []
    for line in output.splitlines():
        if line.startswith("TASK ["):
            task = line[len("TASK [") :].split("]")[0]
        elif line.startswith("changed: ["):
            found.append(f"{line[len('changed: [') :].split(']')[0]}: {task}")
    return found


# A pool process that died (the OOM killer, a crash) is logged by Celery as
# "Process 'ForkPoolWorker-3' pid:123 exited with 'signal 9 (SIGKILL)'"; a child replaced
# after its task because it had grown (child_recycle_mb) exits cleanly and is not.
_DIED = re.compile(r"Process '[^']+' pid:\d+ exited with")


def pool_deaths(fleet: Fleet) -> int:
    """Pool processes that died, as the workers' logs tell, since they were created."""
    log_dir = role_default("fleet_app_log_dir")
    found = 0
    for host in fleet.workers:
        for worker in fleet.host_workers(host):
            log = fleet.exec(host, "cat", f"{log_dir}/{worker['program']}.log", check=False)
            found += len(_DIED.findall(log))
    return found


def worker_mains(fleet: Fleet) -> dict[str, int | None]:
    """Each worker's main process: ``program@host`` -> PID."""
    return {w["program"] + "@" + h: w["pid"] for h in fleet.workers for w in fleet.host_workers(h)}


def bad_files(s: Scenario) -> Plan:
    """Junk files must not restart any worker, nor kill any pool process."""
    state: dict[str, object] = {}

    def before(outcome: Outcome) -> None:
        state["mains"], state["deaths"] = worker_mains(s.fleet), pool_deaths(s.fleet)

    def after(outcome: Outcome) -> None:
        if worker_mains(s.fleet) != state["mains"]:
            outcome.problems.append("a worker restarted (its main process changed)")
        died = pool_deaths(s.fleet) - int(state["deaths"])  # type: ignore[call-overload]
        if died:
            outcome.problems.append(f"{died} pool processes died")
        else:
            outcome.notes.append(
                f"the same {len(state['mains'])} worker processes before and after "  # type: ignore[arg-type]
                "(their main processes), and no pool process died"
            )

    return Plan(lambda outcome: None, junk=max(8, s.images // 5), before=before, after=after)


SCENARIOS: dict[str, Callable[..., Plan]] = {
    "kill-workers": kill_workers,
    "redis-restart": restart_redis,
    "scale-down": scale_down,
    "host-restart": restart_host,
    "bad-files": bad_files,
    "failover": fail_over,
}
