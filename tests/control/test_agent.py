"""The agent over loopback UDP: a scripted SMF talks PFCP to it (127.0.0.1, random ports)."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import errno
import ipaddress
import logging
import socket
import struct
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import asyncio_dgram
import pytest

from control.agent import UP_FEATURES, Agent
from control.config import AgentConfig, PeerLossPolicy
from control.layout import Counter, MapName, ue_v4_key
from control.memory import MemoryMaps
from pfcp import (
    AssociationReleaseRequest,
    AssociationReleaseResponse,
    AssociationSetupRequest,
    AssociationSetupResponse,
    Cause,
    CreatedPdr,
    FqCsid,
    FSeid,
    FTeid,
    HeartbeatRequest,
    IEType,
    Message,
    NodeId,
    PfcpsmReqFlags,
    QueryUrr,
    SessionDeletionRequest,
    SessionDeletionResponse,
    SessionEstablishmentRequest,
    SessionEstablishmentResponse,
    SessionModificationRequest,
    SessionModificationResponse,
    SessionSetDeletionRequest,
    SessionSetDeletionResponse,
    UeIpAddress,
    UpFeatures,
    UsageReportSdr,
    UsageReportSmr,
    UsageReportTrigger,
    VolumeMeasurement,
    decode_message,
    encode_message,
)
from tests.control import shapes

LOOP = ipaddress.IPv4Address("127.0.0.1")
SMF_NODE = NodeId(ipaddress.IPv4Address("127.0.0.1"))
TIMEOUT = 2.0


class Smf:
    """A scripted SMF: sends requests, reads responses, answers the UPF's requests."""

    def __init__(self, sock: asyncio_dgram.aio.DatagramServer, upf: tuple[str, int]) -> None:
        self.sock = sock
        self.upf = upf
        self.seq = 100
        self.stamp = 3900000000

    async def send_raw(self, data: bytes) -> None:
        await self.sock.send(data, self.upf)

    async def recv(self) -> Message:
        data, _ = await asyncio.wait_for(self.sock.recv(), TIMEOUT)
        return decode_message(data)

    async def request(self, msg: Message) -> Message:
        self.seq += 1
        await self.send_raw(encode_message(dataclasses.replace(msg, sequence=self.seq)))
        return await self.recv()

    async def associate(self) -> AssociationSetupResponse:
        resp = await self.request(AssociationSetupRequest(0, SMF_NODE, self.stamp))
        assert isinstance(resp, AssociationSetupResponse)
        return resp

    async def establish(self, rules: Any = None, cp_seid: int = 0x5000
                        ) -> SessionEstablishmentResponse:
        r = rules or shapes.open5gs_establishment()
        req = SessionEstablishmentRequest(
            0, SMF_NODE, FSeid(cp_seid, ipv4=LOOP), r.create_pdr, r.create_far,
            create_urr=r.create_urr, create_qer=r.create_qer, seid=0)
        resp = await self.request(req)
        assert isinstance(resp, SessionEstablishmentResponse)
        return resp


def config(**kw: Any) -> AgentConfig:
    base: dict[str, Any] = dict(
        node_id=ipaddress.IPv4Address("127.0.0.1"),
        alloc=shapes.alloc_config(),
        listen=("127.0.0.1", 0),
        smf_allow=(ipaddress.IPv4Network("127.0.0.0/8"),),
        t1=0.2, n1=2, heartbeat_interval=30.0, association_retry=0.1,
    )
    base.update(kw)
    return AgentConfig(**base)


@asynccontextmanager
async def running(cfg: AgentConfig, maps: MemoryMaps | None = None
                  ) -> AsyncIterator[tuple[Agent, Smf, MemoryMaps]]:
    maps = maps or MemoryMaps()
    agent = Agent(cfg, maps)
    await agent.start()
    sock = await asyncio_dgram.bind(("127.0.0.1", 0))
    smf = Smf(sock, agent.address)
    try:
        yield agent, smf, maps
    finally:
        sock.close()
        if smf.sock is not sock:
            smf.sock.close()
        await agent.stop()


def run(test: Callable[[], Awaitable[None]]) -> None:
    asyncio.run(asyncio.wait_for(test(), 20))


def test_association_setup_advertises_features() -> None:
    async def body() -> None:
        async with running(config()) as (agent, smf, _):
            resp = await smf.associate()
            assert resp.cause is Cause.REQUEST_ACCEPTED
            assert resp.up_function_features is not None
            assert resp.up_function_features & (UpFeatures.FTUP | UpFeatures.UEIP) == \
                UpFeatures.FTUP | UpFeatures.UEIP
            assert resp.up_function_features == UP_FEATURES
            assert resp.recovery_time_stamp == agent.recovery_time_stamp
            assert "127.0.0.1" in agent.associations
    run(body)


def test_non_allowed_peer_rejected() -> None:
    async def body() -> None:
        cfg = config(smf_allow=(ipaddress.IPv4Network("10.0.0.0/8"),))
        async with running(cfg) as (agent, smf, _):
            resp = await smf.associate()
            assert resp.cause is Cause.REQUEST_REJECTED
            assert agent.associations == {}
            est = await smf.establish()
            assert est.cause is Cause.NO_ESTABLISHED_PFCP_ASSOCIATION
    run(body)


def test_session_without_association_gets_72() -> None:
    async def body() -> None:
        async with running(config()) as (_, smf, maps):
            resp = await smf.establish(cp_seid=0x77)
            assert resp.cause is Cause.NO_ESTABLISHED_PFCP_ASSOCIATION
            assert int(resp.cause) == 72
            assert resp.seid == 0x77
            assert all(not v for v in maps.snapshot().values())
    run(body)


