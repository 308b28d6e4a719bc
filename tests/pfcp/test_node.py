"""The sans-I/O PFCP node, driven by a fake clock: no sockets, no sleeping.

Peer messages are built here octet by octet (TS 29.244 7.2.2, 8.2.65), independently of the
codec's encoder; the node's own output is checked with the codec's decoder and by octets.
"""

from __future__ import annotations

from collections.abc import Sequence
from ipaddress import IPv4Address
from typing import TypeVar

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pfcp import (
    Cause,
    HeartbeatRequest,
    HeartbeatResponse,
    IEType,
    Message,
    MessageType,
    NodeId,
    SessionDeletionResponse,
    SessionEstablishmentResponse,
    VersionNotSupportedResponse,
    decode_message,
    encode_message,
)
from pfcp.node import (
    Address,
    Event,
    InvalidRequest,
    InvalidResponse,
    NodeConfig,
    NodeConfigError,
    NodeUsageError,
    PeerFailed,
    PeerRestarted,
    PeerState,
    PfcpNode,
    RequestReceived,
    RequestTimedOut,
    ResponseReceived,
    peek_header,
)
from pfcp.node.liveness import TRANSITIONS, LivenessError, PeerLiveness

T = TypeVar("T")

SMF: Address = ("192.0.2.10", 8805)
SMF_EPHEMERAL: Address = ("192.0.2.10", 40123)  # same host, another source port
OTHER: Address = ("198.51.100.7", 8805)
OUR_STAMP = 3_957_000_000  # NTP-epoch seconds (2025)
SMF_STAMP = 3_956_000_000
SEID = 0x0102030405060708

HB_REQ = MessageType.HEARTBEAT_REQUEST
HB_RSP = MessageType.HEARTBEAT_RESPONSE
DEL_REQ = MessageType.SESSION_DELETION_REQUEST
EST_REQ = MessageType.SESSION_ESTABLISHMENT_REQUEST


# --------------------------------------------------------------------- octets of the peer


def pfcp(
    message_type: int,
    sequence: int,
    body: bytes = b"",
    *,
    seid: int | None = None,
    version: int = 1,
    follow_on: bool = False,
) -> bytes:
    """A PFCP message, TS 29.244 7.2.2.1: flags, type, length, [SEID], sequence, spare."""
    flags = (version << 5) | (0x04 if follow_on else 0) | (0x01 if seid is not None else 0)
    rest = b"" if seid is None else seid.to_bytes(8, "big")
    rest += sequence.to_bytes(3, "big") + b"\x00" + body
    return bytes([flags, message_type]) + len(rest).to_bytes(2, "big") + rest


def ie(ie_type: int, value: bytes) -> bytes:
    return ie_type.to_bytes(2, "big") + len(value).to_bytes(2, "big") + value


def recovery_ie(stamp: int) -> bytes:
    return ie(IEType.RECOVERY_TIME_STAMP, stamp.to_bytes(4, "big"))  # TS 29.244 8.2.65


def heartbeat_request(sequence: int, stamp: int = SMF_STAMP) -> bytes:
    return pfcp(HB_REQ, sequence, recovery_ie(stamp))


def heartbeat_response(sequence: int, stamp: int = SMF_STAMP) -> bytes:
    return pfcp(HB_RSP, sequence, recovery_ie(stamp))


def deletion_request(sequence: int, seid: int = SEID) -> bytes:
    return pfcp(DEL_REQ, sequence, seid=seid)  # header only (TS 29.244 7.5.6.1)


# --------------------------------------------------------------------- driving the node


def make_node(now: float = 0.0, **overrides: float | int | None) -> PfcpNode:
    config = NodeConfig(recovery_time_stamp=OUR_STAMP, **overrides)  # type: ignore[arg-type]
    return PfcpNode(config, now)


def events(node: PfcpNode) -> list[Event]:
    out = []
    while (event := node.next_event()) is not None:
        out.append(event)
    return out


def sent(node: PfcpNode, now: float = 0.0) -> list[tuple[bytes, Address]]:
    return node.datagrams_to_send(now)


def run_until(node: PfcpNode, until: float) -> list[tuple[float, bytes, Address]]:
    """Fire every timer up to `until`; what was sent, stamped with when."""
    out: list[tuple[float, bytes, Address]] = []
    while (t := node.get_timer()) is not None and t <= until:
        node.handle_timer(t)
        out.extend((t, data, addr) for data, addr in sent(node, t))
    return out


def seq_of(data: bytes) -> int:
    header = peek_header(data)
    assert header is not None
    return header.sequence


def only(items: Sequence[T]) -> T:
    assert len(items) == 1, items
    return items[0]


# --------------------------------------------------------------------- our requests


def test_request_response_matching() -> None:
    node = make_node()
    seq = node.send_request(HeartbeatRequest(0, OUR_STAMP), SMF, 0.0)
    data, addr = only(sent(node))
    assert addr == SMF
    assert seq_of(data) == seq
    assert decode_message(data) == HeartbeatRequest(seq, OUR_STAMP)

    # Wrong sequence, wrong peer, wrong response type: not ours, silently discarded.
    node.receive_datagram(heartbeat_response(seq + 1), SMF, 0.5)
    node.receive_datagram(heartbeat_response(seq), OTHER, 0.5)
    node.receive_datagram(pfcp(MessageType.ASSOCIATION_SETUP_RESPONSE, seq), SMF, 0.5)
    assert events(node) == []
    assert node.stats.unexpected_responses == 3

    node.receive_datagram(heartbeat_response(seq), SMF, 1.0)
    event = only(events(node))
    assert event == ResponseReceived(
        SMF, HeartbeatRequest(seq, OUR_STAMP), HeartbeatResponse(seq, SMF_STAMP)
    )
    # Answered: no retransmission, no timer, and a late duplicate response is dropped.
    assert node.get_timer() is None
    node.receive_datagram(heartbeat_response(seq), SMF, 1.5)
    assert events(node) == [] and sent(node) == []


