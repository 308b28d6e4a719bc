"""compile + apply against the real kernel maps of build/xdp/upf.o (root)."""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from control import compile as cc
from control.apply import apply_plan
from control.errors import ApplyError, MapWriteError, ResourceExhausted
from control.layout import Counter, Far, MapName, PdrSet, slot_key, ue_v4_key
from control.session import Session
from pfcp.enums import Cause
from tests.control import shapes

OBJ = Path(__file__).resolve().parents[2] / "build" / "xdp" / "upf.o"

pytestmark = [
    pytest.mark.root,
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root (BPF)"),
    pytest.mark.skipif(not OBJ.exists(), reason="build/xdp/upf.o not built (make bpf)"),
]


@pytest.fixture
def kmaps() -> Iterator[Any]:
    from control.kernel import KernelMaps
    from upf.datapath.loader import Datapath, DatapathLimits

    dp = Datapath(OBJ, limits=DatapathLimits(sessions=3, pdrs=16, fars=16, qers=16))
    dp.open()
    try:
        yield KernelMaps(dp.maps)
    finally:
        dp.close()


def dump(kmaps: Any) -> dict[str, set[bytes]]:
    """Every key present in the hash maps and every non-zero slot of the arrays."""
    out: dict[str, set[bytes]] = {}
    for name in MapName:
        handle = kmaps.maps[name]
        if name in (MapName.FARS, MapName.QERS, MapName.PDR_STATS, MapName.UPLINK_BY_TEID):
            out[name] = {slot_key(i) for i in range(16)
                         if any(kmaps.lookup(name, slot_key(i)) or b"")}
        else:
            key_iter = handle.keys  # a BPF map handle, not a dict
            out[name] = {bytes(k) for k in key_iter()}
    return out


def base(seid: int) -> Session:
    return Session(local_seid=seid, remote_seid=seid, peer="127.0.0.1")


def test_establish_and_delete_in_kernel_maps(kmaps: Any) -> None:
    alloc = shapes.allocator(pdr_slots=16, far_slots=16, qer_slots=16, teid_indices=3)
    txn = alloc.begin()
    r = cc.establish(1, base(1), shapes.open5gs_establishment(), alloc, txn)
    apply_plan(kmaps, r.plan)
    txn.commit()
    teid = r.created[0].f_teid.teid  # type: ignore[union-attr]
    raw = shapes.uplink_set(kmaps, teid)
    assert raw is not None
    (rule,) = PdrSet.unpack(raw).rules
    assert rule.pdr_id == 1
    far_raw = kmaps.lookup(MapName.FARS, slot_key(rule.far_slot))
    assert far_raw is not None and Far.unpack(far_raw).action != 0
    assert kmaps.lookup(MapName.DOWNLINK_PDRS_V4, ue_v4_key(shapes.UE)) is not None
    # The datapath counts on the PDR slot; deletion reads the sum over CPUs.
    kmaps.update_batch(MapName.PDR_STATS, [slot_key(rule.pdr_slot)], [Counter(2, 200).pack()])
    assert r.session is not None
    txn = alloc.begin()
    d = cc.delete(r.session, txn)
    applied = apply_plan(kmaps, d.plan)
    txn.commit()
    ncpus = len(kmaps.maps[MapName.PDR_STATS].get(0))
    assert applied.counters[rule.pdr_slot] == Counter(2 * ncpus, 200 * ncpus)
    assert dump(kmaps) == {name: set() for name in MapName}


def test_full_kernel_map_rejects_without_stale_entries(kmaps: Any) -> None:
    # The maps hold 3 sessions (uplink_by_teid: 3 usable slots, index 0 unused; the
    # downlink hash: 3 entries). The allocator has TEID indices to spare, so it is the
    # kernel that refuses the fourth session, and its plan is rolled back.
    alloc = shapes.allocator(pdr_slots=16, far_slots=16, qer_slots=16, teid_indices=5)
    for seid in (1, 2, 3):
        txn = alloc.begin()
        r = cc.establish(seid, base(seid), shapes.open5gs_establishment(shapes.UE + seid),
                         alloc, txn)
        apply_plan(kmaps, r.plan)
        txn.commit()
    before = dump(kmaps)
    assert len(before[MapName.UPLINK_BY_TEID]) == 3
    txn = alloc.begin()
    fourth = cc.establish(4, base(4), shapes.open5gs_establishment(shapes.UE + 4), alloc, txn)
    with pytest.raises(ResourceExhausted) as info:
        apply_plan(kmaps, fourth.plan)
    txn.abort()
    assert info.value.cause is Cause.NO_RESOURCES_AVAILABLE
    assert dump(kmaps) == before


class FailingWriter:
    """Wraps a writer and fails the k-th batch call after writing half of it."""

    def __init__(self, inner: Any, k: int) -> None:
        self.inner, self.k, self.calls = inner, k, 0

    def _tick(self) -> bool:
        self.calls += 1
        return self.calls == self.k

    def update_batch(self, name: str, keys: Sequence[bytes], values: Sequence[bytes],
                     new: bool = False) -> None:
        if self._tick():
            h = len(keys) // 2
            self.inner.update_batch(name, keys[:h], values[:h], new)
            raise MapWriteError("injected", h)
        self.inner.update_batch(name, keys, values, new)

    def delete_batch(self, name: str, keys: Sequence[bytes]) -> None:
        if self._tick():
            raise MapWriteError("injected")
        self.inner.delete_batch(name, keys)

    def lookup(self, name: str, key: bytes) -> bytes | None:
        result: bytes | None = self.inner.lookup(name, key)
        return result


