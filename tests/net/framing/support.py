"""Helpers for the framer tests: a stream cut into pieces, and a framer driven to the end of it with
every frame and error written down in order, so that two ways of feeding can be compared."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

from hypothesis import strategies as st

from polyport.net.framing import FrameError, Framer, FrameTooLarge

Event = Any  # a normalised frame, or ("error", class name, resumable)


def pieces(data: bytes, cuts: Iterable[int]) -> list[bytes]:
    """`data` cut at the given offsets (taken modulo its length, so any integers do)."""
    if not data:
        return []
    points = sorted({c % len(data) for c in cuts} - {0})
    return [data[a:b] for a, b in zip([0, *points], [*points, len(data)], strict=True)]


cut_points = st.lists(st.integers(min_value=0, max_value=10**6), max_size=40)


def single_bytes(data: bytes) -> list[bytes]:
    return [data[i:i + 1] for i in range(len(data))]


def drive(framer: Framer[Any], chunks: Sequence[bytes], *, eof: bool = True,
          normalise: Callable[[Any], Event] = lambda frame: frame,
          after_feed: Callable[[], None] | None = None) -> list[Event]:
    """Feed the chunks one by one, taking every ready frame after each; errors are recorded in their
    place. A fatal error ends the run (the framer would only raise it again)."""
    events: list[Event] = []

    def take() -> bool:
        while True:
            try:
                frame = framer.next_frame()
            except FrameTooLarge as err:
                events.append(("error", type(err).__name__, err.resumable))
                if not err.resumable:
                    return False
                continue
            except FrameError as err:
                events.append(("error", type(err).__name__, False))
                return False
            if frame is None:
                return True
            events.append(normalise(frame))

    for chunk in chunks:
        framer.feed(chunk)
        if not take():
            return events
        if after_feed is not None:
            after_feed()
    if eof:
        framer.eof()
        take()
    return events
