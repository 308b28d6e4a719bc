"""N4 workers in one process: agents on one SO_REUSEPORT group, the kernel steering
(control/steer.py), the lead telling its followers over real control channels
(control/shards.py), all writing one set of maps. The processes of `upf run` are tested
end to end in tests/e2e/test_pfcp_e2e.py (n4.workers: 2)."""

from __future__ import annotations

import asyncio
import itertools
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import asyncio_dgram
import pytest

from control.agent import Agent, _seid_space
from control.config import AgentConfig, PeerLossPolicy
from control.memory import MemoryMaps
from control.shards import Channel, ChannelClosed, Followers
from control.steer import reuseport_sockets, worker_for
from pfcp import (
    AssociationReleaseRequest,
    AssociationReleaseResponse,
    AssociationSetupRequest,
    AssociationSetupResponse,
    Cause,
    FqCsid,
    FSeid,
    SessionDeletionRequest,
    SessionDeletionResponse,
    SessionEstablishmentRequest,
    SessionEstablishmentResponse,
    SessionModificationRequest,
    SessionModificationResponse,
    SessionSetDeletionRequest,
    SessionSetDeletionResponse,
    decode_message,
    encode_message,
)
from tests.control import shapes
from tests.control.test_agent import LOOP, SMF_NODE, Smf, config, run
from upf.wiring import shard


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@asynccontextmanager
async def workers(count: int, cfg: AgentConfig | None = None
                  ) -> AsyncIterator[tuple[list[Agent], Smf, MemoryMaps]]:
    """``count`` agents as N4 workers on one port; the SMF talks to that port."""
    cfg = cfg or config()
    port = _free_port()
    socks = reuseport_sockets("127.0.0.1", port, count)
    maps = MemoryMaps()
    agents = [Agent(shard(cfg, i, count), maps, sock=socks[i], recovery_time_stamp=77)
              for i in range(count)]
    leads, serving = [], []
    for follower in agents[1:]:
        ours, theirs = Channel.pair()
        leads.append(Channel(ours))

        async def handle(op: str, args: tuple[Any, ...], agent: Agent = follower) -> Any:
            return await agent.follow(op, args)

        serving.append(asyncio.ensure_future(Channel(theirs).serve(handle)))
    agents[0].followers = Followers(leads)
    for agent in agents:
        await agent.start()
    sock = await asyncio_dgram.bind(("127.0.0.1", 0))
    smf = Smf(sock, ("127.0.0.1", port))
    try:
        yield agents, smf, maps
    finally:
        sock.close()
        for agent in agents:
            await agent.stop()
        agents[0].followers.close()
        for task in serving:
            task.cancel()


async def establish(smf: Smf, i: int, csid: int | None = None) -> SessionEstablishmentResponse:
    r = shapes.open5gs_establishment(shapes.UE + i)
    fq = (FqCsid(LOOP, (csid,)),) if csid is not None else ()
    resp = await smf.request(SessionEstablishmentRequest(
        0, SMF_NODE, FSeid(0x1000 + i, ipv4=LOOP), r.create_pdr, r.create_far,
        create_qer=r.create_qer, create_urr=r.create_urr, fq_csid=fq, seid=0))
    assert isinstance(resp, SessionEstablishmentResponse)
    return resp


def owner(agents: list[Agent], up_seid: int) -> int:
    (index,) = [i for i, a in enumerate(agents) if up_seid in a.sessions]
    return index


