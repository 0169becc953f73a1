"""Redis: password required, dangerous commands refused, private address only,
persistence and policy as configured."""

from __future__ import annotations

import re

from conftest import host, role_vars, run_ok, vault


def _tls(redis_host: str) -> str:
    """redis-cli's options for TLS, verifying against the fleet's CA, when Redis uses it."""
    settings = role_vars(redis_host)
    if not settings["fleet_redis_tls"]:
        return ""
    return f"--tls --cacert {settings['redis_tls_dir']}/ca.crt "


def test_without_password_redis_answers_noauth(redis_host: str) -> None:
    redis = host(redis_host)
    port = role_vars(redis_host)["fleet_redis_port"]
    out = redis.run(f"redis-cli {_tls(redis_host)}-h 127.0.0.1 -p {port} ping")
    assert "NOAUTH" in out.stdout + out.stderr


def test_with_password_a_worker_host_gets_pong(worker_hosts: list[str]) -> None:
    for name in worker_hosts:
        venv = role_vars(name)["fleet_app_venv"]
        out = run_ok(
            host(name),
            f"{venv}/bin/python -c 'from facefleet.redis_client import connect; "
            "from facefleet.settings import load_settings; "
            "print(connect(load_settings()).ping())'",
        )
        assert out.strip() == "True", name


def test_redis_never_listens_on_every_address(redis_host: str) -> None:
    redis = host(redis_host)
    port = role_vars(redis_host)["fleet_redis_port"]
    assert redis.socket(f"tcp://127.0.0.1:{port}").is_listening
    assert not redis.socket(f"tcp://0.0.0.0:{port}").is_listening


def _cli(redis_host: str, admin: bool = False) -> str:
    """redis-cli on the Redis host, as the fleet's user or as the admin user."""
    settings = role_vars(redis_host)
    if admin:
        password = vault()["vault_redis_admin_password"]
        user = f"--user {settings['redis_admin_user']} "
    else:
        password, user = vault()["vault_redis_password"], ""
    port = settings["fleet_redis_port"]
    return f"REDISCLI_AUTH='{password}' redis-cli {_tls(redis_host)}{user}-p {port}"


def test_the_fleets_user_may_not_run_dangerous_commands(redis_host: str) -> None:
    redis = host(redis_host)
    admin = _cli(redis_host, admin=True)
    # Nothing the fleet did so far (deploy, the batch, Flower, status) was refused.
    assert run_ok(redis, f"{admin} acl log").strip() == ""
    refused = ["flushall", "flushdb", "config get maxmemory", "keys 'facefleet*'", "acl list"]
    for command in refused:
        out = run_ok(redis, f"{_cli(redis_host)} {command}")
        assert "NOPERM" in out, f"{command}: {out}"
    # DEBUG and MODULE are switched off for everyone, the admin user included.
    for command in ["debug sleep 0", "module load /nonexistent.so"]:
        out = run_ok(redis, f"{admin} {command}")
        assert "not allowed" in out, f"{command}: {out}"
    logged = run_ok(redis, f"{admin} acl log 100")
    for command in refused:
        assert command.split()[0] in logged, command
    run_ok(redis, f"{admin} acl log reset")
    # What Celery needs still works for it, and INFO, which submitters read memory from.
    assert run_ok(redis, f"{_cli(redis_host)} llen celery").strip().isdigit()
    assert "maxmemory:" in run_ok(redis, f"{_cli(redis_host)} info memory")


def test_redis_conf_holds_no_password_in_clear(redis_host: str) -> None:
    conf = host(redis_host).file("/etc/redis/redis.conf")
    assert (conf.user, conf.group, conf.mode) == ("redis", "redis", 0o640)
    text = conf.content_string
    assert vault()["vault_redis_password"] not in text
    assert vault()["vault_redis_admin_password"] not in text
    assert "requirepass" not in text


def test_persistence_and_policy_are_live(redis_host: str) -> None:
    redis = host(redis_host)
    settings = role_vars(redis_host)
    cli = _cli(redis_host, admin=True)
    assert run_ok(redis, f"{cli} config get appendonly").split() == [
        "appendonly",
        "yes",
    ]
    assert run_ok(redis, f"{cli} config get maxmemory-policy").split() == [
        "maxmemory-policy",
        settings["redis_maxmemory_policy"],
    ]
    assert run_ok(redis, f"{cli} config get protected-mode").split() == [
        "protected-mode",
        "yes",
    ]


def test_tls_is_what_the_inventory_asks_for(redis_host: str, worker_hosts: list[str]) -> None:
    """With fleet_redis_tls, Redis speaks TLS only and every app host verifies its certificate;
    without, plain text (on a private network, behind the firewall)."""
    settings = role_vars(redis_host)
    redis = host(redis_host)
    port = settings["fleet_redis_port"]
    plain = redis.run(f"REDISCLI_AUTH='{vault()['vault_redis_password']}' redis-cli -p {port} ping")
    for name in worker_hosts:
        toml = host(name).file(role_vars(name)["fleet_app_config_file"]).content_string
        assert ('redis_url = "rediss://' in toml) == settings["fleet_redis_tls"], name
    if settings["fleet_redis_tls"]:
        assert "PONG" not in plain.stdout
        tls = f"{_cli(redis_host)} ping"
        assert run_ok(redis, tls).strip() == "PONG"
        # The certificate chains to the fleet's CA and names what the app hosts dial.
        for name in worker_hosts:
            app = role_vars(name)
            toml = host(name).file(app["fleet_app_config_file"]).content_string
            dialled = re.search(r'redis_url = "rediss://[^@]*@([^:/]+):', toml)[1]
            check = (
                "python3 -c 'import socket, ssl, sys\n"
                "ctx = ssl.create_default_context(cafile=sys.argv[1])\n"
                "raw = socket.create_connection((sys.argv[2], int(sys.argv[3])), timeout=5)\n"
                "ctx.wrap_socket(raw, server_hostname=sys.argv[2]).close()\n"
                'print("verified")\' '
                f"{app['app_redis_tls_ca_file']} {dialled} {port}"
            )
            assert run_ok(host(name), check).strip() == "verified", name
        key = redis.file(f"{settings['redis_tls_dir']}/redis.key")
        assert (key.user, key.mode) == ("redis", 0o600)
    else:
        assert plain.stdout.strip() == "PONG"
