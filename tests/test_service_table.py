"""The service table holds every row of DESIGN.md's port table, once."""

from __future__ import annotations

from polyport.service_table import SERVICES, SERVICES_BY_NAME, TlsMode, Transport, offset_port


def test_names_are_unique() -> None:
    assert len(SERVICES_BY_NAME) == len(SERVICES)


def test_design_ports() -> None:
    expected = {
        "smtp": (25,), "submission": (587,), "smtps": (465,), "pop3": (110,), "pop3s": (995,), "imap": (143,),
        "imaps": (993,), "http": (80,), "https": (443,), "webuser": (8100,), "webusers": (9100,),
        "webadmin": (8010,), "webadmins": (9010,), "cliapi": (106,), "cliapi-tls": (9106,), "ldap": (389,),
        "ldaps": (636,),
        "acap": (674,), "xmpp": (5222,), "xmpps": (5223,), "xmpp-s2s": (5269,), "sip": (5060,), "sips": (5061,),
        "ximss": (11024,), "ximss-tls": (11025,), "ftp": (21, 8021), "tftp": (69,), "dns": (53,), "rtp": (),
        "lmtp": (24,),
    }
    assert {s.name: s.ports for s in SERVICES} == expected
    rtp = SERVICES_BY_NAME["rtp"].data_ports
    assert rtp is not None and (rtp.first, rtp.last, rtp.transport) == (60000, 60099, Transport.UDP)


def test_trusted_only_services() -> None:
    assert {s.name for s in SERVICES if s.trusted_only} == {"cliapi", "cliapi-tls", "ldap", "ldaps", "acap", "tftp",
                                                            "lmtp"}


def test_implicit_tls_ports() -> None:
    implicit = {s.name for s in SERVICES if s.tls is TlsMode.IMPLICIT}
    assert implicit == {"smtps", "pop3s", "imaps", "https", "webusers", "webadmins", "ldaps", "xmpps", "sips",
                        "ximss-tls", "cliapi-tls"}


def test_sip_and_dns_take_udp_and_tcp() -> None:
    for name in ("sip", "dns"):
        assert set(SERVICES_BY_NAME[name].transports) == {Transport.UDP, Transport.TCP}


def test_offset() -> None:
    assert offset_port(25, 10000) == 10025
    assert offset_port(1023, 10000) == 11023
    assert offset_port(1024, 10000) == 1024
