"""Profanity, the terminal XMPP client, driven through tmux against a node serving XMPP: it connects with
TLS required (STARTTLS on the client port), logs in, receives a chat message from another account and
answers it; and it enters a chat room, reads what is said there and speaks. Keystrokes go in with `tmux
send-keys`, the screen comes back with `tmux capture-pane`, and every step waits for the text it expects;
the other account is a raw stream (tests/xmpp/conftest.py)."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.interop.conftest import need_binary
from tests.interop.test_neomutt import Terminal
from tests.xmpp.conftest import PASSWORD, XmppNode, bound, start_node

pytestmark = [pytest.mark.interop, pytest.mark.timeout(120)]

C = "{jabber:client}"


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[XmppNode]:
    running = start_node(tmp_path_factory)
    yield running
    running.running.stop()


def logged_in(profanity: str, node: XmppNode, address: str) -> Terminal:
    """Profanity in tmux, with a home of its own, logged in as `address`."""
    home = Path(tempfile.mkdtemp(prefix="profanity-"))
    terminal = Terminal({**os.environ, "HOME": str(home), "TERM": "xterm", "XDG_CONFIG_HOME": str(home / "config"),
                         "XDG_DATA_HOME": str(home / "data")})
    terminal.start([profanity])
    try:
        terminal.wait_for(r"Welcome to|Profanity")
        # "tls trust": TLS required, the node's self-signed certificate accepted.
        terminal.type(f"/connect {address} server 127.0.0.1 port {node.port} tls trust")
        terminal.keys("Enter")
        terminal.wait_for(r"Enter password")
        terminal.type(PASSWORD)
        terminal.keys("Enter")
        terminal.wait_for(rf"{address}/\S+ logged in successfully, online")
    except BaseException:
        terminal.remove()
        raise
    return terminal


def test_profanity_logs_in_over_tls_and_chats(node: XmppNode) -> None:
    profanity = need_binary("profanity")
    address = node.account()
    terminal = logged_in(profanity, node, address)
    try:
        other, other_address = bound(node, "desk")
        other.send("<presence/>")
        other.send(f"<message to='{address}' type='chat' id='m1'><body>hello profanity</body></message>")
        terminal.wait_for(rf"chat message: {other_address}/desk")
        terminal.type(f"/msg {other_address} hello from profanity")
        terminal.keys("Enter")
        terminal.wait_for(r"me: hello from profanity")
        while True:  # presence and the like first; the answer then
            stanza = other.stanza().element
            if stanza.tag == C + "message" and stanza.findtext(C + "body"):
                break
        assert stanza.findtext(C + "body") == "hello from profanity"
        assert stanza.get("from", "").startswith(f"{address}/")
        other.close()
    finally:
        terminal.remove()


def test_profanity_in_a_chat_room(node: XmppNode) -> None:
    """Profanity enters a room another client made (XEP-0045), sees what is said there, and speaks."""
    from tests.xmpp.test_muc import create, until

    profanity = need_binary("profanity")
    address = node.account()
    owner, _ = bound(node, "desk")
    room = "tearoom@conference.example.com"
    create(owner, room, "host")
    terminal = logged_in(profanity, node, address)
    try:
        terminal.type(f"/join {room} nick prof")
        terminal.keys("Enter")
        until(owner, lambda e: e.get("from") == f"{room}/prof")  # the owner sees it enter
        owner.send(f"<message to='{room}' type='groupchat' id='g1'><body>welcome to tea</body></message>")
        terminal.wait_for(r"welcome to tea")
        terminal.type("thank you host")
        terminal.keys("Enter")
        said = until(owner, lambda e: e.tag == C + "message" and e.findtext(C + "body") == "thank you host")
        assert said.get("from") == f"{room}/prof" and said.get("type") == "groupchat"
        owner.close()
    finally:
        terminal.remove()
