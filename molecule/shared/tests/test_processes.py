"""No facefleet service runs as root (nginx's master process excepted)."""

from __future__ import annotations

from conftest import host, hosts_in, role_vars


def _processes(name: str) -> list[tuple[str, str]]:
    out = host(name).run("ps -eo user:32,args --no-headers").stdout
    return [tuple(line.split(None, 1)) for line in out.splitlines() if line.strip()]


def test_services_run_as_their_own_users() -> None:
    seen = set()
    for name in sorted(set(hosts_in("redis") + hosts_in("workers") + hosts_in("flower"))):
        settings = role_vars(name)
        for user, args in _processes(name):
            if args.startswith("/usr/bin/redis-server"):
                assert user == "redis", args
                seen.add("redis")
            elif " flower " in f" {args} " and "celery" in args:
                assert user == settings["flower_user"], args
                seen.add("flower")
            elif "celery" in args and " worker " in args:
                assert user == settings["app_user"], args
                seen.add("celery")
            elif args.startswith("nginx: worker"):
                assert user == "www-data", args
                seen.add("nginx")
    assert seen == {"redis", "flower", "celery", "nginx"}
