"""No facefleet service runs as root: only the process managers that start them as their
own users (systemd, supervisord) and nginx's master do."""

from __future__ import annotations

from conftest import host, hosts_in, role_vars


def _may_run_as_root(args: str) -> bool:
    """The init system and its helpers, the OS's SSH server (the lab image runs it for the
    SSH-reached scenarios), supervisord (it starts each program as that program's user),
    nginx's master, and this test's own command (through Ansible)."""
    program = args.split()[0]
    return (
        program.startswith("/lib/systemd/")
        or program in ("/sbin/init", "/usr/sbin/cron", "ps", "/bin/sh", "sh", "bash")
        or args.startswith("/usr/bin/python3 /usr/bin/supervisord ")
        or args.startswith("nginx: master")
        or args.startswith(("sshd:", "/usr/sbin/sshd"))
        or args.strip() == "/usr/bin/python3"  # Ansible's module runner (pipelining)
    )


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
            elif "-m facefleet.worker_main " in args:
                assert user == settings["fleet_app_user"], args
                seen.add("celery")
            elif "facefleet.memory_guard" in args:
                assert user == settings["fleet_app_user"], args
                seen.add("memory guard")
            elif args.startswith("nginx: worker"):
                assert user == "www-data", args
                seen.add("nginx")
            # Nothing of facefleet's runs as root.
            if user == "root":
                assert _may_run_as_root(args), f"{name}: {args}"
    assert seen == {"redis", "flower", "celery", "memory guard", "nginx"}
