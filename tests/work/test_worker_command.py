"""``hello-async worker`` called in process; tests/work/test_worker_process.py runs it for real."""

from __future__ import annotations

import pytest

from hello_async.work import worker


def test_worker_command_rejects_zero_processes(capsys: pytest.CaptureFixture[str]) -> None:
    assert worker.main(["--processes", "0"]) == 2
    assert "--processes must be 1 or more" in capsys.readouterr().err
