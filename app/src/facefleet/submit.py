"""Bulk import: send files as tasks, write results as they arrive, resume after a stop."""

from __future__ import annotations

import json
import logging
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from celery import Celery

from facefleet.core.analysis import ImageResult, error_result
from facefleet.image_store import ImageStore
from facefleet.pipeline import analysis_options, read_image_file
from facefleet.pipeline_metrics import SENT_HEADER
from facefleet.redis_client import OUTAGE_ERRORS, connect
from facefleet.redis_room import RedisMemory, refused_write, stored_bytes, wait_reason
from facefleet.settings import Settings
from facefleet.tasks import ANALYZE_STORED_IMAGE

log = logging.getLogger(__name__)

# Times a task with no result is sent again (see Settings.resend_after).
MAX_RESENDS = 2


@dataclass
class SubmitSummary:
    sent: int = 0
    skipped: int = 0
    ok: int = 0
    error: int = 0
    faces: int = 0
    lost: int = 0
    reconnects: int = 0
    resent: int = 0
    refused_writes: int = 0
    room_waits: int = 0  # times it waited for room in Redis
    unreplicated: int = 0  # images sent before a replica had them (Sentinel only)
    seconds: float = 0.0
    workers: dict[str, int] = field(default_factory=dict)

    @property
    def done(self) -> int:
        return self.ok + self.error

    def count(self, result: ImageResult) -> None:
        if result.get("status") == "ok":
            self.ok += 1
            self.faces += len(result.get("faces") or [])
        else:
            self.error += 1
        worker = result.get("worker")
        if worker:
            self.workers[worker] = self.workers.get(worker, 0) + 1

    def line(self) -> str:
        rate = self.done / self.seconds if self.seconds else 0.0
        extra = "".join(
            f", {name} {value}"
            for name, value in (
                ("sent again", self.resent),
                ("refused", self.refused_writes),
                ("sent before a replica had the image", self.unreplicated),
            )
            if value
        )
        return (
            f"submitted {self.sent}, skipped {self.skipped} already done: "
            f"ok {self.ok}, error {self.error}, faces {self.faces}, lost {self.lost}{extra}, "
            f"{rate:.2f} images/s over {self.seconds:.1f} s"
        )


def already_done(out: Path) -> set[str]:
    """Images that have a final result in an earlier run's output."""
    done: set[str] = set()
    if not out.exists():
        return done
    with out.open(encoding="utf-8") as handle:
        for raw in handle:
            try:
                record = json.loads(raw)
            except json.JSONDecodeError:
                continue  # a line cut short by an interruption
            if record.get("status") in ("ok", "error") and "image" in record:
                done.add(record["image"])
    return done


class Progress:
    def __init__(self, total: int, stream: TextIO = sys.stderr) -> None:
        self.total = total
        self.stream = stream
        self.tty = stream.isatty()
        self.last_print = 0.0
        self.started = time.monotonic()

    def update(self, summary: SubmitSummary, final: bool = False) -> None:
        now = time.monotonic()
        if not final and now - self.last_print < (0.2 if self.tty else 5.0):
            return
        self.last_print = now
        done = summary.done
        width = 30
        filled = width * done // self.total if self.total else width
        rate = done / (now - self.started) if now > self.started else 0.0
        text = (
            f"[{'#' * filled}{'.' * (width - filled)}] {done}/{self.total} "
            f"ok {summary.ok} error {summary.error} {rate:.2f} img/s"
        )
        if self.tty:
            self.stream.write("\r" + text + ("\n" if final else ""))
        else:
            self.stream.write(text + "\n")
        self.stream.flush()


def _result_from_meta(image: str, meta: dict[str, Any]) -> ImageResult:
    if meta.get("status") == "SUCCESS" and isinstance(meta.get("result"), dict):
        return meta["result"]
    reason = meta.get("result")
    if isinstance(reason, dict):
        reason = f"{reason.get('exc_type')}: {reason.get('exc_message')}"
    return error_result(image, f"task failed: {reason}")


@dataclass
class _InFlight:
    path: Path
    key: str  # where its image waits in Redis
    sent_at: float
    size: int
    sends: int = 1


@dataclass
class _Ready:
    """A file read, waiting for its turn (or for room in Redis)."""

    path: Path
    data: bytes
    key: str


class SubmitStalled(RuntimeError):
    """Nothing in flight, and Redis had no room (or refused writes) for too long."""


