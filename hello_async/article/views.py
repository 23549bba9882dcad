"""The article's views, thin: parse input, call one service, shape the response."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods, require_safe

from hello_async.article import kitchen, smoke_runs
from hello_async.jobs import background
from hello_async.models import SmokeRun
from hello_async.web import responses
from hello_async.web.lean import lean_middleware
from hello_async.web.middleware import error_response
from hello_async.web.params import limit_param


@lean_middleware
@require_safe
async def index(request: HttpRequest) -> HttpResponse:
    """Hello, async Django!"""
    return responses.text("Hello, async Django!")


@lean_middleware
@require_safe
async def async_view(request: HttpRequest) -> HttpResponse:
    """Answers at once; the log counts 1..5, then <Response [200 OK]>."""
    refused = start(kitchen.ahttp_call, name="http_call_async")
    return refused or responses.text("Non-blocking HTTP request")


@lean_middleware
@require_safe
def sync_view(request: HttpRequest) -> HttpResponse:
    """Counts 1..5 with blocking sleeps, then answers (~5 s)."""
    kitchen.http_call()
    return responses.text("Blocking HTTP request")


@lean_middleware
@require_safe
async def async_with_sync_view(request: HttpRequest) -> HttpResponse:
    """Answers at once; the count runs in a worker thread."""
    refused = start(
        lambda: kitchen.ahttp_call_in_thread(background.executor()),  # the owner's bounded pool
        name="http_call_sync",
    )
    return refused or responses.text("Non-blocking HTTP request (via sync_to_async)")


def start(work: background.Work, *, name: str) -> HttpResponse | None:
    """Start ``work`` in the background; None, or the 503 to send while the owner is full.

    The refusal is answered here rather than raised: Django runs a view's exception through a
    thread of the request's own (``process_exception_by_middleware``), which would make each
    refused request of a flood cost several times an accepted one. ``error_response`` is still
    the one mapping of the project's errors.
    """
    try:
        background.submit(work, name=name)
    except background.BackgroundFull as full:
        return error_response(full)
    return None


@lean_middleware
@require_safe
async def smoke_some_meats(request: HttpRequest) -> HttpResponse:
    """Two gathered waits: ~2 s, not 3."""
    result = await kitchen.asmoke_some_meats()
    return responses.text(f"Smoked {result.count} meats with {result.flavor}!")


@lean_middleware
@require_safe
async def burn_some_meats(request: HttpRequest) -> HttpResponse:
    """Blocks the event loop for 5 s: every request waits (routed only while the lab is on)."""
    kitchen.oversmoke()  # a blocking call in an async view: the anti-pattern, on purpose
    return responses.text("Burned some meats.")


# --- smoke runs: the async ORM -----------------------------------------------------------------

RUNS_LIMIT_MAX = 100


@lean_middleware
@csrf_exempt  # a JSON endpoint without cookie auth; its only effect is a new run record
@require_http_methods(["GET", "HEAD", "POST"])
async def smoke_runs_view(request: HttpRequest) -> HttpResponse:
    """GET lists runs, POST smokes and records one (async ORM)."""
    if request.method == "POST":
        run = await smoke_runs.smoke_run_aperform()
        return JsonResponse(run_json(run), status=201)
    limit = limit_param(request.GET.get("limit"), high=RUNS_LIMIT_MAX)
    runs = await smoke_runs.smoke_run_alist(limit=limit)
    return JsonResponse({"runs": [run_json(run) for run in runs]})


def run_json(run: SmokeRun) -> dict[str, object]:
    return {
        "id": run.pk,
        "flavor": run.flavor,
        "meats": run.meats,
        "duration": round(run.duration, 3),
        "created_at": run.created_at.isoformat(),
    }
