"""The lab's presets: one per claim of the article, each a fixed pair of the server's own paths.

Nothing here comes from the user: a run names a preset by its key and the paths, with their
parameters, are fixed. Side "a" is the way the article warns against (or the slower way), side
"b" the way it recommends.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _


@dataclass(frozen=True)
class Side:
    key: str
    label: str | Promise
    path: str


@dataclass(frozen=True)
class Preset:
    key: str
    title: str | Promise
    claim: str | Promise
    a: Side
    b: Side

    @property
    def sides(self) -> tuple[Side, Side]:
        return (self.a, self.b)


PRESETS: dict[str, Preset] = {
    preset.key: preset
    for preset in (
        Preset(
            key="sync_vs_async",
            title=_("Sync vs async"),
            claim=_(
                "The sync view makes the client wait for its work (an upstream call of 300 ms); "
                "the async view hands the same work to the background and answers at once."
            ),
            a=Side("a", _("sync view, work before the answer"), "/compare/sync_call/?delay_ms=300"),
            b=Side(
                "b",
                _("async view, work in the background"),
                "/compare/background_call/?delay_ms=300",
            ),
        ),
        Preset(
            key="sequential_vs_gathered",
            title=_("Sequential vs gather"),
            claim=_(
                "Two upstream calls of 200 ms each: awaited one after the other they take twice "
                "as long as the same two calls run together with asyncio.gather."
            ),
            a=Side("a", _("two calls, one after the other"), "/compare/sequential/?delay_ms=200"),
            b=Side("b", _("two calls with asyncio.gather"), "/compare/gathered/?delay_ms=200"),
        ),
        Preset(
            key="blocking_vs_nonblocking",
            title=_("Blocking vs non-blocking"),
            claim=_(
                "A 40 ms wait in an async view: time.sleep blocks the event loop, so the requests "
                "queue up one behind the other; asyncio.sleep lets them all wait together."
            ),
            a=Side("a", _("time.sleep in an async view"), "/compare/block/?ms=40"),
            b=Side("b", _("asyncio.sleep in an async view"), "/compare/nonblock/?ms=40"),
        ),
        Preset(
            key="client_per_call_vs_pooled",
            title=_("Client per call vs pooled"),
            claim=_(
                "Two gathered upstream calls: with a new HTTPX client for each call (the "
                "article's code) or with the one long-lived client and its connection pool."
            ),
            a=Side("a", _("a new client per call"), "/compare/client_per_call/"),
            b=Side("b", _("one pooled client"), "/compare/gathered/"),
        ),
    )
}

MIN_CONCURRENCY = 1
MAX_CONCURRENCY = 200
