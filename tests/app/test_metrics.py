"""The metrics collector over fake map handles (no root, no kernel)."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from prometheus_client import CollectorRegistry, generate_latest

from upf.datapath.abi import Counter, Reason
from upf.metrics import UpfCollector, xdp_counters

NR = int(Reason.REASON_MAX)


class FakeStats:
    """What upf.datapath.stats.read_xdp_stats reads: read_raw(), ncpus, stride."""

    ncpus = 2
    stride = 16

    def __init__(self, rows: dict[int, tuple[int, int]]) -> None:
        self.rows = rows

    def read_raw(self) -> tuple[Any, int]:
        n = max(self.rows) + 1
        buf = (Counter * (n * self.ncpus))()
        for k, (p, b) in self.rows.items():  # split over the two CPUs
            buf[k * 2] = Counter(packets=p - p // 2, bytes=b - b // 2)
            buf[k * 2 + 1] = Counter(packets=p // 2, bytes=b // 2)
        return buf, n


def test_xdp_counters_decode_slot_and_reason() -> None:
    m = FakeStats({
        3 * NR + int(Reason.FWD_UPLINK): (10, 1000),
        5 * NR + int(Reason.DROP_UNKNOWN_TEID): (2, 200),
        7 * NR + int(Reason.FWD_DOWNLINK): (0, 0),  # zero rows are skipped
    })  # fmt: skip
    assert sorted(xdp_counters(m)) == [
        (3, "fwd_uplink", 10, 1000),
        (5, "drop_unknown_teid", 2, 200),
    ]


def test_collector_exposes_datapath_and_agent() -> None:
    dp = SimpleNamespace(xdp_stats=FakeStats({3 * NR + int(Reason.FWD_UPLINK): (10, 1000)}))
    agent = SimpleNamespace(
        sessions={1: object(), 2: object()},
        associations={"10.50.0.1": object()},
        pfcp_messages={("tx", "SESSION_ESTABLISHMENT_RESPONSE", "REQUEST_ACCEPTED"): 2},
        stats=SimpleNamespace(__dataclass_fields__={"sessions_established": None},
                              sessions_established=2),
        node=None,
    )  # fmt: skip
    reg = CollectorRegistry(auto_describe=False)
    reg.register(UpfCollector(dp, agent, {3: "n3"}))
    text = generate_latest(reg).decode()
    assert 'upf_xdp_packets_total{interface="n3",reason="fwd_uplink"} 10.0' in text
    assert 'upf_xdp_bytes_total{interface="n3",reason="fwd_uplink"} 1000.0' in text
    assert "upf_pfcp_sessions 2.0" in text
    assert "upf_pfcp_associations 1.0" in text
    assert (
        'upf_pfcp_messages_total{cause="REQUEST_ACCEPTED",direction="tx",'
        'type="SESSION_ESTABLISHMENT_RESPONSE"} 2.0'
    ) in text
    assert 'upf_pfcp_agent_events_total{event="sessions_established"} 2.0' in text


def test_collector_survives_a_broken_map() -> None:
    class Broken:
        ncpus, stride = 1, 16

        def read_raw(self) -> Any:
            raise OSError("map gone")

    reg = CollectorRegistry(auto_describe=False)
    reg.register(UpfCollector(SimpleNamespace(xdp_stats=Broken()), None, {}))
    assert b"upf_xdp_packets" in generate_latest(reg)


def test_n4_workers_counters_merge_into_one() -> None:
    from upf.workers import merged_snapshot

    lead = {"sessions": 3, "associations": 1, "messages": {("rx", "A", ""): 2},
            "agent": {"sessions_established": 3}, "node": {"requests_received": 5}}
    follower = {"sessions": 4, "associations": 1, "messages": {("rx", "A", ""): 1,
                                                               ("tx", "B", "OK"): 4},
                "agent": {"sessions_established": 4}, "node": {"requests_received": 4}}
    out = merged_snapshot(lead, {1: follower, 2: follower})
    assert out == {"sessions": 11, "associations": 1,
                   "messages": {("rx", "A", ""): 4, ("tx", "B", "OK"): 8},
                   "agent": {"sessions_established": 11}, "node": {"requests_received": 13}}