def test_retransmission_on_t1_up_to_n1_then_timeout() -> None:
    node = make_node(t1=3.0, n1=3)
    node.send_request(HeartbeatRequest(0, OUR_STAMP), SMF, 100.0)
    first, _ = only(sent(node))
    assert node.get_timer() == 103.0

    node.handle_timer(102.9)  # early wake-up: nothing due
    assert sent(node) == []

    out = run_until(node, 200.0)
    assert [t for t, _, _ in out] == [103.0, 106.0, 109.0]  # N1 = 3 retransmissions
    assert all(data == first and addr == SMF for _, data, addr in out)  # identical octets
    event = only(events(node))
    assert isinstance(event, RequestTimedOut)
    assert event.peer == SMF and event.request.sequence == seq_of(first)
    assert node.get_timer() is None
    assert node.stats.retransmissions_sent == 3 and node.stats.requests_timed_out == 1

    # A response after giving up matches nothing.
    node.receive_datagram(heartbeat_response(seq_of(first)), SMF, 113.0)
    assert events(node) == []


def test_response_after_retransmission_stops_it() -> None:
    node = make_node(t1=2.0, n1=5)
    seq = node.send_request(HeartbeatRequest(0, OUR_STAMP), SMF, 0.0)
    sent(node)
    assert len(run_until(node, 4.0)) == 2
    node.receive_datagram(heartbeat_response(seq), SMF, 4.5)
    assert isinstance(only(events(node)), ResponseReceived)
    assert run_until(node, 100.0) == []
    assert events(node) == []


def test_n1_zero_means_no_retransmission() -> None:
    node = make_node(t1=1.0, n1=0)
    node.send_request(HeartbeatRequest(0, OUR_STAMP), SMF, 0.0)
    sent(node)
    assert run_until(node, 10.0) == []
    assert isinstance(only(events(node)), RequestTimedOut)


def test_sequence_numbers_are_24_bit_and_wrap() -> None:
    node = make_node(initial_sequence=0xFFFFFE)
    seqs = [node.send_request(HeartbeatRequest(0, OUR_STAMP), SMF, 0.0) for _ in range(4)]
    assert seqs == [0xFFFFFE, 0xFFFFFF, 0, 1]
    assert [seq_of(d) for d, _ in sent(node)] == seqs


def test_sequence_numbers_skip_outstanding_ones() -> None:
    node = make_node(initial_sequence=0xFFFFFF, t1=1000.0)
    first = node.send_request(HeartbeatRequest(0, OUR_STAMP), SMF, 0.0)
    second = node.send_request(HeartbeatRequest(0, OUR_STAMP), SMF, 0.0)
    assert (first, second) == (0xFFFFFF, 0)
    node.receive_datagram(heartbeat_response(second), SMF, 1.0)  # 0 is free again
    # Go round the whole space: 0xFFFFFF is still outstanding, so it is skipped.
    node._next_sequence = 0xFFFFFF  # white-box shortcut for 16M requests
    assert node.send_request(HeartbeatRequest(0, OUR_STAMP), SMF, 2.0) == 0


def test_sending_a_response_as_a_request_is_refused() -> None:
    node = make_node()
    with pytest.raises(NodeUsageError):
        node.send_request(HeartbeatResponse(0, OUR_STAMP), SMF, 0.0)


def test_malformed_response_stops_retransmission_and_is_reported() -> None:
    node = make_node()
    seq = node.send_request(HeartbeatRequest(0, OUR_STAMP), SMF, 0.0)
    sent(node)
    node.receive_datagram(pfcp(HB_RSP, seq), SMF, 1.0)  # Recovery Time Stamp (M) missing
    event = only(events(node))
    assert isinstance(event, InvalidResponse)  # TS 29.244 7.6.1
    assert event.error.cause == Cause.MANDATORY_IE_MISSING
    assert run_until(node, 100.0) == []


def test_version_not_supported_response_answers_our_request() -> None:
    node = make_node()
    seq = node.send_request(HeartbeatRequest(0, OUR_STAMP), SMF, 0.0)
    sent(node)
    node.receive_datagram(pfcp(MessageType.VERSION_NOT_SUPPORTED_RESPONSE, seq), SMF, 1.0)
    event = only(events(node))
    assert isinstance(event, ResponseReceived)
    assert event.response == VersionNotSupportedResponse(seq)


# --------------------------------------------------------------------- the peer's requests


def test_request_delivered_once_and_duplicates_answered_from_cache() -> None:
    node = make_node()
    request = deletion_request(0x00ABCD)
    node.receive_datagram(request, SMF_EPHEMERAL, 0.0)
    event = only(events(node))
    assert isinstance(event, RequestReceived)
    assert event.peer == SMF_EPHEMERAL
    assert event.message.seid == SEID and event.message.sequence == 0x00ABCD

    node.send_response(event, SessionDeletionResponse(0, Cause.REQUEST_ACCEPTED, seid=0x77), 0.5)
    response, addr = only(sent(node))
    assert addr == SMF_EPHEMERAL
    assert decode_message(response) == SessionDeletionResponse(
        0x00ABCD, Cause.REQUEST_ACCEPTED, seid=0x77
    )

    for t in (3.0, 6.0, 9.0):  # the peer retransmits (T1 = 3 s, N1 = 3)
        node.receive_datagram(request, SMF_EPHEMERAL, t)
        assert sent(node) == [(response, SMF_EPHEMERAL)]  # byte-identical
    assert events(node) == []
    assert node.stats.duplicates_answered == 3


