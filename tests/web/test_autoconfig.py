"""Autoconfig documents: every generated document is parsed back and checked; hostile input is escaped or refused."""

from __future__ import annotations

import plistlib
import uuid
import xml.etree.ElementTree as ET

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from polyport.web.autoconfig import (
    AUTODISCOVER_REQUEST_NS,
    MAX_AUTODISCOVER_REQUEST,
    OUTLOOK_RESPONSE_SCHEMA,
    MailEndpoint,
    MailSetup,
    apple_mobileconfig,
    autodiscover_response,
    default_setup,
    mta_sts_policy,
    parse_autodiscover_request,
    thunderbird_config,
)

ALL_PORTS = {"imaps": 993, "imap": 143, "pop3s": 995, "pop3": 110, "smtps": 465, "submission": 587}
HOSTILE = '<&">\'</x>]]>'
RESPONSE_NS = "{http://schemas.microsoft.com/exchange/autodiscover/responseschema/2006}"
OUTLOOK_NS = f"{{{OUTLOOK_RESPONSE_SCHEMA}}}"


def full_setup() -> MailSetup:
    return default_setup("example.com", "mail.example.com", ALL_PORTS)


def request_body(email: str = "user@example.com", schema: str = OUTLOOK_RESPONSE_SCHEMA,
                 ns: str = AUTODISCOVER_REQUEST_NS) -> bytes:
    return (f'<Autodiscover xmlns="{ns}"><Request><EMailAddress>{email}</EMailAddress>'
            f"<AcceptableResponseSchema>{schema}</AcceptableResponseSchema></Request></Autodiscover>").encode()


def servers(root: ET.Element, tag: str) -> list[tuple[str | None, str | None, str | None, str | None, str | None]]:
    return [(s.get("type"), s.findtext("hostname"), s.findtext("port"), s.findtext("socketType"),
             s.findtext("username")) for s in root.iter(tag)]


# --- the dataclasses and default_setup ----------------------------------------------------------------


def test_default_setup_orders_by_preference() -> None:
    setup = full_setup()
    assert setup.domain == setup.display_name == "example.com"
    assert [(e.protocol, e.port, e.security) for e in setup.incoming] == [
        ("imap", 993, "tls"), ("imap", 143, "starttls"), ("pop3", 995, "tls"), ("pop3", 110, "starttls")]
    assert [(e.protocol, e.port, e.security) for e in setup.outgoing] == [("smtp", 465, "tls"),
                                                                          ("smtp", 587, "starttls")]
    assert {e.hostname for e in [*setup.incoming, *setup.outgoing]} == {"mail.example.com"}


def test_default_setup_skips_services_that_are_off_and_ignores_others() -> None:
    setup = default_setup("example.org", "mx.example.org", {"imap": 10143, "submission": 10587, "smtp": 25,
                                                            "https": 443})
    assert setup.incoming == [MailEndpoint("imap", "mx.example.org", 10143, "starttls")]
    assert setup.outgoing == [MailEndpoint("smtp", "mx.example.org", 10587, "starttls")]
    empty = default_setup("example.org", "mx.example.org", {})
    assert empty.incoming == [] and empty.outgoing == []


@pytest.mark.parametrize("args", [
    ("ftp", "mail.example.com", 21, "tls"),
    ("imap", "mail.example.com", 993, "ssl"),
    ("imap", "mail.example.com", 0, "tls"),
    ("imap", "mail.example.com", 65536, "tls"),
    ("imap", "mail.example.com", True, "tls"),
    ("imap", "", 993, "tls"),
    ("imap", "mail example.com", 993, "tls"),
    ("imap", "mail.example.com\r\nX: y", 993, "tls"),
])
def test_endpoint_refuses_bad_values(args: tuple[str, str, int, str]) -> None:
    with pytest.raises(ValueError):
        MailEndpoint(*args)


def test_setup_refuses_endpoints_on_the_wrong_side() -> None:
    smtp = MailEndpoint("smtp", "mail.example.com", 465, "tls")
    imap = MailEndpoint("imap", "mail.example.com", 993, "tls")
    with pytest.raises(ValueError, match="incoming"):
        MailSetup("example.com", "Example", [smtp], [])
    with pytest.raises(ValueError, match="outgoing"):
        MailSetup("example.com", "Example", [imap], [imap])


