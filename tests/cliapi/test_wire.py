"""The data format: every value round-trips, and any text either parses or fails with DataError."""

from __future__ import annotations

import contextlib
import datetime
import ipaddress

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from polyport.cliapi import wire
from polyport.cliapi.wire import FUTURE, PAST, DataError, IPAddress, XmlText, parse, serialize

strings = st.text(st.characters(exclude_categories=["Cs"], exclude_characters="\0"), max_size=30)
scalars = st.one_of(
    strings,
    st.binary(max_size=30),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.booleans(),
    st.none(),
    st.datetimes(min_value=datetime.datetime(1, 1, 1), max_value=datetime.datetime(9999, 12, 31),
                 timezones=st.just(datetime.UTC)).map(lambda d: d.replace(microsecond=0)),
    st.dates(),
    st.sampled_from([PAST, FUTURE]),
    st.builds(IPAddress, st.ip_addresses(), st.one_of(st.none(), st.integers(0, 65535))),
    st.floats(allow_nan=False, allow_infinity=False),  # 4.5e-06 too: written without an exponent
)
values = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(strings, inner, max_size=4)), max_leaves=20)


@settings(max_examples=400)
@given(values)
def test_every_value_round_trips(value: object) -> None:
    text = serialize(value)
    assert "\n" not in text and "\r" not in text  # one line, always
    assert parse(text) == wire.as_read_back(value)  # a line end is written \e, read as CRLF


def test_line_ends_are_written_as_communigate_writes_them() -> None:
    """CommuniGate's \\e for a line end (integrations split LAN IP lists and rules' texts on it), whether
    the text held CRLF or LF; \\r\\n and \\n are still read."""
    assert serialize("a\r\nb\nc\rd") == '"a\\eb\\ec\\rd"'
    assert parse('"a\\eb"') == "a\r\nb"
    assert parse('"a\\r\\nb\\nc"') == "a\r\nb\nc"


def test_a_run_of_byte_escapes_is_utf8() -> None:
    """CommuniGate's Perl library escapes each byte of a UTF-8 character as \\nnn."""
    assert parse('"caf\\195\\169 \\226\\130\\172"') == "café €"
    assert parse('"\\001x"') == "\x01x"
    assert parse('"\\128\\065"') == "\x80A"  # not UTF-8: each byte its own character, as before
    assert parse('"\\233\\195\\169"') == "\xe9\xe9"  # a bad byte spoils nothing after it
    with pytest.raises(DataError, match="three decimal digits"):
        parse('"\\195\\9"')


@settings(max_examples=400)
@given(st.text(max_size=200))
def test_any_text_parses_or_fails_cleanly(text: str) -> None:
    try:
        parse(text)
    except DataError as err:
        assert "position" in str(err)


@given(st.text(alphabet="(){}[]\"\\#=;, aT0-:.<>/", max_size=120))
def test_punctuation_soup_parses_or_fails_cleanly(text: str) -> None:
    with contextlib.suppress(DataError):
        parse(text)


@pytest.mark.parametrize(("text", "value"), [
    ("abc", "abc"), ("a.b@c-d_e", "a.b@c-d_e"), ("2ndName", "2ndName"), ('"a b"', "a b"),
    ('"say \\"hi\\""', 'say "hi"'), ('"back\\\\slash"', "back\\slash"), ('"a\\eb"', "a\r\nb"),
    ('"tab\\there"', "tab\there"), ('"\\012"', "\x0c"), ('"\\u\'263A\'"', "\u263a"), ('"ab" "cd" "e"', "abcde"),
    ("[SGVs] [bG8=]", b"Hello"), ("#12", 12), ("#-50", -50), ("#1.25", 1.25), ("#YES", True), ("#NO", False),
    ("#NULL#", None), ("#TPAST", PAST), ("#TFUTURE", FUTURE),
    ("#T22-10-2009_15:24:45", datetime.datetime(2009, 10, 22, 15, 24, 45, tzinfo=datetime.UTC)),
    ("#T22-10-2009", datetime.date(2009, 10, 22)),
    ("#I[10.0.44.55]:25", IPAddress(ipaddress.ip_address("10.0.44.55"), 25)),
    ("#I[2001:470:1f01:2565::a:80f]", IPAddress(ipaddress.ip_address("2001:470:1f01:2565::a:80f"))),
    ("(a, b,(c,d), \"e f\")", ["a", "b", ["c", "d"], "e f"]), ("()", []), ("{}", {}),
    ("{Key=Value;Other = \"x y\" ; Sub={A=#1;};}", {"Key": "Value", "Other": "x y", "Sub": {"A": 1}}),
    ('<a x="1>2"><b/>text</a>', XmlText('<a x="1>2"><b/>text</a>')),
    ("  padded  ", "padded"),
])
def test_documented_forms(text: str, value: object) -> None:
    assert parse(text) == value