def test_establish_modify_delete_with_usage_report() -> None:
    async def body() -> None:
        async with running(config()) as (agent, smf, maps):
            await smf.associate()
            est = await smf.establish()
            assert est.cause is Cause.REQUEST_ACCEPTED, est
            assert est.seid == 0x5000 and est.up_f_seid is not None
            up_seid = est.up_f_seid.seid
            assert est.up_f_seid.ipv4 == LOOP
            (created,) = est.created_pdr
            assert created.pdr_id == 1 and created.local_f_teid is not None
            teid = created.local_f_teid.teid
            assert created.local_f_teid.ipv4 == shapes.N3
            assert shapes.uplink_set(maps, teid) is not None
            assert ue_v4_key(shapes.UE) in maps.maps[MapName.DOWNLINK_PDRS_V4]

            mod = await smf.request(SessionModificationRequest(
                0, update_far=(shapes.gnb_far_update(0x42, LOOP),), seid=up_seid))
            assert isinstance(mod, SessionModificationResponse)
            assert mod.cause is Cause.REQUEST_ACCEPTED and mod.seid == 0x5000

            session = agent.sessions[up_seid]
            maps.set_counter(session.pdrs[1].slot, Counter(3, 300).pack())
            maps.set_counter(session.pdrs[2].slot, Counter(5, 5000).pack())
            dele = await smf.request(SessionDeletionRequest(0, seid=up_seid))
            assert isinstance(dele, SessionDeletionResponse)
            assert dele.cause is Cause.REQUEST_ACCEPTED
            (report,) = dele.usage_report
            vm = report.volume_measurement
            assert vm is not None
            assert (vm.uplink_volume, vm.downlink_volume, vm.total_volume) == (300, 5000, 5300)
            assert (vm.uplink_packets, vm.downlink_packets, vm.total_packets) == (3, 5, 8)
            assert all(not v for v in maps.snapshot().values())
            assert agent.sessions == {}
            assert agent.alloc.teids.in_use() == 0
    run(body)


@pytest.mark.parametrize("level", [logging.INFO, logging.DEBUG])
def test_each_session_is_logged_at_debug_only(level: int, caplog: pytest.LogCaptureFixture
                                              ) -> None:
    """At thousands of sessions a second a line each is a tenth of the rate: a session's
    establishment and deletion are DEBUG lines; the association is still an INFO one."""
    caplog.set_level(level, logger="upf.control.agent")

    async def body() -> None:
        async with running(config()) as (_, smf, _):
            await smf.associate()
            est = await smf.establish()
            assert est.up_f_seid is not None
            dele = await smf.request(SessionDeletionRequest(0, seid=est.up_f_seid.seid))
            assert getattr(dele, "cause", None) is Cause.REQUEST_ACCEPTED
    run(body)
    lines = [r.getMessage() for r in caplog.records if r.name == "upf.control.agent"]
    per_session = [m for m in lines if m.endswith((" established: 2 PDRs", " deleted"))]
    assert len(per_session) == (2 if level == logging.DEBUG else 0), lines
    assert any("association with" in m for m in lines), lines


def test_retransmitted_establishment_applied_once() -> None:
    async def body() -> None:
        async with running(config()) as (agent, smf, maps):
            await smf.associate()
            r = shapes.open5gs_establishment()
            smf.seq += 1
            data = encode_message(SessionEstablishmentRequest(
                smf.seq, SMF_NODE, FSeid(0x9, ipv4=LOOP), r.create_pdr, r.create_far,
                create_urr=r.create_urr, create_qer=r.create_qer, seid=0))
            await smf.send_raw(data)
            first = await smf.recv()
            writes = maps.batch_calls
            await smf.send_raw(data)
            second = await smf.recv()
            assert encode_message(first) == encode_message(second)
            assert maps.batch_calls == writes
            assert len(agent.sessions) == 1
    run(body)


def test_unknown_seid_gets_65() -> None:
    async def body() -> None:
        async with running(config()) as (_, smf, _maps):
            await smf.associate()
            resp = await smf.request(SessionModificationRequest(0, seid=0xDEAD))
            assert isinstance(resp, SessionModificationResponse)
            assert resp.cause is Cause.SESSION_CONTEXT_NOT_FOUND and resp.seid == 0
            resp2 = await smf.request(SessionDeletionRequest(0, seid=0xDEAD))
            assert isinstance(resp2, SessionDeletionResponse)
            assert int(resp2.cause) == 65
    run(body)


def _drop_ie(data: bytes, ie_type: int) -> bytes:
    """Remove every top-level IE of ``ie_type`` from an encoded session message."""
    head, body = bytearray(data[:16]), data[16:]
    out = bytearray()
    pos = 0
    while pos < len(body):
        t, n = struct.unpack_from("!HH", body, pos)
        if t != ie_type:
            out += body[pos:pos + 4 + n]
        pos += 4 + n
    struct.pack_into("!H", head, 2, len(head) + len(out) - 4)
    return bytes(head + out)


def test_missing_mandatory_ie_answered_with_cause_and_offending_ie() -> None:
    async def body() -> None:
        async with running(config()) as (agent, smf, maps):
            await smf.associate()
            r = shapes.open5gs_establishment()
            smf.seq += 1
            data = encode_message(SessionEstablishmentRequest(
                smf.seq, SMF_NODE, FSeid(0x31, ipv4=LOOP), r.create_pdr, r.create_far,
                seid=0))
            await smf.send_raw(_drop_ie(data, IEType.NODE_ID))
            resp = await smf.recv()
            assert isinstance(resp, SessionEstablishmentResponse)
            assert resp.cause is Cause.MANDATORY_IE_MISSING
            assert resp.offending_ie == IEType.NODE_ID
            assert agent.sessions == {}
            assert all(not v for v in maps.snapshot().values())
    run(body)


def test_rule_failure_reports_failed_rule_and_leaves_nothing() -> None:
    async def body() -> None:
        async with running(config(), MemoryMaps({MapName.DOWNLINK_PDRS_V4: 0})) as (
                agent, smf, maps):
            await smf.associate()
            est = await smf.establish()
            assert est.cause is Cause.NO_RESOURCES_AVAILABLE
            assert all(not v for v in maps.snapshot().values())
            assert agent.alloc.teids.in_use() == 0 and agent.alloc.key_owners == {}
    run(body)


