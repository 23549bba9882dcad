"""The garbage collector of a serving process: out of the way of the request path, not off.

Reference counting frees almost everything a request makes; the cyclic collector only has to find
reference cycles. Yet, by Python's defaults, each full collection also re-scans every object that
ever survived two collections: all that startup loaded (Django, the URLconf, the templates, the
clients). Under load those scans were a large share of the server's CPU (docs/performance.md,
"The garbage collector").

Once the serving process has started (the ASGI lifespan, hello_async.ops.lifespan), :func:`tune`:

* runs one full collection, then ``gc.freeze()``: what startup loaded moves to the permanent
  generation, which collections skip (Python's documentation recommends freezing after startup
  in pre-fork servers, for copy-on-write; here it is for the scans);
* sets the collector's thresholds (``HELLO_ASYNC_GC_THRESHOLDS``, default ``700,10,100``:
  Python's own first two, and full collections ten times less often, which the frozen startup
  objects make safe: the young generations still find cycles as soon as Python's defaults do).

Both are settings (docs/settings.md); ``HELLO_ASYNC_GC_FREEZE=0`` and an empty
``HELLO_ASYNC_GC_THRESHOLDS`` leave the collector exactly as Python sets it. It happens once per
process: a second lifespan (tests) changes nothing.
"""

from __future__ import annotations

import gc
import logging
from dataclasses import dataclass

from prometheus_client import Gauge

logger = logging.getLogger(__name__)

# Each process froze its own: with several (prometheus-client's multiprocess mode) /metrics
# shows every live process's, labelled with its pid (hello_async.ops.metrics).
FROZEN_OBJECTS = Gauge(
    "hello_async_gc_frozen_objects",
    "Objects loaded at startup that the garbage collector no longer scans (gc.freeze).",
    multiprocess_mode="liveall",
    registry=None,
)


@dataclass(frozen=True)
class Tuned:
    frozen: int  # objects moved to the permanent generation
    thresholds: tuple[int, ...]


_tuned: Tuned | None = None


def tune(*, freeze: bool, thresholds: tuple[int, ...] | None) -> Tuned:
    """Freeze what startup loaded and set the thresholds, the first time only; returns what was
    done (or what the first call did)."""
    global _tuned
    if _tuned is not None:
        return _tuned
    if thresholds:
        gc.set_threshold(*thresholds)
    if freeze:
        gc.collect()
        gc.freeze()
    _tuned = Tuned(frozen=gc.get_freeze_count(), thresholds=gc.get_threshold())
    FROZEN_OBJECTS.set(_tuned.frozen)
    logger.info(
        "garbage collector: %d startup objects frozen, thresholds %s",
        _tuned.frozen,
        _tuned.thresholds,
    )
    return _tuned