class _Notice:
    """Says why the submitter waits: once when the kind of reason changes, then every
    30 s while it lasts, and once when sending resumes after a wait of 10 s or more."""

    def __init__(self) -> None:
        self.kind = ""
        self.said_at = 0.0
        self.waiting_since: float | None = None

    def wait(self, kind: str, reason: str) -> None:
        now = time.monotonic()
        self.waiting_since = self.waiting_since or now
        if kind != self.kind or now - self.said_at > 30:
            log.warning("%s; waiting", reason)
            self.kind, self.said_at = kind, now

    def resume(self, summary: SubmitSummary) -> None:
        if self.waiting_since is None:
            return
        waited = time.monotonic() - self.waiting_since
        self.waiting_since = None
        if waited >= 10:
            log.warning("sending again after %.0f s (%d images sent)", waited, summary.sent)
            self.kind = ""


def submit_files(
    app: Celery,
    settings: Settings,
    files: Iterable[Path],
    out: TextIO,
    done: set[str] | None = None,
    window: int = 64,
    task_timeout: float = 3600.0,
    progress: Callable[[SubmitSummary], None] | None = None,
    detection: str | None = None,
) -> SubmitSummary:
    """Send each file as a task and write one line per result, keeping at most ``window``
    tasks and the bytes redis_room allows in Redis at once.

    Redis out of room (``OOM`` with noeviction) or restarting: the submitter waits and
    sends the same file again, saying why in one line; with nothing of its own in flight
    it gives up after ``settings.submit_stall_seconds`` (SubmitStalled). A task with no
    result after ``settings.resend_after`` seconds is sent again (twice at most); with no
    result after ``task_timeout`` it is written as an error and counted as lost.
    """
    submission = _Submission(app, settings, out, window, task_timeout, detection)
    try:
        return submission.run(iter(files), done or set(), progress)
    finally:
        submission.client.close()


