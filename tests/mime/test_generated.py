"""Generated messages against the stdlib's parser, and arbitrary bytes against the invariants.

Messages are built with the stdlib's EmailMessage and serialized with policy.SMTP (CRLF) or
policy.default (LF), sometimes with a stretch of CRLFs turned into LFs. For each, the part tree (types
and nesting) must match what email.message_from_bytes finds, and every leaf's body, sliced by our
offsets, must equal its raw payload (tests/mime/tree.py).
"""

from __future__ import annotations

import email.policy
import random
from collections.abc import Sequence
from email.message import EmailMessage
from typing import Protocol, TypeVar

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from polyport.mime import parse
from polyport.mime.structure import decode, encode
from tests.mime.tree import check_invariants, compare_with_stdlib

T = TypeVar("T")

TEXT_ALPHABET = "abcXYZ019 -.:;<>=_\"'\t\nAé€"  # '-' and '\n' make near-boundary lines likely
MULTIPART_SUBTYPES = ("mixed", "alternative", "related", "digest", "parallel", "x-custom")


class Choices(Protocol):
    """What the message builder needs to decide: fed by random.Random for the fixed corpus, and by
    Hypothesis (which can then shrink a failing message) for the property tests."""

    def integer(self, low: int, high: int) -> int: ...
    def choice(self, options: Sequence[T]) -> T: ...
    def text(self) -> str: ...
    def data(self) -> bytes: ...


class RandomChoices:
    def __init__(self, seed: int) -> None:
        self.random = random.Random(seed)

    def integer(self, low: int, high: int) -> int:
        return self.random.randint(low, high)

    def choice(self, options: Sequence[T]) -> T:
        return self.random.choice(options)

    def text(self) -> str:
        lines = ["".join(self.random.choices(TEXT_ALPHABET, k=self.random.randint(0, 60))) for _ in range(5)]
        return "\n".join(lines[: self.random.randint(0, 5)])

    def data(self) -> bytes:
        return self.random.randbytes(self.random.randint(0, 3000))


class HypothesisChoices:
    def __init__(self, draw: st.DataObject) -> None:
        self.draw = draw.draw

    def integer(self, low: int, high: int) -> int:
        return self.draw(st.integers(low, high))

    def choice(self, options: Sequence[T]) -> T:
        return self.draw(st.sampled_from(options))

    def text(self) -> str:
        return self.draw(st.text(alphabet=TEXT_ALPHABET, max_size=300))

    def data(self) -> bytes:
        return self.draw(st.binary(max_size=300))


def build_part(choose: Choices, depth: int) -> EmailMessage:
    kinds = ["text", "binary"] + (["multipart", "multipart", "message"] if depth < 4 else [])
    kind = choose.choice(kinds)
    part = EmailMessage()
    if kind == "text":
        part.set_content(
            choose.text(),
            subtype=choose.choice(["plain", "html"]),
            cte=choose.choice([None, "quoted-printable", "base64"]),
        )
    elif kind == "binary":
        part.set_content(
            choose.data(),
            maintype=choose.choice(["application", "image"]),
            subtype=choose.choice(["octet-stream", "png"]),
            disposition=choose.choice([None, "attachment", "inline"]),
            filename=choose.choice([None, "a.bin", "naïve name.pdf"]),
        )
    elif kind == "multipart":
        part["Content-Type"] = "multipart/" + choose.choice(MULTIPART_SUBTYPES)
        for _ in range(choose.integer(1, 4)):
            part.attach(build_part(choose, depth + 1))
        if choose.integer(0, 3) == 0:
            part.preamble = "This is a preamble.\n--not-a-boundary"
        if choose.integer(0, 3) == 0:
            part.epilogue = "epilogue\n"
    else:
        inner = build_part(choose, depth + 1)
        inner["Subject"] = "inner " + choose.text()[:20].replace("\n", " ")
        inner["From"] = choose.choice(["a@example.com", '"Doe, J" <j@example.com>', "Group: x@y;"])
        part.set_content(inner)
    return part


def build_message(choose: Choices) -> bytes:
    message = build_part(choose, 0)
    message["From"] = "Sender <sender@example.com>"
    message["To"] = "one@example.com, two@example.com"
    message["Subject"] = "Re: " + choose.text()[:40].replace("\n", " ")
    data = message.as_bytes(policy=choose.choice([email.policy.SMTP, email.policy.default]))
    if choose.integer(0, 3) == 0:  # a stretch of bare LFs inside a CRLF message
        start = choose.integer(0, len(data))
        end = choose.integer(start, len(data))
        data = data[:start] + data[start:end].replace(b"\r\n", b"\n") + data[end:]
    return data


def tree_size(data: bytes) -> int:
    pending = [parse(data).root]
    count = 0
    while pending:
        part = pending.pop()
        count += 1
        pending.extend(part.parts)
    return count


def test_a_corpus_of_generated_messages_matches_the_stdlib() -> None:
    parts = 0
    for seed in range(300):
        data = build_message(RandomChoices(seed))
        compare_with_stdlib(data)
        parts += tree_size(data)
    assert parts > 1500  # the corpus really is made of trees, not single parts


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_generated_mime_trees_match_the_stdlib(draw: st.DataObject) -> None:
    compare_with_stdlib(build_message(HypothesisChoices(draw)))


@settings(max_examples=500, deadline=None)
@given(st.binary(max_size=3000))
def test_arbitrary_bytes_never_raise(data: bytes) -> None:
    structure = parse(data)
    check_invariants(structure)
    assert decode(encode(structure)) == structure


MIME_FRAGMENTS = (
    b"\r\n",
    b"\n",
    b"\r\n\r\n",
    b"--",
    b"--b\r\n",
    b"--b--",
    b"Content-Type: multipart/mixed; boundary=b\r\n",
    b"Content-Type: message/rfc822\r\n",
    b'Content-Type: multipart/digest; boundary="b"\r\n\r\n',
    b"Content-Transfer-Encoding: base64\r\n",
    b'From: "a" <b@c>, g: d@e;\r\n',
    b"name*0*=utf-8''%E2%82; name*1*=%AC",
    b"=?utf-8?q?=C3?=",
    b"(",
    b'"',
    b"\x00",
    b"\xff",
    b" ",
)


@settings(max_examples=500, deadline=None)
@given(st.lists(st.one_of(st.sampled_from(MIME_FRAGMENTS), st.binary(max_size=8)), max_size=60))
def test_mime_shaped_garbage_never_raises(fragments: list[bytes]) -> None:
    structure = parse(b"".join(fragments))
    check_invariants(structure)
    assert decode(encode(structure)) == structure


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_damaged_generated_messages_never_raise(draw: st.DataObject) -> None:
    data = bytearray(build_message(HypothesisChoices(draw)))
    for _ in range(draw.draw(st.integers(1, 10))):
        position = draw.draw(st.integers(0, len(data)))
        action = draw.draw(st.sampled_from(["cut", "insert", "flip"]))
        if action == "cut":
            del data[position : position + draw.draw(st.integers(1, 50))]
        elif action == "insert":
            data[position:position] = draw.draw(st.sampled_from(MIME_FRAGMENTS))
        elif position < len(data):
            data[position] ^= draw.draw(st.integers(1, 255))
    structure = parse(bytes(data))
    check_invariants(structure)
    assert decode(encode(structure)) == structure
