"""The SMF simulator against a fake UPF built on scapy (an independent PFCP implementation),
and its hand-written wire format (smfsim_codec) against pfcp.codec and scapy.

No root: everything is on loopback. The fake UPF checks what the simulator sends (parsed by
scapy) and answers like a UPF: F-SEID and a chosen F-TEID at establishment; or, when told,
with rejections, broken responses or nothing.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import struct
import threading
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest
import uvloop
from hypothesis import given
from hypothesis import strategies as st
from scapy.contrib import pfcp as sp

from pfcp.codec import decode_message, encode_message
from pfcp.enums import (
    ApplyAction,
    Cause,
    DestinationInterface,
    IEType,
    MessageType,
    OuterHeaderCreationDescription,
    OuterHeaderRemovalDescription,
    ReportType,
    SourceInterface,
)
from pfcp.ies.address import FSeid, FTeid, NodeId, OuterHeaderCreation, UeIpAddress
from pfcp.ies.grouped import (
    CreateFar,
    CreatePdr,
    CreateQer,
    ForwardingParameters,
    Pdi,
    UpdateFar,
    UpdateForwardingParameters,
)
from pfcp.ies.reports import CreatedPdr
from pfcp.ies.simple import GateStatus, Mbr, NetworkInstance, OuterHeaderRemoval, unix_to_ntp
from pfcp.messages import (
    AssociationSetupRequest,
    HeartbeatRequest,
    HeartbeatResponse,
    SessionDeletionRequest,
    SessionDeletionResponse,
    SessionEstablishmentRequest,
    SessionEstablishmentResponse,
    SessionModificationRequest,
    SessionModificationResponse,
    SessionReportRequest,
    SessionReportResponse,
)
from upf import smfsim_codec as codec
from upf.smfsim import SimConfig, SmfSim, run_sim


class FakeUpf(threading.Thread):
    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.port = int(self.sock.getsockname()[1])
        self.seen: Counter[int] = Counter()  # by message type
        self.dl_teids: dict[int, int] = {}  # up seid -> downlink OHC TEID
        self.errors: list[str] = []
        self.stop = threading.Event()
        self.drop_first = 0  # drop this many establishment requests (retransmission test)
        # Replaces the establishment response of session i (by CP SEID) when it returns bytes.
        self.override: Callable[[int, Any], bytes | None] = lambda i, rsp: None
        self.probe_after = 0  # after that many establishments, send a heartbeat and a report
        self.probes: list[bytes] = []  # the simulator's answers to them

    def run(self) -> None:
        while not self.stop.is_set():
            try:
                data, addr = self.sock.recvfrom(65535)
            except TimeoutError:
                continue
            try:
                rsp = self.answer(sp.PFCP(data))
            except Exception as e:  # recorded, asserted by the test
                self.errors.append(repr(e))
                continue
            if rsp is not None:
                self.sock.sendto(bytes(rsp), addr)
            if self.probe_after and self.seen[50] == self.probe_after and not self.probes:
                self.probe_after = 0
                hb = HeartbeatRequest(0x7A0001, unix_to_ntp(1))
                report = SessionReportRequest(0x7A0002, ReportType.USAR, seid=0x5EED00000000)
                for m in (hb, report):
                    self.sock.sendto(encode_message(m), addr)

    def answer(self, req: Any) -> Any | None:
        body = req.payload
        self.seen[int(req.message_type)] += 1
        if int(req.message_type) in (2, 57):  # the simulator's answers to our probes
            self.probes.append(bytes(req))
            return None
        if isinstance(body, sp.PFCPAssociationSetupRequest):
            return sp.PFCP(S=0, seq=req.seq) / sp.PFCPAssociationSetupResponse(
                IE_list=[sp.IE_NodeId(ipv4="127.0.0.1"), sp.IE_Cause(cause=1),
                         sp.IE_RecoveryTimeStamp(timestamp=1)]
            )  # fmt: skip
        if isinstance(body, sp.PFCPSessionEstablishmentRequest):
            if self.drop_first > 0:
                self.drop_first -= 1
                return None
            ies = {type(ie).__name__: ie for ie in body.IE_list}
            fseid = ies["IE_FSEID"]
            assert req.seid == 0, "no UP SEID yet"
            pdrs = [ie for ie in body.IE_list if isinstance(ie, sp.IE_CreatePDR)]
            fars = [ie for ie in body.IE_list if isinstance(ie, sp.IE_CreateFAR)]
            assert len(pdrs) == 2 and len(fars) == 2
            pdi = next(ie for ie in pdrs[0].IE_list if isinstance(ie, sp.IE_PDI))
            fteid = next(ie for ie in pdi.IE_list if isinstance(ie, sp.IE_FTEID))
            assert fteid.CH == 1, "uplink F-TEID must be CHOOSE"
            up_seid = fseid.seid + 0x100000000
            fp = next(ie for ie in fars[1].IE_list if isinstance(ie, sp.IE_ForwardingParameters))
            ohc = next(ie for ie in fp.IE_list if isinstance(ie, sp.IE_OuterHeaderCreation))
            self.dl_teids[up_seid] = int(ohc.TEID)
            rsp = sp.PFCP(S=1, seid=fseid.seid, seq=req.seq) / sp.PFCPSessionEstablishmentResponse(
                IE_list=[
                    sp.IE_NodeId(ipv4="127.0.0.1"), sp.IE_Cause(cause=1),
                    sp.IE_FSEID(v4=1, seid=up_seid, ipv4="127.0.0.1"),
                    sp.IE_CreatedPDR(IE_list=[
                        sp.IE_PDR_Id(id=1),
                        sp.IE_FTEID(V4=1, TEID=(up_seid & 0xFFFF) + 1, ipv4="10.100.0.2"),
                    ]),
                ]
            )  # fmt: skip
            other = self.override(int(fseid.seid) - 0x5EED00000000, rsp)
            if other is not None:
                self.dl_teids.pop(up_seid)
            return rsp if other is None else other
        if isinstance(body, sp.PFCPSessionModificationRequest):
            upd = next(ie for ie in body.IE_list if isinstance(ie, sp.IE_UpdateFAR))
            fp = next(ie for ie in upd.IE_list if isinstance(ie, sp.IE_UpdateForwardingParameters))
            ohc = next(ie for ie in fp.IE_list if isinstance(ie, sp.IE_OuterHeaderCreation))
            assert int(ohc.TEID) != self.dl_teids[req.seid], "handover changes the TEID"
            cp_seid = req.seid - 0x100000000  # responses carry the peer's SEID
            return sp.PFCP(S=1, seid=cp_seid, seq=req.seq) / sp.PFCPSessionModificationResponse(
                IE_list=[sp.IE_Cause(cause=1)]
            )
        if req.message_type == 54:  # Session Deletion Request: no IEs, so no scapy body
            cause = 1 if self.dl_teids.pop(req.seid, None) is not None else 65
            cp_seid = req.seid - 0x100000000
            return sp.PFCP(S=1, seid=cp_seid, seq=req.seq) / sp.PFCPSessionDeletionResponse(
                IE_list=[sp.IE_Cause(cause=cause)]
            )
        return None


def test_full_cycle_against_scapy_upf() -> None:
    upf = FakeUpf()
    upf.start()
    try:
        cfg = SimConfig(upf=("127.0.0.1", upf.port), local=("127.0.0.1", 0), sessions=40, window=8)
        sim, summary = asyncio.run(run_sim(cfg))
    finally:
        upf.stop.set()
        upf.join()
    assert upf.errors == []
    assert summary["association"] == "REQUEST_ACCEPTED"
    for phase in ("establish", "modify", "delete"):
        assert summary[phase]["accepted"] == 40, summary[phase]
        assert summary[phase]["p99_ms"] >= summary[phase]["p50_ms"] > 0
    assert upf.seen[50] == 40  # Session Establishment Requests
    assert upf.dl_teids == {}
    s0 = sim.sessions[0]
    assert s0.up_seid == s0.cp_seid + 0x100000000
    assert s0.ul_teid == (s0.up_seid & 0xFFFF) + 1
    assert s0.ul_addr == "10.100.0.2"


def test_retransmits_a_lost_request() -> None:
    upf = FakeUpf()
    upf.drop_first = 1
    upf.start()
    try:
        cfg = SimConfig(
            upf=("127.0.0.1", upf.port), local=("127.0.0.1", 0), sessions=1, window=1, t1=1.0
        )
        _, summary = asyncio.run(run_sim(cfg, modify=False))
    finally:
        upf.stop.set()
        upf.join()
    assert summary["establish"]["accepted"] == 1
    assert summary["retransmissions"] == 1
    assert upf.seen[50] == 2


def _fake_upf_run(upf: FakeUpf, cfg_kw: dict[str, Any], **run_kw: Any) -> tuple[Any, Any]:
    upf.start()
    try:
        cfg = SimConfig(upf=("127.0.0.1", upf.port), local=("127.0.0.1", 0), **cfg_kw)
        return asyncio.run(run_sim(cfg, **run_kw))
    finally:
        upf.stop.set()
        upf.join()


def test_gives_up_after_n1_retransmissions() -> None:
    upf = FakeUpf()
    upf.drop_first = 10**6
    _, summary = _fake_upf_run(upf, {"sessions": 3, "window": 2, "t1": 0.2, "n1": 2})
    est = summary["establish"]
    assert (est["count"], est["accepted"], est["timeouts"]) == (3, 0, 3)
    assert est["causes"] == {"TIMEOUT": 3}
    assert summary["retransmissions"] == 6
    assert upf.seen[50] == 9  # each request sent 1 + N1 times


def test_rejections_and_broken_responses_are_counted_by_name() -> None:
    """Whatever the UPF answers is counted, never a crash; accepted ones are recorded."""

    def override(i: int, rsp: Any) -> bytes | None:
        seq, seid = int(rsp.seq), int(rsp.seid)
        hdr = sp.PFCP(S=1, seid=seid, seq=seq)
        if i % 6 == 1:  # a rejection naming the IE at fault
            return bytes(hdr / sp.PFCPSessionEstablishmentResponse(IE_list=[
                sp.IE_NodeId(ipv4="127.0.0.1"), sp.IE_Cause(cause=73),
                sp.IE_OffendingIE(type=21),
            ]))  # fmt: skip
        if i % 6 == 2:  # truncated: the header says more than the datagram holds
            return bytes(rsp)[:-3]
        if i % 6 == 3:  # accepted, but no UP F-SEID
            ies = [ie for ie in rsp.payload.IE_list if not isinstance(ie, sp.IE_FSEID)]
            return bytes(hdr / sp.PFCPSessionEstablishmentResponse(IE_list=ies))
        if i % 6 == 4:  # accepted, but the uplink F-TEID still says CHOOSE
            ies = [ie for ie in rsp.payload.IE_list if not isinstance(ie, sp.IE_CreatedPDR)]
            ies.append(sp.IE_CreatedPDR(IE_list=[sp.IE_PDR_Id(id=1), sp.IE_FTEID(CH=1, V4=1)]))
            return bytes(hdr / sp.PFCPSessionEstablishmentResponse(IE_list=ies))
        if i % 6 == 5:  # accepted, for somebody else's SEID
            return bytes(sp.PFCP(S=1, seid=seid + 1, seq=seq) / rsp.payload)
        return None

    upf = FakeUpf()
    upf.override = override
    sim, summary = _fake_upf_run(upf, {"sessions": 24, "window": 5})
    assert upf.errors == []
    est = summary["establish"]
    assert est["causes"] == {
        "REQUEST_ACCEPTED": 4,
        "RULE_CREATION_MODIFICATION_FAILURE": 4,
        "MALFORMED_RESPONSE": 4,
        "MISSING_UP_F_SEID": 4,
        "INVALID_UPLINK_F_TEID": 4,
        "WRONG_SEID": 4,
    }
    assert (est["accepted"], est["rejected"], est["timeouts"]) == (4, 20, 0)
    assert est["offending_ies"] == {"21": 4}
    assert [s.index for s in sim.sessions if s.established] == []  # deleted
    assert summary["modify"]["accepted"] == summary["delete"]["accepted"] == 4
    assert upf.dl_teids == {}


def test_answers_heartbeats_and_session_reports() -> None:
    upf = FakeUpf()
    upf.probe_after = 3
    sim, summary = _fake_upf_run(upf, {"sessions": 6, "window": 1}, delete=False)
    assert summary["establish"]["accepted"] == 6
    answers = sorted((decode_message(b) for b in upf.probes), key=lambda m: m.sequence)
    assert [type(m) for m in answers] == [HeartbeatResponse, SessionReportResponse]
    hb, report = answers
    assert hb.sequence == 0x7A0001
    assert hb.recovery_time_stamp == unix_to_ntp(sim.recovery_time)
    assert (report.sequence, report.cause) == (0x7A0002, Cause.REQUEST_ACCEPTED)
    assert report.seid == sim.sessions[0].up_seid  # the UPF's SEID of that session


def test_paced_establishment() -> None:
    upf = FakeUpf()
    _, summary = _fake_upf_run(upf, {"sessions": 20, "window": 8, "rate": 100.0})
    est = summary["establish"]
    assert est["accepted"] == 20
    assert 0.15 <= est["elapsed_s"] < 1.0  # 20 at 100/s: 0.19 s


def test_runs_on_uvloop() -> None:
    upf = FakeUpf()
    upf.start()
    try:
        cfg = SimConfig(upf=("127.0.0.1", upf.port), local=("127.0.0.1", 0), sessions=30)
        _, summary = uvloop.run(run_sim(cfg))
    finally:
        upf.stop.set()
        upf.join()
    for phase in ("establish", "modify", "delete"):
        assert summary[phase]["accepted"] == 30, summary[phase]


# -- the wire format against pfcp.codec and scapy --------------------------------------------------

NI = NetworkInstance.from_text("internet")
UE = ipaddress.IPv4Address("10.45.3.7")
GNB = ipaddress.IPv4Address("10.100.0.9")


def _templates() -> codec.Templates:
    return codec.Templates("smf.example.org", "10.50.0.1", 7)


def test_establishment_template_is_the_session_intended() -> None:
    data = _templates().establishment(0xABCDEF, 0x5EED00000042, int(UE), int(GNB), 0x1234567)
    expected = SessionEstablishmentRequest(
        0xABCDEF,
        NodeId("smf.example.org"),
        FSeid(0x5EED00000042, ipv4=ipaddress.IPv4Address("10.50.0.1")),
        (
            CreatePdr(
                pdr_id=1, precedence=255,
                pdi=Pdi(
                    source_interface=SourceInterface.ACCESS,
                    local_f_teid=FTeid(choose=True, choose_v4=True, choose_id=1),
                    network_instance=NI, ue_ip_address=UeIpAddress(ipv4=UE), qfi=(7,),
                ),
                outer_header_removal=OuterHeaderRemoval(
                    OuterHeaderRemovalDescription.GTP_U_UDP_IPV4
                ),
                far_id=1, qer_id=(1,),
            ),
            CreatePdr(
                pdr_id=2, precedence=255,
                pdi=Pdi(
                    source_interface=SourceInterface.CORE, network_instance=NI,
                    ue_ip_address=UeIpAddress(ipv4=UE, is_destination=True),
                ),
                far_id=2, qer_id=(1,),
            ),
        ),
        (
            CreateFar(
                far_id=1, apply_action=ApplyAction.FORW,
                forwarding_parameters=ForwardingParameters(
                    destination_interface=DestinationInterface.CORE, network_instance=NI
                ),
            ),
            CreateFar(
                far_id=2, apply_action=ApplyAction.FORW,
                forwarding_parameters=ForwardingParameters(
                    destination_interface=DestinationInterface.ACCESS, network_instance=NI,
                    outer_header_creation=OuterHeaderCreation(
                        OuterHeaderCreationDescription.GTP_U_UDP_IPV4, teid=0x1234567, ipv4=GNB
                    ),
                ),
            ),
        ),
        create_qer=(
            CreateQer(qer_id=1, gate_status=GateStatus(), mbr=Mbr(ul=100_000, dl=200_000), qfi=7),
        ),
        seid=0,
    )  # fmt: skip
    assert decode_message(data) == expected
    assert data == encode_message(expected)  # the codec writes the same octets today
    # scapy reads the same session
    pkt = sp.PFCP(data)
    assert (int(pkt.seq), int(pkt.seid), int(pkt.message_type)) == (0xABCDEF, 0, 50)
    pdrs = [ie for ie in pkt.payload.IE_list if isinstance(ie, sp.IE_CreatePDR)]
    pdi = next(ie for ie in pdrs[1].IE_list if isinstance(ie, sp.IE_PDI))
    ue = next(ie for ie in pdi.IE_list if isinstance(ie, sp.IE_UE_IP_Address))
    assert (ue.ipv4, int(ue.SD)) == (str(UE), 1)


def test_modification_and_deletion_templates() -> None:
    tpl = _templates()
    mod = decode_message(tpl.modification(77, 0xFEDCBA9876543210, int(GNB), 0xCAFE))
    far = UpdateFar(
        far_id=2,
        apply_action=ApplyAction.FORW,
        update_forwarding_parameters=UpdateForwardingParameters(
            destination_interface=DestinationInterface.ACCESS,
            network_instance=NI,
            outer_header_creation=OuterHeaderCreation(
                OuterHeaderCreationDescription.GTP_U_UDP_IPV4, teid=0xCAFE, ipv4=GNB
            ),
        ),
    )
    assert mod == SessionModificationRequest(77, update_far=(far,), seid=0xFEDCBA9876543210)
    dele = tpl.deletion(0xFFFFFF, 5)
    assert decode_message(dele) == SessionDeletionRequest(0xFFFFFF, seid=5)
    pkt = sp.PFCP(dele)
    assert (int(pkt.message_type), int(pkt.seid), int(pkt.seq)) == (54, 5, 0xFFFFFF)


@pytest.mark.parametrize("node_id", ["10.50.0.1", "2001:db8::5", "smf.example.org"])
def test_node_messages(node_id: str) -> None:
    assoc = decode_message(codec.association_setup_request(9, node_id, 1_700_000_000.5))
    nid = NodeId(ipaddress.ip_address(node_id)) if node_id[0].isdigit() else NodeId(node_id)
    assert assoc == AssociationSetupRequest(9, nid, unix_to_ntp(1_700_000_000))
    hb = codec.heartbeat_request(10, 1_700_000_000)
    assert decode_message(hb) == HeartbeatRequest(10, unix_to_ntp(1_700_000_000))


def test_cause_names_and_request_types_match_the_codec() -> None:
    assert {int(c): c.name for c in Cause} == codec.CAUSE_NAMES
    assert {int(t) for t in MessageType if t.name.endswith("_REQUEST")} == codec.REQUESTS
    assert codec.cause_name(200) == "CAUSE_200"


def _est_response(**kw: Any) -> bytes:
    msg = SessionEstablishmentResponse(
        kw.pop("sequence", 5),
        NodeId(ipaddress.IPv4Address("10.50.0.2")),
        kw.pop("cause", Cause.REQUEST_ACCEPTED),
        seid=kw.pop("seid", 0x5EED00000001),
        **kw,
    )
    return encode_message(msg)


V4 = ipaddress.IPv4Address("10.60.0.1")
V6 = ipaddress.IPv6Address("2001:db8::1")
UPLINK = CreatedPdr(1, FTeid(0x1001, ipv4=V4))
DOWNLINK = CreatedPdr(2, FTeid(0x2002, ipv4=V4))


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (
            _est_response(up_f_seid=FSeid(0xA1, ipv4=V4), created_pdr=(DOWNLINK, UPLINK)),
            (0x5EED00000001, 1, -1, 0xA1, 0x1001, V4.packed),
        ),
        (
            _est_response(
                up_f_seid=FSeid(0xA2, ipv4=V4, ipv6=V6),
                created_pdr=(CreatedPdr(1, FTeid(7, ipv6=V6)),),
            ),
            (0x5EED00000001, 1, -1, 0xA2, 7, V6.packed),
        ),
        (_est_response(up_f_seid=FSeid(0xA3, ipv4=V4)), (0x5EED00000001, 1, -1, 0xA3, -1, b"")),
        (
            _est_response(created_pdr=(CreatedPdr(1, FTeid(choose=True, choose_v4=True)),)),
            (0x5EED00000001, 1, -1, -1, -2, b""),
        ),
        (
            _est_response(cause=Cause.MANDATORY_IE_MISSING, offending_ie=IEType.F_SEID, seid=0),
            (0, 66, 57, -1, -1, b""),
        ),
        (
            encode_message(SessionModificationResponse(6, Cause.REQUEST_ACCEPTED, seid=9)),
            (9, 1, -1, -1, -1, b""),
        ),
        (
            encode_message(
                SessionDeletionResponse(
                    7, Cause.SESSION_CONTEXT_NOT_FOUND, offending_ie=IEType.F_SEID, seid=0
                )
            ),
            (0, 65, 57, -1, -1, b""),
        ),
        (encode_message(HeartbeatResponse(8, 1)), (-1, -1, -1, -1, -1, b"")),
        (
            bytes(
                sp.PFCP(S=1, seid=3, seq=1)
                / sp.PFCPSessionEstablishmentResponse(
                    IE_list=[
                        sp.IE_NodeId(ipv4="10.50.0.2"),
                        sp.IE_Cause(cause=1),
                        sp.IE_FSEID(v4=1, seid=0xB1, ipv4="10.50.0.2"),
                        sp.IE_CreatedPDR(
                            IE_list=[
                                sp.IE_FTEID(V4=1, TEID=0x31, ipv4="10.60.0.1"),
                                sp.IE_PDR_Id(id=1),
                            ]
                        ),
                    ]
                )
            ),
            (3, 1, -1, 0xB1, 0x31, V4.packed),
        ),
        (
            bytes(
                sp.PFCP(S=1, seid=3, seq=1)
                / sp.PFCPSessionEstablishmentResponse(
                    IE_list=[
                        sp.IE_Cause(cause=75),
                        sp.IE_OffendingIE(type=8),
                    ]
                )
            ),
            (3, 75, 8, -1, -1, b""),
        ),
        (
            bytes(
                sp.PFCP(S=1, seid=4, seq=1)
                / sp.PFCPSessionModificationResponse(IE_list=[sp.IE_Cause(cause=1)])
            ),
            (4, 1, -1, -1, -1, b""),
        ),
    ],
)
def test_read_response(data: bytes, expected: tuple[Any, ...]) -> None:
    assert tuple(codec.read_response(data)) == expected
    reader = codec.ResponseReader()
    assert tuple(reader.read(data)) == expected
    assert tuple(reader.read(data)) == expected  # the remembered layout


GOOD = _est_response(up_f_seid=FSeid(0xA1, ipv4=V4), created_pdr=(UPLINK,))


def _with_length(data: bytes) -> bytes:
    return data[:2] + struct.pack("!H", len(data) - 4) + data[4:]


BROKEN = [
    *(GOOD[:n] for n in range(len(GOOD))),  # cut anywhere: the header says more
    GOOD[:2] + struct.pack("!H", len(GOOD) - 3) + GOOD[4:],  # says one octet more
    _with_length(GOOD + b"\x00\x13"),  # a trailing IE header cut short
    _with_length(GOOD + b"\x00\x13\x00\x00"),  # an empty Cause
    _with_length(GOOD + b"\x00\x28\x00\x01\x00"),  # a one-octet Offending IE
    _with_length(GOOD + b"\x00\x39\x00\x05\x02\x00\x00\x00\x01"),  # a short F-SEID
    _with_length(GOOD + b"\x00\x39\x00\x09\x02" + bytes(8)),  # F-SEID: V4, no address
    _with_length(GOOD + b"\x00\x13\x00\x09\x01"),  # an IE longer than the message
    _with_length(GOOD[:16] + bytes.fromhex("0008 000b 0038 0002 0001 0015 0003 01 0000")),
    _with_length(GOOD[:16] + bytes.fromhex("0008 0006 0038 0001 00")),  # a one-octet PDR ID
    _with_length(GOOD[:16] + bytes.fromhex("0008 0009 0015 0005 01 0000 0001")),  # no address
]


@pytest.mark.parametrize("data", BROKEN, ids=range(len(BROKEN)))
def test_broken_responses_raise_malformed(data: bytes) -> None:
    with pytest.raises(codec.MalformedError):
        codec.read_response(data)
    reader = codec.ResponseReader()
    reader.read(GOOD)
    with pytest.raises(codec.MalformedError):
        reader.read(data)


def _read_or_error(read: Callable[[bytes], Any], data: bytes) -> Any:
    try:
        return tuple(read(data))
    except codec.MalformedError:
        return "malformed"


@given(st.lists(st.tuples(st.integers(0, len(GOOD) - 1), st.integers(0, 255)), max_size=4))
def test_the_remembered_layout_reads_like_a_full_walk(flips: list[tuple[int, int]]) -> None:
    """A response of a remembered length with other octets: the same result as a fresh
    walk (or the same MalformedError), never a wrong field from a stale layout."""
    reader = codec.ResponseReader()
    reader.read(GOOD)
    data = bytearray(GOOD)
    for at, value in flips:
        data[at] = value
    assert _read_or_error(reader.read, bytes(data)) == _read_or_error(
        codec.read_response, bytes(data)
    )


@given(st.binary(max_size=80))
def test_garbage_is_malformed_or_read(data: bytes) -> None:
    _read_or_error(codec.read_response, data)
    _read_or_error(codec.ResponseReader().read, data)


def test_garbage_to_the_simulator_is_ignored() -> None:
    sim = SmfSim(SimConfig(upf=("127.0.0.1", 9)))
    for data in (b"", b"\x21", b"\xff" * 20, GOOD[:10], GOOD):
        sim._received(data, ("127.0.0.1", 9))  # no phase, nothing pending
    assert sim.ignored == 5
