"""The ``facefleet`` command: analyze locally, enrol people, submit batches, show status."""

from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from facefleet.image_files import walk_files
from facefleet.settings import Settings, SettingsError, load_settings
from facefleet.worker_set import WORKERS_FILE, HostWorkers

if TYPE_CHECKING:
    from facefleet.gallery_store import GalleryStore


def _cmd_analyze(args: argparse.Namespace, settings: Settings) -> int:
    from facefleet.core.gallery import Gallery
    from facefleet.known_folder import gallery_from_folder
    from facefleet.pipeline import analyze_path

    gallery = gallery_from_folder(args.known, settings) if args.known else Gallery()
    failed = 0
    for path in walk_files(args.paths):
        result = analyze_path(path, settings, gallery)
        failed += result["status"] != "ok"
        print(json.dumps(result, sort_keys=True), flush=True)
    return 0 if failed == 0 or not args.strict else 1


def _store(settings: Settings) -> GalleryStore:
    from facefleet.gallery_store import GalleryStore
    from facefleet.redis_client import connect

    return GalleryStore(connect(settings, socket_timeout=10), settings.gallery_key)


def _cmd_enroll(args: argparse.Namespace, settings: Settings) -> int:
    from facefleet.pipeline import EnrolmentError, encode_single_face, read_limited

    encodings = []
    try:
        for photo in walk_files(args.images):
            encodings.append(
                encode_single_face(
                    read_limited(photo, settings.max_image_bytes), settings, str(photo)
                )
            )
    except (EnrolmentError, OSError) as exc:
        print(f"facefleet: nothing enrolled: {exc}", file=sys.stderr)
        return 2
    total = _store(settings).enroll(args.name, encodings, replace=args.replace)
    print(f"enrolled {args.name}: {len(encodings)} photo(s) added, {total} in the gallery")
    return 0


def _gallery_backup(args: argparse.Namespace, store: GalleryStore) -> int:
    from facefleet import gallery_backup

    backup = gallery_backup.take(store)
    path, pruned = gallery_backup.write(backup, args.folder, args.keep or 1 << 30)
    print(f"gallery backup {path}: {backup.summary()}")
    if pruned:
        print(f"removed {len(pruned)} older backup(s), keeping the newest {args.keep}")
    return 0


def _gallery_restore(args: argparse.Namespace, store: GalleryStore) -> int:
    from facefleet import gallery_backup

    try:
        backup = gallery_backup.read(args.file)
    except gallery_backup.BackupError as exc:
        print(f"facefleet: nothing restored: {exc}", file=sys.stderr)
        return 2
    dropped = gallery_backup.missing_from(backup, store.people())
    if dropped and not args.replace:
        print(
            f"facefleet: nothing restored: {len(dropped)} enrolled people are not in the "
            f"backup ({', '.join(dropped[:5])}{', ...' if len(dropped) > 5 else ''}); "
            "--replace drops them",
            file=sys.stderr,
        )
        return 1
    version = gallery_backup.restore(store, backup)
    print(f"gallery restored from {args.file}: {backup.summary()}; now version {version}")
    return 0


def _cmd_gallery(args: argparse.Namespace, settings: Settings) -> int:
    store = _store(settings)
    if args.action == "backup":
        return _gallery_backup(args, store)
    if args.action == "restore":
        return _gallery_restore(args, store)
    if args.action == "remove":
        if not store.remove(args.name):
            print(f"facefleet: {args.name} is not enrolled", file=sys.stderr)
            return 1
        print(f"removed {args.name}")
        return 0
    people = store.people()
    if args.json:
        print(json.dumps(people, sort_keys=True))
    else:
        for name, count in people.items():
            print(f"{name}\t{count}")
    return 0


