"""Django's own tests of its ASGI handler, run against the fast path's handler.

    uv run python scripts/django_handler_tests.py [--stock]

Takes the sdist of the installed Django from PyPI (once: it is kept under
``~/.cache/hello-async/django/``), unpacks its ``runtests.py`` with the ``asgi`` and ``handlers``
test modules, and runs ``runtests.py asgi handlers`` with hello_async's ``FastASGIHandler`` in
place of ``ASGIHandler`` (``--stock``: Django's own, the control). The handler is substituted
right after ``django.setup()``, before the test modules import it, in ``django.core.handlers.asgi``
and in ``django.core.asgi`` (``get_asgi_application()``); the staticfiles handler is imported
first, so it keeps Django's class as its base. Every forked feature is on (the fast path's
defaults) and no test is skipped or excluded. Exit status 0 when every test passed.
"""

from __future__ import annotations

import argparse
import os
import re
import runpy
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

# What runtests.py needs of the sdist's tests/ for these two modules.
MODULES = ("asgi", "handlers")
MEMBERS = ("runtests.py", "test_sqlite.py", "urls.py", "templates", *MODULES)
# Django 6.1.3's count: fewer means tests were not found, not that they passed.
MIN_TESTS = 80
# What the child says once the handler is in place (checked: no silent run on Django's own).
SUBSTITUTED = "hello_async: FastASGIHandler in place of ASGIHandler"
# Django's test settings, and what the fast path's handler reads of hello_async's.
SETTINGS = """\
from test_sqlite import *  # noqa: F403

HELLO_ASYNC_FASTPATH = True
HELLO_ASYNC_FASTPATH_OFF = frozenset()
PRODUCTION = False
PROMETHEUS_MULTIPROC_DIR = ""
"""


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "hello-async" / "django"


def sdist(version: str) -> Path:
    """The sdist of Django ``version``, downloaded by pip the first time."""
    archive = cache_dir() / f"django-{version}.tar.gz"
    if archive.exists():
        return archive
    uv = os.environ.get("UV") or shutil.which("uv")  # uv run sets UV to its own path
    if uv is None:
        raise SystemExit("uv not found: run this script with `uv run python ...`")
    archive.parent.mkdir(parents=True, exist_ok=True)
    command = [
        *(uv, "run", "--no-project", "--with", "pip", "python", "-m", "pip", "download"),
        *("--quiet", "--no-deps", "--no-binary", ":all:", "--dest", str(archive.parent)),
        f"django=={version}",
    ]
    print(f"downloading Django {version}'s sdist into {archive.parent}", flush=True)
    if subprocess.run(command, check=False).returncode != 0 or not archive.exists():
        raise SystemExit(
            f"could not download the sdist of Django {version} from PyPI ({' '.join(command)})"
        )
    return archive


def unpack(archive: Path, version: str, into: Path) -> Path:
    """runtests.py and what it needs for MODULES, from the sdist's tests/; returns that dir."""
    prefix = f"django-{version}/tests/"
    wanted = tuple(prefix + member for member in MEMBERS)
    with tarfile.open(archive) as tar:
        inside = tuple(name + "/" for name in wanted)
        members = [m for m in tar.getmembers() if m.name in wanted or m.name.startswith(inside)]
        tar.extractall(into, members=members, filter="data")
    tests = into / prefix
    (tests / "fastpath_settings.py").write_text(SETTINGS)
    return tests


def substitute_after_setup() -> None:
    """Makes ``django.setup()`` put FastASGIHandler where the test modules will look for
    ASGIHandler (runtests.py calls it before it imports them)."""
    import django

    setup = django.setup

    def setup_then_substitute(*args: object, **kwargs: object) -> None:
        setup(*args, **kwargs)  # type: ignore[arg-type]
        import django.contrib.staticfiles.handlers  # noqa: F401 (keeps Django's base class)
        import django.core.asgi
        import django.core.handlers.asgi

        from hello_async.fastpath.handler import FastASGIHandler

        django.core.handlers.asgi.ASGIHandler = FastASGIHandler  # type: ignore[misc]
        django.core.asgi.ASGIHandler = FastASGIHandler  # type: ignore[attr-defined]
        django.setup = setup  # once is enough: the module attributes stay
        print(SUBSTITUTED, file=sys.stderr, flush=True)

    django.setup = setup_then_substitute


def run_inside(tests: Path, stock: bool) -> None:
    """In the child process: runtests.py as its own __main__, in its own directory."""
    os.chdir(tests)
    sys.path.insert(0, str(tests))
    if not stock:
        substitute_after_setup()
    sys.argv = ["runtests.py", *MODULES, "--settings=fastpath_settings", "--parallel=1"]
    runpy.run_path(str(tests / "runtests.py"), run_name="__main__")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stock", action="store_true", help="Django's own ASGIHandler")
    parser.add_argument("--inside", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.inside is not None:
        run_inside(args.inside, args.stock)
        return 0

    import django

    version = django.__version__
    handler = "ASGIHandler (stock)" if args.stock else "FastASGIHandler"
    with tempfile.TemporaryDirectory(prefix="django-tests-") as scratch:
        tests = unpack(sdist(version), version, Path(scratch))
        command = [sys.executable, __file__, "--inside", str(tests)]
        run = subprocess.run(
            command + (["--stock"] if args.stock else []),
            stderr=subprocess.PIPE,
            text=True,
            check=False,
        )
    sys.stderr.write(run.stderr)
    ran = re.search(r"^Ran (\d+) tests? in", run.stderr, re.MULTILINE)
    count = int(ran.group(1)) if ran else 0
    summary = re.search(r"^(OK|FAILED)\b.*$", run.stderr, re.MULTILINE)
    print(f"\nDjango {version}'s {' and '.join(MODULES)} tests on {handler}: ", end="")
    if ran is None or summary is None:
        print("the run did not finish")
        return 1
    if not args.stock and SUBSTITUTED not in run.stderr:
        print("the handler was not substituted (runtests.py no longer calls django.setup()?)")
        return 1
    if run.returncode != 0 or summary.group(1) != "OK":
        bad = sum(int(n) for n in re.findall(r"(?:failures|errors)=(\d+)", summary.group(0)))
        print(f"{count - bad} of {count} passed ({summary.group(0)})")
        return 1
    if count < MIN_TESTS:
        print(f"only {count} tests ran (Django 6.1.3 has {MIN_TESTS}): were they found?")
        return 1
    print(f"{count} of {count} passed")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
