from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.utils.module_loading import import_string

from hello_async.fastpath.middleware import (
    CONTRIB_REPLACEMENTS,
    REPLACEMENTS,
    InlineHooksMixin,
    replacements,
)

ROOT = Path(__file__).resolve().parents[2]

HOOKS = (
    "process_request",
    "process_view",
    "process_template_response",
    "process_exception",
    "process_response",
)

# The hooks each Django class had when its inline version was reviewed (Django 6.1).
REVIEWED = {
    "django.middleware.security.SecurityMiddleware": {"process_request", "process_response"},
    "django.middleware.csp.ContentSecurityPolicyMiddleware": {
        "process_request",
        "process_response",
    },
    "django.contrib.sessions.middleware.SessionMiddleware": {
        "process_request",
        "process_response",
    },
    "django.middleware.locale.LocaleMiddleware": {"process_request", "process_response"},
    "django.middleware.common.CommonMiddleware": {"process_request", "process_response"},
    "django.middleware.csrf.CsrfViewMiddleware": {
        "process_request",
        "process_view",
        "process_response",
    },
    "django.contrib.auth.middleware.AuthenticationMiddleware": {"process_request"},
    "django.contrib.messages.middleware.MessageMiddleware": {
        "process_request",
        "process_response",
    },
    "django.middleware.clickjacking.XFrameOptionsMiddleware": {"process_response"},
}


def _replacement(path: str) -> type[InlineHooksMixin]:
    make = CONTRIB_REPLACEMENTS.get(path)
    return make() if make is not None else REPLACEMENTS[path]


@pytest.mark.parametrize("path", sorted({*REPLACEMENTS, *CONTRIB_REPLACEMENTS}))
def test_django_class_has_only_the_reviewed_hooks(path: str) -> None:
    django_class = import_string(path)
    hooks = {hook for hook in HOOKS if hasattr(django_class, hook)}
    assert hooks == REVIEWED[path], f"{path} changed its hooks: review fastpath/middleware.py"
    assert issubclass(_replacement(path), django_class)


def test_every_stock_middleware_in_settings_has_an_inline_version_or_is_async() -> None:
    for path in settings.MIDDLEWARE:
        middleware = import_string(path)
        native = getattr(middleware, "async_capable", False) and not hasattr(
            middleware, "__acall__"
        )
        replaced = path in REPLACEMENTS or path in CONTRIB_REPLACEMENTS
        assert replaced or native, f"{path} would hop to a thread on every request"


def test_contrib_replacements_are_made_for_the_middleware_settings_name(settings: Any) -> None:
    assert set(CONTRIB_REPLACEMENTS) <= set(settings.MIDDLEWARE)
    assert all(path in replacements() for path in CONTRIB_REPLACEMENTS)
    settings.MIDDLEWARE = [p for p in settings.MIDDLEWARE if p not in CONTRIB_REPLACEMENTS]
    assert not set(CONTRIB_REPLACEMENTS) & set(replacements())


# --- SecurityMiddleware.process_response: Django's result, set straight into the store ---------

SECURITY_SETTINGS = [
    {},
    {"SECURE_HSTS_SECONDS": 3600},
    {
        "SECURE_HSTS_SECONDS": 60,
        "SECURE_HSTS_INCLUDE_SUBDOMAINS": True,
        "SECURE_HSTS_PRELOAD": True,
    },
    {"SECURE_CONTENT_TYPE_NOSNIFF": False, "SECURE_REFERRER_POLICY": None},
    {"SECURE_REFERRER_POLICY": " origin , strict-origin "},
    {"SECURE_REFERRER_POLICY": ["origin", "no-referrer"]},
    {"SECURE_CROSS_ORIGIN_OPENER_POLICY": None},
    {"SECURE_CROSS_ORIGIN_OPENER_POLICY": "same-origin-allow-popups"},
    {"SECURE_REFERRER_POLICY": "snow\u2603"},  # MIME-encoded by ResponseHeaders
    {"SECURE_REFERRER_POLICY": "bad\nvalue"},  # Django raises on every response
]


def _security_responses() -> list[Any]:
    from django.http import HttpResponse, JsonResponse, StreamingHttpResponse

    plain = HttpResponse("x")
    preset = HttpResponse("x")
    preset["x-content-type-options"] = "other"
    preset["Referrer-Policy"] = "unsafe-url"
    preset["Strict-Transport-Security"] = "max-age=1"
    preset["Cross-Origin-Opener-Policy"] = "unsafe-none"
    return [plain, preset, JsonResponse({}), StreamingHttpResponse(iter([b"a"]))]


@pytest.mark.parametrize("secure", [False, True])
@pytest.mark.parametrize("overrides", SECURITY_SETTINGS)
def test_security_process_response_is_djangos(
    overrides: dict[str, Any], secure: bool, settings: Any
) -> None:
    from django.middleware.security import SecurityMiddleware as Django
    from django.test import RequestFactory

    from hello_async.fastpath.middleware import FastSecurityMiddleware as Ours

    for name, value in overrides.items():
        setattr(settings, name, value)
    request = RequestFactory().get("/", secure=secure)

    def outcome(middleware: Any, index: int) -> Any:
        response = _security_responses()[index]
        try:
            middleware.process_response(request, response)
        except Exception as exc:  # noqa: BLE001 (the outcome under test)
            return type(exc)
        return list(response.headers._store.items())

    ours = Ours(lambda r: None)
    assert (ours._default_items is None) == ("bad\nvalue" in overrides.values())
    for index in range(len(_security_responses())):
        expected = outcome(Django(lambda r: None), index)
        assert outcome(ours, index) == expected


# --- a project without django.contrib's apps ----------------------------------------------------

MINIMAL_SETTINGS = """\
SECRET_KEY = "minimal"
ALLOWED_HOSTS = ["localhost"]
INSTALLED_APPS = []
MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]
ROOT_URLCONF = "minimal_urls"
DATABASES = {}
HELLO_ASYNC_FASTPATH = True
HELLO_ASYNC_FASTPATH_OFF = frozenset()
PRODUCTION = False
PROMETHEUS_MULTIPROC_DIR = ""
"""

MINIMAL_URLS = """\
from django.http import HttpResponse
from django.urls import path

async def hello(request):
    return HttpResponse("minimal")

urlpatterns = [path("", hello)]
"""

MINIMAL_RUN = """\
import asyncio, sys

import django

django.setup()
from asgiref.testing import ApplicationCommunicator

from hello_async.fastpath.handler import FastASGIHandler
from tests.support.servers import http_scope


async def get():
    app = ApplicationCommunicator(FastASGIHandler(), http_scope("/"))
    await app.send_input({"type": "http.request", "body": b""})
    start = await app.receive_output()
    body = await app.receive_output()
    await app.wait()
    return start["status"], body["body"].decode()


print(asyncio.run(get()))
print(sorted(m for m in sys.modules if m.startswith("django.contrib.")))
"""


def test_a_project_without_contrib_apps_builds_the_handler(tmp_path: Path) -> None:
    """No contenttypes, auth, sessions or messages: none of their modules is imported."""
    (tmp_path / "minimal_settings.py").write_text(MINIMAL_SETTINGS)
    (tmp_path / "minimal_urls.py").write_text(MINIMAL_URLS)
    run = subprocess.run(
        [sys.executable, "-c", MINIMAL_RUN],
        env={
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "minimal_settings",
            "PYTHONPATH": os.pathsep.join([str(tmp_path), str(ROOT)]),
        },
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert run.returncode == 0, run.stderr
    assert run.stdout.splitlines() == ["(200, 'minimal')", "[]"]
