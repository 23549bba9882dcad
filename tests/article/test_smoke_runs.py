from __future__ import annotations

import pytest
from django.test import AsyncClient

from hello_async.article import smoke_runs
from hello_async.models import SmokeRun

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.mark.asyncio
async def test_post_smokes_and_records_a_run_then_get_lists_it(serving) -> None:
    client = AsyncClient()
    created = await client.post("/smoke_runs/")
    assert created.status_code == 201
    run = created.json()
    assert run["meats"] == 6
    assert set(run) == {"id", "flavor", "meats", "duration", "created_at"}

    listed = await client.get("/smoke_runs/")
    assert listed.status_code == 200
    assert listed.json()["runs"] == [run]
    assert await SmokeRun.objects.acount() == 1


@pytest.mark.asyncio
@pytest.mark.parametrize("limit", ["0", "101", "x", "1.5", ""])
async def test_bad_limit_is_a_400_with_a_message(serving, limit: str) -> None:
    response = await AsyncClient().get("/smoke_runs/", {"limit": limit})
    assert response.status_code == 400
    assert response.content == b"limit must be an integer from 1 to 100\n"


@pytest.mark.asyncio
async def test_limit_and_order(serving) -> None:
    for meats in (1, 2, 3):
        await SmokeRun.objects.acreate(flavor="Famous Dave's", meats=meats, duration=0.1)
    response = await AsyncClient().get("/smoke_runs/", {"limit": "2"})
    assert [run["meats"] for run in response.json()["runs"]] == [3, 2]


@pytest.mark.asyncio
async def test_other_methods_are_405(serving) -> None:
    assert (await AsyncClient().put("/smoke_runs/")).status_code == 405


def test_prune_keeps_the_newest() -> None:
    for meats in range(1, 6):
        SmokeRun.objects.create(flavor="Stubb's Original", meats=meats, duration=0.1)
    assert smoke_runs.smoke_runs_prune(keep=2) == 3
    assert sorted(SmokeRun.objects.values_list("meats", flat=True)) == [4, 5]
    assert smoke_runs.smoke_runs_prune(keep=2) == 0


@pytest.mark.asyncio
async def test_aprune_runs_the_sync_transaction_through_sync_to_async() -> None:
    for meats in range(1, 4):
        await SmokeRun.objects.acreate(flavor="Stubb's Original", meats=meats, duration=0.1)
    assert await smoke_runs.smoke_runs_aprune(keep=1) == 2
    assert await SmokeRun.objects.acount() == 1