@pytest.mark.parametrize(("text", "reason"), [
    ("(a, b", "expected ',' or ')'"), ("(a b)", "expected ',' or ')'"), ("{a=b}", "expected ';'"),
    ("{a b;}", "expected '='"), ('"open', "unterminated quoted string"), ('"\\q"', "unknown escape"),
    ('"\\12"', "three decimal digits"), ('"\\999"', "up to 255"), ("\"\\u'zz'\"", "hex digits"),
    ("[not base64!]", "not valid base64"), ("[abc", "unterminated"), ("#T31-02-2020", "bad date"),
    ("#I[nowhere]", "IP address"), ("#I[1.2.3.4]:70000", "bad port"), ("#", "# must start"),
    ("#" + "9" * 30, "too large"), ("<a><b></a>", "unterminated XML"), ("a b", "unexpected text"),
    ("", "found the end"), (")", "unexpected ')'"), ("{=x;}", "expected a name"),
])
def test_malformed_data_says_what_is_wrong(text: str, reason: str) -> None:
    with pytest.raises(DataError, match=reason.replace("(", r"\(").replace(")", r"\)")):
        parse(text)


def test_nesting_is_bounded_without_recursion_errors() -> None:
    for opener, closer in (("(", ")"), ("{a=", ";}")):
        deep = opener * 10_000 + "x" + closer * 10_000
        with pytest.raises(DataError, match="nested deeper"):
            parse(deep)
    fine = "(" * wire.MAX_DEPTH + "x" + ")" * wire.MAX_DEPTH
    assert parse(fine) is not None


def test_writing_quotes_what_needs_it() -> None:
    assert serialize("simple") == "simple"
    assert serialize("alice@example.com") == "alice@example.com"
    assert serialize("") == '""'
    assert serialize("two words") == '"two words"'
    assert serialize("#hash") == '"#hash"'
    assert serialize('q"b\\') == '"q\\"b\\\\"'
    assert serialize("line\r\nbreak\x01") == '"line\\ebreak\\001"'
    assert serialize(["a", "b c"]) == '(a,"b c")'
    assert serialize({"K": ["x"], "N": 3}) == "{K=(x);N=#3;}"
    with pytest.raises(TypeError):
        serialize(object())


def test_command_line_reader() -> None:
    reader = wire.Parser('RENAMEACCOUNT "old one" into new@x.org PATH "p"')
    assert reader.atom() == "RENAMEACCOUNT"
    assert reader.string() == "old one"
    assert reader.keyword("INTO") == "INTO"
    assert reader.string() == "new@x.org"
    assert reader.maybe_keyword("FORCE") is None
    assert reader.maybe_keyword("PATH") == "PATH"
    assert reader.string() == "p"
    reader.end()
    with pytest.raises(DataError, match="expected INTO"):
        wire.Parser("x onto y").keyword("INTO")
    assert wire.Parser('PASS "my pass"').secret() == "PASS \"my pass\""  # whole rest, when not one quoted string
    secret_reader = wire.Parser('"quoted secret"')
    assert secret_reader.secret() == "quoted secret"
    raw = wire.Parser("pa ss wo\"rd ")
    assert raw.secret() == 'pa ss wo"rd'
