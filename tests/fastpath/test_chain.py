"""The lean chain: which views take it is read from the URLconf's marks, nothing else."""

from __future__ import annotations

from hello_async.fastpath import chain

LEAN = {
    "/",
    "/async/",
    "/sync/",
    "/sync_to_async/",
    "/smoke_some_meats/",
    "/smoke_some_meats/live/",
    "/burn_some_meats/",
    "/smoke_runs/",
    "/healthz",
    "/readyz",
    "/metrics",
}


def test_the_marked_views_are_found_in_the_urlconf() -> None:
    paths, prefixes = chain.lean_routes()
    assert {path for path in paths if not path.startswith("/compare/")} == LEAN
    assert prefixes == ("/compare/",)  # every view of that include is marked


def test_pages_with_forms_or_sessions_are_not_lean() -> None:
    paths, prefixes = chain.lean_routes()
    for path in ("/lab/", "/smoke_orders/board/", "/admin/", "/i18n/setlang/"):
        assert path not in paths and not path.startswith(prefixes)
