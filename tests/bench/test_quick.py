"""``hello-async bench --quick`` end to end, as CI runs it: behaviour only, never timings."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from hello_async.bench.scenarios import QUICK_SCENARIOS
from tests.support.servers import ROOT


@pytest.mark.server
@pytest.mark.timeout(150)
def test_bench_quick_writes_every_scenario_with_traffic_and_no_errors(tmp_path: Path) -> None:
    results = tmp_path / "results.json"
    done = subprocess.run(
        [sys.executable, "-m", "hello_async.cli", "bench", "--quick"]
        + ["--json", str(results), "--out", str(tmp_path / "out")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=140,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    data = json.loads(results.read_text())
    assert [s["name"] for s in data["scenarios"]] == list(QUICK_SCENARIOS)
    for scenario in data["scenarios"]:
        assert len(scenario["variants"]) >= 2
        for variant in scenario["variants"]:
            assert variant["rps"] > 0, (scenario["name"], variant)
            assert variant["errors"] == 0, (scenario["name"], variant)
        assert (tmp_path / "out" / scenario["chart"]).read_bytes().startswith(b"\x89PNG")
    assert "ratio" in done.stdout
