"""The operators' entry point: Flower behind nginx at https://<host>/flower/. Every path
asks for credentials (Flower's /metrics too), but the health check, which says nothing;
plain HTTP only redirects."""

from __future__ import annotations

import json
import re

import pytest
from conftest import host, http_get, role_vars, saved_scale, web_credentials, web_url


def _get(name: str, path: str, auth: bool) -> tuple[int, str]:
    cafile = f"{role_vars(name)['nginx_tls_dir']}/ca.crt"
    return http_get(name, web_url(name, path), web_credentials() if auth else None, cafile)


@pytest.mark.parametrize(
    "path", ["/", "/flower", "/flower/", "/flower/api/workers", "/flower/metrics", "/nothing"]
)
def test_every_path_needs_credentials(flower_host: str, path: str) -> None:
    assert _get(flower_host, path, auth=False)[0] == 401


def test_the_health_check_is_open_and_says_nothing_else(flower_host: str) -> None:
    health = role_vars(flower_host)["nginx_health_path"]
    assert _get(flower_host, health, auth=False) == (200, "ok\n")


def test_plain_http_redirects_to_https(flower_host: str) -> None:
    status, location = http_get(flower_host, web_url(flower_host, "/flower/", https=False))
    assert status == 301
    assert location == web_url(flower_host, "/flower/")


def test_root_leads_to_flower(flower_host: str) -> None:
    assert _get(flower_host, "/", auth=True) == (302, web_url(flower_host, "/flower/"))


def test_flower_dashboard_and_workers_through_nginx(
    flower_host: str, worker_hosts: list[str]
) -> None:
    prefix = role_vars(flower_host)["fleet_flower_prefix"]
    status, body = _get(flower_host, f"/{prefix}/", auth=True)
    assert status == 200
    assert f"/{prefix}/static/" in body  # assets resolve under the prefix
    status, body = _get(flower_host, f"/{prefix}/api/workers?refresh=1", auth=True)
    assert status == 200
    node_prefix = role_vars(worker_hosts[0])["celery_worker_node_prefix"]
    nodes = {n for n in json.loads(body) if n.startswith(node_prefix)}
    assert {n.split("@")[1] for n in nodes} == set(worker_hosts)
    assert len(nodes) == saved_scale(worker_hosts[0])["workers"]


def test_flower_metrics_for_prometheus(flower_host: str) -> None:
    prefix = role_vars(flower_host)["fleet_flower_prefix"]
    status, body = _get(flower_host, f"/{prefix}/metrics", auth=True)
    assert status == 200
    assert "flower_" in body


def test_flower_listens_on_loopback_only(flower_host: str) -> None:
    settings = role_vars(flower_host)
    flower = host(flower_host)
    assert flower.socket(f"tcp://127.0.0.1:{settings['fleet_flower_port']}").is_listening
    assert not flower.socket(f"tcp://0.0.0.0:{settings['fleet_flower_port']}").is_listening


def test_the_password_hash_is_cheap_for_nginx_to_check(flower_host: str) -> None:
    """nginx hashes the password of every request it checks, in its event loop: the
    file's SHA-512 crypt hash has the role's rounds (5000, glibc's default), not
    Ansible's 656000, which cost 0.5 s of CPU per request."""
    settings = role_vars(flower_host)
    line = host(flower_host).file(settings["nginx_auth_file"]).content_string.strip()
    user, _, hashed = line.partition(":")
    assert user == web_credentials().partition(":")[0]
    assert hashed.startswith("$6$"), f"not a SHA-512 crypt hash: {hashed[:12]}..."
    # crypt(3) leaves rounds=5000 unwritten: it is the default.
    written = re.match(r"\$6\$rounds=(\d+)\$", hashed)
    assert (int(written[1]) if written else 5000) == settings["nginx_auth_hash_rounds"]
