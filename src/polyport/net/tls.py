"""TLS: the server's contexts, the self-signed certificate of a new node, and reloading on SIGHUP.

One `ssl.SSLContext` serves every listener (STARTTLS and implicit TLS alike). Reloading loads the new
files into that same context object, after trying them in a scratch context first, so every listener
uses the new certificate for new connections while a bad file leaves the old one in place. Modern
defaults: TLS 1.2 or newer, forward-secret AEAD ciphers only, no compression, no renegotiation.
"""

from __future__ import annotations

import datetime
import os
import ssl
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

# TLS 1.2 suites: ECDHE with AES-GCM or ChaCha20-Poly1305 (TLS 1.3 suites are all fine).
TLS12_CIPHERS = "ECDHE+AESGCM:ECDHE+CHACHA20:!aNULL:!eNULL:!MD5:!DSS"

SELF_SIGNED_CERT = "cert.pem"
SELF_SIGNED_KEY = "key.pem"


class TlsError(Exception):
    """A certificate or key cannot be used; the message names the file and the fix."""


def _new_context(min_version: str) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_3 if min_version == "1.3" else ssl.TLSVersion.TLSv1_2
    context.set_ciphers(TLS12_CIPHERS)
    context.options |= ssl.OP_NO_COMPRESSION | ssl.OP_CIPHER_SERVER_PREFERENCE | ssl.OP_NO_RENEGOTIATION
    return context


def _load(context: ssl.SSLContext, cert_file: Path, key_file: Path) -> None:
    for path, what in ((cert_file, "certificate"), (key_file, "key")):
        if not path.is_file():
            raise TlsError(f"{what} file {path} does not exist; fix [tls] in the config, or leave "
                           f"cert_file and key_file empty to use the self-signed certificate")
    try:
        context.load_cert_chain(cert_file, key_file)
    except ssl.SSLError as err:
        raise TlsError(f"cannot use {cert_file} with {key_file}: {err.reason or err}; check that they "
                       f"are PEM files and that the key belongs to the certificate") from None
    except OSError as err:
        raise TlsError(f"cannot read {cert_file} or {key_file}: {err.strerror}") from None


def make_self_signed(domain: str, folder: Path, *, days: int = 3650) -> tuple[Path, Path]:
    """Write a self-signed certificate for `domain` (and its mail/imap/smtp/xmpp names, and the chat and upload
    services XMPP federation names) to `folder`."""
    folder.mkdir(parents=True, exist_ok=True)
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    names = [domain] + [f"{prefix}.{domain}" for prefix in ("mail", "imap", "smtp", "xmpp", "sip", "conference",
                                                            "upload")]
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, domain[:64]),
                         x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Polyport self-signed")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=days))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(n) for n in names]), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        # Client use too: XMPP servers present theirs when they connect to another (XEP-0178).
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]),
                       critical=False)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / SELF_SIGNED_CERT, folder / SELF_SIGNED_KEY
    key_bytes = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                  serialization.NoEncryption())
    temp = key_path.with_suffix(".tmp")
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(key_bytes)
    temp.replace(key_path)
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    return cert_path, key_path


class TlsManager:
    """Holds the server context every listener shares; `reload()` swaps the certificate in place."""

    def __init__(self, cert_file: Path, key_file: Path, min_version: str = "1.2") -> None:
        self.cert_file = cert_file
        self.key_file = key_file
        self.min_version = min_version
        self.context = _new_context(min_version)
        _load(self.context, cert_file, key_file)
        self._others: dict[tuple[str, bool, str], ssl.SSLContext] = {}  # federation's (see below)

    def reload(self) -> None:
        """Re-read the files; raises TlsError (and keeps the current certificate) if they are bad."""
        _load(_new_context(self.min_version), self.cert_file, self.key_file)
        _load(self.context, self.cert_file, self.key_file)
        self._others.clear()

    def client_context(self, *, verify: bool, cafile: str = "") -> ssl.SSLContext:
        """A context for connecting to another server (XMPP federation): our certificate offered as the
        client's, so the other server may take it as proof of our domain (XEP-0178); the other's checked
        against the system's authorities (and `cafile`'s) and its name, unless `verify` is False."""
        key = ("client", verify, cafile)
        context = self._others.get(key)
        if context is None:
            context = ssl.create_default_context(cafile=cafile or None)
            if cafile:
                context.load_default_certs()
            context.minimum_version = ssl.TLSVersion.TLSv1_3 if self.min_version == "1.3" else ssl.TLSVersion.TLSv1_2
            if not verify:
                context.check_hostname = False
                context.verify_mode = ssl.CERT_NONE
            _load(context, self.cert_file, self.key_file)
            self._others[key] = context
        return context

    def peer_checking_context(self, cafile: str = "") -> ssl.SSLContext:
        """The server context that also asks the client for its certificate and checks it against the
        system's authorities (and `cafile`'s): a client whose certificate does not check fails the
        handshake (Python's ssl cannot ask for one and take any), one without any goes on."""
        key = ("server", True, cafile)
        context = self._others.get(key)
        if context is None:
            context = _new_context(self.min_version)
            _load(context, self.cert_file, self.key_file)
            context.verify_mode = ssl.CERT_OPTIONAL
            context.load_default_certs(ssl.Purpose.CLIENT_AUTH)
            if cafile:
                context.load_verify_locations(cafile=cafile)
            self._others[key] = context
        return context

    def expiry(self) -> datetime.datetime:
        certificate = x509.load_pem_x509_certificate(self.cert_file.read_bytes())
        return certificate.not_valid_after_utc
