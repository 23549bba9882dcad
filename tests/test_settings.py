"""Settings: production refuses weak secrets, passes check --deploy; every variable documented."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from tests.support.servers import ROOT

STRONG_KEY = "k3J9-vQ2_xY7pL0aZ8rT5uW1eS4dF6gH9jK2lM5nB8vC1xZ3qW7eR0tY4uI6oP"


def run_django(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    base = {"PATH": "/usr/bin:/bin", "DJANGO_SETTINGS_MODULE": "hello_async.settings"}
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env={**base, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize(
    "key", ["", "django-insecure-abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnop", "short"]
)
def test_production_refuses_a_missing_or_default_secret_key(key: str) -> None:
    env = {"DJANGO_ALLOWED_HOSTS": "example.com"}
    if key:
        env["DJANGO_SECRET_KEY"] = key
    result = run_django(env, "check")
    assert result.returncode != 0
    assert "DJANGO_SECRET_KEY" in result.stderr


def test_production_passes_check_deploy() -> None:
    env = {"DJANGO_ALLOWED_HOSTS": "example.com", "DJANGO_SECRET_KEY": STRONG_KEY}
    result = run_django(env, "check", "--deploy", "--fail-level", "WARNING")
    assert result.returncode == 0, result.stderr


def test_a_bad_number_is_a_clear_configuration_error() -> None:
    result = run_django({"HELLO_ASYNC_TIME_SCALE": "fast"}, "check")
    assert result.returncode != 0
    assert "HELLO_ASYNC_TIME_SCALE='fast' is not a number" in result.stderr


def test_every_environment_variable_is_documented() -> None:
    names: set[str] = set()
    for module in (ROOT / "hello_async").rglob("*.py"):
        source = module.read_text()
        names |= set(re.findall(r"""env_\w+\(\s*["']([A-Z][A-Z0-9_]+)["']""", source))
        names |= set(re.findall(r"""os\.environ\.get\(\s*["']([A-Z][A-Z0-9_]+)["']""", source))
        names |= set(re.findall(r"""env=["']([A-Z][A-Z0-9_]+)["']""", source))
    assert {"DJANGO_SECRET_KEY", "UPSTREAM_URL", "HELLO_ASYNC_TIME_SCALE", "DATABASE_URL"} <= names
    documented = (ROOT / "docs" / "settings.md").read_text()
    missing = sorted(name for name in names if f"`{name}`" not in documented)
    assert not missing, f"not in docs/settings.md: {missing}"


def test_an_unknown_fork_to_turn_off_stops_startup() -> None:
    result = run_django({"HELLO_ASYNC_FASTPATH_OFF": "handler,warp_drive"}, "check")
    assert result.returncode != 0
    assert "HELLO_ASYNC_FASTPATH_OFF names no fork warp_drive" in result.stderr
