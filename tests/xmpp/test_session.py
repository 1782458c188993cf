"""A client stream up to a bound resource, over real sockets: the header and features, STARTTLS (required
from an untrusted network), SASL PLAIN and SCRAM-SHA-256 against the node's accounts, bind, the server's
own answers, and the stream and stanza errors RFC 6120 gives for what a client may get wrong."""

from __future__ import annotations

import base64

from polyport.xmpp.caps import ver as caps_ver
from polyport.xmpp.session import SERVER_CAPS_VER
from tests.xmpp.conftest import PASSWORD, Stream, XmppNode, bound, plain_login

S = "{http://etherx.jabber.org/streams}"
SASL = "{urn:ietf:params:xml:ns:xmpp-sasl}"
C = "{jabber:client}"


def stream_error(stream: Stream) -> str:
    error = stream.stanza().element
    assert error.tag == S + "error", error.tag
    return error[0].tag.rpartition("}")[2]


def test_the_header_and_features_from_a_trusted_network(xmpp_node: XmppNode) -> None:
    stream = Stream(xmpp_node.port)
    header, features = stream.open("EXAMPLE.com")
    assert header.attributes["from"] == "example.com" and header.attributes["version"] == "1.0"
    assert header.attributes["id"] and header.namespaces[""] == "jabber:client"
    starttls, mechanisms = features.element
    assert starttls.tag == "{urn:ietf:params:xml:ns:xmpp-tls}starttls" and len(starttls) == 0  # not required
    assert [m.text for m in mechanisms] == ["SCRAM-SHA-256", "SCRAM-SHA-1", "PLAIN"]
    stream.close()


def test_an_untrusted_network_gets_starttls_alone_and_then_sasl(untrusted_node: XmppNode) -> None:
    stream = Stream(untrusted_node.port)
    _, features = stream.open()
    assert [child.tag.rpartition("}")[2] for child in features.element] == ["starttls"]
    assert features.element[0][0].tag == "{urn:ietf:params:xml:ns:xmpp-tls}required"
    stream.starttls(untrusted_node.cert)
    _, features = stream.open()
    assert [m.text for m in features.element[0]] == ["SCRAM-SHA-256", "SCRAM-SHA-1", "PLAIN"]  # PLAIN now, over TLS
    stream.close()
    # Authenticating before TLS from there is refused, and the stream ends.
    stream = Stream(untrusted_node.port)
    stream.open()
    plain_login(stream, "anyone@example.com")
    assert stream_error(stream) == "policy-violation"
    stream.close()


def test_direct_tls(xmpp_node: XmppNode) -> None:
    import ssl

    stream = Stream(xmpp_node.tls_port)
    context = ssl.create_default_context(cafile=xmpp_node.cert)
    context.check_hostname = False
    stream.sock = context.wrap_socket(stream.sock)
    _, features = stream.open()
    assert [child.tag.rpartition("}")[2] for child in features.element] == ["mechanisms"]
    stream.close()


def test_plain_then_bind_then_the_servers_answers(xmpp_node: XmppNode) -> None:
    stream, address = bound(xmpp_node)
    stream.send("<iq type='get' id='p1' to='example.com'><ping xmlns='urn:xmpp:ping'/></iq>")
    pong = stream.stanza().element
    assert (pong.get("type"), pong.get("id"), pong.get("from"), pong.get("to")) == \
        ("result", "p1", "example.com", f"{address}/desk")
    stream.send("<iq type='get' id='d1'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>")
    info = stream.stanza().element
    features = {f.get("var") for f in info.iter("{http://jabber.org/protocol/disco#info}feature")}
    assert features == {"http://jabber.org/protocol/disco#info", "http://jabber.org/protocol/disco#items",
                        "urn:xmpp:ping", "jabber:iq:version", "urn:xmpp:time", "msgoffline", "urn:xmpp:carbons:2",
                        "urn:xmpp:blocking", "vcard-temp", "jabber:iq:last", "jabber:iq:private"}
    stream.send("<iq type='get' id='t1' to='example.com'><time xmlns='urn:xmpp:time'/></iq>")
    now = stream.stanza().element
    assert now.findtext("{urn:xmpp:time}time/{urn:xmpp:time}tzo") == "+00:00"
    assert now.findtext("{urn:xmpp:time}time/{urn:xmpp:time}utc", "").endswith("Z")
    stream.send("<iq type='get' id='v1'><query xmlns='jabber:iq:version'/></iq>")
    assert stream.stanza().element.findtext("{jabber:iq:version}query/{jabber:iq:version}name") == "Polyport"
    # What the server does not do is said so, and the stream goes on.
    stream.send("<iq type='get' id='u1'><query xmlns='urn:example:nothing'/></iq>")
    error = stream.stanza().element
    assert error.get("type") == "error" and error.get("id") == "u1"
    assert error.find(C + "error/{urn:ietf:params:xml:ns:xmpp-stanzas}service-unavailable") is not None
    stream.send("<iq type='result' id='r1'/>")  # never answered
    stream.send("<iq type='get' id='p2'><ping xmlns='urn:xmpp:ping'/></iq>")
    assert stream.stanza().element.get("id") == "p2"
    stream.send("</stream:stream>")
    assert stream.frame().__class__.__name__ == "StreamClose"
    stream.close()


