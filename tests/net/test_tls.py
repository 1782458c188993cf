"""TLS contexts: the self-signed certificate, modern settings, reloading in place."""

from __future__ import annotations

import ssl
from pathlib import Path

import pytest
import trustme
from cryptography import x509

from polyport.net.tls import TlsError, TlsManager, make_self_signed
from tests.net.echo_protocol import Client, start_echo


def test_self_signed_certificate_names_the_domain(tmp_path: Path) -> None:
    cert_file, key_file = make_self_signed("example.com", tmp_path / "tls")
    certificate = x509.load_pem_x509_certificate(cert_file.read_bytes())
    names = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert "example.com" in names.get_values_for_type(x509.DNSName)
    assert "mail.example.com" in names.get_values_for_type(x509.DNSName)
    assert key_file.stat().st_mode & 0o777 == 0o600
    manager = TlsManager(cert_file, key_file)
    assert manager.context.minimum_version == ssl.TLSVersion.TLSv1_2
    assert manager.expiry().year >= 2030


def test_tls13_only_when_asked(tmp_path: Path) -> None:
    cert_file, key_file = make_self_signed("example.com", tmp_path)
    assert TlsManager(cert_file, key_file, "1.3").context.minimum_version == ssl.TLSVersion.TLSv1_3


def test_missing_and_corrupt_files_are_named(tmp_path: Path) -> None:
    cert_file, key_file = make_self_signed("example.com", tmp_path)
    with pytest.raises(TlsError, match=r"nope\.pem does not exist"):
        TlsManager(tmp_path / "nope.pem", key_file)
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n")
    with pytest.raises(TlsError, match="cannot use"):
        TlsManager(garbage, key_file)
    other_key = make_self_signed("other.org", tmp_path / "other")[1]
    with pytest.raises(TlsError, match="key belongs"):
        TlsManager(cert_file, other_key)


async def test_reload_swaps_the_certificate_for_new_connections(tmp_path: Path) -> None:
    first_ca, second_ca = trustme.CA(), trustme.CA()
    cert_file, key_file = tmp_path / "cert.pem", tmp_path / "key.pem"

    def install(ca: trustme.CA) -> None:
        issued = ca.issue_cert("localhost")
        issued.private_key_pem.write_to_path(str(key_file))
        issued.cert_chain_pems[0].write_to_path(str(cert_file))

    install(first_ca)
    manager = TlsManager(cert_file, key_file)
    listener, _ = await start_echo(implicit=manager.context)

    def trusting(ca: trustme.CA) -> ssl.SSLContext:
        context = ssl.create_default_context()
        ca.configure_trust(context)
        return context

    client = await Client.connect(listener.port, trusting(first_ca))
    assert await client.line() == b"HELLO\r\n"
    await client.close()

    install(second_ca)
    manager.reload()
    client = await Client.connect(listener.port, trusting(second_ca))
    assert await client.line() == b"HELLO\r\n"
    await client.close()
    with pytest.raises(ssl.SSLCertVerificationError):
        await Client.connect(listener.port, trusting(first_ca))

    # A broken file on reload keeps the working certificate.
    cert_file.write_text("broken")
    with pytest.raises(TlsError):
        manager.reload()
    client = await Client.connect(listener.port, trusting(second_ca))
    assert await client.line() == b"HELLO\r\n"
    await client.close()
    await listener.finish(1)
