"""Whether the controller's certificate for a host is still current
(plugins/filter/certificate_current.py): on real keys and certificates made here with the
same library, the same curve and the same extensions as the fleet role's steps."""

from __future__ import annotations

import datetime
import ipaddress
from pathlib import Path

import pytest
from ansible_collections.facefleet.fleet.plugins.filter.certificate_current import (
    certificate_current,
)
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

NOW = datetime.datetime.now(datetime.UTC)
DNS = ["redis-01", "localhost"]
IPS = ["10.20.0.10", "127.0.0.1"]
CA = tuple[ec.EllipticCurvePrivateKey, x509.Certificate]  # its key and certificate


def _pem_key(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _ca(folder: Path, name: str = "ca") -> CA:
    key = ec.generate_private_key(ec.SECP384R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "facefleet fleet CA")])
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW - datetime.timedelta(days=1))
        .not_valid_after(NOW + datetime.timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .sign(key, hashes.SHA384())
    )
    (folder / f"{name}.crt").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return key, cert


def _host(
    folder: Path,
    ca: CA,
    *,
    dns: list[str] = DNS,
    ips: list[str] = IPS,
    days: int = 397,
    server_auth: bool = True,
) -> str:
    key = ec.generate_private_key(ec.SECP384R1())
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "redis-01")]))
        .issuer_name(ca[1].subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW - datetime.timedelta(days=1))
        .not_valid_after(NOW + datetime.timedelta(days=days))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName(d) for d in dns]
                + [x509.IPAddress(ipaddress.ip_address(a)) for a in ips]
            ),
            critical=False,
        )
    )
    if server_auth:
        builder = builder.add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False
        )
    cert = builder.sign(ca[0], hashes.SHA384())
    stem = folder / "redis-01-redis"
    stem.with_suffix(".crt").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    stem.with_suffix(".key").write_bytes(_pem_key(key))
    return str(stem)


def _current(stem: str, folder: Path, dns: list[str] = DNS, ips: list[str] = IPS) -> bool:
    return certificate_current(stem, str(folder / "ca.crt"), "redis-01", dns, ips, 30)


@pytest.fixture
def ca(tmp_path: Path) -> CA:
    return _ca(tmp_path)


def test_an_unchanged_certificate_is_current(tmp_path: Path, ca: CA) -> None:
    stem = _host(tmp_path, ca)
    assert _current(stem, tmp_path)
    # The order of the names does not matter.
    assert _current(stem, tmp_path, dns=list(reversed(DNS)), ips=list(reversed(IPS)))


def test_a_new_name_or_address_needs_a_new_certificate(tmp_path: Path, ca: CA) -> None:
    stem = _host(tmp_path, ca)
    assert not _current(stem, tmp_path, dns=[*DNS, "redis-01.example.org"])
    assert not _current(stem, tmp_path, ips=["10.20.0.11", "127.0.0.1"])
    assert not _current(stem, tmp_path, dns=DNS[:1])


def test_a_certificate_inside_the_renewal_window_is_not_current(tmp_path: Path, ca: CA) -> None:
    assert _current(_host(tmp_path, ca, days=31), tmp_path)
    assert not _current(_host(tmp_path, ca, days=29), tmp_path)


def test_a_certificate_from_another_ca_is_not_current(tmp_path: Path, ca: CA) -> None:
    stem = _host(tmp_path, ca)
    _ca(tmp_path)  # the CA was made again: ca.crt is another key's now
    assert not _current(stem, tmp_path)


def test_a_key_that_is_not_the_certificates_is_not_current(tmp_path: Path, ca: CA) -> None:
    stem = _host(tmp_path, ca)
    Path(f"{stem}.key").write_bytes(_pem_key(ec.generate_private_key(ec.SECP384R1())))
    assert not _current(stem, tmp_path)


def test_missing_or_broken_files_are_not_current(tmp_path: Path, ca: CA) -> None:
    assert not _current(str(tmp_path / "nothing-here"), tmp_path)
    stem = _host(tmp_path, ca)
    Path(f"{stem}.crt").write_text("not a certificate\n")
    assert not _current(stem, tmp_path)
    stem = _host(tmp_path, ca)
    (tmp_path / "ca.crt").unlink()
    assert not _current(stem, tmp_path)


def test_a_certificate_without_server_auth_is_not_current(tmp_path: Path, ca: CA) -> None:
    assert not _current(_host(tmp_path, ca, server_auth=False), tmp_path)
