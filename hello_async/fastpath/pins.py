"""What each fork copies or relies on, pinned in one place by a hash of that code's AST.

A fork is correct only as long as the code it stands in for stays as it was read. Each name below
is pinned by :func:`fingerprint`: the sha256 of the code's syntax tree without docstrings, so a
release that only edits comments or docstrings passes, and one that changes what the code does
fails tests/fastpath/test_pins.py, naming the forks to read again.
"""

from __future__ import annotations

import ast
import hashlib
import importlib
import inspect
import textwrap
from typing import Any

# The code each fork copies (or whose private state it reads), by fork.
COPIES: dict[str, tuple[str, ...]] = {
    "handler": (
        "django.core.handlers.asgi.ASGIHandler.__call__",
        "django.core.handlers.asgi.ASGIHandler.handle",
        "django.core.handlers.base.BaseHandler.load_middleware",
        "asgiref.sync.ThreadSensitiveContext.__aenter__",
        "asgiref.sync.ThreadSensitiveContext.__aexit__",
        "django.dispatch.dispatcher.Signal.send",
        "django.http.response.HttpResponseBase.close",
    ),
    "middleware": ("django.utils.deprecation.MiddlewareMixin.__acall__",),
    "lean_chain": ("django.core.handlers.base.BaseHandler.load_middleware",),
    "respond": ("django.core.handlers.asgi.ASGIHandler.handle",),
    "send_response": (
        "django.core.handlers.asgi.ASGIHandler.send_response",
        "django.core.handlers.asgi.ASGIHandler.chunk_bytes",
        "django.http.response.HttpResponseBase.items",
        "django.http.response.ResponseHeaders.__setitem__",
        "django.utils.datastructures.CaseInsensitiveMapping.__iter__",
    ),
    "client": (
        "httpx.Cookies.extract_cookies",
        "httpx.AsyncClient._send_handling_auth",
        "httpx.Auth.async_auth_flow",
        "httpx.AsyncClient._send_single_request",
        "httpx._client.BoundAsyncStream",
    ),
    "handover": ("httpx.Response.aread", "httpx.Response.aiter_bytes"),
}

# Each name once, whatever forks copy it: its fingerprint when the forks were last read.
PINS: dict[str, str] = {
    "asgiref.sync.ThreadSensitiveContext.__aenter__": (
        "18a89864fc6380570616a3afae18a6cbcdaea20736ce55f3205603d176fd7b58"
    ),
    "asgiref.sync.ThreadSensitiveContext.__aexit__": (
        "c74bff01f1e8a69b654403831375aff9ef54dfc20d74498643aefbf5f64a03f0"
    ),
    "django.core.handlers.asgi.ASGIHandler.__call__": (
        "1db0e01eccae88eb23c97ba34068129ce36da1d903d40955e08814e48e3e61fc"
    ),
    "django.core.handlers.asgi.ASGIHandler.chunk_bytes": (
        "696deb9aa35cf88142cbd6d71628ff303249d486ca63bb146ef2ef65ea802c39"
    ),
    "django.core.handlers.asgi.ASGIHandler.handle": (
        "67c1334ceb7b07e9ee89594e04ed115f3e70e2d05bfc734c23ec03633ff162d9"
    ),
    "django.core.handlers.asgi.ASGIHandler.send_response": (
        "e47be67c8fed0484a496887638e7ccfce4e6ba51157dabbe2038830f83068904"
    ),
    "django.core.handlers.base.BaseHandler.load_middleware": (
        "f9d22e7ec0c3572e47784d3a93018a99998992ea37826f38add8b47e513f51ff"
    ),
    "django.dispatch.dispatcher.Signal.send": (
        "4b4651ac9e68e28b37e85044fb3342e02542be4f589aea0ce84e618adf237365"
    ),
    "django.http.response.HttpResponseBase.close": (
        "982792cd184299d2f7f25776d3da35225bcbf3d8ec354ce1d72372c5faa7eca2"
    ),
    "django.http.response.HttpResponseBase.items": (
        "d68215358cd88daa4fb2111eb8ff0ee1555b92016ea3f8ca099364ca196f74b4"
    ),
    "django.http.response.ResponseHeaders.__setitem__": (
        "7ed42e4eb144979eb7e296e829dc4f54a68755bdd6ebb62dff1518418f0804d6"
    ),
    "django.utils.datastructures.CaseInsensitiveMapping.__iter__": (
        "fcf4fea28302dd0efb8ab44f8dc17c057f6d2c7b7dc8e0ab1ea43c0411001b2d"
    ),
    "django.utils.deprecation.MiddlewareMixin.__acall__": (
        "18a23e1e10bb8c776290d73843d667d434d7e940b0c7f88df08d12395a68923c"
    ),
    "httpx.AsyncClient._send_handling_auth": (
        "495040231c5ba360d44952dd8a8aeba70e421065cf8c4f7d4d80c07080df000f"
    ),
    "httpx.AsyncClient._send_single_request": (
        "c357032c62bac49dfb2439d432b30d3cb4401ac40d2cf7cc52c25ab84cc0df8f"
    ),
    "httpx.Auth.async_auth_flow": (
        "a7b5159050f3c8955489409920f72ac04289b3b6b739b0f1b2700472dbcd64d8"
    ),
    "httpx.Cookies.extract_cookies": (
        "876e5fba550dddba77da430876f351fd148796d795e34a5977e5fbfd7368371c"
    ),
    "httpx.Response.aiter_bytes": (
        "180df870ee385897995e8705d4ccee374249c6100e1cdccad537c84059608f5b"
    ),
    "httpx.Response.aread": ("a326e8c4eea3ada6c4f7a44d59708147c6592c8ef61b54900a6ca4adcf2f5c84"),
    "httpx._client.BoundAsyncStream": (
        "9646bcb6fc6e96c17ef645dec325ce0132486d8a7216052c4e8db748a89055e3"
    ),
}


def resolve(dotted: str) -> Any:
    """The object a dotted name names: a module's attribute, or a class's."""
    parts = dotted.split(".")
    for cut in range(len(parts) - 1, 0, -1):
        try:
            obj: Any = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        for attribute in parts[cut:]:
            obj = inspect.getattr_static(obj, attribute)
        return inspect.unwrap(getattr(obj, "__func__", obj))
    raise ImportError(dotted)


def fingerprint(obj: Any) -> str:
    """sha256 of ``obj``'s syntax tree, docstrings left out."""
    tree = ast.parse(textwrap.dedent(inspect.getsource(obj)))
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if (
            isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef | ast.Module)
            and body
            and isinstance(body[0], ast.Expr)
            and isinstance(body[0].value, ast.Constant)
            and isinstance(body[0].value.value, str)
        ):
            node.body = body[1:] or [ast.Pass()]
    return hashlib.sha256(ast.dump(tree).encode()).hexdigest()


def forks_copying(dotted: str) -> list[str]:
    return [fork for fork, names in COPIES.items() if dotted in names]