def test_handover_sends_end_marker() -> None:
    async def body() -> None:
        gnb = await asyncio_dgram.bind(("127.0.0.1", 0))
        gnb_port = gnb.sockname[1]
        cfg = config(gtpu_listen=("127.0.0.1", 0), gtpu_peer_port=gnb_port)
        try:
            async with running(cfg) as (agent, smf, _):
                await smf.associate()
                est = await smf.establish()
                assert est.up_f_seid is not None
                seid = est.up_f_seid.seid
                await smf.request(SessionModificationRequest(
                    0, update_far=(shapes.gnb_far_update(0x42, LOOP),), seid=seid))
                new_gnb = ipaddress.IPv4Address("127.0.0.2")
                mod = await smf.request(SessionModificationRequest(
                    0, update_far=(shapes.gnb_far_update(0x43, new_gnb, sndem=True),),
                    seid=seid))
                assert isinstance(mod, SessionModificationResponse)
                assert mod.cause is Cause.REQUEST_ACCEPTED
                data, src = await asyncio.wait_for(gnb.recv(), TIMEOUT)
                assert data == bytes([0x30, 254, 0, 0, 0, 0, 0, 0x42])
                assert src[1] == agent.gtpu_address[1]  # type: ignore[index]
                assert agent.stats.end_markers_sent == 1
        finally:
            gnb.close()
    run(body)


@pytest.mark.parametrize("policy", [PeerLossPolicy.KEEP, PeerLossPolicy.PURGE])
def test_peer_restart_policy(policy: PeerLossPolicy) -> None:
    async def body() -> None:
        async with running(config(on_peer_restart=policy)) as (agent, smf, maps):
            await smf.associate()
            est = await smf.establish()
            assert est.cause is Cause.REQUEST_ACCEPTED
            smf.stamp += 10  # the SMF restarted
            resp = await smf.associate()
            assert resp.cause is Cause.REQUEST_ACCEPTED
            for _ in range(50):
                if policy is PeerLossPolicy.KEEP or not agent.sessions:
                    break
                await asyncio.sleep(0.02)
            if policy is PeerLossPolicy.PURGE:
                assert agent.sessions == {}
                assert all(not v for v in maps.snapshot().values())
            else:
                assert len(agent.sessions) == 1
                assert maps.nonzero(MapName.UPLINK_BY_TEID)
    run(body)


def test_association_release_and_session_set_deletion() -> None:
    async def body() -> None:
        async with running(config()) as (agent, smf, maps):
            await smf.associate()
            await smf.establish(cp_seid=1)
            await smf.establish(shapes.free5gc_establishment(), cp_seid=2)
            assert len(agent.sessions) == 2
            ssd = await smf.request(SessionSetDeletionRequest(0, SMF_NODE))
            assert isinstance(ssd, SessionSetDeletionResponse)
            assert ssd.cause is Cause.REQUEST_ACCEPTED
            assert agent.sessions == {}
            await smf.establish(cp_seid=3)
            rel = await smf.request(AssociationReleaseRequest(0, SMF_NODE))
            assert isinstance(rel, AssociationReleaseResponse)
            assert rel.cause is Cause.REQUEST_ACCEPTED
            assert agent.sessions == {} and agent.associations == {}
            assert all(not v for v in maps.snapshot().values())
            rel2 = await smf.request(AssociationReleaseRequest(0, SMF_NODE))
            assert isinstance(rel2, AssociationReleaseResponse)
            assert rel2.cause is Cause.NO_ESTABLISHED_PFCP_ASSOCIATION
    run(body)


def test_upf_initiates_association_and_retries() -> None:
    async def body() -> None:
        sock = await asyncio_dgram.bind(("127.0.0.1", 0))
        smf_addr = ("127.0.0.1", sock.sockname[1])
        cfg = config(smf_peers=(smf_addr,), smf_allow=())
        agent = Agent(cfg, MemoryMaps())
        await agent.start()
        try:
            data, upf = await asyncio.wait_for(sock.recv(), TIMEOUT)
            req = decode_message(data)
            assert isinstance(req, AssociationSetupRequest)
            assert req.up_function_features == UP_FEATURES
            # Refuse the first attempt: the UPF retries.
            await sock.send(encode_message(AssociationSetupResponse(
                req.sequence, SMF_NODE, Cause.REQUEST_REJECTED, 1)), upf)
            while True:
                data, upf = await asyncio.wait_for(sock.recv(), TIMEOUT)
                req2 = decode_message(data)
                if isinstance(req2, AssociationSetupRequest) and req2.sequence != req.sequence:
                    break
            await sock.send(encode_message(AssociationSetupResponse(
                req2.sequence, SMF_NODE, Cause.REQUEST_ACCEPTED, 1)), upf)
            for _ in range(50):
                if agent.associations:
                    break
                await asyncio.sleep(0.02)
            assert "127.0.0.1" in agent.associations
        finally:
            sock.close()
            await agent.stop()
    run(body)


def test_heartbeat_failure_purges_sessions() -> None:
    async def body() -> None:
        cfg = config(heartbeat_interval=0.2, t1=0.1, n1=1,
                     on_peer_failure=PeerLossPolicy.PURGE)
        async with running(cfg) as (agent, smf, maps):
            await smf.associate()
            est = await smf.establish()
            assert est.cause is Cause.REQUEST_ACCEPTED
            # The SMF never answers the UPF's Heartbeat Requests.
            for _ in range(100):
                if not agent.sessions:
                    break
                await asyncio.sleep(0.05)
            assert agent.sessions == {} and agent.associations == {}
            assert all(not v for v in maps.snapshot().values())
    run(body)


def test_gtpu_signalling_counted() -> None:
    async def body() -> None:
        cfg = config(gtpu_listen=("127.0.0.1", 0))
        async with running(cfg) as (agent, _smf, _maps):
            assert agent.gtpu_address is not None
            sock = await asyncio_dgram.connect(agent.gtpu_address)
            try:
                await sock.send(bytes([0x32, 26, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0]))  # Error Ind.
                await sock.send(bytes([0x30, 254, 0, 0, 0, 0, 0, 7]))  # End Marker
                await sock.send(b"junk")
                for _ in range(50):
                    if agent.stats.gtpu_other:
                        break
                    await asyncio.sleep(0.02)
            finally:
                sock.close()
            assert (agent.stats.gtpu_error_indications, agent.stats.gtpu_end_markers,
                    agent.stats.gtpu_other) == (1, 1, 1)
    run(body)


