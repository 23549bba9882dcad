"""``hello-async worker`` called in process; tests/work/test_worker_process.py runs it for real."""

from __future__ import annotations

from dataclasses import replace

import pytest
from django.db import connection

from hello_async.work import worker
from hello_async.work.worker.command import open_wakeup
from hello_async.work.worker.wakeup import Listener, Poll
from tests.support.workers import CONFIG

QUEUE = {"queue_name": "default", "backend_name": "default"}


def test_worker_command_rejects_zero_processes(capsys: pytest.CaptureFixture[str]) -> None:
    assert worker.main(["--processes", "0"]) == 2
    assert "--processes must be 1 or more" in capsys.readouterr().err


@pytest.mark.django_db
def test_open_wakeup_listens_on_postgresql_unless_turned_off() -> None:
    assert isinstance(open_wakeup(replace(CONFIG, listen=False), **QUEUE), Poll)
    wakeup = open_wakeup(replace(CONFIG, listen=True), **QUEUE)
    try:
        if connection.vendor == "postgresql":
            assert isinstance(wakeup, Listener) and wakeup.listening
        else:
            assert isinstance(wakeup, Poll)  # SQLite cannot LISTEN: it polls
    finally:
        wakeup.close()
