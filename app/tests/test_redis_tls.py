"""Redis over TLS: a real redis-server with a certificate from a CA made here, a real
Celery worker and the submitter, all verifying that certificate."""

from __future__ import annotations

import io
import json
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from conftest import Worker, _free_port, _wait_for, start_redis_server

from facefleet.celery_app import create_app
from facefleet.redis_client import connect
from facefleet.settings import Settings, SettingsError, load_settings
from facefleet.submit import submit_files

pytestmark = pytest.mark.slow
PASSWORD = "test-only-tls-password"


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


def _make_ca(folder: Path, name: str) -> Path:
    _openssl(
        "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
        "-keyout", f"{name}.key", "-out", f"{name}.crt", "-days", "2",
        "-subj", f"/CN={name}", cwd=folder,
    )  # fmt: skip
    return folder / f"{name}.crt"


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if shutil.which("openssl") is None:
        pytest.fail("openssl is not installed")
    folder = tmp_path_factory.mktemp("pki")
    _make_ca(folder, "ca")
    _make_ca(folder, "other-ca")
    _openssl(
        "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
        "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=localhost", cwd=folder,
    )  # fmt: skip
    (folder / "san.ext").write_text("subjectAltName=DNS:localhost,IP:127.0.0.1\n")
    _openssl(
        "x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
        "-CAcreateserial", "-out", "server.crt", "-days", "2", "-extfile", "san.ext", cwd=folder,
    )  # fmt: skip
    return folder


@pytest.fixture(scope="module")
def tls_url(pki: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A redis-server that speaks TLS only, as the redis role configures it."""
    port = _free_port()
    proc = start_redis_server(
        tmp_path_factory.mktemp("redis-tls"),
        "--port", "0", "--tls-port", str(port), "--requirepass", PASSWORD, "--appendonly", "no",
        "--tls-cert-file", str(pki / "server.crt"), "--tls-key-file", str(pki / "server.key"),
        "--tls-ca-cert-file", str(pki / "ca.crt"), "--tls-auth-clients", "no",
    )  # fmt: skip
    url = f"rediss://:{PASSWORD}@127.0.0.1:{port}/0"
    settings = load_settings(
        environ={"FACEFLEET_REDIS_URL": url, "FACEFLEET_REDIS_TLS_CA_FILE": str(pki / "ca.crt")},
        config_path=Path("/nonexistent"),
    )
    _wait_for(lambda: connect(settings).ping(), 10, "redis-server (TLS)")
    yield url
    proc.terminate()
    proc.wait(10)


def _settings(url: str, ca: Path) -> Settings:
    return load_settings(
        environ={"FACEFLEET_REDIS_URL": url, "FACEFLEET_REDIS_TLS_CA_FILE": str(ca)},
        config_path=Path("/nonexistent"),
    )


def test_the_client_verifies_redis_certificate(tls_url: str, pki: Path) -> None:
    assert connect(_settings(tls_url, pki / "ca.crt")).ping()
    with pytest.raises(redis.exceptions.ConnectionError, match="certificate verify failed"):
        connect(_settings(tls_url, pki / "other-ca.crt")).ping()


def test_plain_text_gets_no_answer(tls_url: str) -> None:
    plain = tls_url.replace("rediss://", "redis://")
    with pytest.raises(redis.exceptions.ConnectionError):
        redis.Redis.from_url(plain, socket_timeout=3).ping()


def test_a_ca_file_needs_a_tls_url(pki: Path) -> None:
    with pytest.raises(SettingsError, match="rediss"):
        _settings("redis://:pw@127.0.0.1:6379/0", pki / "ca.crt")


def test_a_worker_and_the_submitter_over_tls(
    tls_url: str, pki: Path, faces: Path, tmp_path: Path
) -> None:
    settings = _settings(tls_url, pki / "ca.crt")
    worker = Worker(
        "threads",
        tls_url,
        tmp_path / "worker.log",
        concurrency=2,
        environ={"FACEFLEET_REDIS_TLS_CA_FILE": str(pki / "ca.crt")},
    )
    app = create_app(settings)
    try:
        _wait_for(
            lambda: worker.proc.poll() is None and app.control.ping([worker.node], timeout=0.5),
            60,
            "celery worker over TLS",
        )
        files = [faces / "two_people.jpg", faces / "obama1.jpg", faces / "biden2.jpg"]
        out = io.StringIO()
        summary = submit_files(app, settings, files, out, task_timeout=120)
    finally:
        worker.stop()
    results = [json.loads(line) for line in out.getvalue().splitlines()]
    assert (summary.ok, summary.lost) == (3, 0), (tmp_path / "worker.log").read_text()[-2000:]
    assert {r["worker"] for r in results} == {worker.node}
