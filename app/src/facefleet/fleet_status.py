"""What the fleet is doing: workers, their pools, active tasks, the queue depth, and, with
a replicated Redis, which host is the primary, how far behind the replicas are, and how
many Sentinels agree."""

from __future__ import annotations

import itertools
import time
from typing import Any

import redis
import redis.sentinel
from celery import Celery
from kombu.exceptions import OperationalError

from facefleet.redis_client import connect, sentinel_options
from facefleet.settings import Settings


def pool_name(implementation: str) -> str:
    """'celery.concurrency.thread:TaskPool' -> 'threads', the name --pool takes."""
    module = implementation.split(":", 1)[0].rsplit(".", 1)[-1]
    return {"thread": "threads"}.get(module, module)


def queue_depths(settings: Settings, queues: list[str]) -> dict[str, int]:
    """Tasks waiting in each queue: the seed's ``redis-cli llen celery``."""
    client = connect(settings, socket_timeout=5)
    try:
        return {queue: int(client.llen(queue)) for queue in queues}
    finally:
        client.close()


def redis_topology(settings: Settings) -> dict[str, Any] | None:
    """The replicated Redis as the Sentinels and the primary see it; None without Sentinel.

    ``primary``: the address most Sentinels name; ``sentinels``: how many answer, how many
    of those name that primary, and the quorum; ``replicas``: each one the primary
    reports, with its state, seconds since its last acknowledgement and bytes behind."""
    if not settings.redis_sentinels:
        return None
    named: dict[str, int] = {}
    answered, quorum = 0, None
    for host, port in settings.sentinel_addresses:
        client = redis.Redis(
            host=host,
            port=port,
            **sentinel_options(settings),
        )
        try:
            master = client.sentinel_master(settings.redis_master_name)
        except redis.exceptions.RedisError:
            continue
        finally:
            client.close()
        answered += 1
        quorum = master.get("quorum", quorum)
        address = f"{master['ip']}:{master['port']}"
        named[address] = named.get(address, 0) + 1
    primary = max(named, key=lambda a: named[a]) if named else None
    replicas = []
    if primary:
        client = connect(settings, socket_timeout=5)
        try:
            info = client.info("replication")
        finally:
            client.close()
        offset = int(info.get("master_repl_offset", 0))
        for index in range(int(info.get("connected_slaves", 0))):
            replica = info.get(f"slave{index}") or {}
            replicas.append(
                {
                    "address": f"{replica.get('ip')}:{replica.get('port')}",
                    "state": replica.get("state"),
                    "lag_s": replica.get("lag"),
                    "behind_bytes": offset - int(replica.get("offset", 0)),
                }
            )
    topology: dict[str, Any] = {
        "primary": primary,
        "replicas": replicas,
        "sentinels": {
            "configured": len(settings.sentinel_addresses),
            "answering": answered,
            "agreeing": named.get(primary, 0) if primary else 0,
            "quorum": quorum,
        },
    }
    # One line for people, here once: `facefleet status` and status.yml's report print it.
    topology["summary"] = format_topology(topology)
    return topology


def format_topology(topology: dict[str, Any]) -> str:
    sentinels = topology["sentinels"]
    replicas = ", ".join(
        f"{r['address']} ({r['state']}, lag {r['lag_s']} s, {r['behind_bytes']} bytes behind)"
        for r in topology["replicas"]
    )
    return (
        f"redis: primary {topology['primary'] or 'unknown'}; "
        f"replicas: {replicas or 'none connected'}; "
        f"sentinels: {sentinels['agreeing']} of {sentinels['configured']} agree "
        f"({sentinels['answering']} answer, quorum {sentinels['quorum']})"
    )


def fleet_status(
    app: Celery, settings: Settings, timeout: float = 2.0, queues: list[str] | None = None
) -> dict[str, Any]:
    inspect = app.control.inspect(timeout=timeout)
    stats = inspect.stats() or {}
    active = inspect.active() or {}
    workers = []
    for node in sorted(set(stats) | set(active)):
        node_stats = stats.get(node, {})
        pool = node_stats.get("pool", {})
        workers.append(
            {
                "node": node,
                "pid": node_stats.get("pid"),
                "pool": pool_name(str(pool.get("implementation", ""))),
                "concurrency": pool.get("max-concurrency"),
                "active": len(active.get(node, [])),
                "processed": sum((node_stats.get("total") or {}).values()),
                "rss_kb": (node_stats.get("rusage") or {}).get("maxrss"),
            }
        )
    depths = queue_depths(settings, sorted({settings.queue, *(queues or [])}))
    capacity = sum(w["concurrency"] or 0 for w in workers)
    return {
        "queue": settings.queue,
        "queue_depth": depths[settings.queue],
        "queues": depths,
        "workers": workers,
        "capacity": capacity,
        "active": sum(w["active"] for w in workers),
        "redis": redis_topology(settings),
    }


