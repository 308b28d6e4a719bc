"""The SMF simulator's messages, built and read with our PFCP codec (pfcp.messages)."""

from __future__ import annotations

import ipaddress
from typing import TYPE_CHECKING, Any

from pfcp.codec import decode_message, encode_message
from pfcp.enums import (
    ApplyAction,
    Cause,
    DestinationInterface,
    MessageType,
    OuterHeaderCreationDescription,
    OuterHeaderRemovalDescription,
    SourceInterface,
)
from pfcp.errors import PfcpError
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
from pfcp.ies.simple import GateStatus, Mbr, NetworkInstance, OuterHeaderRemoval, unix_to_ntp
from pfcp.messages import (
    AssociationSetupRequest,
    HeartbeatRequest,
    HeartbeatResponse,
    Message,
    SessionDeletionRequest,
    SessionEstablishmentRequest,
    SessionEstablishmentResponse,
    SessionModificationRequest,
    SessionReportResponse,
)

if TYPE_CHECKING:
    from upf.smfsim import SimSession, SmfSim

_REQUESTS = frozenset(int(t) for t in MessageType if t.name.endswith("_REQUEST"))
NI = NetworkInstance.from_text("internet")


def peek(data: bytes) -> tuple[int, int]:
    """(message type, sequence number) from a header, without decoding the body."""
    if len(data) < 8 or data[0] >> 5 != 1:
        raise ValueError("not PFCP v1")
    off = 12 if data[0] & 1 else 4
    if len(data) < off + 3:
        raise ValueError("short")
    return data[1], int.from_bytes(data[off : off + 3], "big")


def is_request(message_type: int) -> bool:
    return message_type in _REQUESTS


def decode(data: bytes) -> Message:
    return decode_message(data)


def answer_request(data: bytes, sim: SmfSim) -> bytes | None:
    """Heartbeat Requests and Session Report Requests from the UPF are answered."""
    try:
        req = decode_message(data)
    except PfcpError:
        return None
    if isinstance(req, HeartbeatRequest):
        return encode_message(HeartbeatResponse(req.sequence, unix_to_ntp(sim.recovery_time)))
    if req.message_type == MessageType.SESSION_REPORT_REQUEST:
        return encode_message(SessionReportResponse(req.sequence, Cause.REQUEST_ACCEPTED, seid=0))
    return None


def cause_name(rsp: Any) -> str:
    cause = getattr(rsp, "cause", None)
    if cause is None:
        return type(rsp).__name__
    try:
        return Cause(cause).name
    except ValueError:
        return f"CAUSE_{int(cause)}"


def _node_id(sim: SmfSim) -> NodeId:
    try:
        return NodeId(ipaddress.ip_address(sim.node_id))
    except ValueError:
        return NodeId(sim.node_id)


def heartbeat_request(seq: int, sim: SmfSim) -> bytes:
    return encode_message(HeartbeatRequest(seq, unix_to_ntp(sim.recovery_time)))


def association_setup_request(seq: int, sim: SmfSim) -> bytes:
    return encode_message(
        AssociationSetupRequest(seq, _node_id(sim), unix_to_ntp(sim.recovery_time))
    )


