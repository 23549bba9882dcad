"""Each fork is pinned to the code it copies, and each module reaching into a dependency's private
state to the code that sets and reads it: an upgrade that changes that code fails here."""

from __future__ import annotations

import importlib
import pathlib

import pytest

from hello_async import fastpath
from tests.pins import COPIES, PINS, READS, fingerprint, resolve, users_of


@pytest.mark.parametrize("dotted", sorted(PINS))
def test_the_code_a_fork_copies_or_a_module_reads_is_as_it_was_read(dotted: str) -> None:
    assert fingerprint(resolve(dotted)) == PINS[dotted], (
        f"{dotted} changed: read {users_of(dotted)} against it again, "
        "then update its fingerprint in tests/pins.py"
    )


def test_every_fork_is_pinned_and_every_pin_has_a_user() -> None:
    assert set(COPIES) == set(fastpath.FORKS)
    for module in READS:
        importlib.import_module(module)
    used = {name for names in (*COPIES.values(), *READS.values()) for name in names}
    assert used == set(PINS)


def test_the_fingerprint_ignores_docstrings_and_comments_but_not_code(
    tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    versions = {
        "original": 'def add(x):\n    """Adds one."""\n    return x + 1  # one\n',
        "redocumented": 'def add(x):\n    """Adds 1."""\n    # a comment\n    return x + 1\n',
        "changed": 'def add(x):\n    """Adds one."""\n    return x + 2\n',
    }
    monkeypatch.syspath_prepend(str(tmp_path))
    prints = {}
    for name, source in versions.items():
        (tmp_path / f"pin_{name}.py").write_text(source)
        prints[name] = fingerprint(importlib.import_module(f"pin_{name}").add)
    assert prints["original"] == prints["redocumented"] != prints["changed"]