def test_same_sequence_with_other_bytes_is_a_new_request() -> None:
    """A retransmission is byte-identical (TS 29.244 6.4); a request that reuses a cached
    sequence number with other content (a peer restarted on the same address and numbers
    afresh) is a new request: delivered, not answered with the old response."""
    from pfcp import (
        RemovePdr,
        SessionModificationRequest,
        SessionModificationResponse,
        encode_message,
    )

    node = make_node()
    first = encode_message(SessionModificationRequest(7, seid=SEID, remove_pdr=(RemovePdr(1),)))
    second = encode_message(SessionModificationRequest(7, seid=SEID, remove_pdr=(RemovePdr(2),)))
    node.receive_datagram(first, SMF, 0.0)
    event = only(events(node))
    assert isinstance(event, RequestReceived)
    node.send_response(event, SessionModificationResponse(7, Cause.REQUEST_ACCEPTED, seid=1), 0.1)
    old_answer = only(sent(node))
    node.receive_datagram(first, SMF, 1.0)  # a true retransmission: the cached answer
    assert sent(node) == [old_answer]
    node.receive_datagram(second, SMF, 2.0)
    event = only(events(node))
    assert isinstance(event, RequestReceived)
    assert event.message == SessionModificationRequest(7, seid=SEID, remove_pdr=(RemovePdr(2),))
    assert sent(node) == []
    assert node.stats.sequence_reused == 1


def test_duplicate_while_in_progress_is_dropped() -> None:
    node = make_node()
    request = deletion_request(7)
    node.receive_datagram(request, SMF, 0.0)
    event = only(events(node))
    node.receive_datagram(request, SMF, 3.0)  # the agent has not answered yet
    assert events(node) == [] and sent(node) == []
    assert node.stats.duplicates_dropped == 1
    assert isinstance(event, RequestReceived)
    node.send_response(event, SessionDeletionResponse(0, Cause.REQUEST_ACCEPTED, seid=1), 4.0)
    response, _ = only(sent(node))
    node.receive_datagram(request, SMF, 6.0)
    assert sent(node) == [(response, SMF)]


def test_same_sequence_different_request_is_not_a_duplicate() -> None:
    node = make_node()
    node.receive_datagram(deletion_request(7, seid=1), SMF, 0.0)
    node.receive_datagram(deletion_request(7, seid=2), SMF, 0.0)  # another SEID
    node.receive_datagram(deletion_request(7, seid=1), OTHER, 0.0)  # another peer
    node.receive_datagram(pfcp(MessageType.SESSION_REPORT_REQUEST, 7, seid=1), SMF, 0.0)
    got = events(node)
    assert len(got) == 4  # the report request is malformed (no Report Type): InvalidRequest
    assert [type(e) for e in got] == [RequestReceived] * 3 + [InvalidRequest]


def test_cache_expiry() -> None:
    node = make_node(response_cache_ttl=20.0)
    assert node.config.cache_ttl == 20.0
    request = deletion_request(9)
    node.receive_datagram(request, SMF, 0.0)
    event = only(events(node))
    assert isinstance(event, RequestReceived)
    node.send_response(event, SessionDeletionResponse(0, Cause.REQUEST_ACCEPTED, seid=1), 1.0)
    sent(node)
    assert node.get_timer() == 20.0  # the entry lives from the request's first arrival

    node.receive_datagram(request, SMF, 19.9)
    assert len(sent(node)) == 1 and events(node) == []
    node.handle_timer(20.0)
    assert node.get_timer() is None
    node.receive_datagram(request, SMF, 20.0)  # a new request that reuses the number
    assert isinstance(only(events(node)), RequestReceived)


def test_cache_expiry_without_handle_timer() -> None:
    """A late timer must not make an expired entry answer a new request."""
    node = make_node(response_cache_ttl=5.0)
    node.receive_datagram(deletion_request(9), SMF, 0.0)
    events(node)
    node.receive_datagram(deletion_request(9), SMF, 6.0)
    assert isinstance(only(events(node)), RequestReceived)


def test_default_cache_outlives_peer_retransmissions() -> None:
    config = NodeConfig(recovery_time_stamp=OUR_STAMP)
    assert config.cache_ttl > config.n1 * config.t1  # TS 29.244 6.4


def test_answer_after_cache_expired_is_still_sent_and_cached() -> None:
    node = make_node(response_cache_ttl=5.0)
    node.receive_datagram(deletion_request(9), SMF, 0.0)
    event = only(events(node))
    assert isinstance(event, RequestReceived)
    node.handle_timer(10.0)
    node.send_response(event, SessionDeletionResponse(0, Cause.REQUEST_ACCEPTED, seid=1), 10.0)
    response, _ = only(sent(node))
    node.receive_datagram(deletion_request(9), SMF, 11.0)
    assert sent(node) == [(response, SMF)] and events(node) == []


