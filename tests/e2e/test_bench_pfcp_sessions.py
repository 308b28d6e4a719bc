"""benchmarks/pfcp_sessions.py runs end to end on a small load: the agent on kernel maps
with two N4 workers and then one, the load generator in its own process, every request of
every phase accepted, and each figure the README quotes present in the JSON."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

pytestmark = [
    pytest.mark.root,
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root (BPF maps)"),
    pytest.mark.skipif(not (ROOT / "build" / "xdp" / "upf.o").exists(),
                       reason="build/xdp/upf.o missing: make bpf"),
]

FIGURES = ("calibration_loop_1000_us", "establish_per_s", "modify_per_s", "delete_per_s",
           "agent_cpu_us_per_establish", "agent_rss_mb", "p50_ms", "p99_ms")


def test_a_small_run_accepts_everything_and_reports_every_figure() -> None:
    sessions = 300
    out = subprocess.run(
        [sys.executable, "-m", "benchmarks.pfcp_sessions", "--json", "--workers", "2",
         "--sessions", str(sessions), "--latency-sessions", "100"],
        cwd=ROOT, capture_output=True, text=True, timeout=300, check=True,
    )
    result = json.loads(out.stdout)
    for run in (result, result["single_worker"]):
        assert run["established"] == sessions
        assert run["causes"] == {phase: {"REQUEST_ACCEPTED": sessions}
                                 for phase in ("establish", "modify", "delete")}
        for figure in FIGURES:
            assert run[figure] > 0, figure
    assert result["workers"] == 2 and set(result["speedup"]) == {
        "establish_per_s", "modify_per_s", "delete_per_s"}
