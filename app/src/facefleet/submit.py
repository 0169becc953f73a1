"""Bulk import: send files as tasks, write results as they arrive, resume after a stop."""

from __future__ import annotations

import json
import logging
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import redis
from celery import Celery

from facefleet.core.analysis import ImageResult, error_result
from facefleet.pipeline import analysis_options, read_image_file
from facefleet.settings import Settings
from facefleet.tasks import ANALYZE_IMAGE, encode_payload

log = logging.getLogger(__name__)


@dataclass
class SubmitSummary:
    sent: int = 0
    skipped: int = 0
    ok: int = 0
    error: int = 0
    faces: int = 0
    lost: int = 0
    reconnects: int = 0
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
        return (
            f"submitted {self.sent}, skipped {self.skipped} already done: "
            f"ok {self.ok}, error {self.error}, faces {self.faces}, lost {self.lost}, "
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
    """Send each file as a task, at most ``window`` in flight; write one line per result.

    A task with no result after ``task_timeout`` seconds is written as an error and
    counted as lost. A Redis restart is ridden out: sending retries (the app's publish
    retry policy) and so does collecting, for up to ``settings.redis_outage_seconds``.
    """
    summary = SubmitSummary()
    started = time.monotonic()
    pending: dict[str, tuple[str, float]] = {}  # task id -> (image, sent at)
    forget: list[str] = []  # results written out, still to delete from Redis
    outage_since: float | None = None
    todo = iter(files)
    exhausted = False
    done = done or set()
    limits = analysis_options(settings).limits

    def write(result: ImageResult) -> None:
        out.write(json.dumps(result, sort_keys=True) + "\n")
        out.flush()
        summary.count(result)

    while not exhausted or pending:
        while not exhausted and len(pending) < window:
            path = next(todo, None)
            if path is None:
                exhausted = True
                break
            image = str(path)
            if image in done:
                summary.skipped += 1
                continue
            # Refused here, so oversized files never travel through Redis.
            data = read_image_file(path, limits)
            if not isinstance(data, bytes):
                write(data)
                continue
            kwargs = {"detection": detection} if detection else {}
            async_result = app.send_task(
                ANALYZE_IMAGE, args=(image, encode_payload(data)), kwargs=kwargs
            )
            pending[async_result.id] = (image, time.monotonic())
            summary.sent += 1
        if not pending:
            continue
        try:
            for task_id, meta in app.backend.get_many(set(pending), interval=0.1, max_iterations=1):
                image, _ = pending.pop(task_id)
                write(_result_from_meta(image, meta))
                forget.append(task_id)
            while forget:
                app.AsyncResult(forget[-1]).forget()
                forget.pop()
            outage_since = None
        except TimeoutError:
            pass
        except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError) as exc:
            # Redis is restarting or unreachable: the tasks wait in its queue (AOF keeps
            # them over a restart) and their results will be there when it is back.
            now = time.monotonic()
            outage_since = outage_since or now
            if now - outage_since > settings.redis_outage_seconds:
                raise
            summary.reconnects += 1
            log.warning("Redis unreachable (%s); retrying", exc)
            time.sleep(1.0)
        now = time.monotonic()
        for task_id, (image, sent_at) in list(pending.items()):
            if now - sent_at > task_timeout:
                pending.pop(task_id)
                summary.lost += 1
                write(
                    error_result(image, f"no result within {task_timeout:.0f} s (task {task_id})")
                )
        summary.seconds = time.monotonic() - started
        if progress:
            progress(summary)
    summary.seconds = time.monotonic() - started
    return summary
