"""An SMF independent of our PFCP codec: messages built and parsed with scapy.contrib.pfcp.

The session requests are shaped the way three open-source SMFs send them:

- Open5GS: uplink F-TEID CHOOSE with a CHOOSE ID, Outer Header Removal 6 (GTP-U/UDP/IP),
  QFI in the PDI, the downlink FAR first BUFF and switched to FORW + OHC by a
  modification once the gNB's tunnel is known;
- free5GC: F-TEID CHOOSE without CHOOSE ID, OHR 0 (GTP-U/UDP/IPv4), downlink FAR FORW with
  OHC at establishment, a QER;
- OAI: like free5GC but without a QER and without QFI in the uplink PDI.
"""

from __future__ import annotations

import enum
import select
import socket
import time
from dataclasses import dataclass
from typing import Any

from scapy.contrib import pfcp as sp

NTP_OFFSET = 2208988800
N4_PORT = 8805


class Flavor(enum.StrEnum):
    OPEN5GS = "open5gs"
    FREE5GC = "free5gc"
    OAI = "oai"


class CauseValue(enum.IntEnum):
    """The causes the tests check (TS 29.244 8.2.1)."""

    REQUEST_ACCEPTED = 1
    REQUEST_REJECTED = 64
    SESSION_CONTEXT_NOT_FOUND = 65
    MANDATORY_IE_MISSING = 66
    CONDITIONAL_IE_MISSING = 67
    INVALID_LENGTH = 68
    MANDATORY_IE_INCORRECT = 69
    NO_ESTABLISHED_PFCP_ASSOCIATION = 72
    RULE_CREATION_MODIFICATION_FAILURE = 73
    NO_RESOURCES_AVAILABLE = 75


@dataclass(frozen=True, slots=True)
class SessionSpec:
    cp_seid: int
    ue: str
    gnb: str
    gnb_teid: int
    qfi: int = 9
    flavor: Flavor = Flavor.FREE5GC


@dataclass(frozen=True, slots=True)
class Established:
    cause: int
    up_seid: int
    ul_teid: int
    ul_addr: str
    raw: bytes


def ies(pkt: Any, cls: type) -> list[Any]:
    """All IEs of a class at the top level of a message or grouped IE."""
    return [ie for ie in pkt.IE_list if isinstance(ie, cls)]


def ie(pkt: Any, cls: type) -> Any:
    found = ies(pkt, cls)
    return found[0] if found else None


