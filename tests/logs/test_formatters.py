"""The console's lines as Uvicorn prints them; JSON lines with the request's id."""

from __future__ import annotations

import json
import logging

from hello_async.logs.formatters import ConsoleFormatter, JsonFormatter


def record(
    message: str, *args: object, name: str = "hello_async.article.kitchen"
) -> logging.LogRecord:
    return logging.LogRecord(name, logging.INFO, __file__, 1, message, args or None, None)


def test_one_line_looks_as_uvicorn_prints_it() -> None:
    assert ConsoleFormatter().format(record("Getting %s...", "smokeables")) == (
        "INFO:     Getting smokeables..."
    )


def test_each_line_of_a_record_gets_its_prefix() -> None:
    lines = ConsoleFormatter().format(record("Smoking some ribs...\nRibs smoked.")).split("\n")
    assert lines == ["INFO:     Smoking some ribs...", "INFO:     Ribs smoked."]


def test_json_gives_one_object_per_line_with_time_level_logger_and_request() -> None:
    made = record("1\n2")
    made.request_id = "f00-7"
    objects = [json.loads(line) for line in JsonFormatter().format(made).split("\n")]
    assert [o["message"] for o in objects] == ["1", "2"]
    assert {o["request_id"] for o in objects} == {"f00-7"}
    assert objects[0]["level"] == "INFO" and objects[0]["logger"] == "hello_async.article.kitchen"
    assert objects[0]["time"].endswith("+00:00") and "T" in objects[0]["time"]