def test_injected_failure_rolls_back_kernel_maps(kmaps: Any) -> None:
    alloc = shapes.allocator(pdr_slots=16, far_slots=16, qer_slots=16, teid_indices=3)
    before = dump(kmaps)
    for k in range(1, 6):
        txn = alloc.begin()
        r = cc.establish(1, base(1), shapes.open5gs_establishment(), alloc, txn)
        with pytest.raises(ApplyError):
            apply_plan(FailingWriter(kmaps, k), r.plan)
        txn.abort()
        assert dump(kmaps) == before, f"stale entry after failing batch {k}"


def test_agent_over_loopback_writes_kernel_maps(kmaps: Any) -> None:
    import asyncio
    import ipaddress

    from control.agent import Agent
    from control.config import AgentConfig
    from pfcp import (
        AssociationSetupRequest,
        FSeid,
        NodeId,
        SessionDeletionRequest,
        SessionDeletionResponse,
        SessionEstablishmentRequest,
        SessionEstablishmentResponse,
        decode_message,
        encode_message,
    )

    async def body() -> None:
        import asyncio_dgram

        cfg = AgentConfig(
            node_id=ipaddress.IPv4Address("127.0.0.1"),
            alloc=shapes.alloc_config(pdr_slots=16, far_slots=16, qer_slots=16),
            listen=("127.0.0.1", 0),
            smf_allow=(ipaddress.IPv4Network("127.0.0.0/8"),),
        )
        async with Agent(cfg, kmaps) as agent:
            sock = await asyncio_dgram.bind(("127.0.0.1", 0))
            try:
                node = NodeId(ipaddress.IPv4Address("127.0.0.1"))

                async def ask(msg: Any) -> Any:
                    await sock.send(encode_message(msg), agent.address)
                    data, _ = await asyncio.wait_for(sock.recv(), 2)
                    return decode_message(data)

                await ask(AssociationSetupRequest(1, node, 1))
                r = shapes.open5gs_establishment()
                est = await ask(SessionEstablishmentRequest(
                    2, node, FSeid(7, ipv4=ipaddress.IPv4Address("127.0.0.1")),
                    r.create_pdr, r.create_far, create_qer=r.create_qer,
                    create_urr=r.create_urr, seid=0))
                assert isinstance(est, SessionEstablishmentResponse)
                assert est.cause is Cause.REQUEST_ACCEPTED and est.up_f_seid is not None
                f_teid = est.created_pdr[0].local_f_teid
                assert f_teid is not None
                teid = f_teid.teid
                assert shapes.uplink_set(kmaps, teid) is not None
                dele = await ask(SessionDeletionRequest(3, seid=est.up_f_seid.seid))
                assert isinstance(dele, SessionDeletionResponse)
                assert dele.cause is Cause.REQUEST_ACCEPTED
                assert dump(kmaps) == {name: set() for name in MapName}
            finally:
                sock.close()

    asyncio.run(asyncio.wait_for(body(), 20))


@pytest.mark.parametrize("shared", [True, False])
def test_a_key_another_worker_holds_is_refused_by_the_kernel(kmaps: Any, shared: bool) -> None:
    """N4 workers check the keys of their own sessions only. When two give a session the
    same UE address, the kernel refuses the second's downlink key (KernelMaps(shared=True):
    BPF_NOEXIST): it is answered Rule creation/modification failure naming its downlink PDR,
    the first session's entry is untouched and nothing of the second stays behind. Without
    `shared` (one agent alone writing the maps) the second would overwrite the first."""
    import asyncio
    import dataclasses
    import time

    from control.agent import Agent
    from control.kernel import KernelMaps
    from pfcp import NodeId, SessionEstablishmentResponse, decode_message, encode_message
    from tests.control import profile_establish as pe

    writer = KernelMaps(kmaps.maps, shared=shared)

    def worker(k: int) -> Agent:
        cfg = pe.agent_config(2)
        alloc = shapes.alloc_config(pdr_slots=16, far_slots=16, qer_slots=16, teid_indices=3)
        cfg = dataclasses.replace(cfg, alloc=dataclasses.replace(alloc, shard=(k, 2)))
        agent = Agent(cfg, writer)
        agent._associated(pe.PEER, NodeId(pe.SMF), None)
        return agent

    async def body() -> None:
        first, second = worker(0), worker(1)
        request = pe.establishment(0)
        ue_key = ue_v4_key(request.create_pdr[1].pdi.ue_ip_address.ipv4)  # type: ignore[union-attr]
        (a,) = await pe.drive(first, [encode_message(request)], time.monotonic)
        ok = decode_message(a)
        assert isinstance(ok, SessionEstablishmentResponse)
        assert ok.cause is Cause.REQUEST_ACCEPTED
        held = kmaps.lookup(MapName.DOWNLINK_PDRS_V4, ue_key)
        after_first = dump(kmaps)
        (b,) = await pe.drive(second, [encode_message(dataclasses.replace(request, sequence=9))],
                              time.monotonic)
        refused = decode_message(b)
        assert isinstance(refused, SessionEstablishmentResponse)
        if not shared:  # the agent alone: its own claims are the check; it cannot see this
            assert refused.cause is Cause.REQUEST_ACCEPTED
            assert kmaps.lookup(MapName.DOWNLINK_PDRS_V4, ue_key) != held
            return
        assert refused.cause is Cause.RULE_CREATION_MODIFICATION_FAILURE
        assert refused.failed_rule_id is not None
        assert refused.failed_rule_id.rule_id == request.create_pdr[1].pdr_id
        assert kmaps.lookup(MapName.DOWNLINK_PDRS_V4, ue_key) == held
        assert dump(kmaps) == after_first
        assert second.sessions == {} and len(first.sessions) == 1

    asyncio.run(body())
