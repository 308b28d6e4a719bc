"""The SMF simulator against a fake UPF built on scapy (an independent PFCP implementation).

No root: everything is on loopback. The fake UPF checks what the simulator sends (parsed by
scapy) and answers like a UPF: F-SEID and a chosen F-TEID at establishment.
"""

from __future__ import annotations

import asyncio
import socket
import threading
from collections import Counter
from typing import Any

from scapy.contrib import pfcp as sp

from upf.smfsim import SimConfig, run_sim


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

    def answer(self, req: Any) -> Any | None:
        body = req.payload
        self.seen[int(req.message_type)] += 1
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
            return sp.PFCP(S=1, seid=fseid.seid, seq=req.seq) / sp.PFCPSessionEstablishmentResponse(
                IE_list=[
                    sp.IE_NodeId(ipv4="127.0.0.1"), sp.IE_Cause(cause=1),
                    sp.IE_FSEID(v4=1, seid=up_seid, ipv4="127.0.0.1"),
                    sp.IE_CreatedPDR(IE_list=[
                        sp.IE_PDR_Id(id=1),
                        sp.IE_FTEID(V4=1, TEID=up_seid & 0xFFFF, ipv4="10.100.0.2"),
                    ]),
                ]
            )  # fmt: skip
        if isinstance(body, sp.PFCPSessionModificationRequest):
            upd = next(ie for ie in body.IE_list if isinstance(ie, sp.IE_UpdateFAR))
            fp = next(ie for ie in upd.IE_list if isinstance(ie, sp.IE_UpdateForwardingParameters))
            ohc = next(ie for ie in fp.IE_list if isinstance(ie, sp.IE_OuterHeaderCreation))
            assert int(ohc.TEID) != self.dl_teids[req.seid], "handover changes the TEID"
            return sp.PFCP(S=1, seid=1, seq=req.seq) / sp.PFCPSessionModificationResponse(
                IE_list=[sp.IE_Cause(cause=1)]
            )
        if req.message_type == 54:  # Session Deletion Request: no IEs, so no scapy body
            cause = 1 if self.dl_teids.pop(req.seid, None) is not None else 65
            return sp.PFCP(S=1, seid=1, seq=req.seq) / sp.PFCPSessionDeletionResponse(
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
    assert s0.ul_teid == s0.up_seid & 0xFFFF
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
