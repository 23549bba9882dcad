"""deploy/: the Procfile, the systemd units, the Gunicorn config and the nginx site the docs
point to. Every command they run exists here and parses its options: ``hello-async`` and
``manage.py`` through their own parsers, Gunicorn with ``--check-config`` (which imports the
application), nginx with ``nginx -t`` inside a minimal ``nginx.conf`` when nginx is installed.
The docs show none of them inline, so nothing can drift from what is tested here."""

from __future__ import annotations

import argparse
import configparser
import os
import re
import runpy
import shlex
import shutil
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import uvicorn_worker
from django.core.management import CommandError, get_commands, load_command_class

from hello_async import cli
from hello_async import settings as project
from hello_async.work.worker import command as worker_command
from tests.support.servers import ROOT

DEPLOY = ROOT / "deploy"
SRV = "/srv/hello_async"  # where the units expect the checkout
UNITS = sorted((DEPLOY / "systemd").glob("*.service"))
NGINX_SITE = DEPLOY / "nginx" / "hello-async.conf"
PROCFILE_ENV = {"PORT": "5000"}  # what the platform sets


class Refused(Exception):
    """A command the deploy files run would not start as written."""


@contextmanager
def refused_as(what: str) -> Iterator[None]:
    try:
        yield
    except SystemExit as exc:  # argparse's way of refusing
        if exc.code not in (0, None):
            raise Refused(f"{what}: exit {exc.code}") from None


def expand(text: str, env: dict[str, str]) -> str:
    """``${NAME:-default}`` and ``$NAME`` as the shell expands them."""
    text = re.sub(r"\$\{(\w+):-([^}]*)\}", lambda m: env.get(m.group(1)) or m.group(2), text)
    return re.sub(r"\$(\w+)", lambda m: env[m.group(1)], text)


def split(command: str) -> tuple[dict[str, str], list[str]]:
    """A shell command line: its leading ``NAME=value`` assignments, then its argv."""
    words = shlex.split(command)
    assignments = {}
    while words and re.fullmatch(r"\w+=.*", words[0]):
        name, value = words.pop(0).split("=", 1)
        assignments[name] = value
    return assignments, words


def local_path(word: str) -> str:
    """A path under the units' checkout, as it is in this one."""
    return str(ROOT / word.removeprefix(SRV + "/")) if word.startswith(SRV + "/") else word


def check_hello_async(args: list[str]) -> argparse.Namespace:
    if args and args[0] == "worker":
        with refused_as("hello-async worker"):
            return worker_command.build_parser().parse_args(args[1:])
    if not args or args[0].startswith("-"):
        args = ["serve", *args]  # as cli.main does
    with refused_as("hello-async"):
        return cli.build_parser().parse_args(args)


def check_manage_py(args: list[str]) -> None:
    assert args[0] == "manage.py" and (ROOT / "manage.py").is_file()
    name, options = args[1], args[2:]
    commands = get_commands()
    if name not in commands:
        raise Refused(f"manage.py has no command {name!r}")
    parser = load_command_class(commands[name], name).create_parser("manage.py", name)
    try:
        with refused_as(f"manage.py {name}"):
            parser.parse_args(options)
    except CommandError as exc:  # Django's parser, called from code
        raise Refused(f"manage.py {name}: {exc}") from None


def check_gunicorn(args: list[str], env: dict[str, str], tmp_path: Path) -> dict[str, str]:
    """``gunicorn ... --print-config``: the options parsed, the config file run, the
    application imported (as ``--check-config``); returns the resolved settings."""
    metrics = tmp_path / "metrics"
    metrics.mkdir(exist_ok=True)
    environ = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    # The multiprocess directory the unit names is made by systemd or the config's on_starting,
    # which a check does not run: one of the test's instead.
    environ |= {**env, "PROMETHEUS_MULTIPROC_DIR": str(metrics)}
    argv = [sys.executable, "-m", "gunicorn", *[local_path(word) for word in args]]
    checked = subprocess.run(
        [*argv, "--print-config"], cwd=ROOT, env=environ, capture_output=True, text=True, timeout=60
    )
    if checked.returncode != 0:
        raise Refused(f"{shlex.join(args)}: {checked.stderr}")
    return dict(re.findall(r"^(\w+)\s+= (.*)$", checked.stdout, re.MULTILINE))


