"""Helpers for the MIME tests: a readable outline of a parsed message, the structural invariants every
parse must keep, and the comparison with the stdlib's parser."""

from __future__ import annotations

import email
import email.policy
from email.message import Message

from polyport.mime.parse import parse
from polyport.mime.structure import Part, Structure


def outline(message: bytes) -> list[str]:
    """One line per part, indented by depth: the type, then the MIME header and the body as sliced from
    the message by the part's offsets (what IMAP would send for BODY[n.MIME] and BODY[n])."""
    lines: list[str] = []

    def walk(part: Part, depth: int) -> None:
        extra = f" lines={part.lines}" if part.lines is not None else ""
        header = message[part.header_start : part.body_start]
        body = message[part.body_start : part.body_end]
        lines.append(f"{'  ' * depth}{part.type}/{part.subtype}{extra} header={header!r} body={body!r}")
        for child in part.parts:
            walk(child, depth + 1)

    structure = parse(message)
    check_invariants(structure)
    walk(structure.root, 0)
    return lines


def check_invariants(structure: Structure) -> None:
    """Offsets inside the message, in order, children inside their parent's body, siblings in order."""

    def walk(part: Part) -> None:
        assert 0 <= part.header_start <= part.body_start <= part.body_end <= structure.size
        previous_end = part.body_start
        for child in part.parts:
            assert previous_end <= child.header_start, (part, child)
            assert child.body_end <= part.body_end
            previous_end = child.body_end
            walk(child)
        if part.type == "message" and part.parts:
            assert part.parts[0].header_start == part.body_start
            assert part.parts[0].body_end == part.body_end

    assert structure.root.header_start == 0
    assert structure.root.body_end == structure.size
    walk(structure.root)


def _normalized(text: str) -> str:
    return text.replace("\r\n", "\n")


def _as_stdlib_payload(body: bytes, their_part: Message) -> str:
    """Body bytes as compat32's get_payload(decode=False) returns them: 8-bit bodies decoded with the
    part's charset (errors replaced), ASCII ones as they are."""
    try:
        return body.decode("ascii")
    except UnicodeDecodeError:
        charset = their_part.get_param("charset", "ascii")
        try:
            return body.decode(str(charset), "replace")
        except LookupError:
            return body.decode("ascii", "replace")


def compare_with_stdlib(message: bytes) -> Structure:
    """Parse with both parsers and check: the same tree (types, nesting), and each leaf's body, sliced
    by our offsets, equal to the stdlib's raw payload (line ends normalized)."""
    structure = parse(message)
    check_invariants(structure)
    theirs = email.message_from_bytes(message, policy=email.policy.compat32)

    def walk(part: Part, their_part: Message, path: str) -> None:
        assert f"{part.type}/{part.subtype}" == their_part.get_content_type(), path
        if their_part.is_multipart():  # message/rfc822 too: its payload is [the inner message]
            their_children = their_part.get_payload()
            assert isinstance(their_children, list)
            assert len(part.parts) == len(their_children), path
            for index, (child, their_child) in enumerate(zip(part.parts, their_children, strict=True)):
                walk(child, their_child, f"{path}.{index + 1}")
        else:
            assert part.parts == [], path
            payload = their_part.get_payload(decode=False)
            assert isinstance(payload, str)
            body = _as_stdlib_payload(message[part.body_start : part.body_end], their_part)
            assert _normalized(body) == _normalized(payload), path

    walk(structure.root, theirs, "root")
    return structure