def test_answer_of_the_wrong_type_is_refused_and_a_second_answer_dropped() -> None:
    node = make_node()
    node.receive_datagram(deletion_request(1), SMF, 0.0)
    event = only(events(node))
    assert isinstance(event, RequestReceived)
    with pytest.raises(NodeUsageError):
        node.send_response(event, HeartbeatResponse(0, OUR_STAMP), 0.0)
    assert sent(node) == []
    node.send_response(event, SessionDeletionResponse(0, Cause.REQUEST_ACCEPTED, seid=1), 0.0)
    first, _ = only(sent(node))
    node.send_response(event, SessionDeletionResponse(0, Cause.REQUEST_REJECTED, seid=1), 0.0)
    assert sent(node) == []  # the first answer stands ...
    node.receive_datagram(deletion_request(1), SMF, 1.0)
    assert sent(node) == [(first, SMF)]  # ... for every retransmission
    assert node.stats.second_answers_dropped == 1


def test_encoded_answer_is_cached_and_sent_as_is() -> None:
    """send_encoded_response: the agent's own octets, cached for retransmissions like the
    ones the node encodes (and the same second-answer rule)."""
    node = make_node()
    request = deletion_request(0x00ABCD)
    node.receive_datagram(request, SMF_EPHEMERAL, 0.0)
    event = only(events(node))
    assert isinstance(event, RequestReceived)
    answer = SessionDeletionResponse(0x00ABCD, Cause.REQUEST_ACCEPTED, seid=0x77)
    data = encode_message(answer)
    node.send_encoded_response(event, data, 0.5)
    assert sent(node) == [(data, SMF_EPHEMERAL)]
    for t in (3.0, 6.0):
        node.receive_datagram(request, SMF_EPHEMERAL, t)
        assert sent(node) == [(data, SMF_EPHEMERAL)]  # the same object, so the same bytes
    node.send_response(event, SessionDeletionResponse(0, Cause.REQUEST_REJECTED, seid=1), 7.0)
    node.send_encoded_response(event, data, 7.0)
    assert sent(node) == [] and events(node) == []
    assert (node.stats.duplicates_answered, node.stats.second_answers_dropped) == (2, 2)


def test_encoded_answer_to_a_node_message() -> None:
    from pfcp import AssociationSetupRequest, AssociationSetupResponse

    node = make_node()
    ours, theirs = NodeId(IPv4Address("192.0.2.1")), NodeId(IPv4Address("192.0.2.10"))
    node.receive_datagram(encode_message(AssociationSetupRequest(5, theirs, SMF_STAMP)), SMF, 0.0)
    event = only(events(node))
    assert isinstance(event, RequestReceived)
    with pytest.raises(NodeUsageError):  # the sequence number is the request's
        node.send_encoded_response(
            event, encode_message(AssociationSetupResponse(6, ours, Cause.REQUEST_ACCEPTED, 1)), 0.0)
    data = encode_message(AssociationSetupResponse(5, ours, Cause.REQUEST_ACCEPTED, 1))
    node.send_encoded_response(event, data, 0.0)
    assert sent(node) == [(data, SMF)]


@pytest.mark.parametrize("wrong", [
    SessionDeletionResponse(0x42, Cause.REQUEST_ACCEPTED, seid=1),  # not the answer's type
    SessionEstablishmentResponse(0x43, NodeId(IPv4Address("192.0.2.1")), Cause.REQUEST_ACCEPTED,
                                 seid=1),  # another sequence number
])  # fmt: skip
def test_encoded_answer_that_does_not_answer_is_refused(wrong: Message) -> None:
    node = make_node()
    node.receive_datagram(pfcp(EST_REQ, 0x42, seid=0), SMF, 0.0)
    event = only(events(node))
    assert isinstance(event, InvalidRequest)
    right = encode_message(_establishment_reject(event, sequence=0x42))
    data = encode_message(wrong)
    for bad in (data, right[:-1], right + b"\x00", right[:6], b"", bytes([0x41]) + right[1:],
                bytes([right[0] | 0x04]) + right[1:]):  # wrong, short, long, none, v2, FO
        with pytest.raises(NodeUsageError):
            node.send_encoded_response(event, bad, 1.0)
    assert sent(node) == []
    node.send_encoded_response(event, right, 1.0)
    assert sent(node) == [(right, SMF)]


def test_malformed_request_becomes_invalid_request_answered_by_the_agent() -> None:
    node = make_node()
    request = pfcp(EST_REQ, 0x42, seid=0)  # Node ID, CP F-SEID, Create PDR/FAR all missing
    node.receive_datagram(request, SMF, 0.0)
    event = only(events(node))
    assert isinstance(event, InvalidRequest)
    assert event.peer == SMF
    assert (event.header.message_type, event.header.sequence) == (EST_REQ, 0x42)
    assert event.error.cause == Cause.MANDATORY_IE_MISSING

    # Delivered once; the agent answers with the cause it carries; duplicates get that answer.
    node.receive_datagram(request, SMF, 1.0)
    assert events(node) == [] and sent(node) == []
    answer = SessionDeletionResponse(0, event.error.cause, seid=0)
    with pytest.raises(NodeUsageError):  # a Deletion Response does not answer an Establishment
        node.send_response(event, answer, 1.0)
    response = _establishment_reject(event)
    node.send_response(event, response, 1.0)
    data, _ = only(sent(node))
    assert decode_message(data) == _establishment_reject(event, sequence=0x42)
    node.receive_datagram(request, SMF, 2.0)
    assert sent(node) == [(data, SMF)]


def _establishment_reject(event: InvalidRequest, sequence: int = 0) -> SessionEstablishmentResponse:
    return SessionEstablishmentResponse(
        sequence,
        NodeId(IPv4Address("192.0.2.1")),
        event.error.cause,
        offending_ie=None if event.error.ie_type is None else IEType(event.error.ie_type),
        seid=0,
    )


