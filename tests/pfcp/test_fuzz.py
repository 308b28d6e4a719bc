"""A bounded run of the mutation fuzzer (the long run: python -m tests.pfcp.fuzz)."""

from __future__ import annotations

from tests.pfcp import fuzz


def test_fuzz_20k() -> None:
    summary = fuzz.run(20_000, seed=20_000)
    assert summary["crashes"] == 0, summary["crash_samples"]
    assert summary["accepted"] > 1000  # the mutations still reach deep decoding
    assert summary["decode_errors_by_cause"].get("INVALID_LENGTH", 0) > 0
    assert summary["decode_errors_by_cause"].get("MANDATORY_IE_MISSING", 0) > 0
