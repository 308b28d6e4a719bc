"""Request shapes (pfcp/shapes.py): a request matched to a learnt shape is the message the
decoder makes of it, and nothing else matches."""

from __future__ import annotations

import dataclasses
import ipaddress
import random

import pytest

from pfcp import (
    FSeid,
    NodeId,
    SessionEstablishmentRequest,
    SessionModificationRequest,
    decode_message,
    encode_message,
)
from pfcp.enums import (
    ApplyAction,
    DestinationInterface,
    OuterHeaderCreationDescription,
    SourceInterface,
)
from pfcp.ies.address import FTeid, OuterHeaderCreation, UeIpAddress
from pfcp.ies.base import RawIe
from pfcp.ies.grouped import CreateFar, CreatePdr, ForwardingParameters, Pdi
from pfcp.ies.simple import NetworkInstance
from pfcp.node import NodeConfig, PfcpNode, RequestReceived
from pfcp.shapes import ShapeTable
from upf import smfsim_codec

SMF = ipaddress.IPv4Address("192.0.2.9")
N3 = ipaddress.IPv4Address("192.0.2.1")
NI = NetworkInstance.from_text("internet")
PEER = ("192.0.2.9", 8805)


def _request(seq: int, seid: int, ue: int, teid: int, gnb: int, *, extra: bool = False,
             choose_ue: bool = False, split_ue: bool = False) -> bytes:
    """An establishment with every kind of slot: the CP F-SEID, a UE address (in two
    PDRs), an F-TEID the SMF chose, and the gNB's tunnel."""
    ue_ip = UeIpAddress(choose_v4=True) if choose_ue else UeIpAddress(
        ipv4=ipaddress.IPv4Address(ue))
    ul = CreatePdr(1, 10, Pdi(SourceInterface.ACCESS, local_f_teid=FTeid(teid=teid, ipv4=N3),
                              network_instance=NI, ue_ip_address=ue_ip), far_id=1)
    dl_ue = dataclasses.replace(ue_ip, is_destination=True)
    if split_ue:  # (usually the same address: decoded once; here two)
        dl_ue = dataclasses.replace(dl_ue, ipv4=ipaddress.IPv4Address(ue ^ 1))
    dl = CreatePdr(2, 10, Pdi(SourceInterface.CORE, network_instance=NI, ue_ip_address=dl_ue),
                   far_id=2)
    fars = (
        CreateFar(1, ApplyAction.FORW, ForwardingParameters(DestinationInterface.CORE, NI)),
        CreateFar(2, ApplyAction.FORW, ForwardingParameters(
            DestinationInterface.ACCESS, NI, outer_header_creation=OuterHeaderCreation(
                OuterHeaderCreationDescription.GTP_U_UDP_IPV4, teid=teid + 1,
                ipv4=ipaddress.IPv4Address(gnb)))),
    )
    return encode_message(SessionEstablishmentRequest(
        seq, NodeId(SMF), FSeid(seid, ipv4=SMF), create_pdr=(ul, dl), create_far=fars,
        extra_ies=(RawIe(250, b"vendor"),) if extra else (), seid=0))


def _random(rng: random.Random, seq: int, **kw: bool) -> bytes:
    return _request(seq, rng.getrandbits(64), rng.getrandbits(32), rng.getrandbits(32) | 1,
                    rng.getrandbits(32), **kw)


@pytest.mark.parametrize("kw", [{}, {"extra": True}, {"choose_ue": True}, {"split_ue": True}])
def test_a_match_is_what_the_decoder_makes_of_the_request(kw: dict[str, bool]) -> None:
    rng = random.Random(7)
    table = ShapeTable()
    first = _random(rng, 1, **kw)
    shape = table.learn(first, decode_message(first))
    assert shape is not None
    assert len(shape.slots) == (3 if kw.get("choose_ue") else 5)
    for seq in range(2, 300):
        data = _random(rng, seq, **kw)
        shaped = table.match(data)
        assert shaped is not None
        assert shaped.message == decode_message(data)
        assert shaped.message.sequence == seq
        reference = shape.match(data)  # (the matcher is straight-line code made from it)
        assert reference is not None and reference.leaves == shaped.leaves
        for name in ("cp_f_seid", "fq_csid", "create_pdr", "node_id"):
            assert shaped.field(name) == getattr(decode_message(data), name)
    assert table.matched == 298


