"""Percentiles and phase summaries of the SMF simulator."""

from __future__ import annotations

from upf.loadstats import PhaseStats, percentile
from upf.smfsim import SimConfig, SmfSim


def test_percentile_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 50) == 50.0
    assert percentile(values, 99) == 99.0
    assert percentile(values, 100) == 100.0
    assert percentile([7.0], 99) == 7.0
    assert percentile([], 50) == 0.0


def test_phase_summary() -> None:
    st = PhaseStats("establish")
    for ms in (1, 2, 3, 4):
        st.record(ms / 1e3, "REQUEST_ACCEPTED", True)
    st.record(0.010, "NO_RESOURCES_AVAILABLE", False)
    st.timeout()
    st.elapsed_s = 0.5
    s = st.summary()
    assert (s["count"], s["accepted"], s["rejected"], s["timeouts"]) == (6, 4, 1, 1)
    assert s["per_s"] == 12.0
    assert s["p50_ms"] == 3.0
    assert s["max_ms"] == 10.0
    assert s["causes"] == {"NO_RESOURCES_AVAILABLE": 1, "REQUEST_ACCEPTED": 4, "TIMEOUT": 1}


def test_session_plan_is_deterministic() -> None:
    sim = SmfSim(SimConfig(upf=("127.0.0.1", 8805), sessions=3))
    plan = sim.plan()
    assert [str(s.ue) for s in plan] == ["10.45.0.1", "10.45.0.2", "10.45.0.3"]
    assert len({s.cp_seid for s in plan}) == 3
    assert len({s.gnb_teid for s in plan}) == 3
