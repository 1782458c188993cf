"""LISTMAILBOXES's FILTER is a LIST pattern (issue 12): answered at once however hostile, and refused with
501 beyond 64 wildcards."""

from __future__ import annotations

import time

import pytest

from tests.cliapi.conftest import Cli
from tests.node_thread import ThreadedNode

LONG = "/".join(["a" * 15] * 30)  # 479 characters, 30 levels


@pytest.fixture(scope="module")
def owner(node: ThreadedNode) -> str:
    directory = node.runtime.directory
    node.call(directory.create_domain("patterns.test"))
    node.call(directory.create_account("pat@patterns.test", password="pat-pw"))
    return "pat@patterns.test"


def test_hostile_filters_are_answered_at_once(owner: str, admin: Cli) -> None:
    admin.ok(f'CREATEMAILBOX {owner} MAILBOX "{"a" * 60}"')
    admin.ok(f'CREATEMAILBOX {owner} MAILBOX "{LONG}"')
    for pattern in ("*a*a*a*a*a*a*a*b", "*a" * 63 + "*b", "%a" * 63 + "%b", "%a" * 14 + "%b"):
        for auth in ("", f" AUTH {owner}"):
            started = time.perf_counter()
            assert admin.data(f'LISTMAILBOXES {owner} FILTER "{pattern}"{auth}') == {}
            assert time.perf_counter() - started < 0.5, pattern
    # Seven "a"s or more: the 60-character name, and every level of the long one (15 "a"s in the first).
    assert sorted(admin.data(f'LISTMAILBOXES {owner} FILTER "*a*a*a*a*a*a*a*"')) == sorted(["a" * 60, *_levels(LONG)])


def test_more_than_64_wildcards_are_refused(owner: str, admin: Cli) -> None:
    for pattern in ("*" * 65, "%a" * 65):
        admin.fails(f'LISTMAILBOXES {owner} FILTER "{pattern}"', 501, "at most 64 wildcards (* and %)")
        admin.fails(f'LISTMAILBOXES {owner} FILTER "{pattern}" AUTH {owner}', 501, "at most 64 wildcards")
    assert "INBOX" in admin.data(f'LISTMAILBOXES {owner} FILTER "{"*" * 64}"')


def _levels(name: str) -> list[str]:
    """The name and the folders above it, outermost first."""
    parts = name.split("/")
    return ["/".join(parts[:i]) for i in range(1, len(parts) + 1)]