def test_scram_sha_256(xmpp_node: XmppNode) -> None:
    import hashlib
    import hmac
    import os

    address = xmpp_node.account()
    stream = Stream(xmpp_node.port)
    stream.open()
    nonce = base64.b64encode(os.urandom(12)).decode()
    first_bare = f"n={address},r={nonce}"
    stream.send("<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='SCRAM-SHA-256'>"
                + base64.b64encode(("n,," + first_bare).encode()).decode() + "</auth>")
    challenge = stream.stanza().element
    assert challenge.tag == SASL + "challenge"
    server_first = base64.b64decode(challenge.text or "").decode()
    fields = dict(part.split("=", 1) for part in server_first.split(","))
    salted = hashlib.pbkdf2_hmac("sha256", PASSWORD.encode(), base64.b64decode(fields["s"]), int(fields["i"]))
    client_key = hmac.digest(salted, b"Client Key", "sha256")
    final_bare = f"c=biws,r={fields['r']}"
    message = f"{first_bare},{server_first},{final_bare}".encode()
    signature = hmac.digest(hashlib.sha256(client_key).digest(), message, "sha256")
    proof = base64.b64encode(bytes(a ^ b for a, b in zip(client_key, signature, strict=True))).decode()
    stream.send("<response xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>"
                + base64.b64encode(f"{final_bare},p={proof}".encode()).decode() + "</response>")
    success = stream.stanza().element
    assert success.tag == SASL + "success"  # the server's signature is in it (RFC 6120 6.3.10)
    server_key = hmac.digest(salted, b"Server Key", "sha256")
    expected = base64.b64encode(hmac.digest(server_key, message, "sha256")).decode()
    assert base64.b64decode(success.text or "").decode() == f"v={expected}"
    stream.close()


def test_a_wrong_password_fails_and_the_client_may_try_again(xmpp_node: XmppNode) -> None:
    address = xmpp_node.account()
    stream = Stream(xmpp_node.port)
    stream.open()
    plain_login(stream, address, "wrong")
    failure = stream.stanza().element
    assert failure.tag == SASL + "failure" and failure[0].tag == SASL + "not-authorized"
    plain_login(stream, address)
    assert stream.stanza().element.tag == SASL + "success"
    stream.close()


def test_unknown_mechanism_and_bad_base64(xmpp_node: XmppNode) -> None:
    stream = Stream(xmpp_node.port)
    stream.open()
    stream.send("<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='X-NONE'/>")
    assert stream.stanza().element[0].tag == SASL + "invalid-mechanism"
    stream.send("<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>not*base64</auth>")
    assert stream.stanza().element[0].tag == SASL + "incorrect-encoding"
    stream.close()