@pytest.mark.parametrize("loop", ["asyncio", "uvloop"])
def test_a_socket_error_does_not_stop_receiving(loop: str) -> None:
    """asyncio-dgram raises a socket error it was told of (an ICMP error, a failed send)
    from the next recv(): the N4 and GTP-U endpoints log and count it, and go on."""
    import uvloop

    async def body() -> None:
        cfg = config(gtpu_listen=("127.0.0.1", 0))
        async with running(cfg) as (agent, smf, _maps):
            assert agent._sock is not None and agent._gtpu is not None
            agent._sock._excq.put_nowait(ConnectionRefusedError(111, "refused"))
            agent._gtpu._excq.put_nowait(OSError(101, "unreachable"))
            # Both loops wait in recv(): wake them with a datagram each.
            assert (await smf.associate()).cause is Cause.REQUEST_ACCEPTED
            await gtpu_junk(agent)
            # The error is raised by the recv() after the one that was waiting.
            est = await smf.establish()
            assert est.cause is Cause.REQUEST_ACCEPTED
            await gtpu_junk(agent)
            assert agent.stats.socket_errors == 2
            assert agent.stats.gtpu_other == 2
    if loop == "uvloop":
        uvloop.run(asyncio.wait_for(body(), 20))
    else:
        run(body)


async def gtpu_junk(agent: Agent) -> None:
    """Send the agent's GTP-U socket a datagram it counts as other; wait until it has."""
    assert agent.gtpu_address is not None
    sock = await asyncio_dgram.connect(agent.gtpu_address)
    try:
        before = agent.stats.gtpu_other
        await sock.send(b"junk")
        for _ in range(50):
            if agent.stats.gtpu_other > before:
                return
            await asyncio.sleep(0.02)
    finally:
        sock.close()


def test_a_failing_timer_does_not_stop_heartbeats(monkeypatch: pytest.MonkeyPatch) -> None:
    """A bug while handling the node's timers is logged; the timer loop goes on, so the
    heartbeats to an associated SMF still go out."""
    async def body() -> None:
        async with running(config(heartbeat_interval=0.2)) as (agent, smf, _maps):
            real = agent.node.handle_timer
            calls: list[int] = []

            def flaky(now: float) -> None:
                calls.append(1)
                if len(calls) == 1:
                    raise RuntimeError("bug")
                real(now)

            monkeypatch.setattr(agent.node, "handle_timer", flaky)
            assert (await smf.associate()).cause is Cause.REQUEST_ACCEPTED
            agent._wake.set()  # run the timers now: the first run fails
            for _ in range(3):
                data, _ = await asyncio.wait_for(smf.sock.recv(), TIMEOUT)
                hb = decode_message(data)
                if isinstance(hb, HeartbeatRequest):
                    break
            else:
                raise AssertionError("no heartbeat after the failed timer run")
            assert len(calls) >= 2
    run(body)


def test_burst_of_establishments_shares_batched_writes() -> None:
    async def body() -> None:
        async with running(config()) as (agent, smf, maps):
            await smf.associate()
            n = 8
            burst = []
            for i in range(n):
                smf.seq += 1
                burst.append(encode_message(establishment_of(10 + i, smf.seq, 0x100 + i)))
            # The last request twice: the copy arrives while the first is being handled.
            burst.append(burst[-1])
            # Send from the SMF's socket without yielding, so that the whole burst is
            # queued before the agent runs: its requests arrive in one event-loop turn.
            raw = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            raw.bind(("127.0.0.1", 0))
            for data in burst:
                raw.sendto(data, smf.upf)
            stream = await asyncio_dgram.from_socket(raw)  # answers come to `raw`
            assert isinstance(stream, asyncio_dgram.aio.DatagramServer)
            smf.sock = stream
            answers = [(await smf.recv()) for _ in range(n)]
            assert all(isinstance(a, SessionEstablishmentResponse) and
                       a.cause is Cause.REQUEST_ACCEPTED for a in answers)
            assert len({a.sequence for a in answers}) == n
            with pytest.raises(TimeoutError):
                await asyncio.wait_for(smf.sock.recv(), 0.3)  # the duplicate got no 2nd answer
            assert len(agent.sessions) == n
            assert len(maps.nonzero(MapName.UPLINK_BY_TEID)) == n
            assert agent.applier.batches <= n // 2, agent.applier.batches  # combined writes
    run(body)


def test_query_urr_reports_since_last_report() -> None:
    async def body() -> None:
        async with running(config()) as (agent, smf, maps):
            await smf.associate()
            est = await smf.establish()
            assert est.up_f_seid is not None
            seid = est.up_f_seid.seid
            s = agent.sessions[seid]
            ul, dl = s.pdrs[1].slot, s.pdrs[2].slot
            maps.set_counter(ul, Counter(1, 100).pack())
            maps.set_counter(dl, Counter(2, 2000).pack())
            q1 = await smf.request(SessionModificationRequest(
                0, query_urr=(QueryUrr(1),), seid=seid))
            assert isinstance(q1, SessionModificationResponse)
            (r1,) = q1.usage_report
            assert r1.usage_report_trigger == UsageReportTrigger.IMMER and r1.ur_seqn == 0
            assert r1.volume_measurement is not None
            assert (r1.volume_measurement.uplink_volume,
                    r1.volume_measurement.downlink_volume) == (100, 2000)
            maps.set_counter(ul, Counter(4, 400).pack())
            q2 = await smf.request(SessionModificationRequest(
                0, pfcpsmreq_flags=PfcpsmReqFlags.QAURR, seid=seid))
            assert isinstance(q2, SessionModificationResponse)
            (r2,) = q2.usage_report
            assert r2.ur_seqn == 1 and r2.volume_measurement is not None
            assert (r2.volume_measurement.uplink_volume, r2.volume_measurement.downlink_volume,
                    r2.volume_measurement.uplink_packets) == (300, 0, 3)
            # Deletion reports only what came after the last query.
            maps.set_counter(dl, Counter(3, 2500).pack())
            d = await smf.request(SessionDeletionRequest(0, seid=seid))
            assert isinstance(d, SessionDeletionResponse)
            (r3,) = d.usage_report
            assert r3.ur_seqn == 2 and r3.usage_report_trigger == UsageReportTrigger.TERMR
            assert r3.volume_measurement is not None
            assert (r3.volume_measurement.uplink_volume,
                    r3.volume_measurement.downlink_volume) == (0, 500)
    run(body)


