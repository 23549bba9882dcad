"""Views of /smoke_orders/: queue an order (202), then follow it through its states."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from django.http import (
    HttpRequest,
    HttpResponse,
    HttpResponseRedirect,
    JsonResponse,
    StreamingHttpResponse,
)
from django.shortcuts import render
from django.urls import path, reverse
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods, require_safe

from hello_async.article import kitchen
from hello_async.errors import BadRequest
from hello_async.streams.sse import require_asgi, sse_head, sse_response
from hello_async.streams.subscribers import get_streams
from hello_async.web.params import limit_param
from hello_async.work import board
from hello_async.work import orders as smoke_orders

app_name = "smoke_orders"


@csrf_exempt  # a JSON endpoint without cookie auth; its only effect is a queued order
@require_http_methods(["GET", "HEAD", "POST"])
async def orders_view(request: HttpRequest) -> HttpResponse:
    """POST queues a smoke order (a Django task, run by the worker); GET lists them."""
    if request.method == "POST":
        body = parse_json_object(request.body)
        order = await smoke_orders.smoke_order_aenqueue(
            meats=body.get("meats"), flavor=body.get("flavor")
        )
        status_url = reverse("smoke_orders:detail", kwargs={"id": order.id})
        response = JsonResponse(
            {"id": order.id, "status": order.status, "status_url": status_url}, status=202
        )
        response["Location"] = status_url
        return response
    limit = limit_param(request.GET.get("limit"), high=100)
    orders = await smoke_orders.smoke_order_alist(limit=limit)
    return JsonResponse({"orders": [smoke_orders.smoke_order_json(order) for order in orders]})


@require_safe
async def order_view(request: HttpRequest, id: str) -> HttpResponse:
    return JsonResponse(smoke_orders.smoke_order_json(await smoke_orders.smoke_order_aget(id=id)))


@require_http_methods(["GET", "HEAD", "POST"])
async def board_view(request: HttpRequest) -> HttpResponse:
    """The orders board: queue an order, watch the newest ones change state."""
    if request.method == "POST":
        await smoke_orders.smoke_order_aenqueue(
            meats=request.POST.getlist("meats"), flavor=request.POST.get("flavor")
        )
        return HttpResponseRedirect(reverse("smoke_orders:board"), status=303)
    orders = await smoke_orders.smoke_order_alist_json(limit=board.SHOWN)
    for order in orders:  # datetimes for the template's time filter
        for field in ("enqueued", "started", "finished"):
            moment = order[f"{field}_at"]
            order[field] = datetime.fromisoformat(moment) if moment else None
    context = {
        "orders": orders,
        "smokables": kitchen.SMOKABLES,
        "flavors": kitchen.FLAVORS,
        "strings": board_strings(),
        "shown": board.SHOWN,
        "page": "board",
    }
    return render(request, "smoke_orders/board.html", context)


def board_strings() -> dict[str, object]:
    return {
        "states": {
            "READY": _("READY"),
            "RUNNING": _("RUNNING"),
            "SUCCESSFUL": _("SUCCESSFUL"),
            "FAILED": _("FAILED"),
        },
        "took": _("took %(seconds)s s"),
        "smoked": _("smoked %(count)s"),
        "empty": _("No orders yet."),
        "dropped": _("The board fell behind and was disconnected; reload the page."),
    }


@require_safe
async def board_events(request: HttpRequest) -> HttpResponse | StreamingHttpResponse:
    """The board's changes as server-sent events: the whole board, then each order that moves."""
    require_asgi(request)
    if request.method == "HEAD":
        return sse_head()
    subscriber = get_streams().subscribe("board", endless=True)  # Busy: 503 with Retry-After
    feed = board.get_feed()
    return sse_response(
        subscriber,
        on_start=lambda: feed.watch(subscriber),
        on_close=lambda: feed.unwatch(subscriber),
    )


def parse_json_object(raw: bytes) -> dict[str, Any]:
    try:
        body = json.loads(raw or b"null")
    except (ValueError, UnicodeDecodeError):
        raise BadRequest("the body must be JSON") from None
    if not isinstance(body, dict):
        raise BadRequest('the body must be a JSON object: {"meats": ..., "flavor": ...}')
    return body


urlpatterns = [
    path("", orders_view, name="list"),
    path("board/", board_view, name="board"),  # before <id>/: "board" is no order id
    path("board/events/", board_events, name="board-events"),
    path("<str:id>/", order_view, name="detail"),
]
