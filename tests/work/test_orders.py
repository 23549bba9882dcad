"""POST /smoke_orders/ queues a Django task (202); GET follows it; a worker in process runs it."""

from __future__ import annotations

import uuid

import pytest
from django.test import AsyncClient

from hello_async.models import SmokeLedger
from hello_async.work.worker import Worker, WorkerConfig

pytestmark = pytest.mark.django_db(transaction=True)

CONFIG = WorkerConfig(lease=5, max_attempts=3, poll_interval=0.01, shutdown_grace=5)


async def post(client: AsyncClient, body: object) -> object:
    return await client.post("/smoke_orders/", body, content_type="application/json")


def run_worker_until_idle() -> Worker:
    worker = Worker(CONFIG)
    worker.beat()
    worker.run(until_idle=True)
    return worker


@pytest.mark.asyncio
async def test_an_order_is_queued_with_202_then_a_worker_smokes_it_once() -> None:
    from asgiref.sync import sync_to_async

    client = AsyncClient()
    response = await post(client, {"meats": ["ribs", "salmon"], "flavor": "Stubb's Original"})
    assert response.status_code == 202
    queued = response.json()
    assert queued["status"] == "READY"
    assert queued["status_url"] == f"/smoke_orders/{queued['id']}/"
    assert response["Location"] == queued["status_url"]

    before = (await client.get(queued["status_url"])).json()
    assert before["status"] == "READY"
    assert before["attempts"] == 0
    assert before["started_at"] is None and before["enqueued_at"]

    worker = await sync_to_async(run_worker_until_idle, thread_sensitive=True)()
    assert worker.tasks_run == 1

    after = (await client.get(queued["status_url"])).json()
    assert after["status"] == "SUCCESSFUL"
    assert after["attempts"] == 1
    assert after["started_at"] and after["finished_at"]
    assert after["result"]["smoked"] == 2
    assert after["result"]["meats"] == ["ribs", "salmon"]
    assert after["error"] is None
    ledger = [entry async for entry in SmokeLedger.objects.all()]
    assert [(e.idempotency_key, e.flavor, e.attempt) for e in ledger] == [
        (queued["id"], "Stubb's Original", 1)
    ]

    listed = (await client.get("/smoke_orders/")).json()["orders"]
    assert [order["id"] for order in listed] == [queued["id"]]


@pytest.mark.asyncio
async def test_a_count_of_meats_means_the_first_that_many() -> None:
    response = await post(AsyncClient(), {"meats": 3, "flavor": "Famous Dave's"})
    order = (await AsyncClient().get(response.json()["status_url"])).json()
    assert order["meats"] == ["ribs", "brisket", "lemon chicken"]


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"meats": 0, "flavor": "Famous Dave's"}, "meats must be a count from 1 to 6"),
        ({"meats": 7, "flavor": "Famous Dave's"}, "meats must be a count from 1 to 6"),
        ({"meats": True, "flavor": "Famous Dave's"}, "meats must be a list of smokables"),
        ({"meats": "ribs", "flavor": "Famous Dave's"}, "meats must be a list of smokables"),
        ({"meats": [], "flavor": "Famous Dave's"}, "meats must be some of: ribs, brisket"),
        ({"meats": ["tofu"], "flavor": "Famous Dave's"}, "meats must be some of: ribs"),
        ({"meats": ["ribs", "ribs"], "flavor": "Famous Dave's"}, "meats must not repeat"),
        ({"meats": 2, "flavor": "ketchup"}, "flavor must be one of: Sweet Baby Ray's"),
        ({"meats": 2}, "flavor must be one of"),
        ([1, 2], "the body must be a JSON object"),
    ],
)
async def test_invalid_orders_are_400_and_queue_nothing(body: object, message: str) -> None:
    from django_tasks_db.models import DBTaskResult

    response = await post(AsyncClient(), body)
    assert response.status_code == 400
    assert message in response.content.decode()
    assert await DBTaskResult.objects.acount() == 0


@pytest.mark.asyncio
async def test_a_body_that_is_not_json_is_400() -> None:
    response = await AsyncClient().post("/smoke_orders/", b"{", content_type="application/json")
    assert response.status_code == 400
    assert response.content == b"the body must be JSON\n"


@pytest.mark.asyncio
@pytest.mark.parametrize("order_id", [str(uuid.uuid4()), "not-a-uuid"])
async def test_an_unknown_order_is_404(order_id: str) -> None:
    response = await AsyncClient().get(f"/smoke_orders/{order_id}/")
    assert response.status_code == 404
    assert response.content.decode() == f"no smoke order {order_id}\n"


@pytest.mark.asyncio
async def test_another_task_is_not_a_smoke_order() -> None:
    from tests.support.task_functions import own_status

    other = await own_status.aenqueue()
    assert (await AsyncClient().get(f"/smoke_orders/{other.id}/")).status_code == 404
    assert (await AsyncClient().get("/smoke_orders/")).json() == {"orders": []}


@pytest.mark.asyncio
async def test_other_methods_are_405() -> None:
    assert (await AsyncClient().put("/smoke_orders/")).status_code == 405
    assert (await AsyncClient().post(f"/smoke_orders/{uuid.uuid4()}/")).status_code == 405