def test_session_set_deletion_matches_fq_csid() -> None:
    async def body() -> None:
        async with running(config()) as (agent, smf, _maps):
            await smf.associate()
            for cp_seid, csid, ue in ((1, 10, 1), (2, 20, 2), (3, 10, 3)):
                r = shapes.open5gs_establishment(shapes.UE + 50 + ue)
                resp = await smf.request(SessionEstablishmentRequest(
                    0, SMF_NODE, FSeid(cp_seid, ipv4=LOOP), r.create_pdr, r.create_far,
                    create_qer=r.create_qer, create_urr=r.create_urr,
                    fq_csid=(FqCsid(LOOP, (csid,)),), seid=0))
                assert isinstance(resp, SessionEstablishmentResponse)
                assert resp.cause is Cause.REQUEST_ACCEPTED
            ssd = await smf.request(SessionSetDeletionRequest(
                0, SMF_NODE, fq_csid=(FqCsid(LOOP, (10,)),)))
            assert isinstance(ssd, SessionSetDeletionResponse)
            assert ssd.cause is Cause.REQUEST_ACCEPTED
            assert [s.remote_seid for s in agent.sessions.values()] == [2]
    run(body)


def test_heartbeat_sent_to_a_silent_associated_smf() -> None:
    async def body() -> None:
        async with running(config(heartbeat_interval=0.2)) as (_agent, smf, _maps):
            await smf.associate()
            msg = await smf.recv()  # nothing else is sent: the agent's timer must fire
            assert isinstance(msg, HeartbeatRequest)
    run(body)


def test_held_sessions_are_frozen_out_of_the_gc() -> None:
    import gc
    import time

    from tests.control import profile_establish as pe

    async def body() -> None:
        maps = MemoryMaps()
        agent = Agent(dataclasses.replace(pe.agent_config(16), gc_freeze_every=2), maps)
        agent._associated(pe.PEER, NodeId(pe.SMF), None)
        gc.unfreeze()
        try:
            replies = await pe.drive(agent, [encode_message(pe.establishment(i))
                                             for i in range(2)], time.monotonic)
            await asyncio.sleep(0)  # (the collection runs on the loop turn after the plans)
            assert len(agent.sessions) == 2 and gc.get_freeze_count() > 0
        finally:
            gc.unfreeze()
        seids = []
        for r in replies:
            m = decode_message(r)
            assert isinstance(m, SessionEstablishmentResponse) and m.up_f_seid is not None
            seids.append(m.up_f_seid.seid)
        await pe.drive(agent, [encode_message(pe.deletion(10 + i, s))
                               for i, s in enumerate(seids)], time.monotonic)
        assert agent.sessions == {}
        assert all(not v for v in maps.snapshot().values())

    asyncio.run(body())


