"""What the node tells the agent: typed, frozen events returned by `PfcpNode.next_event`."""

from __future__ import annotations

from dataclasses import dataclass

from pfcp import DecodeError, Message
from pfcp.node.header import Header
from pfcp.shapes import Shaped

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


class RequestReceived:
    """A new request from `peer`, delivered once; answer it with `PfcpNode.send_response`.

    `header` is the header as received; the node keys its response cache on it.
    `shaped`: the request was recognised as a shape of the node's ShapeTable
    (pfcp/shapes.py); then `message` is built from it when first read (an agent that
    compiles the shape's requests from their slots never needs it).
    """

    __slots__ = ("_message", "header", "peer", "shaped")

    def __init__(self, peer: Address, message: Message | None, header: Header,
                 shaped: Shaped | None = None) -> None:
        if message is None and shaped is None:
            raise TypeError("RequestReceived needs a message or a shaped request")
        self.peer = peer
        self._message = message
        self.header = header
        self.shaped = shaped

    @property
    def message(self) -> Message:
        message = self._message
        if message is None:
            assert self.shaped is not None
            message = self._message = self.shaped.message
        return message

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, RequestReceived):
            return NotImplemented
        return (self.peer, self.message, self.header) == (other.peer, other.message, other.header)

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"RequestReceived(peer={self.peer!r}, message={self.message!r}, header={self.header!r})"


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