def _cmd_submit(args: argparse.Namespace, settings: Settings) -> int:
    from facefleet.celery_app import create_app
    from facefleet.submit import Progress, SubmitStalled, already_done, submit_files

    files = [p.resolve() for p in walk_files(args.paths)]
    done = already_done(args.out) if args.out else set()
    app = create_app(settings)
    progress = Progress(len(files) - len(done & {str(f) for f in files}))
    out = args.out.open("a", encoding="utf-8") if args.out else sys.stdout
    try:
        summary = submit_files(
            app,
            settings,
            files,
            out,
            done=done,
            window=args.window,
            task_timeout=args.task_timeout,
            progress=progress.update,
            detection=args.detection,
        )
    except SubmitStalled as exc:
        print(f"facefleet: {exc}", file=sys.stderr)
        return 3
    finally:
        if args.out:
            out.close()
    progress.update(summary, final=True)
    print("summary: " + summary.line(), file=sys.stderr)
    per_worker = ", ".join(f"{k} {v}" for k, v in sorted(summary.workers.items()))
    print(f"workers: {per_worker or 'none'}", file=sys.stderr)
    return 0 if summary.lost == 0 else 1


def _cmd_status(args: argparse.Namespace, settings: Settings) -> int:
    from facefleet.celery_app import create_app
    from facefleet.fleet_status import fleet_status, format_status

    status = fleet_status(create_app(settings), settings, timeout=args.timeout, queues=args.queue)
    print(json.dumps(status, sort_keys=True) if args.json else format_status(status))
    if not status["workers"]:
        print(f"facefleet: no worker answered within {args.timeout:g} s", file=sys.stderr)
        return 1
    return 0


def _cmd_ping(args: argparse.Namespace, settings: Settings) -> int:
    from facefleet.celery_app import create_app
    from facefleet.fleet_status import wait_for_nodes

    missing = wait_for_nodes(create_app(settings), args.nodes, args.timeout)
    if missing:
        print(
            f"facefleet: no answer within {args.timeout:.0f} s from: {', '.join(missing)}",
            file=sys.stderr,
        )
        return 1
    print(f"{len(args.nodes)} node(s) answered: {', '.join(args.nodes)}")
    return 0


def _cmd_drain(args: argparse.Namespace, settings: Settings) -> int:
    from facefleet.celery_app import create_app
    from facefleet.fleet_status import drain_nodes

    queues = args.queue or [settings.queue]
    busy = drain_nodes(create_app(settings), args.nodes, queues, args.timeout)
    if busy:
        print(
            f"facefleet: still busy after {args.timeout:.0f} s: {', '.join(busy)}", file=sys.stderr
        )
        return 1
    print(f"drained: {', '.join(args.nodes)}")
    return 0


EXIT_CODES = """exit status: 0 done; 1 the command ran but something failed (a lost image, a
worker that does not answer); 2 bad settings or arguments; 3 Redis cannot be reached."""


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("facefleet")
    except PackageNotFoundError:
        from facefleet import __version__

        return __version__