def test_version_not_supported() -> None:
    """TS 29.244 7.6.2: answer a request of another version, silently discard it."""
    node = make_node()
    node.receive_datagram(pfcp(HB_REQ, 0x123456, b"\x00" * 8, version=2), SMF, 0.0)
    data, addr = only(sent(node))
    assert addr == SMF
    assert data == pfcp(MessageType.VERSION_NOT_SUPPORTED_RESPONSE, 0x123456)
    assert events(node) == []
    # A response of another version is not answered (no ping-pong of these).
    node.receive_datagram(pfcp(HB_RSP, 1, version=2), SMF, 0.0)
    node.receive_datagram(pfcp(MessageType.VERSION_NOT_SUPPORTED_RESPONSE, 1, version=2), SMF, 0.0)
    assert sent(node) == []


def test_unknown_message_types_are_silently_discarded() -> None:
    node = make_node()
    for message_type in (0, 16, 49, 58, 99, 200, 255):
        node.receive_datagram(pfcp(message_type, 1, recovery_ie(5)), SMF, 0.0)
    assert events(node) == [] and sent(node) == []
    assert node.stats.unknown_type == 7


def test_bundled_messages_are_each_handled() -> None:
    """TS 29.244 6.5 / 7.2.1A: messages bundled in one datagram with the FO flag."""
    node = make_node()
    bundle = (
        pfcp(DEL_REQ, 1, seid=11, follow_on=True)
        + pfcp(HB_REQ, 2, recovery_ie(SMF_STAMP), follow_on=True)
        + deletion_request(3, seid=33)
    )
    node.receive_datagram(bundle, SMF, 0.0)
    got = [
        (e.message.sequence, e.message.seid) for e in events(node) if isinstance(e, RequestReceived)
    ]
    assert got == [(1, 11), (3, 33)]
    data, _ = only(sent(node))
    assert decode_message(data) == HeartbeatResponse(2, OUR_STAMP)


MALFORMED = {
    "empty": b"",
    "one octet": b"\x20",
    "three octets": b"\x20\x01\x00",
    "shorter than a header": b"\x20\x01\x00\x04\x00\x00",
    "S=1, too short for the SEID": b"\x21\x32\x00\x0c" + b"\x00" * 6,
    "truncated heartbeat header": pfcp(HB_REQ, 1)[:-1],
    "length beyond the datagram": pfcp(EST_REQ, 1, ie(IEType.NODE_ID, b"\x00\x01\x02"), seid=0)[
        :-1
    ],
    "trailing junk": pfcp(EST_REQ, 1, ie(IEType.NODE_ID, b"\x00"), seid=0) + b"junk",
    "IE length overruns": pfcp(EST_REQ, 1, b"\x00\x3c\xff\xff", seid=0),
    "session message without SEID": pfcp(EST_REQ, 1),
    "node message with SEID": pfcp(HB_REQ, 1, seid=5),
    "FO set, nothing follows": pfcp(DEL_REQ, 1, seid=5, follow_on=True),
    "FO set, junk follows": pfcp(DEL_REQ, 2, seid=5, follow_on=True) + b"\x20",
    "FO set, length 0": b"\x24\x01\x00\x00" * 4,
    "all ones": b"\xff" * 64,
    "0..255": bytes(range(256)),
}


@pytest.mark.parametrize("data", MALFORMED.values(), ids=MALFORMED.keys())
def test_malformed_input_never_raises(data: bytes) -> None:
    node = make_node()
    node.add_peer(SMF, 0.0)
    node.receive_datagram(data, SMF, 0.0)
    for event in events(node):
        assert isinstance(event, (InvalidRequest, RequestReceived))
    sent(node)
    assert node.stats.codec_failures == 0


# --------------------------------------------------------------------- heartbeats, liveness


def test_heartbeat_request_is_answered_with_our_recovery_time_stamp() -> None:
    node = make_node()
    node.receive_datagram(heartbeat_request(0x0A0B0C), SMF_EPHEMERAL, 0.0)
    data, addr = only(sent(node))
    assert addr == SMF_EPHEMERAL
    assert data == heartbeat_response(0x0A0B0C, OUR_STAMP)  # octet for octet
    assert events(node) == []  # the node handles heartbeats itself
    # A retransmitted Heartbeat Request gets the same answer.
    node.receive_datagram(heartbeat_request(0x0A0B0C), SMF_EPHEMERAL, 3.0)
    assert sent(node) == [(data, SMF_EPHEMERAL)]


def test_malformed_heartbeat_request_is_still_answered() -> None:
    node = make_node()
    node.receive_datagram(pfcp(HB_REQ, 5), SMF, 0.0)  # no Recovery Time Stamp
    data, _ = only(sent(node))
    assert data == heartbeat_response(5, OUR_STAMP)
    assert events(node) == []


def test_heartbeats_are_scheduled_per_peer() -> None:
    node = make_node(heartbeat_interval=10.0, t1=3.0, n1=3)
    assert node.get_timer() is None
    node.add_peer(SMF, 0.0, recovery_time_stamp=SMF_STAMP)
    assert node.peers == {SMF: PeerState.IDLE}
    assert node.get_timer() == 10.0

    for cycle in range(3):
        t = node.get_timer()
        assert t is not None
        node.handle_timer(t)
        data, addr = only(sent(node, t))
        assert addr == SMF
        assert decode_message(data) == HeartbeatRequest(seq_of(data), OUR_STAMP)
        assert node.peers[SMF] is PeerState.PROBING
        node.receive_datagram(heartbeat_response(seq_of(data)), SMF, t + 0.2)
        assert node.peers[SMF] is PeerState.IDLE
        assert node.get_timer() == pytest.approx(t + 0.2 + 10.0)
        assert events(node) == [], cycle  # heartbeats are the node's own business

    node.remove_peer(SMF)
    assert node.peers == {}
    assert node.get_timer() is None


