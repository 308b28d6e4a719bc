"""The codec benchmark runs and prints what it promises (no timing is asserted)."""

from __future__ import annotations

from benchmarks import pfcp_codec


def test_benchmark_runs() -> None:
    result = pfcp_codec.run(runs=20, scapy_runs=2)
    for key in ("decode_us", "encode_us", "response_decode_us", "response_encode_us"):
        assert result[key] > 0
        assert result["cpu_time_median_us"][key] > 0
    assert result["scapy"]["decode_us"] > 0 and result["request_octets"] == 346
