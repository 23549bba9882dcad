"""The process's parts (the upstream client, the background owner, the lab, the readiness check)
swapped for a test's own within a block, and put back after it: the product has no setters for
tests, so its module-level instances are patched here."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from types import ModuleType

import pytest

from hello_async.jobs import background
from hello_async.lab import runner
from hello_async.ops import health
from hello_async.upstream import client


@contextmanager
def _swapped[T](module: ModuleType, name: str, part: T) -> Iterator[T]:
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(module, name, part)
        yield part


@contextmanager
def using_upstream(upstream: client.Upstream) -> Iterator[client.Upstream]:
    """``upstream`` as the process's client within the block; its sync client closed after."""
    try:
        with _swapped(client, "_upstream", upstream):
            yield upstream
    finally:
        upstream.close()


def using_owner(
    owner: background.BackgroundWork,
) -> AbstractContextManager[background.BackgroundWork]:
    return _swapped(background, "_owner", owner)


def using_lab(lab: runner.Lab) -> AbstractContextManager[runner.Lab]:
    return _swapped(runner, "_lab", lab)


def using_upstream_check(check: health.SharedCheck) -> AbstractContextManager[health.SharedCheck]:
    return _swapped(health, "_upstream_check", check)
