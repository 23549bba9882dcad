"""Each fork is pinned to the code it copies: an upgrade that changes that code fails here."""

from __future__ import annotations

import importlib
import pathlib

import pytest

from hello_async import fastpath
from hello_async.fastpath.pins import COPIES, PINS, fingerprint, forks_copying, resolve


@pytest.mark.parametrize("dotted", sorted(PINS))
def test_the_code_a_fork_copies_is_as_it_was_read(dotted: str) -> None:
    assert fingerprint(resolve(dotted)) == PINS[dotted], (
        f"{dotted} changed: read the forks {forks_copying(dotted)} against it again "
        "(hello_async/fastpath), then update its fingerprint in hello_async/fastpath/pins.py"
    )


def test_every_fork_is_pinned_and_every_pin_belongs_to_a_fork() -> None:
    assert set(COPIES) == set(fastpath.FORKS)
    assert {name for names in COPIES.values() for name in names} == set(PINS)


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