class _Submission:
    """One run of submit_files: what is in flight, and each step of its loop."""

    def __init__(
        self,
        app: Celery,
        settings: Settings,
        out: TextIO,
        window: int,
        task_timeout: float,
        detection: str | None,
    ) -> None:
        self.app = app
        self.settings = settings
        self.out = out
        self.window = window
        self.task_timeout = task_timeout
        self.kwargs = {"detection": detection} if detection else {}
        self.limits = analysis_options(settings).limits
        self.client = connect(settings, socket_timeout=30)
        self.store = ImageStore(self.client, settings.image_key_prefix)
        # An image left behind by a submitter that died expires once it counts as lost.
        self.image_ttl = int(task_timeout) + 60
        self.summary = SubmitSummary()
        self.pending: dict[str, _InFlight] = {}
        self.forget: list[tuple[str, str]] = []  # (task, image key) done, to delete
        self.ready: _Ready | None = None
        self.exhausted = False
        self.notice = _Notice()
        self.stuck_since: float | None = None  # waiting for Redis (room, or writes), since
        self.outage_since: float | None = None

    def run(
        self,
        todo: Iterator[Path],
        done: set[str],
        progress: Callable[[SubmitSummary], None] | None,
    ) -> SubmitSummary:
        started = time.monotonic()
        while not self.exhausted or self.pending or self.ready:
            self.send_what_fits(todo, done)
            if not self.pending:
                if self.ready:
                    time.sleep(1.0)  # waiting for room, with nothing of ours to collect
                continue
            self.collect()
            self.summary.seconds = time.monotonic() - started
            if progress:
                progress(self.summary)
        self.flush_forget()  # the images of tasks counted as lost in the last round
        self.summary.seconds = time.monotonic() - started
        return self.summary

    def write(self, result: ImageResult) -> None:
        self.out.write(json.dumps(result, sort_keys=True) + "\n")
        self.out.flush()
        self.summary.count(result)

    def next_ready(self, todo: Iterator[Path], done: set[str]) -> _Ready | None:
        for path in todo:
            if str(path) in done:
                self.summary.skipped += 1
                continue
            # Refused here, so oversized files never travel through Redis.
            data = read_image_file(path, self.limits)
            if isinstance(data, bytes):
                return _Ready(path, data, self.store.new_key())
            self.write(data)
        self.exhausted = True
        return None

    def send(self, item: _Ready, task_id: str | None = None) -> str:
        """Store the image, then send the task that names it. With a replicated Redis,
        first wait until a replica has the image: a failover then never leaves a task
        that names an image the new primary lacks (a lost task is sent again anyway)."""
        self.store.put(item.key, item.data, self.image_ttl)
        wait_ms = self.settings.submit_wait_replica_ms if self.settings.redis_sentinels else 0
        if wait_ms and not self.client.wait(1, wait_ms):
            self.summary.unreplicated += 1
        result = self.app.send_task(
            ANALYZE_STORED_IMAGE,
            args=(str(item.path), item.key),
            kwargs=self.kwargs,
            task_id=task_id,
            headers={SENT_HEADER: time.time()},
        )
        return str(result.id)

    def send_what_fits(self, todo: Iterator[Path], done: set[str]) -> None:
        while len(self.pending) < self.window:
            self.ready = self.ready or (None if self.exhausted else self.next_ready(todo, done))
            if self.ready is None:
                return
            size = stored_bytes(self.ready.data)
            own = sum(task.size for task in self.pending.values())
            kind = "room"
            try:
                reason = wait_reason(self.settings, RedisMemory.read(self.client), size, own)
                if reason is None:
                    task_id = self.send(self.ready)
            except Exception as exc:
                refusal = refused_write(exc)
                if refusal is None and not isinstance(exc, OUTAGE_ERRORS):
                    raise
                if refusal:
                    self.summary.refused_writes += 1
                    kind, reason = "refused", f"Redis refused the write ({refusal})"
                else:
                    kind, reason = "outage", f"Redis unreachable ({exc})"
            if reason is not None:
                if not reason.startswith("own window"):
                    self.wait_for_redis(kind, reason)
                return
            self.stuck_since = None
            self.notice.resume(self.summary)
            self.pending[task_id] = _InFlight(
                self.ready.path, self.ready.key, time.monotonic(), size
            )
            self.summary.sent += 1
            self.ready = None

    def wait_for_redis(self, kind: str, reason: str) -> None:
        if self.notice.waiting_since is None:
            self.summary.room_waits += 1
        self.notice.wait(kind, reason)
        self.stuck_since = self.stuck_since or time.monotonic()
        stalled = time.monotonic() - self.stuck_since > self.settings.submit_stall_seconds
        if stalled and not self.pending:
            raise SubmitStalled(
                f"waited {self.settings.submit_stall_seconds} s with nothing in flight: "
                f"{reason}. Run the same command again to resume"
            )

    def collect(self) -> None:
        """Write the results that are in, then resend or give up on the overdue."""
        try:
            for task_id, meta in self.app.backend.get_many(
                set(self.pending), interval=0.1, max_iterations=1
            ):
                task = self.pending.pop(task_id)
                self.write(_result_from_meta(str(task.path), meta))
                self.forget.append((task_id, task.key))
            self.flush_forget()
            self.outage_since = None
            self.resend_overdue(time.monotonic())
        except OUTAGE_ERRORS as exc:
            # Redis is restarting or unreachable: the tasks wait in its queue (AOF keeps
            # them over a restart) and their results will be there when it is back.
            now = time.monotonic()
            self.outage_since = self.outage_since or now
            if now - self.outage_since > self.settings.redis_outage_seconds:
                raise
            self.summary.reconnects += 1
            self.notice.wait("outage", f"Redis unreachable ({exc})")
            time.sleep(1.0)

    def flush_forget(self) -> None:
        """Delete the results written out, and their images."""
        while self.forget:
            task_id, key = self.forget[-1]
            self.app.AsyncResult(task_id).forget()
            self.store.delete([key])
            self.forget.pop()

    def resend_overdue(self, now: float) -> None:
        for task_id, task in list(self.pending.items()):
            age = now - task.sent_at
            if age > self.task_timeout:
                self.pending.pop(task_id)
                self.forget.append((task_id, task.key))
                self.summary.lost += 1
                reason = f"no result within {self.task_timeout:.0f} s (task {task_id})"
                self.write(error_result(str(task.path), reason))
            elif age > self.settings.resend_after * task.sends and task.sends <= MAX_RESENDS:
                data = read_image_file(task.path, self.limits)
                if not isinstance(data, bytes):
                    continue  # changed on disk since: its result comes, or it is lost
                try:
                    self.send(_Ready(task.path, data, task.key), task_id=task_id)
                except Exception as exc:
                    if refused_write(exc) is None:
                        raise
                    self.summary.refused_writes += 1
                    return  # Redis is full: the next round tries again
                task.sends += 1
                self.summary.resent += 1
                log.warning(
                    "no result for %s after %.0f s (task %s): sent again", task.path, age, task_id
                )