def _cmd_workers(args: argparse.Namespace, settings: Settings) -> int:
    from facefleet.supervisor_rpc import SupervisorError
    from facefleet.worker_set import HostWorkers, celery_worker_set

    try:
        host = HostWorkers.load(args.file)
    except OSError as exc:
        print(f"facefleet: cannot read {args.file}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    if args.action == "logs":
        return _worker_logs(args, host)
    workers = celery_worker_set(host)
    try:
        if args.action == "status":
            rows = workers.status()
            print(json.dumps(rows) if args.json else _workers_table(rows))
            return 0
        report = workers.apply() if args.action == "apply" else workers.restart(args.programs)
    except (SupervisorError, ValueError) as exc:
        print(f"facefleet: {exc}", file=sys.stderr)
        return 1
    print(f"{args.action}: {report.line()}")
    return 0 if report.ok else 1


def _cmd_metrics_exporter(args: argparse.Namespace, settings: Settings) -> int:
    from facefleet.metrics_exporter import serve

    logging.getLogger("facefleet").setLevel(logging.INFO)
    serve(settings, args.address, args.port)
    return 0


def _worker_logs(args: argparse.Namespace, host: HostWorkers) -> int:
    import time

    from facefleet.supervisor_rpc import Supervisor, SupervisorError
    from facefleet.worker_logs import LogFile, parse_since, show

    supervisor = Supervisor(host.supervisor_socket)
    try:
        start = parse_since(args.since, time.time()) if args.since else None
        files = [LogFile(w.node, Path(supervisor.logfile(w.program))) for w in host.wanted]
    except (ValueError, SupervisorError) as exc:
        print(f"facefleet: {exc}", file=sys.stderr)
        return 2
    out = sys.stdout.buffer

    def write(line: bytes) -> None:
        out.write(line)
        out.flush()

    show(files, write, args.lines, start, follow=args.lines is None)
    return 0


def _cmd_logs(args: argparse.Namespace, settings: Settings) -> int:
    from facefleet.fleet_logs import follow_fleet

    return follow_fleet(args.inventory, args.group, args.lines, args.since)


def _workers_table(rows: list[dict]) -> str:
    lines = [f"{'program':<24} {'node':<28} {'state':<9} {'pid':>7} {'PSS/budget MB':>14}"]
    for r in rows:
        memory = f"{r['pss_mb'] if r['pss_mb'] is not None else '-'}/{r['budget_mb']}"
        lines.append(
            f"{r['program']:<24} {r['node']:<28} {r['state']:<9} {r['pid'] or '-':>7} "
            f"{memory + ('!' if r['over_budget'] else ''):>14}"
        )
    return "\n".join(lines)


def _log_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "-n", "--lines", type=int, help="print the last N lines of each worker and stop"
    )
    parser.add_argument("--since", help="from this long ago (90s, 10m, 2h, 1d) or this local time")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="facefleet",
        description=__doc__,
        epilog=EXIT_CODES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"facefleet {_version()}")
    sub = parser.add_subparsers(dest="command", required=True)

    analyze = sub.add_parser("analyze", help="analyse images in this process (no broker)")
    analyze.add_argument(
        "--known", type=Path, help="folder with one subfolder of photos per known person"
    )
    analyze.add_argument("--strict", action="store_true", help="exit 1 when any image has an error")
    analyze.add_argument("paths", nargs="+", type=Path)
    analyze.set_defaults(func=_cmd_analyze)

    enroll = sub.add_parser("enroll", help="add a person's photos to the shared gallery")
    enroll.add_argument("name")
    enroll.add_argument("images", nargs="+", type=Path)
    enroll.add_argument(
        "--replace",
        action="store_true",
        help="replace the person's photos instead of adding to them",
    )
    enroll.set_defaults(func=_cmd_enroll, needs_redis=True)

    gallery = sub.add_parser("gallery", help="list, remove, back up or restore enrolled people")
    gallery_sub = gallery.add_subparsers(dest="action", required=True)
    listing = gallery_sub.add_parser("list")
    listing.add_argument("--json", action="store_true")
    remove = gallery_sub.add_parser("remove")
    remove.add_argument("name")
    backup = gallery_sub.add_parser(
        "backup", help="write a snapshot of the gallery to FOLDER/gallery-<UTC time>.json"
    )
    backup.add_argument("folder", type=Path)
    backup.add_argument(
        "--keep", type=int, default=0, help="then delete all but the newest N backups there"
    )
    restore = gallery_sub.add_parser(
        "restore", help="make a backup the whole gallery (queued tasks are not touched)"
    )
    restore.add_argument("file", type=Path)
    restore.add_argument(
        "--replace",
        action="store_true",
        help="also when people enrolled now are not in the backup (they are dropped)",
    )
    gallery.set_defaults(func=_cmd_gallery, needs_redis=True)

    submit = sub.add_parser("submit", help="send images to the workers, collect results")
    submit.add_argument("paths", nargs="+", type=Path)
    submit.add_argument(
        "--out", type=Path, help="JSON lines file; a second run with it skips images already done"
    )
    submit.add_argument(
        "--window",
        type=int,
        default=64,
        help="most tasks in flight at once; their bytes are bounded by the settings "
        "submit_window_bytes and submit_redis_fill",
    )
    submit.add_argument(
        "--detection",
        choices=["fast", "exact"],
        help="detection mode for these images (default: the workers' setting)",
    )
    submit.add_argument(
        "--task-timeout",
        type=float,
        default=3600.0,
        help="seconds after which a task without result counts as lost",
    )
    submit.set_defaults(func=_cmd_submit, needs_redis=True)

    status = sub.add_parser("status", help="workers, active tasks and queue depth")
    status.add_argument("--json", action="store_true")
    status.add_argument(
        "--queue",
        action="append",
        default=[],
        help="also report this queue's depth (repeat for more)",
    )
    status.add_argument(
        "--timeout", type=float, default=2.0, help="seconds to wait for workers to answer"
    )
    status.set_defaults(func=_cmd_status, needs_redis=True)

    ping = sub.add_parser("ping", help="wait until the named worker nodes answer")
    ping.add_argument("nodes", nargs="+", help="node names, such as celery1@worker1")
    ping.add_argument("--timeout", type=float, default=60.0)
    ping.set_defaults(func=_cmd_ping, needs_redis=True)

    drain = sub.add_parser("drain", help="stop nodes taking tasks and wait until they hold none")
    drain.add_argument("nodes", nargs="+", help="node names, such as celery2@worker1")
    drain.add_argument(
        "--queue",
        action="append",
        default=[],
        help="queue to stop consuming (default: the settings' queue)",
    )
    drain.add_argument("--timeout", type=float, default=170.0)
    drain.set_defaults(func=_cmd_drain, needs_redis=True)

    workers = sub.add_parser(
        "workers", help="this host's workers under supervisor (what the Ansible role declared)"
    )
    workers.add_argument("--file", type=Path, default=WORKERS_FILE)
    workers_sub = workers.add_subparsers(dest="action", required=True)
    listing = workers_sub.add_parser("status", help="state, PID and memory of each worker")
    listing.add_argument("--json", action="store_true")
    workers_sub.add_parser(
        "apply",
        help="apply the program files: drain what stops or restarts, wait for ping",
    ).set_defaults(needs_redis=True)
    restart = workers_sub.add_parser(
        "restart", help="drain, restart warmly and wait for ping (all workers by default)"
    )
    restart.add_argument("programs", nargs="*", help="supervisor program names")
    restart.set_defaults(needs_redis=True)
    logs = workers_sub.add_parser(
        "logs",
        help="this host's worker logs, each line prefixed with its node; follows them "
        "unless -n is given",
    )
    _log_options(logs)
    workers.set_defaults(func=_cmd_workers)

    fleet_logs = sub.add_parser(
        "logs",
        help="every worker's log on every host of an inventory, at once (run on the "
        "controller): the fleet's `docker-compose logs -f celery`",
    )
    fleet_logs.add_argument("-i", "--inventory", required=True, help="the Ansible inventory")
    fleet_logs.add_argument("--group", default="workers", help="inventory group of the hosts")
    _log_options(fleet_logs)
    fleet_logs.set_defaults(func=_cmd_logs)

    exporter = sub.add_parser(
        "metrics-exporter",
        help="serve the pipeline's figures, queue, gallery and workers to Prometheus",
    )
    exporter.add_argument("--address", default="127.0.0.1", help="address to listen on")
    exporter.add_argument("--port", type=int, required=True)
    exporter.set_defaults(func=_cmd_metrics_exporter)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    logging.basicConfig(level=logging.WARNING, format="facefleet: %(levelname)s %(message)s")
    # While Redis restarts, Celery logs each retry of a result call with a traceback; the
    # submitter says it once ("Redis unreachable ...; retrying").
    logging.getLogger("celery.backends.base").setLevel(logging.ERROR)
    try:
        settings = load_settings()
        # Commands that talk to Redis check it answers first: an outage is then one line.
        if getattr(args, "needs_redis", False):
            from facefleet.redis_client import require_redis

            require_redis(settings)
        return int(args.func(args, settings))
    except (SettingsError, FileNotFoundError) as exc:
        print(f"facefleet: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("\nfacefleet: interrupted; run the same command again to resume", file=sys.stderr)
        return 130
    except Exception as exc:
        # Redis lost in the middle of a command: one line, not a traceback.
        from facefleet.redis_client import OUTAGE_ERRORS, RedisUnreachable

        if isinstance(exc, (RedisUnreachable, *OUTAGE_ERRORS)):
            print(f"facefleet: {exc}", file=sys.stderr)
            return 3
        raise


if __name__ == "__main__":
    sys.exit(main())
