"""The supervisor's channel to each worker: MessagePack arrays, each framed by a 4-byte length (pure).

Both ends are our own processes, over a socketpair nobody else holds; still a frame over `MAX_FRAME` is
refused before it is buffered whole, as on every wire of the node.

Messages are arrays whose first element names them:

- worker to supervisor: `["ready"]` once its listeners accept; `["pub", event]` an event published on the
  worker's bus (the wire dictionary of bus/events.py), for every other worker; `["kv", id, op, args]` a
  key-value operation (store/memory.py's methods); `["gather", id, what]` every worker's answer to an
  `ask` of `what`; `["enter", id, service, address, limit]` one more connection from an address if
  fewer than `limit` are open in all workers, `["leave", service, address]` one fewer; `["answer", id,
  value]` to an `ask`.
- supervisor to worker: `["pub", event]` another worker's event; `["r", id, error, value]` the result of
  a `kv` or `gather` (error is None, or the name of the exception with its text in value); `["ask", id,
  what]` a question about the worker (`"stats"`: its pid and connections by service; `"metrics"`: its
  Prometheus exposition; `"log"`: its recent log lines).
"""

from __future__ import annotations

import struct
from typing import Any

import msgspec

MAX_FRAME = 16 * 1024 * 1024
_LENGTH = struct.Struct(">I")
_encoder = msgspec.msgpack.Encoder()
_decoder = msgspec.msgpack.Decoder()


def spec_frame(spec: bytes) -> bytes:
    """The first thing a worker reads, before the channel's messages: its pickled spec, length first (the
    sockets travel with it, as SCM_RIGHTS)."""
    return _LENGTH.pack(len(spec)) + spec


def spec_length(header: bytes) -> int:
    (length,) = _LENGTH.unpack_from(header)
    if length > MAX_FRAME:
        raise FrameError(f"a spec of {length} bytes is over the channel's {MAX_FRAME}")
    return int(length)


class FrameError(ValueError):
    """The peer sent something that is not a frame of this channel."""


def encode(message: list[Any]) -> bytes:
    body = _encoder.encode(message)
    if len(body) > MAX_FRAME:
        raise FrameError(f"a message of {len(body)} bytes is over the channel's {MAX_FRAME}")
    return _LENGTH.pack(len(body)) + body


class FrameReader:
    """Bytes in, messages out."""

    def __init__(self, max_frame: int = MAX_FRAME) -> None:
        self.max_frame = max_frame
        self._buffer = bytearray()

    def feed(self, data: bytes) -> list[list[Any]]:
        self._buffer += data
        messages: list[list[Any]] = []
        buffer = self._buffer
        start = 0
        while len(buffer) - start >= 4:
            (length,) = _LENGTH.unpack_from(buffer, start)
            if length > self.max_frame:
                raise FrameError(f"a frame of {length} bytes is over the channel's {self.max_frame}")
            end = start + 4 + length
            if len(buffer) < end:
                break
            try:
                message = _decoder.decode(bytes(buffer[start + 4:end]))
            except msgspec.DecodeError as err:
                raise FrameError(f"a frame that is not MessagePack: {err}") from None
            if not isinstance(message, list) or not message or not isinstance(message[0], str):
                raise FrameError("a frame that is not a named message")
            messages.append(message)
            start = end
        if start:
            del buffer[:start]
        return messages
