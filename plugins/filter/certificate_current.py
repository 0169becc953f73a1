"""Whether a host's certificate on the controller (fleet role, tasks/certificate.yml) is
still the one the role would make: so that a deploy with nothing to change runs none of
the four controller-side steps (key, signing request, expiry check, signing), each a
module run per host and service.

A certificate is current when its key and the CA are beside it, the key is its key, the
CA signed it, it names exactly the requested host, DNS names and addresses, and it stays
valid beyond the renewal window. Anything else, a missing or unreadable file included,
answers False, and the role runs its steps as on the first deploy. Pure Python over the
controller's files (the `cryptography` library that ansible-core itself needs).
Unit-tested in tests/test_certificate_current.py.
"""

from __future__ import annotations

import datetime
import ipaddress
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID


def _names(certificate: x509.Certificate) -> tuple[set[str], set[str]]:
    try:
        san = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return set(), set()
    dns = set(san.get_values_for_type(x509.DNSName))
    ips = {str(a) for a in san.get_values_for_type(x509.IPAddress)}
    return dns, ips


def _server_auth(certificate: x509.Certificate) -> bool:
    try:
        usage = certificate.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    except x509.ExtensionNotFound:
        return False
    return ExtendedKeyUsageOID.SERVER_AUTH in usage


def certificate_current(
    stem: str,
    ca: str,
    common_name: str,
    dns: Iterable[str],
    ips: Iterable[str],
    renew_days: Any,
) -> bool:
    """``stem``.crt and ``stem``.key against the CA certificate ``ca``: True when the
    role's controller-side steps would change nothing."""
    try:
        certificate = x509.load_pem_x509_certificate(Path(f"{stem}.crt").read_bytes())
        key = serialization.load_pem_private_key(Path(f"{stem}.key").read_bytes(), None)
        authority = x509.load_pem_x509_certificate(Path(ca).read_bytes())
        certificate.verify_directly_issued_by(authority)
    except (OSError, ValueError, TypeError, InvalidSignature):
        return False
    if key.public_key() != certificate.public_key():
        return False
    names = certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    if [n.value for n in names] != [common_name] or not _server_auth(certificate):
        return False
    wanted_ips = {str(ipaddress.ip_address(a)) for a in ips}
    if _names(certificate) != (set(dns), wanted_ips):
        return False
    renew_at = datetime.datetime.now(datetime.UTC) + datetime.timedelta(days=int(renew_days))
    return certificate.not_valid_after_utc > renew_at


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {"certificate_current": certificate_current}
