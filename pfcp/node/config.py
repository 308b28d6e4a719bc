"""Tunables of the PFCP node (TS 29.244 6.4 leaves T1 and N1 to the implementation)."""

from __future__ import annotations

from dataclasses import dataclass

from pfcp.node.errors import NodeConfigError

__all__ = ["NodeConfig"]

_SEQUENCE_MASK = 0xFFFFFF


@dataclass(frozen=True, slots=True)
class NodeConfig:
    """How the node retransmits, caches responses and probes peers.

    `recovery_time_stamp` is our own, in seconds since 1900-01-01 UTC (TS 29.244 8.2.65);
    the caller takes it once at start-up and passes it in, the node never reads a clock.
    """

    recovery_time_stamp: int
    t1: float = 3.0  # seconds before an unanswered request is retransmitted
    n1: int = 3  # retransmissions before giving up
    heartbeat_interval: float = 60.0  # between Heartbeat Requests to an idle peer
    # How long an answered request is remembered, from its first arrival. It must outlive
    # the peer's retransmissions (N1 * T1 of the *peer*, whose timers we do not know), so the
    # default doubles our own (N1 + 1) * T1.
    response_cache_ttl: float | None = None
    # The first sequence number we use (24 bits); tests start near the wrap.
    initial_sequence: int = 0

    def __post_init__(self) -> None:
        if not 0 <= self.recovery_time_stamp <= 0xFFFFFFFF:
            raise NodeConfigError("recovery_time_stamp must fit in 32 bits (NTP-epoch seconds)")
        if self.t1 <= 0 or self.n1 < 0 or self.heartbeat_interval <= 0:
            raise NodeConfigError("t1 and heartbeat_interval must be positive and n1 non-negative")
        if self.response_cache_ttl is not None and self.response_cache_ttl <= 0:
            raise NodeConfigError("response_cache_ttl must be positive")
        if not 0 <= self.initial_sequence <= _SEQUENCE_MASK:
            raise NodeConfigError("initial_sequence must fit in 24 bits")

    @property
    def cache_ttl(self) -> float:
        if self.response_cache_ttl is not None:
            return self.response_cache_ttl
        return 2 * (self.n1 + 1) * self.t1