class ScapySmf:
    """A blocking PFCP client in a namespace (the socket is made by the caller's thread)."""

    def __init__(self, sock: socket.socket, upf: tuple[str, int], node_ip: str) -> None:
        self.sock = sock
        self.upf = upf
        self.node_ip = node_ip
        self.seq = 1
        self.recovery = int(time.time()) + NTP_OFFSET

    # -- transport ---------------------------------------------------------------------------

    def packet(self, body: Any, seid: int | None = None) -> Any:
        self.seq = (self.seq + 1) & 0xFFFFFF
        if seid is None:
            return sp.PFCP(version=1, S=0, seq=self.seq) / body
        return sp.PFCP(version=1, S=1, seid=seid, seq=self.seq) / body

    def send_raw(self, data: bytes) -> None:
        self.sock.sendto(data, self.upf)

    def recv(self, seq: int, timeout: float = 2.0) -> Any | None:
        """The response with sequence number `seq`, skipping requests from the UPF."""
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            r, _, _ = select.select([self.sock], [], [], left)
            if not r:
                return None
            data, _ = self.sock.recvfrom(65535)
            msg = sp.PFCP(data)
            if msg.message_type in (1, 56):  # the UPF's Heartbeat / Session Report Request
                self._answer(msg)
                continue
            if msg.seq == seq:
                return msg
        return None

    def _answer(self, req: Any) -> None:
        if req.message_type == 1:
            body = sp.PFCPHeartbeatResponse(
                IE_list=[sp.IE_RecoveryTimeStamp(timestamp=self.recovery)]
            )
            rsp = sp.PFCP(version=1, S=0, seq=req.seq) / body
        else:
            body = sp.PFCPSessionReportResponse(IE_list=[sp.IE_Cause(cause=1)])
            rsp = sp.PFCP(version=1, S=1, seid=0, seq=req.seq) / body
        self.sock.sendto(bytes(rsp), self.upf)

    def request(self, pkt: Any, timeout: float = 2.0, retries: int = 2) -> Any | None:
        data = bytes(pkt)
        for _ in range(retries + 1):
            self.send_raw(data)
            rsp = self.recv(pkt.seq, timeout)
            if rsp is not None:
                return rsp
        return None

    # -- node messages -----------------------------------------------------------------------

    def node_id(self) -> Any:
        return sp.IE_NodeId(id_type=0, ipv4=self.node_ip)

    def heartbeat(self) -> Any | None:
        body = sp.PFCPHeartbeatRequest(IE_list=[sp.IE_RecoveryTimeStamp(timestamp=self.recovery)])
        return self.request(self.packet(body))

    def associate(self, timeout: float = 2.0) -> int | None:
        body = sp.PFCPAssociationSetupRequest(
            IE_list=[self.node_id(), sp.IE_RecoveryTimeStamp(timestamp=self.recovery)]
        )
        rsp = self.request(self.packet(body), timeout=timeout, retries=0)
        if rsp is None:
            return None
        return int(ie(rsp.payload, sp.IE_Cause).cause)

    def restart(self) -> None:
        """As if the SMF restarted: a new Recovery Time Stamp (TS 29.244 19A)."""
        self.recovery += 10

    # -- sessions ---------------------------------------------------------------------------

    def establishment(self, s: SessionSpec, *, omit: int | None = None) -> Any:
        """A Session Establishment Request; `omit` drops the top-level IE of that type."""
        o5gs = s.flavor is Flavor.OPEN5GS
        ul_fteid = sp.IE_FTEID(V4=1, CH=1, CHID=int(o5gs), choose_id=5 if o5gs else 0)
        ul_pdi = [
            sp.IE_SourceInterface(interface=0),  # Access
            ul_fteid,
            sp.IE_NetworkInstance(instance="internet"),
            sp.IE_UE_IP_Address(V4=1, SD=0, ipv4=s.ue),
        ]
        if s.flavor is not Flavor.OAI:
            ul_pdi.append(sp.IE_QFI(QFI=s.qfi))
        qer_ids = [] if s.flavor is Flavor.OAI else [sp.IE_QER_Id(id=1)]
        ul_pdr = sp.IE_CreatePDR(
            IE_list=[
                sp.IE_PDR_Id(id=1),
                sp.IE_Precedence(precedence=255),
                sp.IE_PDI(IE_list=ul_pdi),
                sp.IE_OuterHeaderRemoval(header=6 if o5gs else 0),
                sp.IE_FAR_Id(id=1),
                *qer_ids,
            ]
        )
        dl_pdr = sp.IE_CreatePDR(
            IE_list=[
                sp.IE_PDR_Id(id=2),
                sp.IE_Precedence(precedence=255),
                sp.IE_PDI(
                    IE_list=[
                        sp.IE_SourceInterface(interface=1),  # Core
                        sp.IE_NetworkInstance(instance="internet"),
                        sp.IE_UE_IP_Address(V4=1, SD=1, ipv4=s.ue),
                    ]
                ),
                sp.IE_FAR_Id(id=2),
                *qer_ids,
            ]
        )
        ul_far = sp.IE_CreateFAR(
            IE_list=[
                sp.IE_FAR_Id(id=1),
                sp.IE_ApplyAction(FORW=1),
                sp.IE_ForwardingParameters(
                    IE_list=[
                        sp.IE_DestinationInterface(interface=1),  # Core
                        sp.IE_NetworkInstance(instance="internet"),
                    ]
                ),
            ]
        )
        if o5gs:  # buffer until the gNB's tunnel is known
            dl_far = sp.IE_CreateFAR(
                IE_list=[sp.IE_FAR_Id(id=2), sp.IE_ApplyAction(BUFF=1, NOCP=1)]
            )
        else:
            dl_far = sp.IE_CreateFAR(
                IE_list=[
                    sp.IE_FAR_Id(id=2),
                    sp.IE_ApplyAction(FORW=1),
                    sp.IE_ForwardingParameters(
                        IE_list=[
                            sp.IE_DestinationInterface(interface=0),  # Access
                            sp.IE_NetworkInstance(instance="internet"),
                            sp.IE_OuterHeaderCreation(GTPUUDPIPV4=1, TEID=s.gnb_teid, ipv4=s.gnb),
                        ]
                    ),
                ]
            )
        top: list[Any] = [
            self.node_id(),
            sp.IE_FSEID(v4=1, seid=s.cp_seid, ipv4=self.node_ip),
            ul_pdr,
            dl_pdr,
            ul_far,
            dl_far,
        ]
        if qer_ids:
            top.append(
                sp.IE_CreateQER(
                    IE_list=[
                        sp.IE_QER_Id(id=1),
                        sp.IE_GateStatus(ul=0, dl=0),
                        sp.IE_MBR(ul=1_000_000, dl=2_000_000),
                        sp.IE_QFI(QFI=s.qfi),
                    ]
                )
            )
        if omit is not None:
            top = [x for x in top if x.ie_type != omit]
        return self.packet(sp.PFCPSessionEstablishmentRequest(IE_list=top), seid=0)

    def establish(self, s: SessionSpec, *, omit: int | None = None) -> Established | None:
        req = self.establishment(s, omit=omit)
        rsp = self.request(req)
        return None if rsp is None else parse_establishment(rsp)

    def modification_to_gnb(self, up_seid: int, gnb: str, gnb_teid: int) -> Any:
        """Update the downlink FAR: FORW to (gnb, gnb_teid) - a handover or N2 completion."""
        far = sp.IE_UpdateFAR(
            IE_list=[
                sp.IE_FAR_Id(id=2),
                sp.IE_ApplyAction(FORW=1),
                sp.IE_UpdateForwardingParameters(
                    IE_list=[
                        sp.IE_DestinationInterface(interface=0),
                        sp.IE_NetworkInstance(instance="internet"),
                        sp.IE_OuterHeaderCreation(GTPUUDPIPV4=1, TEID=gnb_teid, ipv4=gnb),
                    ]
                ),
            ]
        )
        return self.packet(sp.PFCPSessionModificationRequest(IE_list=[far]), seid=up_seid)

    def modify_to_gnb(self, up_seid: int, gnb: str, gnb_teid: int) -> Any | None:
        return self.request(self.modification_to_gnb(up_seid, gnb, gnb_teid))

    def delete(self, up_seid: int) -> Any | None:
        return self.request(self.packet(sp.PFCPSessionDeletionRequest(IE_list=[]), seid=up_seid))


def cause_of(rsp: Any) -> int:
    c = ie(rsp.payload, sp.IE_Cause)
    assert c is not None, f"no Cause in {rsp.summary()}"
    return int(c.cause)


def offending_ie(rsp: Any) -> int | None:
    o = ie(rsp.payload, sp.IE_OffendingIE)
    return None if o is None else int(o.type)


def parse_establishment(rsp: Any) -> Established:
    body = rsp.payload
    cause = cause_of(rsp)
    fseid = ie(body, sp.IE_FSEID)
    teid, addr = 0, ""
    for created in ies(body, sp.IE_CreatedPDR):
        pdr_id = ie(created, sp.IE_PDR_Id)
        fteid = ie(created, sp.IE_FTEID)
        if fteid is not None and (pdr_id is None or pdr_id.id == 1):
            teid, addr = int(fteid.TEID), str(fteid.ipv4)
    return Established(
        cause=cause,
        up_seid=0 if fseid is None else int(fseid.seid),
        ul_teid=teid,
        ul_addr=addr,
        raw=bytes(rsp),
    )