def test_peer_failure_detection() -> None:
    node = make_node(heartbeat_interval=10.0, t1=3.0, n1=3)
    node.add_peer(SMF, 0.0)
    node.add_peer(OTHER, 0.0)
    out = run_until(node, 13.0)
    # Both probed at 10 and again at 13; OTHER answers its retransmission, SMF never does.
    assert [(t, addr) for t, _, addr in out] == [(10.0, SMF), (10.0, OTHER)] * 1 + [
        (13.0, SMF),
        (13.0, OTHER),
    ]
    node.receive_datagram(heartbeat_response(seq_of(out[-1][1])), OTHER, 13.5)
    out += run_until(node, 22.0)
    to_smf = [t for t, _, addr in out if addr == SMF]
    assert to_smf == [10.0, 13.0, 16.0, 19.0]  # N1 = 3 retransmissions ...
    assert len({data for _, data, addr in out if addr == SMF}) == 1  # ... of the same octets
    assert events(node) == [PeerFailed(SMF)]  # at 22 = 19 + T1
    assert node.peers == {SMF: PeerState.FAILED, OTHER: PeerState.IDLE}
    node.remove_peer(OTHER)
    assert run_until(node, 1000.0) == []  # a failed peer is not probed any more
    # Re-adding restarts probing.
    node.add_peer(SMF, 1000.0)
    assert node.peers[SMF] is PeerState.IDLE
    assert node.get_timer() == 1010.0


def test_peer_answering_a_retransmission_is_alive() -> None:
    node = make_node(heartbeat_interval=10.0, t1=3.0, n1=3)
    node.add_peer(SMF, 0.0)
    out = run_until(node, 16.0)
    assert len(out) == 3
    node.receive_datagram(heartbeat_response(seq_of(out[-1][1])), SMF, 17.0)
    assert node.peers[SMF] is PeerState.IDLE
    assert events(node) == []
    assert node.get_timer() == 27.0


def test_removing_a_probed_peer_abandons_its_heartbeat() -> None:
    node = make_node(heartbeat_interval=10.0)
    node.add_peer(SMF, 0.0)
    assert len(run_until(node, 10.0)) == 1
    node.remove_peer(SMF)
    assert run_until(node, 100.0) == []
    assert events(node) == []


def test_agent_heartbeat_to_unassociated_peer_times_out_as_a_request() -> None:
    node = make_node(t1=1.0, n1=1)
    node.send_request(HeartbeatRequest(0, OUR_STAMP), OTHER, 0.0)
    run_until(node, 10.0)
    assert isinstance(only(events(node)), RequestTimedOut)


def test_peer_restart_detected_from_heartbeat_response() -> None:
    node = make_node(heartbeat_interval=10.0)
    node.add_peer(SMF, 0.0)
    ((_, data, _),) = run_until(node, 10.0)
    node.receive_datagram(heartbeat_response(seq_of(data), SMF_STAMP), SMF, 10.1)
    assert events(node) == []  # first stamp seen: nothing to compare with
    ((_, data, _),) = run_until(node, 20.1)
    node.receive_datagram(heartbeat_response(seq_of(data), SMF_STAMP + 60), SMF, 20.2)
    assert events(node) == [PeerRestarted(SMF, SMF_STAMP, SMF_STAMP + 60)]


def test_peer_restart_detected_from_heartbeat_request_on_another_port() -> None:
    node = make_node()
    node.add_peer(SMF, 0.0, recovery_time_stamp=SMF_STAMP)
    node.receive_datagram(heartbeat_request(1, SMF_STAMP), SMF_EPHEMERAL, 1.0)
    assert events(node) == []
    node.receive_datagram(heartbeat_request(2, SMF_STAMP + 5), SMF_EPHEMERAL, 2.0)
    assert events(node) == [PeerRestarted(SMF, SMF_STAMP, SMF_STAMP + 5)]
    assert len(sent(node)) == 2  # both answered


def test_peer_restart_detected_from_association_setup_request() -> None:
    node = make_node()
    node.add_peer(SMF, 0.0, recovery_time_stamp=SMF_STAMP)
    node_id = ie(IEType.NODE_ID, b"\x00\xc0\x00\x02\x0a")  # IPv4 192.0.2.10
    request = pfcp(MessageType.ASSOCIATION_SETUP_REQUEST, 1, node_id + recovery_ie(SMF_STAMP + 1))
    node.receive_datagram(request, SMF, 1.0)
    got = events(node)
    assert got[0] == PeerRestarted(SMF, SMF_STAMP, SMF_STAMP + 1)
    assert isinstance(got[1], RequestReceived)
    assert len(got) == 2


