"""Run one Celery worker of the facefleet app: ``python -m facefleet.worker_main``.

The same worker that ``celery --app=facefleet.celery_app worker`` runs (``app.Worker``,
which sets up the logging, the pool, the signals and the warm shutdown), started without
Celery's command line. That command line imports every ``celery.commands`` plugin (Flower,
installed in the same venv, among them) and its shell's prompt_toolkit before the worker
starts, a cost every worker a scale adds or a restart brings back pays
(``bench/worker_start.py`` times both ways in turns).
Mingle and gossip stay off, as the supervisor programs always had them: no worker asks
the others for their state at start, nor tells them its own.

The flags keep Celery's names, so the supervisor programs read as before. The pools are
those the celery_worker role allows (prefork, threads, solo): gevent and eventlet would
need the monkey-patching that Celery's command line does before anything else imports.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence


def argv(
    pool: str,
    concurrency: int,
    node: str,
    queues: Sequence[str] = ("celery",),
    loglevel: str = "INFO",
) -> list[str]:
    """This interpreter's command line for one worker (the tests and benchmarks start it
    so; the celery_worker role's template writes the same flags)."""
    return [
        sys.executable,
        "-m",
        "facefleet.worker_main",
        f"--pool={pool}",
        f"--concurrency={concurrency}",
        f"--hostname={node}",
        f"--queues={','.join(queues)}",
        f"--loglevel={loglevel}",
    ]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m facefleet.worker_main", description=__doc__)
    parser.add_argument("--pool", required=True, help="prefork, threads or solo")
    parser.add_argument("--concurrency", type=int, required=True)
    parser.add_argument("--hostname", required=True, help="the node name, name@host")
    parser.add_argument("--queues", default="celery", help="comma-separated")
    parser.add_argument("--loglevel", default="INFO")
    return parser


def main(args: Sequence[str] | None = None) -> int:
    options = _parser().parse_args(args)
    from facefleet.celery_app import app

    worker = app.Worker(
        hostname=options.hostname,
        pool_cls=options.pool,
        concurrency=options.concurrency,
        queues=[q for q in options.queues.split(",") if q],
        loglevel=options.loglevel,
        without_mingle=True,
        without_gossip=True,
    )
    worker.start()
    return int(worker.exitcode or 0)


if __name__ == "__main__":
    sys.exit(main())
