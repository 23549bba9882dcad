"""``hello-async bench --scenario fleet`` at a tiny size: two hosts on one Redis and one
database deliver everything. Completeness only, never timings."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.live.test_broker import redis_is_up
from tests.support.servers import ROOT

STREAMS = 20
REQUESTS = 5

pytestmark = [
    pytest.mark.server,
    pytest.mark.skipif(not redis_is_up(), reason="Redis is not running on 127.0.0.1:6379"),
]


@pytest.mark.timeout(180)
def test_every_board_stream_gets_both_transitions_and_every_console_line_arrives(
    tmp_path: Path,
) -> None:
    results = tmp_path / "results.json"
    argv = [sys.executable, "-m", "hello_async.cli", "bench", "--scenario", "fleet"]
    argv += ["--fleet-streams", str(STREAMS), "--fleet-requests", str(REQUESTS)]
    # The board and the console; the ratio's two fan-out servers, one short round each.
    argv += ["--variant", "board", "--variant", "console", "--rounds", "1"]
    argv += ["--warmup", "0", "--seconds", "1", "--json", str(results)]
    argv += ["--out", str(tmp_path / "out")]
    done = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=170)
    assert done.returncode == 0, done.stdout + done.stderr
    (scenario,) = json.loads(results.read_text())["scenarios"]
    details = scenario["details"]
    board, console = details["board"], details["console"]
    # Every stream, on either host, saw every order RUNNING and SUCCESSFUL as it happened.
    assert board["streams"] == STREAMS and board["refused"] == 0
    assert board["complete_streams"] == STREAMS, board
    assert board["received"] == board["expected"] == STREAMS * board["orders"] * 2
    # Every line of every request, served by either host, reached its console.
    assert console["answered"] == console["responses"] == REQUESTS, console
    assert console["lines_per_request"] > 0
    assert console["received"] == console["expected"], console
    by_key = {v["key"]: v for v in scenario["variants"]}
    assert by_key["board"]["errors"] == by_key["console"]["errors"] == 0
    assert by_key["plain"]["rps"] > 0 and by_key["redis"]["rps"] > 0
    assert scenario["ratio"]["value"] is not None
    assert (tmp_path / "out" / "fleet.png").read_bytes().startswith(b"\x89PNG")
    assert f"{board['expected']:,}/{board['expected']:,}" in done.stdout  # in the table