def test_request_that_reveals_a_restart_is_itself_cached() -> None:
    """The restart drops the peer's earlier answers, but the answer to the very request
    that revealed it is cached: its retransmission is answered, not delivered again, and
    a later request with other bytes under the same sequence number is a new one."""
    from pfcp import AssociationSetupResponse

    node = make_node()
    node.add_peer(SMF, 0.0, recovery_time_stamp=SMF_STAMP)
    node_id = ie(IEType.NODE_ID, b"\x00\xc0\x00\x02\x0a")  # IPv4 192.0.2.10
    request = pfcp(MessageType.ASSOCIATION_SETUP_REQUEST, 1, node_id + recovery_ie(SMF_STAMP + 1))
    node.receive_datagram(request, SMF, 1.0)
    got = events(node)
    assert isinstance(got[1], RequestReceived)
    ours = NodeId(IPv4Address("192.0.2.1"))
    node.send_response(got[1], AssociationSetupResponse(1, ours, Cause.REQUEST_ACCEPTED, 1), 1.1)
    answer = only(sent(node))
    node.receive_datagram(request, SMF, 2.0)  # retransmitted
    assert (events(node), sent(node)) == ([], [answer])
    again = pfcp(MessageType.ASSOCIATION_SETUP_REQUEST, 1, node_id + recovery_ie(SMF_STAMP + 2))
    node.receive_datagram(again, SMF, 3.0)  # restarted again, numbering from 1 again
    got = events(node)
    assert got[0] == PeerRestarted(SMF, SMF_STAMP + 1, SMF_STAMP + 2)
    assert isinstance(got[1], RequestReceived) and sent(node) == []


def test_peer_restart_forgets_its_cached_requests() -> None:
    """A restarted peer numbers its requests afresh; old answers must not match them."""
    node = make_node()
    node.add_peer(SMF, 0.0, recovery_time_stamp=SMF_STAMP)
    node.receive_datagram(deletion_request(1), SMF, 0.0)
    event = only(events(node))
    assert isinstance(event, RequestReceived)
    node.send_response(event, SessionDeletionResponse(0, Cause.REQUEST_ACCEPTED, seid=1), 0.0)
    sent(node)
    node.receive_datagram(heartbeat_request(7, SMF_STAMP + 9), SMF, 2.0)
    assert events(node) == [PeerRestarted(SMF, SMF_STAMP, SMF_STAMP + 9)]
    sent(node)
    node.receive_datagram(deletion_request(1), SMF, 3.0)  # same octets, the new life's request
    assert isinstance(only(events(node)), RequestReceived)
    assert sent(node) == []


def test_unassociated_peers_are_not_tracked_for_restarts() -> None:
    node = make_node()
    node.receive_datagram(heartbeat_request(1, 100), OTHER, 0.0)
    node.receive_datagram(heartbeat_request(2, 200), OTHER, 1.0)
    assert events(node) == []


def test_node_never_reads_the_clock_or_opens_a_socket(monkeypatch: pytest.MonkeyPatch) -> None:
    import logging
    import socket
    import time

    def forbidden(*args: object, **kwargs: object) -> None:
        raise AssertionError("the sans-I/O node touched the clock or a socket")

    for name in ("time", "monotonic", "perf_counter", "time_ns", "monotonic_ns", "sleep"):
        monkeypatch.setattr(time, name, forbidden)
    monkeypatch.setattr(socket, "socket", forbidden)
    logging.disable(logging.CRITICAL)  # a log record reads the clock; the node must not
    try:
        node = make_node(heartbeat_interval=1.0, t1=0.5, n1=1)
        node.add_peer(SMF, 0.0)
        node.send_request(HeartbeatRequest(0, OUR_STAMP), OTHER, 0.0)
        node.receive_datagram(deletion_request(1), SMF, 0.1)
        node.receive_datagram(heartbeat_request(1), SMF, 0.2)
        run_until(node, 10.0)
    finally:
        logging.disable(logging.NOTSET)
    assert len(events(node)) == 3  # RequestReceived, RequestTimedOut, PeerFailed


def test_liveness_follows_only_its_table() -> None:
    peer = PeerLiveness(next_heartbeat_at=10.0, recovery_time_stamp=None)
    with pytest.raises(LivenessError):
        peer.heartbeat_answered(20.0)  # nothing outstanding
    peer.heartbeat_sent(5)
    assert (peer.state, peer.heartbeat_sequence, peer.next_heartbeat_at) == (
        PeerState.PROBING,
        5,
        None,
    )
    with pytest.raises(LivenessError):
        peer.heartbeat_sent(6)  # one heartbeat at a time
    peer.heartbeat_timed_out()
    assert peer.state is PeerState.FAILED
    for step in (peer.heartbeat_timed_out, lambda: peer.heartbeat_sent(7)):
        with pytest.raises(LivenessError):
            step()
    assert set(TRANSITIONS.values()) == set(PeerState)  # every state is reachable


def test_config_is_checked() -> None:
    with pytest.raises(NodeConfigError):
        NodeConfig(recovery_time_stamp=-1)
    with pytest.raises(NodeConfigError):
        NodeConfig(recovery_time_stamp=0, t1=0)
    with pytest.raises(NodeConfigError):
        NodeConfig(recovery_time_stamp=0, initial_sequence=1 << 24)


# --------------------------------------------------------------------- property


PEERS = (SMF, SMF_EPHEMERAL, OTHER)

