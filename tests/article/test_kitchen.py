"""kitchen.smoke(): the article's lines at INFO, and none (nor their cost) above it."""

from __future__ import annotations

import logging

import pytest

from hello_async.article import kitchen


def test_smoke_logs_three_lines_a_meat_at_info_in_one_record(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="hello_async.article.kitchen")
    assert kitchen.smoke(["ribs", "salmon"], "Famous Dave's") == 2
    assert len(caplog.records) == 1  # one step of the loop, one record: its lines printed apart
    assert caplog.records[0].getMessage().split("\n") == [
        "Smoking some ribs...",
        "Applying the Famous Dave's...",
        "Ribs smoked.",
        "Smoking some salmon...",
        "Applying the Famous Dave's...",
        "Salmon smoked.",
    ]


def test_smoke_logs_nothing_above_info(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="hello_async.article.kitchen")
    assert kitchen.smoke(list(kitchen.SMOKABLES), "Stubb's Original") == len(kitchen.SMOKABLES)
    assert caplog.records == []