def establishment_request(seq: int, sim: SmfSim, s: SimSession) -> bytes:
    cfg = sim.cfg
    local = ipaddress.IPv4Address(sim.local_address)
    uplink = CreatePdr(
        pdr_id=1,
        precedence=255,
        pdi=Pdi(
            source_interface=SourceInterface.ACCESS,
            local_f_teid=FTeid(choose=True, choose_v4=True, choose_id=1),
            network_instance=NI,
            ue_ip_address=UeIpAddress(ipv4=s.ue),
            qfi=(cfg.qfi,),
        ),
        outer_header_removal=OuterHeaderRemoval(OuterHeaderRemovalDescription.GTP_U_UDP_IPV4),
        far_id=1,
        qer_id=(1,),
    )
    downlink = CreatePdr(
        pdr_id=2,
        precedence=255,
        pdi=Pdi(
            source_interface=SourceInterface.CORE,
            network_instance=NI,
            ue_ip_address=UeIpAddress(ipv4=s.ue, is_destination=True),
        ),
        far_id=2,
        qer_id=(1,),
    )
    far_ul = CreateFar(
        far_id=1,
        apply_action=ApplyAction.FORW,
        forwarding_parameters=ForwardingParameters(
            destination_interface=DestinationInterface.CORE, network_instance=NI
        ),
    )
    far_dl = CreateFar(
        far_id=2,
        apply_action=ApplyAction.FORW,
        forwarding_parameters=ForwardingParameters(
            destination_interface=DestinationInterface.ACCESS,
            network_instance=NI,
            outer_header_creation=OuterHeaderCreation(
                OuterHeaderCreationDescription.GTP_U_UDP_IPV4, teid=s.gnb_teid, ipv4=s.gnb
            ),
        ),
    )
    qer = CreateQer(
        qer_id=1, gate_status=GateStatus(), mbr=Mbr(ul=100_000, dl=200_000), qfi=cfg.qfi
    )
    msg = SessionEstablishmentRequest(
        seq,
        _node_id(sim),
        FSeid(s.cp_seid, ipv4=local),
        (uplink, downlink),
        (far_ul, far_dl),
        create_qer=(qer,),
        seid=0,
    )
    return encode_message(msg)


def established(rsp: Any) -> tuple[int, int, str]:
    """(UP SEID, uplink TEID, uplink address) from a Session Establishment Response."""
    assert isinstance(rsp, SessionEstablishmentResponse)
    up_seid = rsp.up_f_seid.seid if rsp.up_f_seid is not None else 0
    for created in rsp.created_pdr:
        f = created.local_f_teid
        if f is not None and created.pdr_id == 1:
            return up_seid, f.teid, str(f.ipv4)
    return up_seid, 0, ""


def modification_request(
    seq: int, up_seid: int, gnb: ipaddress.IPv4Address, gnb_teid: int
) -> bytes:
    far = UpdateFar(
        far_id=2,
        apply_action=ApplyAction.FORW,
        update_forwarding_parameters=UpdateForwardingParameters(
            destination_interface=DestinationInterface.ACCESS,
            network_instance=NI,
            outer_header_creation=OuterHeaderCreation(
                OuterHeaderCreationDescription.GTP_U_UDP_IPV4, teid=gnb_teid, ipv4=gnb
            ),
        ),
    )
    return encode_message(SessionModificationRequest(seq, update_far=(far,), seid=up_seid))


def deletion_request(seq: int, up_seid: int) -> bytes:
    return encode_message(SessionDeletionRequest(seq, seid=up_seid))


# -- the load generator's fast path -------------------------------------------------------------
#
# Building each request from dataclasses costs more than the agent spends answering it, so
# the simulator encodes one request per kind with our codec, with sentinel values in the
# per-session fields, and patches those fields in a copy for every request. Responses are
# read with a top-level TLV walk for the few IEs the simulator needs (Cause, F-SEID,
# Created PDR / F-TEID); a full decode is used when that walk finds anything unexpected.

_SEID_SENTINEL = 0x5E1D5E1D5E1D5E1D
_UE_SENTINEL = ipaddress.IPv4Address("203.0.113.77")
_TEID_SENTINEL = 0x7E1D7E1D
_GNB_SENTINEL = ipaddress.IPv4Address("198.51.100.99")


def _offsets(data: bytes, needle: bytes) -> list[int]:
    out, i = [], data.find(needle)
    while i >= 0:
        out.append(i)
        i = data.find(needle, i + 1)
    return out


def _seq_offset(data: bytes) -> int:
    return 12 if data[0] & 1 else 4


