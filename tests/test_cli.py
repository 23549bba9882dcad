from __future__ import annotations

import os
import sys
from pathlib import Path

import httpx
import pytest
from pytest_django.fixtures import Settings

from hello_async import cli
from tests.support.servers import Process


def test_help_lists_the_commands_and_the_default_commands_options(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit) as exited:
        cli.main(["--help"])
    assert exited.value.code == 0
    out = capsys.readouterr().out
    assert "serve" in out and "bench" in out and "worker" in out
    # serve is the default command: what README promises `hello-async --help` lists.
    for option in ("--host", "--port", "--reload", "--workers"):
        assert option in out


@pytest.mark.parametrize("workers", ["0", "many"])
def test_bad_workers_is_a_usage_error(workers: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        cli.main(["--workers", workers])
    assert exited.value.code == 2
    assert "--workers" in capsys.readouterr().err


def serve(tmp_path: Path, **env: str) -> Process:
    base = {
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
        "HELLO_ASYNC_TIME_SCALE": "0.1",
    }
    environment = {k: v for k, v in os.environ.items() if k != "UPSTREAM_URL"}
    return Process(
        [sys.executable, "-m", "hello_async.cli", "--port", "0"],
        env={**environment, **base, **env},
    )


def test_serve_starts_httpbin_migrates_serves_and_drains_on_sigterm(tmp_path: Path) -> None:
    process = serve(tmp_path)
    try:
        banner = process.wait_for(r"upstream: (http://\S+), local httpbin")
        upstream_url = banner.group(1)
        url = process.wait_for(r"Uvicorn running on (http://\S+)").group(1)
        assert "/smoke_some_meats/" in process.output()
        assert httpx.get(url + "/", timeout=10).text == "Hello, async Django!"
        assert httpx.get(url + "/smoke_runs/", timeout=10).json() == {"runs": []}  # migrated
        assert httpx.get(url + "/async/", timeout=10).status_code == 200
    finally:
        code = process.terminate()
    assert code == 0
    # The /async/ work was pending at SIGTERM: the lifespan drained it, then httpbin stopped.
    assert "Background work drained: 1 done, 0 failed, 0 cancelled" in process.output()
    with pytest.raises(httpx.ConnectError):
        httpx.get(upstream_url + "/", timeout=5)


def test_the_first_screen_is_the_banner_then_uvicorn_and_one_httpbin(tmp_path: Path) -> None:
    process = serve(tmp_path, PYTHONWARNINGS="default")  # warnings shown, as a terminal shows them
    try:
        upstream_url = process.wait_for(r"upstream: (http://\S+), local httpbin").group(1)
        process.wait_for(r"Uvicorn running on")
        ready_line = process.wait_for(
            r"hello_async ready: upstream (http://\S+) \(event loop (\w+)"
        )
        ready, loop = ready_line.groups()
    finally:
        process.terminate()
    # Nothing before the banner: no runpy warning from the httpbin child started with -m.
    assert process.lines[0].startswith("hello_async: serving on http://")
    assert "RuntimeWarning" not in process.output()
    # The server calls the httpbin the banner names, and starts none of its own.
    assert ready == upstream_url
    assert "UPSTREAM_URL is not set" not in process.output()
    # Served on the loop that accepts every waiting connection at once (fastpath.accept).
    assert loop == "AcceptAllLoop"


def test_serve_refuses_production_without_a_secret_key(tmp_path: Path) -> None:
    process = serve(tmp_path, DJANGO_ALLOWED_HOSTS="example.com", UPSTREAM_URL="http://127.0.0.1:9")
    assert process.wait(timeout=60) == 2
    assert "DJANGO_SECRET_KEY is not set" in process.output()


def test_bench_without_its_dependencies_says_how_to_install_them(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def missing(name: str) -> object:
        raise ModuleNotFoundError("No module named 'matplotlib'", name="matplotlib")

    monkeypatch.setattr(cli.importlib, "import_module", missing)
    assert cli.main(["bench"]) == 2
    assert "uv sync --group bench" in capsys.readouterr().err


def test_the_banner_lists_the_live_view_and_the_lab_and_console_while_on(
    settings: Settings,
) -> None:
    from hello_async.cli import banner_views

    settings.HELLO_ASYNC_LAB = True
    paths = [path for path, _ in banner_views()]
    assert {"/smoke_some_meats/live/", "/lab/", "/console/"} <= set(paths)
    described = dict(banner_views())
    assert described["/console/"].startswith("The article's console, in the browser")
    settings.HELLO_ASYNC_LAB = False
    assert not {"/lab/", "/console/"} & {path for path, _ in banner_views()}


@pytest.mark.parametrize(
    "host", ["127.0.0.1", "127.1.2.3", "::1", "[::1]", "localhost", "LOCALHOST", "::ffff:127.0.0.1"]
)
def test_loopback_addresses_may_be_bound_in_local_mode(host: str, settings: Settings) -> None:
    settings.PRODUCTION = False
    assert cli.refuse_exposed_local_mode(host) is None


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.168.1.5", "10.0.0.1", "example.com"])
def test_other_addresses_are_refused_in_local_mode(
    host: str,
    settings: Settings,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def started(*args: object, **kwargs: object) -> None:
        raise AssertionError("started serving")

    monkeypatch.setattr("uvicorn.run", started)
    monkeypatch.setattr("hello_async.upstream.local.LocalUpstream.start", started)
    settings.PRODUCTION = False
    assert cli.main(["--host", host, "--port", "0"]) == 2  # before anything starts
    err = capsys.readouterr().err
    assert f"refusing to serve on {host}" in err and "DJANGO_ALLOWED_HOSTS" in err


@pytest.mark.parametrize("host", ["0.0.0.0", "::"])
def test_any_address_may_be_bound_in_production_mode(host: str, settings: Settings) -> None:
    settings.PRODUCTION = True
    assert cli.refuse_exposed_local_mode(host) is None


def test_serve_on_all_addresses_in_local_mode_exits_2_naming_the_setting(tmp_path: Path) -> None:
    process = Process(
        [sys.executable, "-m", "hello_async.cli", "--host", "0.0.0.0", "--port", "0"],
        env={"DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}"},
    )
    assert process.wait(timeout=60) == 2
    output = process.output()
    assert "refusing to serve on 0.0.0.0" in output and "DJANGO_ALLOWED_HOSTS" in output
    assert "Uvicorn running" not in output and "local httpbin" not in output