@pytest.mark.parametrize("count", [2, 3])
def test_sessions_spread_over_workers_and_stay_with_their_worker(count: int) -> None:
    async def body() -> None:
        async with workers(count) as (agents, smf, maps):
            assert (await smf.associate()).cause is Cause.REQUEST_ACCEPTED
            # Known to every worker before the response: the first establishments are
            # accepted whichever worker they reach.
            assert all("127.0.0.1" in a.associations for a in agents)
            seids = []
            for i in range(12):
                est = await establish(smf, i)
                assert est.cause is Cause.REQUEST_ACCEPTED, est
                assert est.up_f_seid is not None
                seids.append(est.up_f_seid.seid)
            by_worker = [owner(agents, s) for s in seids]
            assert set(by_worker) == set(range(count))  # consecutive sequence numbers
            for s, w in zip(seids, by_worker, strict=True):
                assert s % count == w
                header = bytes([0x21, 52]) + bytes(2) + s.to_bytes(8, "big") + bytes(4)
                assert worker_for(header, count) == w
            # No two workers handed out the same TEID or slot.
            teids = [p.f_teid.teid for a in agents for s in a.sessions.values()
                     for p in s.pdrs.values() if p.f_teid is not None]
            slots = [p.slot for a in agents for s in a.sessions.values() for p in s.pdrs.values()]
            assert len(set(teids)) == len(teids) == 12 and len(set(slots)) == len(slots)
            # Modification and deletion reach the owner (else: Session context not found).
            for s in seids:
                mod = await smf.request(SessionModificationRequest(
                    0, update_far=(shapes.gnb_far_update(0x42, LOOP),), seid=s))
                assert isinstance(mod, SessionModificationResponse)
                assert mod.cause is Cause.REQUEST_ACCEPTED, mod
                dele = await smf.request(SessionDeletionRequest(0, seid=s))
                assert isinstance(dele, SessionDeletionResponse)
                assert dele.cause is Cause.REQUEST_ACCEPTED
            assert all(a.sessions == {} for a in agents)
            assert all(not v for v in maps.snapshot().values())
    run(body)