class Templates:
    """Request templates for one simulator (its Node ID, address, QFI)."""

    def __init__(self, sim: SmfSim) -> None:
        from upf.smfsim import SimSession

        probe = SimSession(0, _SEID_SENTINEL, _UE_SENTINEL, _GNB_SENTINEL, _TEID_SENTINEL)
        est = establishment_request(0, sim, probe)
        self.est = est
        self.est_seid = _offsets(est, _SEID_SENTINEL.to_bytes(8, "big"))
        self.est_ue = _offsets(est, _UE_SENTINEL.packed)
        self.est_gnb = _offsets(est, _GNB_SENTINEL.packed)
        self.est_teid = _offsets(est, _TEID_SENTINEL.to_bytes(4, "big"))
        if (len(self.est_seid), len(self.est_ue), len(self.est_gnb), len(self.est_teid)) != (
            1, 2, 1, 1,
        ):  # fmt: skip
            raise RuntimeError("establishment template: sentinels not found exactly once")
        mod = modification_request(0, _SEID_SENTINEL, _GNB_SENTINEL, _TEID_SENTINEL)
        self.mod = mod
        self.mod_gnb = _offsets(mod, _GNB_SENTINEL.packed)
        self.mod_teid = _offsets(mod, _TEID_SENTINEL.to_bytes(4, "big"))
        if (len(self.mod_gnb), len(self.mod_teid)) != (1, 1):
            raise RuntimeError("modification template: sentinels not found exactly once")

    def establishment(self, seq: int, s: SimSession) -> bytes:
        b = bytearray(self.est)
        b[12:15] = seq.to_bytes(3, "big")
        for off in self.est_seid:
            b[off : off + 8] = s.cp_seid.to_bytes(8, "big")
        for off in self.est_ue:
            b[off : off + 4] = s.ue.packed
        b[self.est_gnb[0] : self.est_gnb[0] + 4] = s.gnb.packed
        b[self.est_teid[0] : self.est_teid[0] + 4] = s.gnb_teid.to_bytes(4, "big")
        return bytes(b)

    def modification(
        self, seq: int, up_seid: int, gnb: ipaddress.IPv4Address, gnb_teid: int
    ) -> bytes:
        b = bytearray(self.mod)
        b[4:12] = up_seid.to_bytes(8, "big")
        b[12:15] = seq.to_bytes(3, "big")
        b[self.mod_gnb[0] : self.mod_gnb[0] + 4] = gnb.packed
        b[self.mod_teid[0] : self.mod_teid[0] + 4] = gnb_teid.to_bytes(4, "big")
        return bytes(b)


class Reply:
    """What the simulator needs from a response."""

    __slots__ = ("cause", "ul_addr", "ul_teid", "up_seid")

    def __init__(self, cause: int, up_seid: int = 0, ul_teid: int = 0, ul_addr: str = "") -> None:
        self.cause = cause
        self.up_seid = up_seid
        self.ul_teid = ul_teid
        self.ul_addr = ul_addr


def _tlvs(data: bytes, start: int, end: int) -> list[tuple[int, int, int]]:
    out = []
    i = start
    while i + 4 <= end:
        t = int.from_bytes(data[i : i + 2], "big")
        n = int.from_bytes(data[i + 2 : i + 4], "big")
        out.append((t, i + 4, i + 4 + n))
        i += 4 + n
    if i != end:
        raise ValueError("IE lengths do not add up")
    return out


def fast_reply(data: bytes) -> Reply:
    """Cause, UP F-SEID and the uplink (PDR 1) F-TEID from a response, by a TLV walk."""
    body = _seq_offset(data) + 4
    end = 4 + int.from_bytes(data[2:4], "big")
    cause = -1
    up_seid = ul_teid = 0
    ul_addr = ""
    for t, s, e in _tlvs(data, body, end):
        if t == 19:  # Cause
            cause = data[s]
        elif t == 57:  # F-SEID
            up_seid = int.from_bytes(data[s + 1 : s + 9], "big")
        elif t == 8:  # Created PDR
            pdr_id, fteid = -1, None
            for t2, s2, e2 in _tlvs(data, s, e):
                if t2 == 56:
                    pdr_id = int.from_bytes(data[s2:e2], "big")
                elif t2 == 21 and not data[s2] & 0x04 and data[s2] & 0x01:
                    fteid = (int.from_bytes(data[s2 + 1 : s2 + 5], "big"), data[s2 + 5 : s2 + 9])
            if fteid is not None and pdr_id in (1, -1) and not ul_teid:
                ul_teid, ul_addr = fteid[0], str(ipaddress.IPv4Address(fteid[1]))
    if cause < 0:
        raise ValueError("no Cause")
    return Reply(cause, up_seid, ul_teid, ul_addr)


def reply_cause_name(cause: int) -> str:
    try:
        return Cause(cause).name
    except ValueError:
        return f"CAUSE_{cause}"
