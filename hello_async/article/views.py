"""The article's views, thin: parse input, call one service, shape the response."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods, require_safe

from hello_async.article import kitchen, smoke_runs
from hello_async.models import SmokeRun
from hello_async.web.params import int_param, text
from hello_async.work import background


@require_safe
async def index(request: HttpRequest) -> HttpResponse:
    return text("Hello, async Django!")


@require_safe
async def async_view(request: HttpRequest) -> HttpResponse:
    background.submit(kitchen.ahttp_call, name="http_call_async")
    return text("Non-blocking HTTP request")


@require_safe
def sync_view(request: HttpRequest) -> HttpResponse:
    kitchen.http_call()
    return text("Blocking HTTP request")


@require_safe
async def async_with_sync_view(request: HttpRequest) -> HttpResponse:
    background.submit(kitchen.ahttp_call_in_thread, name="http_call_sync")
    return text("Non-blocking HTTP request (via sync_to_async)")


@require_safe
async def smoke_some_meats(request: HttpRequest) -> HttpResponse:
    result = await kitchen.asmoke_some_meats()
    return text(f"Smoked {result.count} meats with {result.flavor}!")


@require_safe
async def burn_some_meats(request: HttpRequest) -> HttpResponse:
    kitchen.oversmoke()  # a blocking call in an async view: the anti-pattern, on purpose
    return text("Burned some meats.")


# --- smoke runs: the async ORM -----------------------------------------------------------------

RUNS_LIMIT_MAX = 100


@csrf_exempt  # a JSON endpoint without cookie auth; its only effect is a new run record
@require_http_methods(["GET", "HEAD", "POST"])
async def smoke_runs_view(request: HttpRequest) -> HttpResponse:
    if request.method == "POST":
        run = await smoke_runs.smoke_run_aperform()
        return JsonResponse(run_json(run), status=201)
    limit = parse_limit(request.GET.get("limit"))
    runs = await smoke_runs.smoke_run_alist(limit=limit)
    return JsonResponse({"runs": [run_json(run) for run in runs]})


def parse_limit(raw: str | None) -> int:
    message = f"limit must be an integer from 1 to {RUNS_LIMIT_MAX}"
    return int_param(raw, default=20, low=1, high=RUNS_LIMIT_MAX, message=message)


def run_json(run: SmokeRun) -> dict[str, object]:
    return {
        "id": run.pk,
        "flavor": run.flavor,
        "meats": run.meats,
        "duration": round(run.duration, 3),
        "created_at": run.created_at.isoformat(),
    }