def test_collections_walk_only_what_is_new_and_reclaim_its_cycles() -> None:
    """The first collection of a GC-managing agent is a full one; later ones collect the
    youngest generation only (everything made since the last freeze is there) and still
    reclaim the cyclic garbage made since, before freezing the rest."""
    import gc
    import weakref

    from tests.control import profile_establish as pe

    class Node:
        other: Any = None

    generations: list[int] = []

    def seen(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            generations.append(info["generation"])

    async def body() -> None:
        agent = Agent(pe.agent_config(16), MemoryMaps())
        was = gc.isenabled()
        gc.disable()
        gc.callbacks.append(seen)
        try:
            agent._collect()
            a, b = Node(), Node()
            a.other, b.other = b, a
            dead = weakref.ref(a)
            del a, b
            agent._collect()
            assert dead() is None  # collected, not frozen
            agent._collect(full=True)
        finally:
            gc.callbacks.remove(seen)
            gc.unfreeze()
            if was:
                gc.enable()
        assert generations == [2, 0, 2]

    asyncio.run(body())


def test_a_collection_runs_after_the_batch_it_follows_is_released() -> None:
    """The collection a batch of establishments triggers runs once the batch is done with:
    none of its plans is still alive for the collector to walk (and freeze)."""
    import gc
    import time

    from control.plan import Plan
    from tests.control import profile_establish as pe

    plans_alive: list[int] = []

    async def body() -> None:
        agent = Agent(dataclasses.replace(pe.agent_config(16), gc_freeze_every=8), MemoryMaps())
        agent._associated(pe.PEER, NodeId(pe.SMF), None)
        collect = agent._collect

        def counting(*, full: bool = False) -> None:
            plans_alive.append(sum(isinstance(o, Plan) for o in gc.get_objects()))
            collect(full=full)

        agent._collect = counting  # type: ignore[method-assign]
        was = gc.isenabled()
        gc.disable()
        gc.unfreeze()
        try:  # 8 establishments in one loop turn: one combined write, one collection
            await pe.drive(agent, [encode_message(pe.establishment(i)) for i in range(8)],
                           time.monotonic)
            await asyncio.sleep(0)
        finally:
            gc.unfreeze()
            if was:
                gc.enable()
        assert len(agent.sessions) == 8 and agent.applier.batches == 1

    asyncio.run(body())
    assert plans_alive == [0]


def test_a_burst_is_handled_in_one_wakeup_and_a_bad_datagram_loses_nothing(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Datagrams uvloop delivered in one loop turn are taken off asyncio-dgram's queue
    without a recv() each, and the timer is re-armed once for them; a datagram whose
    handling fails is logged and the rest of the burst is still answered. (On uvloop, as
    `upf run`: asyncio's own loop delivers one datagram per turn.)"""
    import uvloop

    async def body() -> None:
        async with running(config()) as (agent, smf, _):
            await smf.associate()
            assert agent._sock is not None
            recvs: list[int] = []
            timers: list[int] = []
            real_recv, real_receive = agent._sock.recv, agent.node.receive_datagram
            real_timer = agent.node.get_timer

            async def counting_recv() -> Any:
                recvs.append(1)
                return await real_recv()

            def flaky(data: bytes, *args: Any) -> None:
                if data == b"bug":
                    raise RuntimeError("bug")
                real_receive(data, *args)

            def counting_timer() -> float | None:
                timers.append(1)
                return real_timer()

            monkeypatch.setattr(agent._sock, "recv", counting_recv)
            monkeypatch.setattr(agent.node, "receive_datagram", flaky)
            monkeypatch.setattr(agent.node, "get_timer", counting_timer)
            n = 12
            burst = [b"bug"]
            for i in range(n):
                smf.seq += 1
                burst.append(encode_message(establishment_of(40 + i, smf.seq, 0x300 + i)))
            raw = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            raw.bind(("127.0.0.1", 0))
            for data in burst:  # all queued before the agent runs again
                raw.sendto(data, smf.upf)
            stream = await asyncio_dgram.from_socket(raw)
            assert isinstance(stream, asyncio_dgram.aio.DatagramServer)
            smf.sock = stream
            answers = [(await smf.recv()) for _ in range(n)]
            assert all(isinstance(a, SessionEstablishmentResponse) and
                       a.cause is Cause.REQUEST_ACCEPTED for a in answers)
            assert len(agent.sessions) == n
            # One recv() picked up the burst's first datagram (the one waited on before);
            # uvloop may split a burst over a few turns, never one per datagram.
            assert len(recvs) <= 4, len(recvs)
            assert len(timers) <= 4, len(timers)
    uvloop.run(asyncio.wait_for(body(), 20))


def test_requests_of_one_session_run_in_order_within_one_batch() -> None:
    """A modification and a deletion of one session sent back to back land in one loop turn:
    the deletion waits for the modification (it must see its result), both are answered in
    order, and nothing is left in the maps."""
    async def body() -> None:
        async with running(config()) as (agent, smf, maps):
            await smf.associate()
            est = await smf.establish()
            assert est.cause is Cause.REQUEST_ACCEPTED and est.up_f_seid is not None
            seid = est.up_f_seid.seid
            mod = SessionModificationRequest(201, update_far=(shapes.gnb_far_update(0x999),),
                                             seid=seid)
            dele = SessionDeletionRequest(202, seid=seid)
            await smf.send_raw(encode_message(mod))
            await smf.send_raw(encode_message(dele))
            first, second = await smf.recv(), await smf.recv()
            assert isinstance(first, SessionModificationResponse), first
            assert first.cause is Cause.REQUEST_ACCEPTED
            assert isinstance(second, SessionDeletionResponse), second
            assert second.cause is Cause.REQUEST_ACCEPTED
            assert agent.sessions == {} and agent._busy == {}
            assert all(not v for v in maps.snapshot().values())
    run(body)


def test_handler_bug_answers_system_failure_and_frees_the_session_id(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """An unexpected exception while compiling is answered with System failure (not left
    unanswered), and the next request is handled normally."""
    from control import compile as cc

    real = cc.establish
    calls = []

    def broken(*args: Any, **kw: Any) -> Any:
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("bug")
        return real(*args, **kw)

    monkeypatch.setattr(cc, "establish", broken)

    async def body() -> None:
        async with running(config()) as (agent, smf, maps):
            await smf.associate()
            bad = await smf.establish(cp_seid=0x10)
            assert bad.cause is Cause.SYSTEM_FAILURE and bad.seid == 0x10
            assert agent._busy == {} and agent.sessions == {}
            assert all(not v for v in maps.snapshot().values())
            good = await smf.establish(cp_seid=0x11)
            assert good.cause is Cause.REQUEST_ACCEPTED
            assert len(agent.sessions) == 1 and agent._busy == {}
    run(body)


def establishment_of(ue: int, sequence: int, cp_seid: int, csid: int | None = None
                     ) -> SessionEstablishmentRequest:
    """An Open5GS-shaped establishment for UE address shapes.UE + ``ue``."""
    r = shapes.open5gs_establishment(shapes.UE + ue)
    return SessionEstablishmentRequest(
        sequence, SMF_NODE, FSeid(cp_seid, ipv4=LOOP), r.create_pdr, r.create_far,
        create_urr=r.create_urr, create_qer=r.create_qer,
        fq_csid=(FqCsid(LOOP, (csid,)),) if csid is not None else (), seid=0)


def _receive(agent: Agent, peer: tuple[str, int], message: Message) -> None:
    """Hand a message to the agent's node, as the receive loop does, without running the
    loop: what is received this way is handled in one loop turn."""
    agent.node.receive_datagram(encode_message(message), peer, agent.clock())


def test_purge_waits_for_requests_in_progress() -> None:
    """Establishments and an Association Release handled in one loop turn (as uvloop
    delivers a burst): the purge also covers the establishments still being applied,
    queues behind them, and every session ends up deleted from the maps."""
    async def body() -> None:
        async with running(config()) as (agent, smf, maps):
            await smf.associate()
            peer = smf.sock.sockname[:2]
            for i in range(8):
                _receive(agent, peer, establishment_of(100 + i, 300 + i, 0x9000 + i))
            release = AssociationReleaseRequest(400, SMF_NODE)
            agent.node.receive_datagram(encode_message(release), peer, agent.clock())
            assert not agent.sessions  # nothing applied yet: all in one turn
            await agent._after_node()
            answers = [await smf.recv() for _ in range(9)]
            assert sum(isinstance(a, SessionEstablishmentResponse) for a in answers) == 8
            rel = [a for a in answers if isinstance(a, AssociationReleaseResponse)]
            assert rel and rel[0].cause is Cause.REQUEST_ACCEPTED
            for _ in range(50):
                if not agent._busy:
                    break
                await asyncio.sleep(0.01)
            assert agent.sessions == {} and agent._busy == {}
            assert all(not v for v in maps.snapshot().values())
    run(body)


def test_session_set_deletion_waits_for_establishments_in_progress() -> None:
    """Establishments with FQ-CSIDs and a Session Set Deletion for one of them, handled in
    one loop turn: the set deletion waits for the establishments still being applied, then
    deletes those whose FQ-CSID matches, and only those."""
    async def body() -> None:
        async with running(config()) as (agent, smf, maps):
            await smf.associate()
            peer = smf.sock.sockname[:2]
            for i in range(6):
                _receive(agent, peer, establishment_of(120 + i, 500 + i, 0xA000 + i,
                                                       csid=10 + i % 2))
            _receive(agent, peer,
                     SessionSetDeletionRequest(600, SMF_NODE, fq_csid=(FqCsid(LOOP, (10,)),)))
            assert not agent.sessions  # nothing applied yet: all in one turn
            await agent._after_node()
            answers = [await smf.recv() for _ in range(7)]
            assert sum(isinstance(a, SessionEstablishmentResponse) and
                       a.cause is Cause.REQUEST_ACCEPTED for a in answers) == 6
            done = [a for a in answers if isinstance(a, SessionSetDeletionResponse)]
            assert done and done[0].cause is Cause.REQUEST_ACCEPTED
            assert sorted(s.remote_seid for s in agent.sessions.values()) == \
                [0xA001, 0xA003, 0xA005]
            assert len(maps.maps[MapName.DOWNLINK_PDRS_V4]) == 3
    run(body)


def test_a_failing_datagram_does_not_stop_the_endpoint(monkeypatch: pytest.MonkeyPatch) -> None:
    """A bug while handling one datagram is logged; the next datagram is still answered
    (session requests are handled on the receive loop itself, so this guards it)."""
    async def body() -> None:
        async with running(config()) as (agent, smf, _):
            real = agent.node.receive_datagram
            calls: list[int] = []

            def flaky(*args: Any) -> None:
                calls.append(1)
                if len(calls) == 1:
                    raise RuntimeError("bug")
                real(*args)

            monkeypatch.setattr(agent.node, "receive_datagram", flaky)
            await smf.send_raw(encode_message(AssociationSetupRequest(1, SMF_NODE, smf.stamp)))
            resp = await smf.associate()
            assert resp.cause is Cause.REQUEST_ACCEPTED and len(calls) == 2
    run(body)


@pytest.mark.parametrize("shape", [shapes.open5gs_establishment, shapes.oai_establishment])
def test_accepted_establishment_octets_are_the_codecs(shape: Callable[[], Any]) -> None:
    """The agent answers an accepted establishment with octets of its own (control/
    responses.py): those of the SessionEstablishmentResponse it built before, for the
    session it installed; retransmissions get the very same octets from the node's cache."""
    async def body() -> None:
        async with running(config()) as (agent, smf, maps):
            await smf.associate()
            r = shape()
            smf.seq += 1
            request = encode_message(SessionEstablishmentRequest(
                smf.seq, SMF_NODE, FSeid(0x77, ipv4=LOOP), r.create_pdr, r.create_far,
                create_urr=r.create_urr, create_qer=r.create_qer, seid=0))
            await smf.send_raw(request)
            answer, _ = await asyncio.wait_for(smf.sock.recv(), TIMEOUT)
            (seid,) = agent.sessions
            session = agent.sessions[seid]
            created = []
            for pdr in sorted(session.pdrs.values(), key=lambda p: p.pdr_id):
                pdi = {c.pdr_id: c for c in r.create_pdr}[pdr.pdr_id].pdi
                # what the UPF chose (TS 29.244 7.5.3.2): CH F-TEIDs, CHV4 UE addresses
                ask, ue_ask = pdi.local_f_teid, pdi.ue_ip_address
                f = pdr.f_teid if ask is not None and ask.choose else None
                ue = ue_ask is not None and ue_ask.choose_v4
                if f is not None or ue:
                    created.append(CreatedPdr(
                        pdr.pdr_id,
                        local_f_teid=FTeid(f.teid, f.ipv4, f.ipv6) if f is not None else None,
                        ue_ip_address=UeIpAddress(ipv4=pdr.ue_v4, is_destination=True)
                        if ue else None))
            assert created
            assert answer == encode_message(SessionEstablishmentResponse(
                smf.seq, SMF_NODE, Cause.REQUEST_ACCEPTED, up_f_seid=FSeid(seid, ipv4=LOOP),
                created_pdr=tuple(created), seid=0x77))
            writes = maps.batch_calls
            for _ in range(2):
                await smf.send_raw(request)
                again, _ = await asyncio.wait_for(smf.sock.recv(), TIMEOUT)
                assert again == answer
            assert maps.batch_calls == writes and len(agent.sessions) == 1
            assert agent.node.stats.duplicates_answered == 2
    run(body)


class _Socket:
    """The agent's direct socket, refusing with ``errors[i]`` the i-th datagram (None: sent)."""

    def __init__(self, real: socket.socket, errors: list[OSError | None]) -> None:
        self.real = real
        self.errors = errors
        self.calls = 0

    def sendto(self, data: bytes, addr: Any) -> int:
        self.calls += 1
        error = self.errors.pop(0) if self.errors else None
        if error is not None:
            raise error
        return self.real.sendto(data, addr)

    def close(self) -> None:
        self.real.close()


async def _flush_batch(agent: Agent, smf: Smf, n: int, monkeypatch: pytest.MonkeyPatch
                       ) -> tuple[list[bytes], list[bytes], int]:
    """Have the agent flush ``n`` datagrams to the SMF in one batch: (what it was to send,
    what arrived, how many went through asyncio-dgram's send)."""
    batch = [struct.pack("!I", i) * 4 for i in range(n)]
    monkeypatch.setattr(agent.node, "datagrams_to_send",
                        lambda now: [(d, smf.sock.sockname[:2]) for d in batch])
    assert agent._sock is not None
    real_send = agent._sock.send
    slow: list[bytes] = []

    async def send(data: bytes, addr: Any) -> None:
        slow.append(data)
        await real_send(data, addr)

    monkeypatch.setattr(agent._sock, "send", send)
    await agent._flush()
    got = []
    for _ in range(len(batch) - 1):  # (one is refused in one of the tests)
        got.append((await asyncio.wait_for(smf.sock.recv(), TIMEOUT))[0])
    with contextlib.suppress(TimeoutError):
        got.append((await asyncio.wait_for(smf.sock.recv(), 0.2))[0])
    return batch, got, len(slow)


def test_sends_go_on_the_socket_and_fall_back_in_order(monkeypatch: pytest.MonkeyPatch) -> None:
    """Datagrams go out with the socket's sendto; from one that would block on, the rest of
    the batch goes through asyncio-dgram's send, in order."""
    async def body() -> None:
        async with running(config()) as (agent, smf, _):
            assert agent._direct is not None
            direct = _Socket(agent._direct, [])
            monkeypatch.setattr(agent, "_direct", direct)
            batch, got, slow = await _flush_batch(agent, smf, 4, monkeypatch)
            assert (got, slow, direct.calls) == (batch, 0, 4)

            direct.errors = [None, BlockingIOError()]
            batch, got, slow = await _flush_batch(agent, smf, 5, monkeypatch)
            assert (got, slow, direct.calls) == (batch, 4, 6)
    run(body)


def test_no_direct_send_while_the_transport_holds_datagrams(
        monkeypatch: pytest.MonkeyPatch) -> None:
    async def body() -> None:
        async with running(config()) as (agent, smf, _):
            assert agent._direct is not None and agent._transport is not None
            direct = _Socket(agent._direct, [])
            monkeypatch.setattr(agent, "_direct", direct)
            monkeypatch.setattr(agent._transport, "get_write_buffer_size", lambda: 70)
            batch, got, slow = await _flush_batch(agent, smf, 3, monkeypatch)
            assert (got, slow, direct.calls) == (batch, 3, 0)
    run(body)


def test_a_failed_send_is_logged_and_the_rest_sent(monkeypatch: pytest.MonkeyPatch,
                                                   caplog: pytest.LogCaptureFixture) -> None:
    async def body() -> None:
        async with running(config()) as (agent, smf, _):
            assert agent._direct is not None
            direct = _Socket(agent._direct, [None, OSError(errno.EPERM, "refused")])
            monkeypatch.setattr(agent, "_direct", direct)
            batch, got, slow = await _flush_batch(agent, smf, 3, monkeypatch)
            assert (got, slow) == ([batch[0], batch[2]], 0)
            assert "PFCP send to" in caplog.text and "refused" in caplog.text
    run(body)


def test_stop_closes_the_direct_socket() -> None:
    async def body() -> None:
        agent = Agent(config(), MemoryMaps())
        await agent.start()
        direct = agent._direct
        assert direct is not None and direct.fileno() >= 0
        await agent.stop()
        assert direct.fileno() == -1 and agent._direct is None
    run(body)


def test_accepted_modification_and_deletion_octets_are_the_codecs() -> None:
    """Accepted Modification and Deletion Responses go out as octets of the agent's own
    (control/responses.py): those of the message objects it built before; retransmissions
    are answered with the same octets."""
    async def body() -> None:
        async with running(config()) as (agent, smf, maps):
            await smf.associate()
            est = await smf.establish(cp_seid=0x66)
            assert est.up_f_seid is not None
            seid = est.up_f_seid.seid
            s = agent.sessions[seid]
            maps.set_counter(s.pdrs[1].slot, Counter(1, 100).pack())
            maps.set_counter(s.pdrs[2].slot, Counter(2, 2000).pack())

            async def exchange(request: Message) -> bytes:
                smf.seq += 1
                data = encode_message(dataclasses.replace(request, sequence=smf.seq))
                await smf.send_raw(data)
                answer, _ = await asyncio.wait_for(smf.sock.recv(), TIMEOUT)
                await smf.send_raw(data)  # a retransmission: the same octets
                assert (await asyncio.wait_for(smf.sock.recv(), TIMEOUT))[0] == answer
                return bytes(answer)

            def report(cls: Any, trigger: UsageReportTrigger, seqn: int, ul: tuple[int, int],
                       dl: tuple[int, int]) -> Any:
                return cls(urr_id=1, ur_seqn=seqn, usage_report_trigger=trigger,
                           volume_measurement=VolumeMeasurement(
                               ul[1] + dl[1], ul[1], dl[1], ul[0] + dl[0], ul[0], dl[0]))

            plain = await exchange(SessionModificationRequest(
                0, update_far=(shapes.gnb_far_update(0x42, LOOP),), seid=seid))
            assert plain == encode_message(
                SessionModificationResponse(smf.seq, Cause.REQUEST_ACCEPTED, seid=0x66))
            queried = await exchange(SessionModificationRequest(
                0, query_urr=(QueryUrr(1),), seid=seid))
            assert queried == encode_message(SessionModificationResponse(
                smf.seq, Cause.REQUEST_ACCEPTED, seid=0x66, usage_report=(
                    report(UsageReportSmr, UsageReportTrigger.IMMER, 0, (1, 100), (2, 2000)),)))
            maps.set_counter(s.pdrs[2].slot, Counter(3, 2500).pack())
            deleted = await exchange(SessionDeletionRequest(0, seid=seid))
            assert deleted == encode_message(SessionDeletionResponse(
                smf.seq, Cause.REQUEST_ACCEPTED, seid=0x66, usage_report=(
                    report(UsageReportSdr, UsageReportTrigger.TERMR, 1, (0, 0), (1, 500)),)))
            assert agent.sessions == {} and agent.node.stats.duplicates_answered == 3
    run(body)


def test_templated_establishments_install_what_full_compiles_do() -> None:
    """The same requests to an agent with templates (control/template.py) and to one
    without: the same answers, sessions and map contents."""
    from upf import smfsim_codec

    sim = smfsim_codec.Templates("127.0.0.1", "127.0.0.1", 9)

    def requests(seq: int) -> list[bytes]:
        out = []
        for i in range(12):
            seq += 1
            out.append(encode_message(establishment_of(i % 7, seq, 0x700 + i, csid=i % 3 or None)))
            seq += 1
            out.append(sim.establishment(seq, 0x900 + i, int(shapes.UE) + 50 + i % 9,
                                         int(LOOP), 0x40 + i))
        return out

    async def outcome(templates: bool) -> tuple[Any, ...]:
        async with running(config(templates=templates)) as (agent, smf, maps):
            await smf.associate()
            answers = []
            for data in requests(smf.seq):
                await smf.send_raw(data)
                answers.append(await smf.recv())
            return (answers, dict(agent.sessions), maps.snapshot(),
                    agent.stats.establishments_from_templates)

    async def body() -> None:
        with_templates = await outcome(True)
        without = await outcome(False)
        assert with_templates[:3] == without[:3]
        causes = {a.cause for a in with_templates[0]}  # (UE addresses repeat: some rejected)
        assert causes == {Cause.REQUEST_ACCEPTED, Cause.RULE_CREATION_MODIFICATION_FAILURE}
        assert with_templates[3] > 0 and without[3] == 0
    run(body)