def format_status(status: dict[str, Any]) -> str:
    lines = [f"{'node':<32} {'pid':>7} {'pool':<8} {'conc':>4} {'active':>6} {'done':>7}"]
    for w in status["workers"]:
        lines.append(
            f"{w['node']:<32} {w['pid'] or '-':>7} {w['pool']:<8} "
            f"{w['concurrency'] or '-':>4} {w['active']:>6} {w['processed']:>7}"
        )
    lines.append(
        f"workers: {len(status['workers'])}  capacity: {status['capacity']}  "
        f"active: {status['active']}  queue '{status['queue']}': "
        f"{status['queue_depth']} waiting"
    )
    if status.get("redis"):
        lines.append(status["redis"]["summary"])
    return "\n".join(lines)


# How long each ping of wait_for_nodes listens for replies. A node that comes up during
# a ping does not hear it, so it is found at the next one: short pings find a starting
# worker sooner. Every third one listens longer, so that a node that answers slowly (a
# busy host) is still heard.
PING_WINDOWS_SECONDS = (0.4, 0.4, 1.5)


def wait_for_nodes(app: Celery, nodes: list[str], timeout: float) -> list[str]:
    """Ping ``nodes`` until all answer or ``timeout`` passes; returns those still silent."""
    deadline = time.monotonic() + timeout
    waiting = set(nodes)
    windows = itertools.cycle(PING_WINDOWS_SECONDS)
    while waiting and time.monotonic() < deadline:
        try:
            # A connection of its own each time: a pooled one may have died with a Redis
            # restart, and the point of waiting is often to see the fleet come back.
            # limit: the window ends as soon as every node asked has answered.
            with app.connection_for_write() as connection:
                replies = app.control.ping(
                    sorted(waiting),
                    timeout=next(windows),
                    connection=connection,
                    limit=len(waiting),
                )
        except (redis.exceptions.ConnectionError, OperationalError):
            time.sleep(0.5)
            continue
        for reply in replies or []:
            waiting -= set(reply)
    return sorted(waiting)


DRAIN_ASK_SECONDS = 2.0  # how long one inspect waits for the nodes' replies
DRAIN_SILENT_SECONDS = 10.0  # a node silent this long while draining is taken as gone


def drain_nodes(app: Celery, nodes: list[str], queues: list[str], timeout: float) -> list[str]:
    """Stop ``nodes`` taking tasks from ``queues``, then wait until they hold none.

    Stopping a worker that has just been handed a task can leave that task in the pool
    with no process to run it; the warm shutdown then never ends (seen here: supervisor
    killed the worker after stopwaitsecs and the task waited out the visibility timeout).
    Draining first leaves nothing in flight when the stop comes. Returns the nodes still
    busy when ``timeout`` ran out.
    """
    for queue in queues:
        app.control.cancel_consumer(queue, destination=nodes, reply=True, timeout=2.0)
    deadline = time.monotonic() + timeout
    last_heard = dict.fromkeys(nodes, time.monotonic())
    busy = set(nodes)
    while busy and time.monotonic() < deadline:
        inspect = app.control.inspect(sorted(busy), timeout=DRAIN_ASK_SECONDS)
        # Reserved before active: a task moves from reserved to active, so asking in this
        # order can never miss one that moved between the two questions.
        reserved = inspect.reserved() or {}
        active = inspect.active() or {}
        now = time.monotonic()
        answered = set(active) & set(reserved)
        last_heard.update(dict.fromkeys(answered, now))
        # A node that answered holds what it listed. One that has been silent for
        # DRAIN_SILENT_SECONDS is gone and holds nothing it could finish; a shorter
        # silence is a busy worker on a loaded host (CI saw one miss a 1 s inspect).
        busy = {
            node
            for node in busy
            if (node in answered and active[node] + reserved[node])
            or (node not in answered and now - last_heard[node] < DRAIN_SILENT_SECONDS)
        }
        if busy:
            time.sleep(0.5)
    return sorted(busy)
