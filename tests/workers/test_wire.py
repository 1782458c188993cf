"""The supervisor's channel framing: any bytes give messages or a FrameError, never another exception;
frames survive any split; an oversized frame is refused on its length, before its body arrives."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from polyport.workers import wire

values = st.recursive(st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | st.text(max_size=20)
                      | st.binary(max_size=20) | st.floats(allow_nan=False),
                      lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=5), inner,
                                                                                 max_size=4), max_leaves=10)
messages = st.lists(st.builds(lambda name, rest: [name, *rest], st.sampled_from(["pub", "kv", "r", "ask"]),
                              st.lists(values, max_size=4)), min_size=1, max_size=5)


@given(messages, st.data())
def test_messages_survive_any_split(sent: list[list[object]], data: st.DataObject) -> None:
    stream = b"".join(wire.encode(m) for m in sent)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(stream)), max_size=6)))
    reader = wire.FrameReader()
    received: list[list[object]] = []
    for start, end in zip([0, *cuts], [*cuts, len(stream)], strict=True):
        received += reader.feed(stream[start:end])
    assert received == sent


@given(st.binary(max_size=200))
def test_any_bytes_give_messages_or_a_frame_error(data: bytes) -> None:
    reader = wire.FrameReader()
    try:
        for message in reader.feed(data):
            assert isinstance(message, list)
            assert isinstance(message[0], str)
    except wire.FrameError:
        pass


def test_an_oversized_frame_is_refused_on_its_length() -> None:
    reader = wire.FrameReader(max_frame=1024)
    with pytest.raises(wire.FrameError, match="over the channel"):
        reader.feed((5000).to_bytes(4, "big") + b"\x00")


def test_a_frame_that_is_not_a_named_message_is_refused() -> None:
    import msgspec

    body = msgspec.msgpack.encode({"not": "a list"})
    with pytest.raises(wire.FrameError, match="named message"):
        wire.FrameReader().feed(len(body).to_bytes(4, "big") + body)
