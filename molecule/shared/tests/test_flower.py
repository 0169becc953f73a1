"""Flower behind nginx at /flower: 401 without credentials, the dashboard and the API with."""

from __future__ import annotations

import json

from conftest import host, http_get, role_vars, saved_scale, vault


def _get(name: str, path: str, auth: bool) -> tuple[int, str]:
    settings = role_vars(name)
    url = f"http://127.0.0.1:{settings['nginx_listen_port']}{path}"
    creds = f"{settings['flower_basic_auth_user']}:{vault()['vault_flower_password']}"
    return http_get(name, url, creds if auth else None)


def test_flower_needs_credentials(flower_host: str) -> None:
    prefix = role_vars(flower_host)["flower_url_prefix"]
    assert _get(flower_host, f"/{prefix}/", auth=False)[0] == 401
    assert _get(flower_host, f"/{prefix}/api/workers", auth=False)[0] == 401


def test_flower_dashboard_and_workers_through_nginx(
    flower_host: str, worker_hosts: list[str]
) -> None:
    prefix = role_vars(flower_host)["flower_url_prefix"]
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
    prefix = role_vars(flower_host)["flower_url_prefix"]
    status, body = _get(flower_host, f"/{prefix}/metrics", auth=True)
    assert status == 200
    assert "flower_" in body


def test_flower_listens_on_loopback_only(flower_host: str) -> None:
    settings = role_vars(flower_host)
    flower = host(flower_host)
    assert flower.socket(f"tcp://127.0.0.1:{settings['flower_port']}").is_listening
    assert not flower.socket(f"tcp://0.0.0.0:{settings['flower_port']}").is_listening
