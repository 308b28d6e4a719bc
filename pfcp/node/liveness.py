"""Peer liveness: the one state machine of the node, all of its transitions in one table.

h11 style: `PeerLiveness._fire` is the only code that assigns a peer's state, and it only
follows `TRANSITIONS`. Heartbeats are the TS 29.244 6.2.2 procedure: while a peer is IDLE the
node sends a Heartbeat Request every `heartbeat_interval`; the request is retransmitted on T1
up to N1 times like any other request (TS 29.244 6.4); if no Heartbeat Response comes back the
peer is FAILED, which the node reports once as `PeerFailed`. A failed peer is no longer
probed: the agent decides what to do (release the association, `remove_peer`, add it again).
"""

from __future__ import annotations

import enum

__all__ = ["TRANSITIONS", "LivenessError", "PeerInput", "PeerLiveness", "PeerState"]


class PeerState(enum.Enum):
    IDLE = "idle"  # alive as far as we know; the next heartbeat is scheduled
    PROBING = "probing"  # our Heartbeat Request is outstanding (maybe being retransmitted)
    FAILED = "failed"  # our Heartbeat Request went unanswered after N1 retransmissions


class PeerInput(enum.Enum):
    HEARTBEAT_SENT = "heartbeat_sent"
    HEARTBEAT_ANSWERED = "heartbeat_answered"
    HEARTBEAT_TIMED_OUT = "heartbeat_timed_out"


# (state, input) -> next state. Anything not listed is a bug in the node, not in the peer.
TRANSITIONS: dict[tuple[PeerState, PeerInput], PeerState] = {
    (PeerState.IDLE, PeerInput.HEARTBEAT_SENT): PeerState.PROBING,
    (PeerState.PROBING, PeerInput.HEARTBEAT_ANSWERED): PeerState.IDLE,
    (PeerState.PROBING, PeerInput.HEARTBEAT_TIMED_OUT): PeerState.FAILED,
}


class LivenessError(Exception):
    """The node drove the liveness machine through a transition the table does not have."""


class PeerLiveness:
    """What the node tracks for one associated peer.

    The three inputs are methods; each goes through `_fire`, the only place that assigns
    the state, and updates the data that belongs to the new state.
    """

    __slots__ = ("_heartbeat_sequence", "_next_heartbeat_at", "_state", "recovery_time_stamp")

    def __init__(self, next_heartbeat_at: float, recovery_time_stamp: int | None) -> None:
        self._state = PeerState.IDLE
        self._next_heartbeat_at: float | None = next_heartbeat_at
        self._heartbeat_sequence: int | None = None
        self.recovery_time_stamp = recovery_time_stamp  # the peer's, as last seen

    @property
    def state(self) -> PeerState:
        return self._state

    @property
    def next_heartbeat_at(self) -> float | None:
        """When to send the next Heartbeat Request (IDLE only)."""
        return self._next_heartbeat_at

    @property
    def heartbeat_sequence(self) -> int | None:
        """The sequence number of our outstanding Heartbeat Request (PROBING only)."""
        return self._heartbeat_sequence

    def heartbeat_sent(self, sequence: int) -> None:
        self._fire(PeerInput.HEARTBEAT_SENT)
        self._next_heartbeat_at = None
        self._heartbeat_sequence = sequence

    def heartbeat_postponed(self, next_heartbeat_at: float) -> None:
        """Stay IDLE and try again later (we failed to build our own request)."""
        self._next_heartbeat_at = next_heartbeat_at

    def heartbeat_answered(self, next_heartbeat_at: float) -> None:
        self._fire(PeerInput.HEARTBEAT_ANSWERED)
        self._next_heartbeat_at = next_heartbeat_at
        self._heartbeat_sequence = None

    def heartbeat_timed_out(self) -> None:
        self._fire(PeerInput.HEARTBEAT_TIMED_OUT)
        self._heartbeat_sequence = None

    def _fire(self, event: PeerInput) -> None:
        try:
            self._state = TRANSITIONS[self._state, event]
        except KeyError:
            raise LivenessError(f"no transition from {self._state.name} on {event.name}") from None
