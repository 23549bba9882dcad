"""scripts/request_timeline.py's report: each request's time split into the phases of its life,
from made-up records (the served process is run by hand, docs/performance.md)."""

from __future__ import annotations

import sys

from tests.support.servers import ROOT

sys.path.insert(0, str(ROOT / "scripts"))
from request_timeline import report  # noqa: E402


def _request(sent: float, *, first: bool, read: float) -> dict[str, float]:
    marks = {"read": read, "app": read + 0.001, "up_start": read + 0.002}
    marks |= {"up_end": read + 0.102, "written": read + 0.103}
    return marks | ({"accepted": read - 0.001} if first else {"prev_written": sent})


def test_a_late_accept_is_counted_as_waiting_not_as_the_servers_work() -> None:
    since = 100.0
    served = [
        _request(since + 1 + i / 100, first=False, read=since + 1 + i / 100) for i in range(98)
    ]
    late = _request(since, first=True, read=since + 5.0)  # its connection accepted 5 s late
    text = report(
        {"requests": [*served, late], "accepts": [since + 0.01, since + 4.999]},
        since=since,
        until=since + 8,
    )
    lines = {line[:32].strip(): line[32:].split() for line in text.splitlines()}
    assert lines["of which, to be accepted"][2] == "4999.0"  # max: that connection's wait
    assert lines["whole (sent -> written)"][2] == "5103.0"
    assert lines["upstream calls (both)"][2] == "100.0"  # the work itself never took longer
    assert "accepted after wrk started: 2" in text


def test_requests_of_the_warm_up_connections_are_left_out() -> None:
    since = 100.0
    old = _request(since, first=True, read=since - 1)  # accepted before the measured run
    text = report({"requests": [old], "accepts": []}, since=since, until=since + 8)
    assert text == "no request in the window"