def test_stream_errors(xmpp_node: XmppNode) -> None:
    cases = [
        ("<?xml version='1.0'?><stream:stream to='elsewhere.test' version='1.0' xmlns='jabber:client' "
         "xmlns:stream='http://etherx.jabber.org/streams'>", "host-unknown"),
        ("<?xml version='1.0'?><stream:stream to='example.com' version='1.0' xmlns='jabber:server' "
         "xmlns:stream='http://etherx.jabber.org/streams'>", "invalid-namespace"),
        ("<?xml version='1.0'?><stream:stream to='example.com' xmlns='jabber:client' "
         "xmlns:stream='http://etherx.jabber.org/streams'>", "unsupported-version"),
        ("<?xml version='1.0'?><!DOCTYPE x [<!ENTITY a 'aaaa'>]><stream:stream/>", "restricted-xml"),
    ]
    for text, condition in cases:
        stream = Stream(xmpp_node.port)
        stream.send(text)
        header = stream.frame()
        assert header.__class__.__name__ == "StreamOpen", (text, header)  # the server's, before its error
        assert stream_error(stream) == condition, text
        stream.close()
    for after_header, condition in (("<a></b>", "not-well-formed"), ("<message><!-- c --></message>", "restricted-xml"),
                                    ("<iq type='get'>" + "x" * 270_000 + "</iq>", "policy-violation")):
        stream = Stream(xmpp_node.port)
        stream.open()
        stream.send(after_header)
        assert stream_error(stream) == condition, after_header
        stream.close()


def test_stanzas_before_authentication_end_the_stream(xmpp_node: XmppNode) -> None:
    stream = Stream(xmpp_node.port)
    stream.open()
    stream.send("<message to='someone@example.com'><body>hi</body></message>")
    assert stream_error(stream) == "not-authorized"
    stream.close()


def test_a_spoofed_from_ends_the_stream(xmpp_node: XmppNode) -> None:
    stream, _ = bound(xmpp_node)
    stream.send("<iq type='get' id='p1' from='postmaster@example.com/x'><ping xmlns='urn:xmpp:ping'/></iq>")
    assert stream_error(stream) == "invalid-from"
    stream.close()


def test_broken_xml_in_a_sasl_exchange_ends_the_stream(xmpp_node: XmppNode) -> None:
    stream = Stream(xmpp_node.port)
    stream.open()
    stream.send("<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='SCRAM-SHA-256'>"
                + base64.b64encode(b"n,,n=someone@example.com,r=abcdefgh").decode() + "</auth>")
    assert stream.stanza().element.tag == SASL + "challenge"
    stream.send("<response xmlns='urn:ietf:params:xml:ns:xmpp-sasl'></oops>")
    assert stream_error(stream) == "not-well-formed"
    stream.close()


def test_entity_capabilities_hash_the_servers_disco_info(xmpp_node: XmppNode) -> None:
    """XEP-0115: the hash in the stream features is XEP-0115 5's of what disco#info answers for its node."""
    # XEP-0115 5.2's own example.
    assert caps_ver([("client", "pc", "", "Exodus 0.9.1")], [
        "http://jabber.org/protocol/caps", "http://jabber.org/protocol/disco#info",
        "http://jabber.org/protocol/disco#items", "http://jabber.org/protocol/muc"]) == "QgayPKawpkPSDYmwT/WM94uAlu0="
    stream, _ = bound(xmpp_node, "caps")
    node_ver = "urn:x-polyport:caps#"
    stream.send(f"<iq type='get' id='c1' to='example.com'><query xmlns='http://jabber.org/protocol/disco#info' "
                f"node='{node_ver}{SERVER_CAPS_VER}'/></iq>")
    query = stream.stanza().element.find("{http://jabber.org/protocol/disco#info}query")
    assert query is not None and query.get("node") == node_ver + SERVER_CAPS_VER
    identities = [(i.get("category", ""), i.get("type", ""), "", i.get("name", ""))
                  for i in query.iter("{http://jabber.org/protocol/disco#info}identity")]
    features = [f.get("var", "") for f in query.iter("{http://jabber.org/protocol/disco#info}feature")]
    assert caps_ver(identities, features) == SERVER_CAPS_VER
    stream.send("<iq type='get' id='c2' to='example.com'><query xmlns='http://jabber.org/protocol/disco#info' "
                "node='urn:x-polyport:caps#other'/></iq>")
    assert stream.stanza().element.get("type") == "error"
    stream.close()
