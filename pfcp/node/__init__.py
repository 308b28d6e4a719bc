"""Sans-I/O PFCP node logic: transactions, retransmissions, response cache, heartbeats.

See `pfcp.node.core` for what the node does by itself and what it leaves to the agent.
The I/O glue is a few lines; with a `loop.time()` clock and a datagram transport::

    node = PfcpNode(NodeConfig(recovery_time_stamp=unix_to_ntp(time.time())), loop.time())

    def pump() -> None:                       # after every input, and when the timer fires
        for data, addr in node.datagrams_to_send(loop.time()):
            transport.sendto(data, addr)
        while (event := node.next_event()) is not None:
            agent.handle(event)               # may call node.send_response / send_request
        ...                                   # then flush again and re-arm the timer:
        if (when := node.get_timer()) is not None:
            handle = loop.call_at(when, on_timer)

    datagram_received(data, addr):  node.receive_datagram(data, addr[:2], loop.time()); pump()
    on_timer():                     node.handle_timer(loop.time()); pump()
"""

from pfcp.node.config import NodeConfig
from pfcp.node.core import NodeStats, PfcpNode
from pfcp.node.errors import NodeConfigError, NodeUsageError, PfcpNodeError
from pfcp.node.events import (
    Address,
    Event,
    InvalidRequest,
    InvalidResponse,
    PeerFailed,
    PeerRestarted,
    RequestReceived,
    RequestTimedOut,
    ResponseReceived,
)
from pfcp.node.header import Header, peek_header
from pfcp.node.liveness import PeerState

__all__ = [
    "Address",
    "Event",
    "Header",
    "InvalidRequest",
    "InvalidResponse",
    "NodeConfig",
    "NodeConfigError",
    "NodeStats",
    "NodeUsageError",
    "PeerFailed",
    "PeerRestarted",
    "PeerState",
    "PfcpNode",
    "PfcpNodeError",
    "RequestReceived",
    "RequestTimedOut",
    "ResponseReceived",
    "peek_header",
]
