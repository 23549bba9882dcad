"""errors.py draws the exception tree: every class in it, with its status code."""

from __future__ import annotations

import importlib
import pkgutil
import re

import hello_async
from hello_async import errors


def every_subclass(cls: type[errors.HelloAsyncError]) -> list[type[errors.HelloAsyncError]]:
    found = []
    for sub in cls.__subclasses__():
        found += [sub, *every_subclass(sub)]
    return found


def test_the_drawn_tree_has_every_error_with_its_status() -> None:
    # Every module of the package, so that an error class defined anywhere is counted.
    for module in pkgutil.walk_packages(hello_async.__path__, "hello_async."):
        if not re.search(r"\.(migrations|bench)\b|\.(asgi|wsgi)$", module.name):
            importlib.import_module(module.name)
    drawn = errors.__doc__ or ""
    assert every_subclass(errors.HelloAsyncError)
    for cls in every_subclass(errors.HelloAsyncError):
        name = cls.__name__
        if cls.__module__ != errors.__name__ and hasattr(errors, name):  # a namesake elsewhere
            name = f"{cls.__module__.removeprefix('hello_async.')}.{name}"
        line = next(
            (ln for ln in drawn.splitlines() if re.search(rf"\b{re.escape(name)}\s", ln)), None
        )
        assert line is not None, f"{cls.__module__}.{cls.__qualname__} is not in the tree"
        assert f" {cls.status_code} " in line, (cls, line)