# --- Mozilla autoconfig ---------------------------------------------------------------------------------


def test_thunderbird_config_round_trips() -> None:
    document = thunderbird_config(full_setup())
    assert document.startswith(b"<?xml version='1.0' encoding='UTF-8'?>\n")
    root = ET.fromstring(document)
    assert root.tag == "clientConfig" and root.get("version") == "1.1"
    provider = root.find("emailProvider")
    assert provider is not None and provider.get("id") == "example.com"
    assert provider.findtext("domain") == "example.com"
    assert provider.findtext("displayName") == "example.com"
    assert provider.findtext("displayShortName") == "example.com"
    assert servers(root, "incomingServer") == [
        ("imap", "mail.example.com", "993", "SSL", "%EMAILADDRESS%"),
        ("imap", "mail.example.com", "143", "STARTTLS", "%EMAILADDRESS%"),
        ("pop3", "mail.example.com", "995", "SSL", "%EMAILADDRESS%"),
        ("pop3", "mail.example.com", "110", "STARTTLS", "%EMAILADDRESS%"),
    ]
    assert servers(root, "outgoingServer") == [
        ("smtp", "mail.example.com", "465", "SSL", "%EMAILADDRESS%"),
        ("smtp", "mail.example.com", "587", "STARTTLS", "%EMAILADDRESS%"),
    ]
    for server in [*root.iter("incomingServer"), *root.iter("outgoingServer")]:
        assert [a.text for a in server.findall("authentication")] == ["password-cleartext"]


def test_thunderbird_config_uses_a_plausible_address_as_username() -> None:
    root = ET.fromstring(thunderbird_config(full_setup(), "ann@example.com"))
    assert {s[4] for s in servers(root, "incomingServer") + servers(root, "outgoingServer")} == {"ann@example.com"}
    for junk in ["", "not-an-address", "a@b@c", "<x>@example.com", "ann@example.com\r\n", "ann@.example.com"]:
        root = ET.fromstring(thunderbird_config(full_setup(), junk))
        assert {s[4] for s in servers(root, "incomingServer")} == {"%EMAILADDRESS%"}, junk


def test_thunderbird_config_escapes_hostile_names() -> None:
    endpoint = MailEndpoint("imap", "mail<&\">.example.com", 993, "tls")
    setup = MailSetup(HOSTILE, HOSTILE, [endpoint], [])
    document = thunderbird_config(setup)
    root = ET.fromstring(document)
    provider = root.find("emailProvider")
    assert provider is not None
    assert provider.get("id") == HOSTILE and provider.findtext("domain") == HOSTILE
    assert provider.findtext("displayName") == HOSTILE
    assert servers(root, "incomingServer")[0][1] == "mail<&\">.example.com"
    assert root.find("emailProvider/outgoingServer") is None
    assert b"<x>" not in document and b"]]>" not in document


def test_thunderbird_config_survives_characters_xml_cannot_carry() -> None:
    name = "Ex\x00am\x1bple\ud800 Corp\r\nInjected\uffff"
    root = ET.fromstring(thunderbird_config(MailSetup("example.com", name, full_setup().incoming, [])))
    assert root.findtext("emailProvider/displayName") == "Example Corp Injected"


def test_thunderbird_config_keeps_to_the_display_name_limits() -> None:
    long_name = "The Very Long Name Of An Organisation That Runs Its Own Mail Server Ltd"
    root = ET.fromstring(thunderbird_config(MailSetup("example.com", long_name, full_setup().incoming, [])))
    display = root.findtext("emailProvider/displayName")
    short = root.findtext("emailProvider/displayShortName")
    assert display is not None and short is not None
    assert len(display) <= 60 and long_name.startswith(display)
    assert len(short) <= 20 and long_name.startswith(short)


def test_thunderbird_config_is_utf8() -> None:
    document = thunderbird_config(MailSetup("example.com", "Bücher & Co", full_setup().incoming, []))
    assert "Bücher &amp; Co".encode() in document
    assert ET.fromstring(document).findtext("emailProvider/displayName") == "Bücher & Co"


