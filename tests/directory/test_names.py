"""Naming rules: what is accepted, what is refused with a reason, and that canonical forms are stable."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from polyport.directory.errors import InvalidName
from polyport.directory.names import MAX_NAME, domain_name, mail_address, object_name


@pytest.mark.parametrize("name", ["alice", "Alice.Smith", "a_b-c", "x" * MAX_NAME, "0"])
def test_good_object_names(name: str) -> None:
    assert object_name(name) == name.lower()


@pytest.mark.parametrize(("name", "why"), [
    ("", "empty"), ("a b", "only letters"), (".alice", "only letters"), ("alice.", "only letters"),
    ("a..b", "only letters"), ("al/ice", "only letters"), ("x" * (MAX_NAME + 1), "longer than"),
    ("ålice", "only letters"), ("a@b", "only letters"),
])
def test_bad_object_names_say_why(name: str, why: str) -> None:
    with pytest.raises(InvalidName, match=why):
        object_name(name)


@pytest.mark.parametrize(("text", "canonical"), [
    ("Example.COM", "example.com"), ("example.com.", "example.com"), ("bücher.de", "xn--bcher-kva.de"),
    ("_dmarc.example.com", "_dmarc.example.com"), ("localhost", "localhost"),
])
def test_domain_names(text: str, canonical: str) -> None:
    assert domain_name(text) == canonical


@pytest.mark.parametrize("text", ["", "a..b", "-a.com", "a-.com", "a b.com", "a/b", "x" * 64 + ".com",
                                  "a." * 70 + "com"])
def test_bad_domain_names(text: str) -> None:
    with pytest.raises(InvalidName):
        domain_name(text)


def test_mail_addresses_keep_the_local_case() -> None:
    assert mail_address("<John.Doe+tag@Example.COM>", "x.org") == "John.Doe+tag@example.com"
    assert mail_address("joe", "x.org") == "joe@x.org"
    for bad in ("a b@x.org", "@x.org", "a@", "a..b@x.org", "x" * 65 + "@x.org"):
        with pytest.raises(InvalidName):
            mail_address(bad, "x.org")


@given(st.text(max_size=200))
def test_object_name_is_idempotent_or_refuses(text: str) -> None:
    try:
        name = object_name(text)
    except InvalidName as err:
        assert str(err)
        return
    assert object_name(name) == name
    assert 1 <= len(name) <= MAX_NAME
    assert set(name) <= set("abcdefghijklmnopqrstuvwxyz0123456789_.-")


@given(st.text(max_size=300))
def test_domain_name_is_idempotent_or_refuses(text: str) -> None:
    try:
        name = domain_name(text)
    except InvalidName:
        return
    assert domain_name(name) == name
    assert name.isascii() and name == name.lower()
