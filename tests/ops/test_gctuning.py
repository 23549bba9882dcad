"""hello_async.ops.gctuning: startup's objects frozen out of the collector's scans, thresholds set,
once per process; cycles still collected; the settings that steer it; and a real server's
/metrics showing it done (or not, when turned off)."""

from __future__ import annotations

import gc
import re
import sys
import weakref
from collections.abc import Iterator

import httpx
import pytest
from django.core.exceptions import ImproperlyConfigured

from hello_async.ops import gctuning
from hello_async.settings import env_ints
from tests.support.servers import Process


@pytest.fixture
def fresh_collector() -> Iterator[None]:
    """A process whose collector tune() has not touched yet; put back as it was after."""
    thresholds, was_frozen, tuned = gc.get_threshold(), gc.get_freeze_count(), gctuning._tuned
    gc.unfreeze()
    gctuning._tuned = None
    try:
        yield
    finally:
        gc.unfreeze()
        gc.set_threshold(*thresholds)
        if was_frozen:
            gc.freeze()
        gctuning._tuned = tuned


def scanned(target: object) -> bool:
    """Whether ``target`` is in one of the generations collections scan."""
    return any(found is target for g in range(3) for found in gc.get_objects(generation=g))


class Node:
    def __init__(self) -> None:
        self.other: Node | None = None


def test_tune_freezes_what_is_loaded_and_sets_the_thresholds_once(fresh_collector: None) -> None:
    loaded = Node()
    assert scanned(loaded)
    done = gctuning.tune(freeze=True, thresholds=(700, 10, 100))
    assert done.frozen > 1000
    # What tune() counted is frozen; a few of those objects may have died since (a log record
    # handed to the logging thread), and the dead leave the permanent generation.
    assert 0.99 * done.frozen <= gc.get_freeze_count() <= done.frozen
    assert gc.get_threshold() == done.thresholds == (700, 10, 100)
    assert not scanned(loaded)  # in the permanent generation now

    again = gctuning.tune(freeze=False, thresholds=(1, 1, 1))
    assert again is done and gc.get_threshold() == (700, 10, 100)


def test_off_leaves_pythons_collector_alone(fresh_collector: None) -> None:
    before = gc.get_threshold()
    done = gctuning.tune(freeze=False, thresholds=())
    assert done.frozen == gc.get_freeze_count() == 0
    assert gc.get_threshold() == before


def test_cycles_made_after_the_freeze_are_still_collected(fresh_collector: None) -> None:
    gctuning.tune(freeze=True, thresholds=(700, 10, 100))
    first, second = Node(), Node()
    first.other, second.other = second, first
    gone = weakref.ref(first)
    del first, second
    assert gone() is not None  # held by the cycle: reference counting cannot free it
    gc.collect(0)
    assert gone() is None


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("700,10,100", (700, 10, 100)), (" 2000 ", (2000,)), ("", ()), ("0", (0,))],
)
def test_thresholds_setting(
    monkeypatch: pytest.MonkeyPatch, raw: str, expected: tuple[int, ...]
) -> None:
    monkeypatch.setenv("HELLO_ASYNC_GC_THRESHOLDS", raw)
    assert env_ints("HELLO_ASYNC_GC_THRESHOLDS", "700,10,100") == expected


@pytest.mark.parametrize("raw", ["many", "1,2,3,4", "-1", "700;10"])
def test_bad_thresholds_are_refused_with_the_setting_named(
    monkeypatch: pytest.MonkeyPatch, raw: str
) -> None:
    monkeypatch.setenv("HELLO_ASYNC_GC_THRESHOLDS", raw)
    with pytest.raises(ImproperlyConfigured, match="HELLO_ASYNC_GC_THRESHOLDS"):
        env_ints("HELLO_ASYNC_GC_THRESHOLDS", "700,10,100")


def metric(text: str, name: str) -> float:
    found = re.search(rf"^{name} (\S+)$", text, re.MULTILINE)
    assert found, name
    return float(found.group(1))


@pytest.mark.server
@pytest.mark.parametrize("freeze", ["1", "0"])
def test_a_served_process_reports_its_collector(httpbin_url: str, freeze: str) -> None:
    env = {"UPSTREAM_URL": httpbin_url, "HELLO_ASYNC_GC_FREEZE": freeze}
    process = Process(
        [sys.executable, "-m", "uvicorn", "hello_async.asgi:application", "--port", "0"], env=env
    )
    try:
        url = process.wait_for(r"Uvicorn running on (http://\S+)").group(1)
        text = httpx.get(f"{url}/metrics", timeout=10).text
    finally:
        process.terminate()
    frozen = metric(text, "hello_async_gc_frozen_objects")
    # Python itself starts with a few hundred objects in the permanent generation.
    assert (frozen > 10_000) if freeze == "1" else frozen < 1_000
    assert metric(text, 'python_gc_collections_total{generation="0"}') >= 0