def test_release_and_session_set_deletion_reach_every_worker() -> None:
    async def body() -> None:
        async with workers(2) as (agents, smf, maps):
            await smf.associate()
            for i in range(8):
                assert (await establish(smf, i, csid=10 + i // 2 % 2)).cause is \
                    Cause.REQUEST_ACCEPTED
            assert [len(a.sessions) for a in agents] == [4, 4]
            ssd = await smf.request(SessionSetDeletionRequest(
                0, SMF_NODE, fq_csid=(FqCsid(LOOP, (10,)),)))
            assert isinstance(ssd, SessionSetDeletionResponse)
            assert ssd.cause is Cause.REQUEST_ACCEPTED
            left = sorted(s.remote_seid for a in agents for s in a.sessions.values())
            assert left == [0x1000 + i for i in range(8) if i // 2 % 2]
            assert [len(a.sessions) for a in agents] == [2, 2]  # each worker purged its own
            rel = await smf.request(AssociationReleaseRequest(0, SMF_NODE))
            assert isinstance(rel, AssociationReleaseResponse)
            assert rel.cause is Cause.REQUEST_ACCEPTED
            assert all(a.sessions == {} and a.associations == {} for a in agents)
            assert all(not v for v in maps.snapshot().values())
            # Released everywhere: no worker takes a session of the peer any more.
            for i in range(4):
                assert (await establish(smf, 20 + i)).cause is \
                    Cause.NO_ESTABLISHED_PFCP_ASSOCIATION
    run(body)


def test_smf_restart_purges_old_sessions_of_every_worker_not_new_ones() -> None:
    async def body() -> None:
        cfg = config(on_peer_restart=PeerLossPolicy.PURGE)
        async with workers(2, cfg) as (agents, smf, _):
            await smf.associate()
            old = [await establish(smf, i) for i in range(6)]
            assert all(len(a.sessions) == 3 for a in agents)
            smf.stamp += 10  # the SMF restarted
            assert (await smf.associate()).cause is Cause.REQUEST_ACCEPTED
            new = [await establish(smf, 10 + i) for i in range(4)]  # at once, as SMFs do
            assert all(e.cause is Cause.REQUEST_ACCEPTED for e in new)
            await asyncio.sleep(0.1)
            held = {s for a in agents for s in a.sessions}
            assert held == {e.up_f_seid.seid for e in new if e.up_f_seid is not None}
            assert not held & {e.up_f_seid.seid for e in old if e.up_f_seid is not None}
    run(body)


def test_seid_space_steers_to_its_worker_and_wraps() -> None:
    for count in (1, 2, 3, 5):
        for index in range(count):
            space = _seid_space(index, count)
            first = [next(space) for _ in range(5)]
            assert all(s != 0 and s % count == index for s in first)
    # Round again after the last SEID below the end (2**32 in the agent): never 0.
    assert list(itertools.islice(_seid_space(2, 3, end=12), 6)) == [2, 5, 8, 11, 2, 5]
    assert list(itertools.islice(_seid_space(0, 3, end=10), 5)) == [3, 6, 9, 3, 6]


def test_channel_reports_a_follower_failure_and_a_closed_peer() -> None:
    async def body() -> None:
        ours, theirs = Channel.pair()
        lead = Channel(ours)

        async def handle(op: str, args: tuple[Any, ...]) -> Any:
            if op == "boom":
                raise ValueError("bad")
            return ("echo", op, args)

        serving = asyncio.ensure_future(Channel(theirs).serve(handle))
        assert await lead.call("x", 1, "a") == ("echo", "x", (1, "a"))
        with pytest.raises(RuntimeError, match="ValueError: bad"):
            await lead.call("boom")
        assert await lead.call("y") == ("echo", "y", ())  # the follower went on
        serving.cancel()
        theirs.close()
        with pytest.raises(ChannelClosed):
            await lead.call("z")
        lead.close()
    run(body)


@pytest.mark.parametrize("accept", [True, False])
def test_sessions_sent_before_a_upf_initiated_setup_is_answered(accept: bool) -> None:
    """The UPF sets up the association (smf_peers); the SMF sends session requests before
    it answers, some steered to a follower. The workers hold them: once the setup is
    accepted they are handled (accepted); if it is refused, they get No established PFCP
    Association. (A follower without this answered 72 at once.)"""
    async def body() -> None:
        sock = await asyncio_dgram.bind(("127.0.0.1", 0))
        cfg = config(smf_peers=(("127.0.0.1", sock.sockname[1]),), smf_allow=())
        try:
            async with workers(2, cfg) as (agents, _smf, maps):
                data, upf = await asyncio.wait_for(sock.recv(), 2.0)
                setup = decode_message(data)
                assert isinstance(setup, AssociationSetupRequest)
                sequences = [7000 + i for i in range(6)]
                requests = []
                for i, seq in enumerate(sequences):
                    r = shapes.open5gs_establishment(shapes.UE + 200 + i)
                    requests.append(encode_message(SessionEstablishmentRequest(
                        seq, SMF_NODE, FSeid(0x7000 + i, ipv4=LOOP), r.create_pdr,
                        r.create_far, create_qer=r.create_qer, create_urr=r.create_urr,
                        seid=0)))
                assert {worker_for(d, 2) for d in requests} == {0, 1}  # both workers
                for d in requests:
                    await sock.send(d, upf)
                await asyncio.sleep(0.1)  # they reach the workers before the answer
                cause = Cause.REQUEST_ACCEPTED if accept else Cause.REQUEST_REJECTED
                await sock.send(encode_message(AssociationSetupResponse(
                    setup.sequence, SMF_NODE, cause, 1)), upf)
                answers: dict[int, Cause] = {}
                while len(answers) < len(sequences):
                    data, _ = await asyncio.wait_for(sock.recv(), 2.0)
                    m = decode_message(data)
                    if isinstance(m, SessionEstablishmentResponse):
                        answers[m.sequence] = m.cause
                want = (Cause.REQUEST_ACCEPTED if accept
                        else Cause.NO_ESTABLISHED_PFCP_ASSOCIATION)
                assert answers == {s: want for s in sequences}
                assert sum(len(a.sessions) for a in agents) == (len(sequences) if accept else 0)
                assert all(not a._held for a in agents)
                if not accept:
                    assert all(not v for v in maps.snapshot().values())
        finally:
            sock.close()
    run(body)
