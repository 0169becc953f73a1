"""The entry point from the public network, as an operator's browser sees it: HTTPS with
the fleet CA's certificate, credentials on every path (Flower's /metrics too), an open
health check that says "ok" and nothing else, and plain HTTP that only redirects."""

from __future__ import annotations

import pytest
from conftest import as_operator, fetch, machine, role_default, run_ok, secret, site

CA = "/tmp/fleet-ca.crt"


@pytest.fixture(scope="module")
def ops() -> str:
    """The Flower host's public address; the stranger trusts the fleet's CA."""
    ca = as_operator(site()["controller"], "cat ~/.facefleet/production/pki/ca.crt").stdout
    assert "BEGIN CERTIFICATE" in ca
    machine(site()["stranger"]).run(f"cat > {CA} <<'EOF'\n{ca}EOF")
    return site().group("flower")[0].public


def _credentials(password: str | None = None) -> str:
    user = secret("controller", "vault_flower_user")
    return f"{user}:{password or secret('controller', 'vault_flower_password')}"


@pytest.mark.parametrize(
    "path", ["/", "/flower", "/flower/", "/flower/metrics", "/flower/api/workers", "/elsewhere"]
)
def test_every_path_asks_for_credentials(ops: str, path: str) -> None:
    assert fetch(site()["stranger"], f"https://{ops}{path}", CA)[0] == 401
    assert fetch(site()["stranger"], f"https://{ops}{path}", CA, _credentials("wrong"))[0] == 401


def test_with_credentials_flower_and_its_metrics_answer(ops: str) -> None:
    status, body = fetch(site()["stranger"], f"https://{ops}/flower/", CA, _credentials())
    assert status == 200
    assert "/flower/static/" in body
    status, body = fetch(site()["stranger"], f"https://{ops}/flower/metrics", CA, _credentials())
    assert status == 200
    assert "flower_" in body
    assert fetch(site()["stranger"], f"https://{ops}/", CA, _credentials()) == (
        302,
        f"https://{ops}/flower/",
    )


def test_the_health_check_is_open_and_says_nothing_else(ops: str) -> None:
    path = role_default("nginx_health_path")
    assert fetch(site()["stranger"], f"https://{ops}{path}", CA) == (200, "ok\n")


def test_plain_http_redirects_to_https(ops: str) -> None:
    assert fetch(site()["stranger"], f"http://{ops}/flower/") == (301, f"https://{ops}/flower/")


def test_the_certificate_is_the_fleet_cas_and_names_the_host(ops: str) -> None:
    flower = site().group("flower")[0]
    text = run_ok(flower.name, "openssl x509 -noout -text -in /etc/nginx/facefleet-tls/web.crt")
    assert f"IP Address:{flower.public}" in text
    assert f"DNS:{flower.name}" in text
    assert "Issuer: CN = facefleet fleet CA" in text
