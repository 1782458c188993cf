"""Flag names: system flags as bits, keywords checked as IMAP atoms."""

from __future__ import annotations

import pytest

from polyport.mailstore.flags import FlagError, split


def test_system_flags_and_keywords() -> None:
    bits, keywords = split(["\\Seen", "$Junk", "work"])
    assert bits and keywords == ["$Junk", "work"]


@pytest.mark.parametrize("name", ["a\r\nb", "tab\there", "nul\0", "del\x7f", "", "\\Recent", "a b", "x(y"])
def test_keywords_that_would_break_a_flags_line_are_refused(name: str) -> None:
    """A keyword arriving by any road (a rule's Mark, an import, STORE) is refused if it holds a control
    character: it is written into FLAGS lines and message files as it is."""
    with pytest.raises(FlagError):
        split([name])
