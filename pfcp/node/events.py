"""What the node tells the agent: typed, frozen events returned by `PfcpNode.next_event`."""

from __future__ import annotations

from dataclasses import dataclass

from pfcp import DecodeError, Message
from pfcp.node.header import Header

__all__ = [
    "Address",
    "Event",
    "InvalidRequest",
    "InvalidResponse",
    "PeerFailed",
    "PeerRestarted",
    "RequestReceived",
    "RequestTimedOut",
    "ResponseReceived",
]

# (host, port). asyncio reports IPv6 peers as 4-tuples; the glue passes `addr[:2]`.
Address = tuple[str, int]


@dataclass(frozen=True, slots=True)
class RequestReceived:
    """A new request from `peer`, delivered once; answer it with `PfcpNode.send_response`.

    `header` is the header as received; the node keys its response cache on it.
    """

    peer: Address
    message: Message
    header: Header


@dataclass(frozen=True, slots=True)
class InvalidRequest:
    """A request whose header is readable but whose body did not decode.

    The agent answers it (`PfcpNode.send_response`) with the response type for
    `header.message_type` carrying `error.cause` (and the offending IE where the response
    has one), TS 29.244 7.6. It is delivered once, like `RequestReceived`.
    """

    peer: Address
    header: Header
    error: DecodeError


@dataclass(frozen=True, slots=True)
class ResponseReceived:
    """The response to our `request` (matched on peer address and sequence number)."""

    peer: Address
    request: Message
    response: Message


@dataclass(frozen=True, slots=True)
class InvalidResponse:
    """A reply to our `request` that did not decode; retransmission stopped (TS 29.244 7.6.1)."""

    peer: Address
    request: Message
    error: DecodeError


@dataclass(frozen=True, slots=True)
class RequestTimedOut:
    """`request` went unanswered after N1 retransmissions on T1 (TS 29.244 6.4)."""

    peer: Address
    request: Message


@dataclass(frozen=True, slots=True)
class PeerFailed:
    """An associated peer did not answer our Heartbeat Request (TS 29.244 6.2.2)."""

    peer: Address


@dataclass(frozen=True, slots=True)
class PeerRestarted:
    """A peer's Recovery Time Stamp changed from `old` to `new` (TS 29.244 8.2.65, 6.2.2).

    Values are seconds since 1900-01-01 00:00 UTC (the NTP epoch).
    """

    peer: Address
    old: int
    new: int


Event = (
    RequestReceived
    | InvalidRequest
    | ResponseReceived
    | InvalidResponse
    | RequestTimedOut
    | PeerFailed
    | PeerRestarted
)