def test_the_smf_simulators_requests_match() -> None:
    sim = smfsim_codec.Templates(str(SMF), str(SMF), 9)
    table = ShapeTable()
    first = sim.establishment(1, 5, 0x0A000001, int(SMF), 7)
    assert table.learn(first, decode_message(first)) is not None
    for i in range(2, 50):
        data = sim.establishment(i, 5 + i, 0x0A000001 + i, int(SMF) + i, 7 * i)
        shaped = table.match(data)
        assert shaped is not None and shaped.message == decode_message(data)


def test_any_octet_changed_outside_the_slots_is_not_a_match() -> None:
    table = ShapeTable()
    first = _request(1, 1, 0x0A000001, 0x100, int(SMF))
    shape = table.learn(first, decode_message(first))
    assert shape is not None
    data = _request(2, 2, 0x0A000002, 0x200, int(SMF) + 1)
    varying = {12, 13, 14} | {i for s in shape.slots for i in range(s.start, s.end)}
    assert table.match(data) is not None
    for i in range(len(data)):
        if i in varying:
            continue
        changed = bytearray(data)
        changed[i] ^= 0x01
        assert table.match(bytes(changed)) is None, i
    assert table.match(data + b"\x00") is None  # (another length)


def test_the_message_is_built_only_when_read() -> None:
    table = ShapeTable()
    first = _request(1, 1, 0x0A000001, 0x100, int(SMF))
    table.learn(first, decode_message(first))
    shaped = table.match(_request(2, 2, 0x0A000002, 0x200, int(SMF)))
    assert shaped is not None
    assert shaped._message is None
    assert shaped.field("cp_f_seid") == FSeid(2, ipv4=SMF)  # (a slot's own IE)
    assert shaped._message is None
    assert shaped.message is shaped.message  # built once


def test_what_is_not_learnt() -> None:
    table = ShapeTable()
    modification = encode_message(SessionModificationRequest(1, seid=5))
    assert table.learn(modification, decode_message(modification)) is None
    data = _request(1, 1, 0x0A000001, 0x100, int(SMF))
    trailing = data + b"\x00\x00"
    assert table.learn(trailing, decode_message(data)) is None
    follow_on = bytes([data[0] | 0x04]) + data[1:]
    assert table.learn(follow_on, decode_message(data)) is None
    assert len(table) == 0


def test_the_table_is_bounded() -> None:
    table = ShapeTable(max_shapes=8, max_per_length=2)
    for n in range(1, 12):  # shapes of different lengths: network instances of n letters
        ni = NetworkInstance.from_text("x" * n)
        msg = SessionEstablishmentRequest(
            1, NodeId(SMF), FSeid(1, ipv4=SMF),
            create_pdr=(CreatePdr(1, 1, Pdi(SourceInterface.CORE, network_instance=ni,
                                            ue_ip_address=UeIpAddress(ipv4=SMF)), far_id=1),),
            create_far=(CreateFar(1, ApplyAction.DROP),), seid=0)
        data = encode_message(msg)
        assert table.learn(data, decode_message(data)) is not None
        assert len(table) <= 8
    for pdr_id in range(1, 5):  # one length: at most two shapes
        msg = SessionEstablishmentRequest(
            1, NodeId(SMF), FSeid(1, ipv4=SMF),
            create_pdr=(CreatePdr(pdr_id, 1, Pdi(SourceInterface.CORE,
                                                 ue_ip_address=UeIpAddress(ipv4=SMF)),
                                  far_id=1),),
            create_far=(CreateFar(1, ApplyAction.DROP),), seid=0)
        data = encode_message(msg)
        table.learn(data, decode_message(data))
    assert max(len(shapes) for shapes in table._by_length.values()) == 2


def test_the_node_delivers_shaped_requests_and_still_answers_retransmissions() -> None:
    node = PfcpNode(NodeConfig(recovery_time_stamp=1, heartbeat_interval=3600.0), 0.0)
    node.shapes = ShapeTable()
    requests = [_request(i, i, 0x0A000000 + i, 0x100 + i, int(SMF)) for i in (1, 2, 3)]
    events = []
    for data in requests:
        node.receive_datagram(data, PEER, 1.0)
        event = node.next_event()
        assert isinstance(event, RequestReceived)
        events.append(event)
    assert [e.shaped is not None for e in events] == [False, True, True]
    for event, data in zip(events, requests, strict=True):
        assert event.message == decode_message(data)
        assert event == RequestReceived(PEER, decode_message(data), event.header)
    answer = b"\x21\x33\x00\x0c" + bytes(8) + (3 << 8).to_bytes(4, "big")
    node.send_encoded_response(events[2], answer, 1.0)
    node.datagrams_to_send(1.0)
    node.receive_datagram(requests[2], PEER, 1.5)  # a retransmission: the cached answer
    assert node.next_event() is None
    assert node.stats.duplicates_answered == 1
