from __future__ import annotations

import pytest
from django.conf import settings
from django.utils.module_loading import import_string

from hello_async.fastpath.middleware import REPLACEMENTS

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


@pytest.mark.parametrize("path", sorted(REPLACEMENTS))
def test_django_class_has_only_the_reviewed_hooks(path: str) -> None:
    django_class = import_string(path)
    hooks = {hook for hook in HOOKS if hasattr(django_class, hook)}
    assert hooks == REVIEWED[path], f"{path} changed its hooks: review inline_middleware.py"
    assert issubclass(REPLACEMENTS[path], django_class)


def test_every_stock_middleware_in_settings_has_an_inline_version_or_is_async() -> None:
    for path in settings.MIDDLEWARE:
        middleware = import_string(path)
        native = getattr(middleware, "async_capable", False) and not hasattr(
            middleware, "__acall__"
        )
        assert path in REPLACEMENTS or native, f"{path} would hop to a thread on every request"
