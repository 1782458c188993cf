"""Every input of the fuzz corpus through its target, once, in the normal suite: the seeds (command lines
and messages from the tests) and the crashers the fuzzer found, named for what they broke, so a fixed
contract stays fixed (docs/hardening.md lists them)."""

from __future__ import annotations

import pytest

from tests.fuzz.run import CORPUS, corpus_files
from tests.fuzz.targets import TARGETS


@pytest.mark.parametrize("name", list(TARGETS))
def test_the_corpus_keeps_the_contract(name: str) -> None:
    files = corpus_files(name)
    assert files, f"{CORPUS / name} has no seeds"
    check = TARGETS[name].load()
    for path in files:
        try:
            check(path.read_bytes())
        except Exception as err:
            raise AssertionError(f"{path.relative_to(CORPUS)} breaks the {name} target's contract") from err


def test_every_corpus_folder_is_a_target() -> None:
    assert {p.name for p in CORPUS.iterdir() if p.is_dir()} == set(TARGETS)