def check(argv: list[str], env: dict[str, str], tmp_path: Path) -> dict[str, str]:
    """Whether ``argv`` (as a deploy file runs it) names a command of ours with options it
    parses; raises Refused otherwise. Gunicorn's resolved settings, or an empty dict."""
    program = Path(argv[0]).name
    if program == "hello-async":
        check_hello_async(argv[1:])
    elif program == "python":
        check_manage_py(argv[1:])
    elif program == "gunicorn":
        return check_gunicorn(argv[1:], env, tmp_path)
    else:
        raise Refused(f"{program}: not a command the project installs")
    return {}


def procfile() -> dict[str, str]:
    lines = (DEPLOY / "Procfile").read_text().splitlines()
    return dict(line.split(": ", 1) for line in lines if line.strip())


def unit(path: Path) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read_string(path.read_text())
    return parser


def unit_environment(path: Path) -> dict[str, str]:
    """Its ``Environment=`` lines (configparser would keep only the last)."""
    lines = re.findall(r"^Environment=(.*)$", path.read_text(), re.MULTILINE)
    return dict(line.split("=", 1) for line in lines)


def test_the_procfile_runs_the_migration_the_web_workers_and_the_task_workers(
    tmp_path: Path,
) -> None:
    processes = procfile()
    assert set(processes) == {"release", "web", "worker"}
    for command in processes.values():
        env, argv = split(expand(command, PROCFILE_ENV))
        check(argv, env, tmp_path)
    env, argv = split(expand(processes["web"], PROCFILE_ENV))
    assert env["BIND"] == "0.0.0.0:5000"  # the platform's port
    assert env["PROMETHEUS_MULTIPROC_DIR"]  # one /metrics for the dyno's workers


@pytest.mark.parametrize("path", UNITS, ids=[path.name for path in UNITS])
def test_each_unit_starts_a_command_that_parses_from_the_checkout(
    path: Path, tmp_path: Path
) -> None:
    parsed = unit(path)
    assert {"Unit", "Service", "Install"} <= set(parsed.sections())
    service = parsed["Service"]
    env = unit_environment(path)
    _, argv = split(service["ExecStart"])
    assert argv[0].startswith(f"{SRV}/.venv/bin/"), "the checkout's own environment"
    assert service["WorkingDirectory"] == SRV
    for word in argv[1:]:
        if word.startswith(SRV + "/"):
            assert Path(local_path(word)).exists(), f"{word}: not in the checkout"
    check(argv, env, tmp_path)


def test_the_web_unit_stops_after_gunicorn_which_stops_after_the_servers_grace(
    tmp_path: Path,
) -> None:
    path = DEPLOY / "systemd" / "hello-async-web.service"
    service = unit(path)["Service"]
    env = unit_environment(path)
    # The multiprocess directory is under the unit's own runtime directory, emptied at each start.
    assert env["PROMETHEUS_MULTIPROC_DIR"].startswith(f"/run/{service['RuntimeDirectory']}/")
    gunicorn = check(split(service["ExecStart"])[1], env, tmp_path)
    # Uvicorn's worker, on the loop hello-async serves on (settings.SERVER_LOOP).
    assert gunicorn["worker_class"] == "<UvicornWorker()>"
    config = runpy.run_path(str(DEPLOY / "gunicorn.conf.py"))
    assert issubclass(config["worker_class"], uvicorn_worker.UvicornWorker)
    assert config["worker_class"].CONFIG_KWARGS["loop"] == project.SERVER_LOOP
    assert project.SERVER_LOOP == "hello_async.fastpath.accept:AcceptAllLoop"
    assert gunicorn["wsgi_app"] == "hello_async.asgi:application"
    assert gunicorn["bind"] == f"['{env['BIND']}']"
    graceful = float(gunicorn["graceful_timeout"])
    assert project.HELLO_ASYNC_SHUTDOWN_GRACE < graceful < float(service["TimeoutStopSec"])