# --- Autodiscover request --------------------------------------------------------------------------------


def test_parse_autodiscover_request() -> None:
    assert parse_autodiscover_request(request_body()) == "user@example.com"
    declared = b'<?xml version="1.0" encoding="utf-8"?>\r\n' + request_body("  ann@example.org\n")
    assert parse_autodiscover_request(declared) == "ann@example.org"
    assert parse_autodiscover_request(b"\xef\xbb\xbf" + request_body()) == "user@example.com"  # UTF-8 BOM
    assert parse_autodiscover_request(request_body("j\u00f6rg@b\u00fccher.example")) == "j\u00f6rg@b\u00fccher.example"


@pytest.mark.parametrize("body", [
    b"",
    b"<Autodiscover/>",
    request_body(ns="http://schemas.microsoft.com/exchange/autodiscover/mobilesync/requestschema/2006"),
    request_body(ns=""),
    request_body(schema="http://schemas.microsoft.com/exchange/autodiscover/mobilesync/responseschema/2006"),
    request_body(email=""),
    request_body(email="no-at-sign"),
    request_body(email="two@at@signs.example"),
    request_body(email="user@"),
    request_body(email="user@example..com"),
    request_body(email="spaced user@example.com"),
    request_body(email="&lt;script&gt;@example.com"),
    request_body(email="x" * 250 + "@example.com"),
    f'<Autodiscover xmlns="{AUTODISCOVER_REQUEST_NS}"><Request>'
    f"<AcceptableResponseSchema>{OUTLOOK_RESPONSE_SCHEMA}</AcceptableResponseSchema>"
    f"</Request></Autodiscover>".encode(),
    f'<Autodiscover xmlns="{AUTODISCOVER_REQUEST_NS}"><Request><EMailAddress>a@example.com</EMailAddress>'
    f"</Request></Autodiscover>".encode(),
    f'<Autodiscover xmlns="{AUTODISCOVER_REQUEST_NS}"><EMailAddress>a@example.com</EMailAddress>'
    f"</Autodiscover>".encode(),
    request_body()[:-5],  # truncated
    request_body() + b"<trailing/>",
    request_body().decode().encode("utf-16"),
    request_body().replace(b"user", b"\xff\xfeuser"),  # not UTF-8
    request_body().replace(b"user", b"us\x00er"),
], ids=lambda body: repr(body[:60]))
def test_parse_autodiscover_request_refuses_malformed(body: bytes) -> None:
    assert parse_autodiscover_request(body) is None


BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
]>
<Autodiscover xmlns="http://schemas.microsoft.com/exchange/autodiscover/outlook/requestschema/2006">
<Request><EMailAddress>&lol4;@example.com</EMailAddress>
<AcceptableResponseSchema>http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a</AcceptableResponseSchema>
</Request></Autodiscover>"""

EXTERNAL_ENTITY = b"""<?xml version="1.0"?>
<!doctype Autodiscover [<!entity xxe SYSTEM "file:///etc/passwd">]>
""" + request_body("&xxe;@example.com")


@pytest.mark.parametrize("body", [
    BILLION_LAUGHS,
    EXTERNAL_ENTITY,
    b"<!DocType x>" + request_body(),
    request_body().replace(b"<Request>", b"<Request><!ENTITY x 'y'>"),
    # the same declarations hidden in UTF-16, which expat would otherwise decode on its own
    BILLION_LAUGHS.replace(b'<?xml version="1.0"?>', b"").decode().encode("utf-16"),
], ids=["billion-laughs", "external-entity", "mixed-case-doctype", "entity-outside-doctype", "utf-16"])
def test_parse_autodiscover_request_refuses_dtds(body: bytes) -> None:
    assert parse_autodiscover_request(body) is None


def test_parse_autodiscover_request_refuses_oversize() -> None:
    padding = b" " * (MAX_AUTODISCOVER_REQUEST - len(request_body()))
    assert parse_autodiscover_request(request_body() + padding) == "user@example.com"  # exactly the limit
    assert parse_autodiscover_request(request_body() + padding + b" ") is None


@settings(max_examples=200)
@given(st.binary(max_size=2048))
def test_parse_autodiscover_request_never_raises_on_bytes(body: bytes) -> None:
    assert parse_autodiscover_request(body) in (None, "user@example.com")


@settings(max_examples=200)
@given(st.text(max_size=300))
def test_parse_autodiscover_request_never_raises_on_any_address_text(text: str) -> None:
    body = request_body().replace(b"user@example.com", text.encode("utf-8", "surrogatepass"))
    result = parse_autodiscover_request(body)
    assert result is None or (result == text.strip() and "@" in result)


@settings(max_examples=200)
@given(st.lists(st.sampled_from([b"<", b">", b"/", b"&", b"<!", b"<?", b"]]>", b"<![CDATA[", b"Request",
                                 b"EMailAddress", b"Autodiscover", b'xmlns="', b'"', b"&#0;", b"&#x10FFFF;",
                                 b"&amp;", b"@", b"\xc3", b"\xa9", b"\r\n", AUTODISCOVER_REQUEST_NS.encode()]),
                max_size=60))
def test_parse_autodiscover_request_never_raises_on_markup_soup(parts: list[bytes]) -> None:
    parse_autodiscover_request(b"".join(parts))


# --- Autodiscover response -------------------------------------------------------------------------------


def protocols(document: bytes) -> list[dict[str, str | None]]:
    root = ET.fromstring(document)
    assert root.tag == f"{RESPONSE_NS}Autodiscover"
    account = root.find(f"{OUTLOOK_NS}Response/{OUTLOOK_NS}Account")
    assert account is not None
    assert account.findtext(f"{OUTLOOK_NS}AccountType") == "email"
    assert account.findtext(f"{OUTLOOK_NS}Action") == "settings"
    return [{child.tag.removeprefix(OUTLOOK_NS): child.text for child in protocol}
            for protocol in account.findall(f"{OUTLOOK_NS}Protocol")]


def test_autodiscover_response_round_trips() -> None:
    document = autodiscover_response(full_setup(), "user@example.com")
    assert document.startswith(b"<?xml version='1.0' encoding='UTF-8'?>\n")
    # Plain default namespaces, as Outlook's samples have them, rather than ns0:/ns1: prefixes.
    assert b'<Autodiscover xmlns="http://schemas.microsoft.com/exchange/autodiscover/responseschema/2006">' \
        in document
    assert f'<Response xmlns="{OUTLOOK_RESPONSE_SCHEMA}">'.encode() in document
    common = {"Server": "mail.example.com", "LoginName": "user@example.com", "DomainRequired": "off",
              "SPA": "off", "SSL": "on", "Encryption": "SSL", "AuthRequired": "on"}
    assert protocols(document) == [
        {"Type": "IMAP", "Port": "993", **common},
        {"Type": "POP3", "Port": "995", **common},
        {"Type": "SMTP", "Port": "465", **common},
    ]


def test_autodiscover_response_starttls() -> None:
    setup = default_setup("example.com", "mail.example.com", {"imap": 143, "submission": 587})
    found = protocols(autodiscover_response(setup, "user@example.com"))
    assert [(p["Type"], p["Port"], p["SSL"], p["Encryption"]) for p in found] == [
        ("IMAP", "143", "off", "TLS"), ("SMTP", "587", "off", "TLS")]


def test_autodiscover_response_escapes_and_refuses() -> None:
    endpoint = MailEndpoint("imap", "mail<&\">.example.com", 993, "tls")
    document = autodiscover_response(MailSetup(HOSTILE, HOSTILE, [endpoint], []), "o'brien&co@example.com")
    [imap] = protocols(document)
    assert imap["Server"] == "mail<&\">.example.com" and imap["LoginName"] == "o'brien&co@example.com"
    for bad in ["", "user", "<x>@example.com", "user@example.com\r\n<SSL>off</SSL>"]:
        with pytest.raises(ValueError):
            autodiscover_response(full_setup(), bad)


def test_autodiscover_round_trip_from_request() -> None:
    email = parse_autodiscover_request(request_body("ann@example.com"))
    assert email is not None
    assert {p["LoginName"] for p in protocols(autodiscover_response(full_setup(), email))} == {"ann@example.com"}


# --- Apple configuration profile ------------------------------------------------------------------------


def test_apple_mobileconfig_round_trips() -> None:
    document = apple_mobileconfig(full_setup(), "ann@example.com", "Ann Example", "node-1")
    assert document.startswith(b'<?xml version="1.0" encoding="UTF-8"?>')
    profile = plistlib.loads(document, fmt=plistlib.FMT_XML)
    assert profile["PayloadType"] == "Configuration"
    assert profile["PayloadVersion"] == 1
    assert profile["PayloadIdentifier"].startswith("com.example.polyport.mail.")
    assert "ann@example.com" in profile["PayloadDisplayName"]
    [mail] = profile["PayloadContent"]
    assert mail == {
        "PayloadType": "com.apple.mail.managed",
        "PayloadVersion": 1,
        "PayloadIdentifier": profile["PayloadIdentifier"] + ".account",
        "PayloadUUID": mail["PayloadUUID"],
        "PayloadDisplayName": "example.com mail",
        "EmailAccountType": "EmailTypeIMAP",
        "EmailAccountDescription": "example.com (ann@example.com)",
        "EmailAccountName": "Ann Example",
        "EmailAddress": "ann@example.com",
        "IncomingMailServerHostName": "mail.example.com",
        "IncomingMailServerPortNumber": 993,
        "IncomingMailServerUseSSL": True,
        "IncomingMailServerUsername": "ann@example.com",
        "IncomingMailServerAuthentication": "EmailAuthPassword",
        "OutgoingMailServerHostName": "mail.example.com",
        "OutgoingMailServerPortNumber": 465,
        "OutgoingMailServerUseSSL": True,
        "OutgoingMailServerUsername": "ann@example.com",
        "OutgoingMailServerAuthentication": "EmailAuthPassword",
        "OutgoingPasswordSameAsIncomingPassword": True,
    }
    assert len({profile["PayloadUUID"], mail["PayloadUUID"]}) == 2
    for value in (profile["PayloadUUID"], mail["PayloadUUID"]):
        assert str(uuid.UUID(value)).upper() == value and uuid.UUID(value).version == 5


def test_apple_mobileconfig_is_deterministic_per_seed_and_account() -> None:
    def uuids(email: str, seed: str) -> tuple[str, str]:
        profile = plistlib.loads(apple_mobileconfig(full_setup(), email, "Ann", seed))
        return profile["PayloadUUID"], profile["PayloadContent"][0]["PayloadUUID"]

    assert apple_mobileconfig(full_setup(), "ann@example.com", "Ann", "s") == \
        apple_mobileconfig(full_setup(), "ann@example.com", "Ann", "s")
    assert uuids("ann@example.com", "s") == uuids("ann@example.com", "s")
    assert uuids("ann@example.com", "s") != uuids("ann@example.com", "t")
    assert uuids("ann@example.com", "s") != uuids("bob@example.com", "s")


def test_apple_mobileconfig_starttls_and_pop_fallback() -> None:
    # STARTTLS endpoints still say UseSSL: Apple's payload has no separate STARTTLS switch.
    setup = default_setup("example.com", "mail.example.com", {"pop3": 110, "imap": 143, "submission": 587})
    mail = plistlib.loads(apple_mobileconfig(setup, "a@example.com", "A", "s"))["PayloadContent"][0]
    assert (mail["EmailAccountType"], mail["IncomingMailServerPortNumber"]) == ("EmailTypeIMAP", 143)
    assert mail["IncomingMailServerUseSSL"] is True and mail["OutgoingMailServerUseSSL"] is True
    assert mail["OutgoingMailServerPortNumber"] == 587
    pop_only = default_setup("example.com", "mail.example.com", {"pop3s": 995, "pop3": 110, "smtps": 465})
    mail = plistlib.loads(apple_mobileconfig(pop_only, "a@example.com", "A", "s"))["PayloadContent"][0]
    assert (mail["EmailAccountType"], mail["IncomingMailServerPortNumber"]) == ("EmailTypePOP", 995)


def test_apple_mobileconfig_refuses_incomplete_setups_and_bad_addresses() -> None:
    no_incoming = default_setup("example.com", "mail.example.com", {"smtps": 465})
    no_outgoing = default_setup("example.com", "mail.example.com", {"imaps": 993})
    with pytest.raises(ValueError, match="incoming"):
        apple_mobileconfig(no_incoming, "a@example.com", "A", "s")
    with pytest.raises(ValueError, match="outgoing"):
        apple_mobileconfig(no_outgoing, "a@example.com", "A", "s")
    with pytest.raises(ValueError):
        apple_mobileconfig(full_setup(), "<a>", "A", "s")


def test_apple_mobileconfig_escapes_hostile_names() -> None:
    setup = MailSetup(HOSTILE + ".example", HOSTILE, full_setup().incoming, full_setup().outgoing)
    document = apple_mobileconfig(setup, "a@example.com", f"{HOSTILE}\x00\x07Ann\ud800", "s")
    assert b"<x>" not in document
    profile = plistlib.loads(document)
    mail = profile["PayloadContent"][0]
    assert mail["EmailAccountName"] == f"{HOSTILE}Ann"
    assert mail["EmailAccountDescription"] == f"{HOSTILE} (a@example.com)"
    # The identifier keeps to reverse-DNS characters whatever the domain holds.
    assert all(c.isalnum() or c in ".-" for c in profile["PayloadIdentifier"])
    assert profile["PayloadIdentifier"].startswith("example.")


# --- MTA-STS -----------------------------------------------------------------------------------------------


def test_mta_sts_policy_text() -> None:
    assert mta_sts_policy("enforce", ["mail.example.com"], 604800) == (
        b"version: STSv1\r\nmode: enforce\r\nmx: mail.example.com\r\nmax_age: 604800\r\n")
    assert mta_sts_policy("testing", ["Mail.Example.com.", "*.example.net", "mail.example.com"], 86400) == (
        b"version: STSv1\r\nmode: testing\r\nmx: mail.example.com\r\nmx: *.example.net\r\nmax_age: 86400\r\n")
    assert mta_sts_policy("none", [], 0) == b"version: STSv1\r\nmode: none\r\nmax_age: 0\r\n"
    assert mta_sts_policy("enforce", ["xn--bcher-kva.example"], 31557600).endswith(b"max_age: 31557600\r\n")


@pytest.mark.parametrize(("mode", "mx", "max_age"), [
    ("Enforce", ["mail.example.com"], 604800),
    ("report", ["mail.example.com"], 604800),
    ("enforce", [], 604800),
    ("testing", [], 604800),
    ("enforce", ["mail.example.com"], -1),
    ("enforce", ["mail.example.com"], 31557601),
    ("enforce", ["mail.example.com"], True),
    ("enforce", ["mail.example.com"], 3.5),
    ("enforce", [""], 604800),
    ("enforce", ["localhost"], 604800),
    ("enforce", ["*"], 604800),
    ("enforce", ["*.com"], 604800),
    ("enforce", ["mail.*.example.com"], 604800),
    ("enforce", ["**.example.com"], 604800),
    ("enforce", ["mail..example.com"], 604800),
    ("enforce", ["-mail.example.com"], 604800),
    ("enforce", ["mail_1.example.com"], 604800),
    ("enforce", ["mail.example.com\r\nmode: none"], 604800),
    ("enforce", ["mail example.com"], 604800),
    ("enforce", ["bücher.example"], 604800),
    ("enforce", ["192.0.2.1"], 604800),
    ("enforce", ["a" * 64 + ".example.com"], 604800),
    ("enforce", [("a" * 63 + ".") * 4 + "com"], 604800),
    ("enforce", "mail.example.com", 604800),  # a string, not a list
])
def test_mta_sts_policy_refuses_bad_input(mode: str, mx: list[str], max_age: int) -> None:
    with pytest.raises(ValueError):
        mta_sts_policy(mode, mx, max_age)
