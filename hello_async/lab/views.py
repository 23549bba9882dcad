"""The lab's views, thin: parse and validate, call the runner, shape JSON (or render the page)."""

from __future__ import annotations

import json
from typing import Any

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.urls import path
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST, require_safe

from hello_async.errors import BadRequest
from hello_async.lab import runner
from hello_async.lab.presets import MAX_CONCURRENCY, MIN_CONCURRENCY, PRESETS, Preset

MAX_BODY = 1024
DEFAULT_CONCURRENCY = 20


def parse_run(body: bytes) -> tuple[Preset, int]:
    if len(body) > MAX_BODY:
        raise BadRequest(_("The request body is too large."))
    try:
        data: Any = json.loads(body or b"null")
    except (ValueError, UnicodeDecodeError):
        raise BadRequest(_("The request body must be JSON.")) from None
    if not isinstance(data, dict):
        raise BadRequest(_('Send a JSON object: {"preset": ..., "concurrency": ...}.'))
    key = data.get("preset")
    preset = PRESETS.get(key) if isinstance(key, str) else None
    if preset is None:
        raise BadRequest(_("preset must be one of: %(presets)s.") % {"presets": ", ".join(PRESETS)})
    concurrency = data.get("concurrency")
    # bool is an int in Python; true is not a concurrency.
    if (
        not isinstance(concurrency, int)
        or isinstance(concurrency, bool)
        or not MIN_CONCURRENCY <= concurrency <= MAX_CONCURRENCY
    ):
        raise BadRequest(
            _("concurrency must be a whole number from %(min)d to %(max)d.")
            % {"min": MIN_CONCURRENCY, "max": MAX_CONCURRENCY}
        )
    return preset, concurrency


@require_safe
async def page(request: HttpRequest) -> HttpResponse:
    """The lab: the article's claims run side by side in your browser."""
    strings = {
        "running": _("Running…"),
        "partial": _("Stopped at the %(seconds)s s limit: partial results.")
        % {"seconds": f"{runner.DEADLINE:g}"},
        "failed": _("The experiment failed"),
        "rps": _("requests/s"),
        "p50": _("p50"),
        "p99": _("p99"),
        "span": _("span"),
        "errors": _("errors"),
        "unfinished": _("unfinished"),
        "ms": _("ms"),
        "faster": _("Side B finished %(ratio)s× sooner than side A."),
        "slower": _("Side B took %(ratio)s× as long as side A."),
        "chart_title": _("One bar per request, from its start to its end"),
        "axis": _("time since the side started (ms)"),
    }
    context = {
        "presets": PRESETS.values(),
        "min_concurrency": MIN_CONCURRENCY,
        "max_concurrency": MAX_CONCURRENCY,
        "default_concurrency": DEFAULT_CONCURRENCY,
        "deadline": f"{runner.DEADLINE:g}",
        "strings": strings,
        "page": "lab",
    }
    return render(request, "lab/index.html", context)


@require_POST
async def run(request: HttpRequest) -> JsonResponse:
    preset, concurrency = parse_run(request.body)
    result = await runner.experiment_arun(
        preset=preset, concurrency=concurrency, target=runner.target_from_request(request)
    )
    return JsonResponse(result.as_json())


@never_cache
@require_safe
async def status(request: HttpRequest) -> JsonResponse:
    return JsonResponse(runner.get_lab().status())


urlpatterns = [
    path("", page, name="lab"),
    path("run/", run, name="lab-run"),
    path("status/", status, name="lab-status"),
]