@pytest.mark.asyncio
async def test_the_board_queues_from_a_form_and_shows_the_order_change_state() -> None:
    from asgiref.sync import sync_to_async

    client = AsyncClient()
    empty = await client.get("/smoke_orders/board/")
    assert empty.status_code == 200
    assert b"No orders yet." in empty.content
    assert b'http-equiv="refresh"' not in empty.content  # live: events, not reloads

    posted = await client.post(
        "/smoke_orders/board/", {"meats": ["brisket", "sausage"], "flavor": "Famous Dave's"}
    )
    assert posted.status_code == 303
    assert posted["Location"] == "/smoke_orders/board/"
    waiting = (await client.get("/smoke_orders/board/")).content.decode()
    assert '<span class="state state-ready">READY</span>' in waiting
    assert "brisket, sausage" in waiting

    await sync_to_async(run_worker_until_idle, thread_sensitive=True)()
    done = (await client.get("/smoke_orders/board/")).content.decode()
    assert '<span class="state state-successful">SUCCESSFUL</span>' in done
    assert "smoked 2 meats" in done


@pytest.mark.asyncio
async def test_the_board_form_validates_like_the_api() -> None:
    response = await AsyncClient().post("/smoke_orders/board/", {"flavor": "Famous Dave's"})
    assert response.status_code == 400
    assert b"meats must be some of" in response.content


@pytest.mark.asyncio
async def test_the_board_form_needs_the_csrf_token() -> None:
    client = AsyncClient(enforce_csrf_checks=True)
    response = await client.post("/smoke_orders/board/", {"meats": ["ribs"], "flavor": "x"})
    assert response.status_code == 403


# --- The queue is bounded: HELLO_ASYNC_TASK_MAX_QUEUED READY orders, then 503 -------------------

ORDER = {"meats": ["ribs"], "flavor": "Famous Dave's"}


async def ready_count() -> int:
    from django_tasks_db.models import DBTaskResult

    return await DBTaskResult.objects.filter(status="READY").acount()


@pytest.mark.asyncio
async def test_at_the_bound_an_order_is_503_with_retry_after_and_queues_nothing(
    settings,
) -> None:
    settings.HELLO_ASYNC_TASK_MAX_QUEUED = 3
    client = AsyncClient()
    accepted = [await post(client, ORDER) for _ in range(3)]
    assert [response.status_code for response in accepted] == [202, 202, 202]

    refused = await post(client, ORDER)
    assert refused.status_code == 503
    assert refused["Retry-After"] == "30"
    assert refused.content == b"the order queue is full; try again later\n"
    assert await ready_count() == 3


@pytest.mark.asyncio
async def test_at_the_bound_bad_input_is_still_400(settings) -> None:
    settings.HELLO_ASYNC_TASK_MAX_QUEUED = 1
    assert (await post(AsyncClient(), ORDER)).status_code == 202
    response = await post(AsyncClient(), {"meats": 0, "flavor": "Famous Dave's"})
    assert response.status_code == 400
    assert (
        await AsyncClient().post("/smoke_orders/", b"{", content_type="application/json")
    ).status_code == 400


@pytest.mark.asyncio
async def test_orders_that_left_ready_make_room_again(settings) -> None:
    from django_tasks_db.models import DBTaskResult

    settings.HELLO_ASYNC_TASK_MAX_QUEUED = 2
    for _ in range(2):
        assert (await post(AsyncClient(), ORDER)).status_code == 202
    assert (await post(AsyncClient(), ORDER)).status_code == 503
    first = await DBTaskResult.objects.order_by("enqueued_at").afirst()
    assert first is not None
    first.status = "SUCCESSFUL"  # a worker took it: RUNNING, SUCCESSFUL or FAILED count no more
    await first.asave(update_fields=["status"])
    assert (await post(AsyncClient(), ORDER)).status_code == 202
    assert await ready_count() == 2


@pytest.mark.asyncio
async def test_every_ready_task_counts_toward_the_bound(settings) -> None:
    from tests.support.task_functions import own_status

    settings.HELLO_ASYNC_TASK_MAX_QUEUED = 1
    await own_status.aenqueue()  # another kind of task waits for the same workers
    assert (await post(AsyncClient(), ORDER)).status_code == 503


@pytest.mark.asyncio
async def test_at_the_bound_the_board_form_is_503_and_queues_nothing(settings) -> None:
    settings.HELLO_ASYNC_TASK_MAX_QUEUED = 1
    client = AsyncClient()
    form = {"meats": ["ribs"], "flavor": "Famous Dave's"}
    assert (await client.post("/smoke_orders/board/", form)).status_code == 303
    refused = await client.post("/smoke_orders/board/", form)
    assert refused.status_code == 503
    assert refused["Retry-After"] == "30"
    assert (await client.post("/smoke_orders/board/", {"flavor": "x"})).status_code == 400
    assert await ready_count() == 1


def test_the_ready_count_is_one_query_on_the_ready_index(settings) -> None:
    """One ``SELECT COUNT(*)``, and the database plans it on django-tasks-db's READY index."""
    from asgiref.sync import async_to_sync
    from django.db import connection, transaction
    from django.test.utils import CaptureQueriesContext

    from hello_async.work.orders import smoke_order_acount_ready

    with CaptureQueriesContext(connection) as queries:
        # async_to_sync runs the ORM's sync half on this thread (thread_sensitive), on this
        # connection, so the query is captured here.
        assert async_to_sync(smoke_order_acount_ready)(limit=5) == 0
    [query] = queries.captured_queries
    with transaction.atomic(), connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            cursor.execute("EXPLAIN QUERY PLAN " + query["sql"])
        else:
            cursor.execute("SET LOCAL enable_seqscan = off")  # the plan the table allows
            cursor.execute("EXPLAIN " + query["sql"])
        plan = " ".join(str(row) for row in cursor.fetchall())
    assert "tasks_db_new_ordering_idx" in plan
    assert "LIMIT 5" in query["sql"]