_inbound = st.one_of(
    st.builds(deletion_request, st.integers(0, 2), st.just(1)),
    st.builds(deletion_request, st.integers(0, 3), st.sampled_from([1, 2])),
    st.builds(heartbeat_request, st.integers(0, 3), st.sampled_from([SMF_STAMP, SMF_STAMP + 1])),
    st.builds(heartbeat_response, st.integers(0, 3)),
    st.builds(lambda s: pfcp(EST_REQ, s, seid=0), st.integers(0, 3)),
    st.binary(max_size=40),
    st.builds(
        lambda s, v: pfcp(DEL_REQ, s, seid=1, version=v), st.integers(0, 3), st.integers(0, 7)
    ),
    st.builds(
        lambda data, cut: data[:cut],
        st.builds(deletion_request, st.integers(0, 3)),
        st.integers(0, 20),
    ),
)
_recv = st.tuples(st.just("recv"), _inbound, st.sampled_from(PEERS))
_replay = st.tuples(st.just("replay"), st.integers(0, 7), st.none())  # a peer retransmits
_answer = st.tuples(st.just("answer"), st.integers(0, 5), st.none())
_action = st.one_of(
    _recv,
    _recv,
    _replay,
    _replay,
    _answer,
    st.tuples(st.just("reply"), st.integers(0, 7), st.sampled_from([SMF_STAMP, SMF_STAMP + 1])),
    st.tuples(st.just("advance"), st.floats(0.0, 4.0), st.none()),
    st.tuples(st.just("request"), st.none(), st.sampled_from([SMF, OTHER])),
    st.tuples(st.just("peer"), st.booleans(), st.sampled_from([SMF, OTHER])),
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_action, min_size=5, max_size=60))
def test_random_interleavings_never_raise_or_deliver_twice(
    actions: list[tuple[str, object, object]],
) -> None:
    ttl = 12.0
    node = make_node(t1=2.0, n1=2, heartbeat_interval=5.0, response_cache_ttl=ttl)
    now = 0.0
    delivered: dict[tuple[object, ...], float] = {}  # request key -> when delivered
    answered: dict[tuple[object, ...], bytes] = {}  # request key -> our response octets
    pending: list[RequestReceived | InvalidRequest] = []
    ours: dict[int, int] = {}  # sequence of our request -> terminal events seen for it
    received: list[tuple[bytes, Address]] = []  # what peers sent, for replays
    requested: list[tuple[int, Address]] = []  # our Heartbeat Requests (agent's and node's)

    def advance_to(t: float) -> None:
        timer = node.get_timer()
        while timer is not None and timer <= t:
            node.handle_timer(timer)
            after = node.get_timer()
            assert after is None or after > timer, "timer did not move on"
            timer = after

    def collect() -> None:
        for event in events(node):
            if isinstance(event, PeerRestarted):
                # A restarted peer numbers its requests afresh: the node drops its cached
                # answers on purpose, so an old sequence number is a new request now.
                for key in [k for k in delivered if k[0][0] == event.peer[0]]:
                    del delivered[key]
                    answered.pop(key, None)
            if isinstance(event, (ResponseReceived, InvalidResponse, RequestTimedOut)):
                seq = event.request.sequence
                if seq in ours:  # (heartbeats are the node's own and yield no such events)
                    ours[seq] += 1
                    assert ours[seq] == 1, f"request 0x{seq:06x} ended twice"
            if isinstance(event, (RequestReceived, InvalidRequest)):
                h = event.header
                key = (event.peer, h.sequence, h.message_type, h.seid)
                if key in delivered:
                    assert now >= delivered[key] + ttl, f"delivered twice: {key}"
                    answered.pop(key, None)
                delivered[key] = now
                pending.append(event)

    for kind, arg, addr in actions:
        if kind == "recv":
            assert isinstance(arg, bytes) and isinstance(addr, tuple)
            node.receive_datagram(arg, addr, now)
            received.append((arg, addr))
        elif kind == "replay" and received:
            assert isinstance(arg, int)
            node.receive_datagram(*received[-1 - arg % len(received)], now)
        elif kind == "reply" and requested:
            assert isinstance(arg, int) and isinstance(addr, int)
            seq, peer = requested[-1 - arg % len(requested)]
            node.receive_datagram(heartbeat_response(seq, addr), peer, now)
        elif kind == "advance":
            assert isinstance(arg, float)
            now += arg
            advance_to(now)
        elif kind == "answer" and pending:
            assert isinstance(arg, int)
            event = pending.pop(arg % len(pending))
            h = event.header
            key = (event.peer, h.sequence, h.message_type, h.seid)
            if isinstance(event, InvalidRequest):  # only empty Establishment Requests here
                response: Message = _establishment_reject(event)
            else:
                response = SessionDeletionResponse(0, Cause.REQUEST_ACCEPTED, seid=9)
            node.send_response(event, response, now)
            out = node.datagrams_to_send(now)
            if key in answered:  # delivered again after expiry, and answered before
                assert out == []
            else:
                answered[key] = only(out)[0]
            continue
        elif kind == "request":
            assert isinstance(addr, tuple)
            seq = node.send_request(HeartbeatRequest(0, OUR_STAMP), addr, now)
            assert seq not in ours or ours[seq] == 1  # never reuse an outstanding number
            ours[seq] = 0
        elif kind == "peer":
            assert isinstance(addr, tuple)
            if arg:
                node.add_peer(addr, now)
            else:
                node.remove_peer(addr)
        collect()
        for data, dest in node.datagrams_to_send(now):
            header = peek_header(data)
            assert header is not None and header.version == 1
            if header.message_type == HB_REQ:
                requested.append((header.sequence, dest))
            if header.message_type in (DEL_REQ + 1, EST_REQ + 1):
                # A response to a request: always the octets we cached for it.
                assert data in answered.values()
            assert dest in PEERS
    # Every request of ours ends exactly once: answered, malformed answer, or timed out.
    now += 1000.0
    advance_to(now)
    collect()
    assert all(n == 1 for n in ours.values()), ours
    assert node.stats.codec_failures == 0
