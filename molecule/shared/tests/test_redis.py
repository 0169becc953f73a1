"""Redis: password required, private address only, persistence and policy as configured."""

from __future__ import annotations

from conftest import host, role_vars, run_ok, vault


def test_without_password_redis_answers_noauth(redis_host: str) -> None:
    redis = host(redis_host)
    port = role_vars(redis_host)["redis_port"]
    out = redis.run(f"redis-cli -h 127.0.0.1 -p {port} ping")
    assert "NOAUTH" in out.stdout + out.stderr


def test_with_password_a_worker_host_gets_pong(worker_hosts: list[str]) -> None:
    for name in worker_hosts:
        venv = role_vars(name)["app_venv"]
        out = run_ok(
            host(name),
            f"{venv}/bin/python -c 'import redis; from facefleet.settings "
            "import load_settings; "
            "print(redis.Redis.from_url(load_settings().redis_url).ping())'",
        )
        assert out.strip() == "True", name


def test_redis_never_listens_on_every_address(redis_host: str) -> None:
    redis = host(redis_host)
    port = role_vars(redis_host)["redis_port"]
    assert redis.socket(f"tcp://127.0.0.1:{port}").is_listening
    assert not redis.socket(f"tcp://0.0.0.0:{port}").is_listening


def test_persistence_and_policy_are_live(redis_host: str) -> None:
    redis = host(redis_host)
    settings = role_vars(redis_host)
    cli = f"REDISCLI_AUTH='{vault()['vault_redis_password']}' redis-cli -p {settings['redis_port']}"
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
