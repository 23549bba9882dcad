"""A production install carries what production runs (pyproject.toml's dependency groups).

The embedded default's upstream (httpbin, on Flask) and the bench's packages are default groups:
`uv run` installs them, `uv sync --no-default-groups` leaves them out. In such an install the
bench and the local httpbin say which group they need instead of failing halfway.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest

import hello_async.bench
from tests.support.servers import ROOT, Process

UV = shutil.which("uv")
needs_uv = pytest.mark.skipif(UV is None, reason="uv is not on PATH")

# Not production's: the local upstream, the bench's packages, and the tests' own.
LEFT_OUT = {"httpbin", "flask", "werkzeug", "rich", "matplotlib", "fastapi", "sse-starlette"}
LEFT_OUT |= {"pytest", "mypy", "ruff"}


def pyproject() -> dict[str, Any]:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def names(requirements: list[str]) -> set[str]:
    return {re.split(r"[\[<>=!~; ]", line, maxsplit=1)[0].lower() for line in requirements}


def export(*flags: str) -> set[str]:
    assert UV is not None
    out = subprocess.run(
        [UV, "export", "--frozen", "--no-hashes", "--no-header", *flags],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return {line.split("==")[0].lower() for line in out.splitlines() if "==" in line}


def test_httpbin_and_the_bench_are_default_groups_not_dependencies() -> None:
    project = pyproject()
    dependencies = names(project["project"]["dependencies"])
    groups = project["dependency-groups"]
    assert not dependencies & LEFT_OUT
    assert "httpbin" in names(groups["local-upstream"])
    bench = names(groups["bench"])
    # What hello_async.bench checks at import is the group, by import name.
    assert {name.replace("_", "-") for name in hello_async.bench.GROUP_PACKAGES} == bench
    default = project["tool"]["uv"]["default-groups"]
    assert {"dev", "bench", "local-upstream"} <= set(default)


@needs_uv
def test_a_production_install_leaves_out_flask_httpbin_and_the_bench() -> None:
    production = export("--no-default-groups")
    assert not production & LEFT_OUT, production & LEFT_OUT
    assert {"django", "uvicorn", "httpx", "gunicorn"} <= production
    # The names are right: a checkout's install (the default groups) has every one of them.
    assert export() >= LEFT_OUT


@pytest.fixture(scope="module")
def production_venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`uv sync --no-default-groups` into a directory of its own (from uv's cache)."""
    assert UV is not None
    venv = tmp_path_factory.mktemp("production") / "venv"
    env = {**os.environ, "UV_PROJECT_ENVIRONMENT": str(venv), "UV_PYTHON": sys.executable}
    subprocess.run(
        [UV, "sync", "--frozen", "--no-default-groups", "--quiet"],
        cwd=ROOT,
        env=env,
        check=True,
        timeout=300,
    )
    return venv


@needs_uv
def test_in_a_production_install_the_bench_names_its_group(production_venv: Path) -> None:
    python = str(production_venv / "bin" / "python")
    imported = subprocess.run(
        [python, "-c", "import hello_async.bench"], cwd=ROOT, capture_output=True, text=True
    )
    assert imported.returncode == 1
    assert "'bench' dependency group" in imported.stderr
    assert "uv sync --group bench" in imported.stderr
    run = subprocess.run(
        [str(production_venv / "bin" / "hello-async"), "bench", "--quick"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert run.returncode == 2
    assert "uv sync --group bench" in run.stderr


@needs_uv
def test_in_a_production_install_serve_without_upstream_url_names_it(
    production_venv: Path, tmp_path: Path
) -> None:
    environment = {k: v for k, v in os.environ.items() if k != "UPSTREAM_URL"}
    process = Process(
        [str(production_venv / "bin" / "hello-async"), "--port", "0"],
        env={**environment, "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}"},
    )
    assert process.wait(timeout=60) == 1
    output = process.output()
    assert "httpbin is not installed" in output
    assert "UPSTREAM_URL" in output and "uv sync --group local-upstream" in output
    assert "Traceback" not in output


@needs_uv
def test_a_production_install_serves_the_product(production_venv: Path) -> None:
    """What production runs imports there: the ASGI application, the WSGI one, the worker."""
    code = (
        "import django; django.setup(); import hello_async.asgi, hello_async.wsgi, "
        "hello_async.work.worker, gunicorn, uvicorn_worker; print('ok')"
    )
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "hello_async.settings",
        "UPSTREAM_URL": "http://127.0.0.1:9",
    }
    done = subprocess.run(
        [str(production_venv / "bin" / "python"), "-c", code],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"