def test_the_worker_unit_stops_after_the_task_workers_grace() -> None:
    service = unit(DEPLOY / "systemd" / "hello-async-worker.service")["Service"]
    assert float(service["TimeoutStopSec"]) > project.HELLO_ASYNC_TASK_SHUTDOWN_GRACE
    args = check_hello_async(split(service["ExecStart"])[1][1:])
    assert args.processes >= 1


@pytest.mark.parametrize(
    "command",
    [
        "hello-async worker --procs 2",
        "hello-async --workers none",
        "python manage.py migrate --no-such-option",
        "python manage.py no_such_command",
        "gunicorn -c deploy/gunicorn.conf.py --no-such-option",
        "uvicorn hello_async.asgi:application",
    ],
)
def test_a_command_that_would_not_start_is_refused(command: str, tmp_path: Path) -> None:
    """The check above is not vacuous: what would fail at start fails it."""
    _, argv = split(command)
    with pytest.raises(Refused):
        check(argv, {}, tmp_path)


def self_signed(tmp_path: Path) -> tuple[Path, Path]:
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1"]
        + ["-subj", "/CN=example.com", "-keyout", str(key), "-out", str(cert)],
        check=True,
        capture_output=True,
        timeout=60,
    )
    return cert, key


NGINX = shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin:/sbin")


@pytest.mark.skipif(
    NGINX is None or shutil.which("openssl") is None,
    reason="nginx or openssl not installed (Debian: apt-get install nginx-light openssl)",
)
def test_nginx_accepts_the_site_inside_a_minimal_nginx_conf(tmp_path: Path) -> None:
    assert NGINX is not None
    cert, key = self_signed(tmp_path)
    site = NGINX_SITE.read_text()
    # The certificate's paths are the host's: a throwaway pair in their place.
    site, swapped = re.subn(r"(ssl_certificate\s+)\S+;", rf"\g<1>{cert};", site)
    site, swapped_key = re.subn(r"(ssl_certificate_key\s+)\S+;", rf"\g<1>{key};", site)
    assert swapped == swapped_key == 1
    (tmp_path / "site.conf").write_text(site)
    (tmp_path / "nginx.conf").write_text(
        f"pid {tmp_path}/nginx.pid;\nerror_log stderr;\nevents {{}}\n"
        f"http {{\n    access_log off;\n    include {tmp_path}/site.conf;\n}}\n"
    )
    checked = subprocess.run(
        [NGINX, "-t", "-p", str(tmp_path), "-c", str(tmp_path / "nginx.conf"), "-e", "stderr"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert checked.returncode == 0, checked.stderr
    assert "test is successful" in checked.stderr


def test_the_nginx_site_limits_what_production_md_says_it_limits() -> None:
    site = NGINX_SITE.read_text()
    for line in (
        "limit_req_zone  $order_client       zone=orders:10m  rate=30r/m;",
        "limit_req zone=orders burst=10 nodelay;",
        "limit_req zone=costly burst=20 nodelay;",
        "limit_conn streams 4;",
        "client_header_timeout 10s;",
        "client_max_body_size  1m;",
        "proxy_set_header X-Forwarded-Proto $scheme;",
    ):
        assert line in site
    assert f"client_max_body_size  {project.HELLO_ASYNC_MAX_BODY_BYTES // 2**20}m;" in site


def test_the_docs_point_to_the_deploy_files_and_show_no_copy_of_them() -> None:
    docs = {name: (ROOT / "docs" / name).read_text() for name in ("deploy.md", "production.md")}
    every = "\n".join(docs.values())
    for path in (DEPLOY / "Procfile", *UNITS, NGINX_SITE, DEPLOY / "gunicorn.conf.py"):
        assert f"../deploy/{path.relative_to(DEPLOY)}" in every, f"{path.name} not linked"
    for name, text in docs.items():
        assert not re.search(r"^```(ini|nginx|procfile)$", text, re.MULTILINE), name
