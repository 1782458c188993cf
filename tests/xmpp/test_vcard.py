"""vCards (XEP-0054): an account sets its own, reads it back, and anyone reads it by the account's bare JID."""

from __future__ import annotations

import pytest

from polyport.im import vcards as vcards_module
from tests.xmpp.conftest import XmppNode, bound
from tests.xmpp.test_routing import error_condition

V = "{vcard-temp}"


def test_set_get_and_read_by_another(xmpp_node: XmppNode, monkeypatch: pytest.MonkeyPatch) -> None:
    juliet, juliet_address = bound(xmpp_node, "balcony")
    romeo, romeo_address = bound(xmpp_node, "orchard")
    juliet.send("<iq type='get' id='g0'><vCard xmlns='vcard-temp'/></iq>")
    empty = juliet.stanza().element
    assert empty.get("type") == "result" and len(empty.find(V + "vCard")) == 0  # type: ignore[arg-type]
    juliet.send("<iq type='set' id='s1'><vCard xmlns='vcard-temp'><FN>Juliet Capulet</FN><NICKNAME>Jules"
                "</NICKNAME><PHOTO><TYPE>image/png</TYPE><BINVAL>iVBORw0KGgo=</BINVAL></PHOTO></vCard></iq>")
    assert juliet.stanza().element.get("type") == "result"
    juliet.send("<iq type='get' id='g1'><vCard xmlns='vcard-temp'/></iq>")
    mine = juliet.stanza().element.find(V + "vCard")
    assert mine is not None and mine.findtext(V + "FN") == "Juliet Capulet"
    romeo.send(f"<iq type='get' id='g2' to='{juliet_address}'><vCard xmlns='vcard-temp'/></iq>")
    theirs = romeo.stanza().element
    assert theirs.get("from") == juliet_address and theirs.get("to") == f"{romeo_address}/orchard"
    assert theirs.findtext(f"{V}vCard/{V}PHOTO/{V}BINVAL") == "iVBORw0KGgo="
    monkeypatch.setattr(vcards_module, "MAX_SIZE", 100)
    juliet.send("<iq type='set' id='s2'><vCard xmlns='vcard-temp'><DESC>" + "x" * 200 + "</DESC></vCard></iq>")
    assert error_condition(juliet.stanza()) == "not-acceptable"
    for stream in (juliet, romeo):
        stream.close()
