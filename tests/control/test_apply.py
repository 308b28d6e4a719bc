"""Applying plans all-or-nothing: injected failures at every batch leave the maps unchanged."""

from __future__ import annotations

import asyncio

import pytest

from control import compile as cc
from control.apply import CoalescingApplier, apply_plan, combine
from control.compile import SessionRules
from control.errors import ApplyError, KeyConflict, ResourceExhausted
from control.layout import Counter, MapName, slot_key, ue_v4_key
from control.memory import MemoryMaps
from control.session import Session
from pfcp.enums import Cause
from tests.control import shapes

SEID = 0x2000


def base(seid: int = SEID) -> Session:
    return Session(local_seid=seid, remote_seid=1, peer="127.0.0.1")


def count_batches(rules: SessionRules) -> int:
    alloc, maps = shapes.allocator(), MemoryMaps()
    txn = alloc.begin()
    apply_plan(maps, cc.establish(SEID, base(), rules, alloc, txn).plan)
    return maps.batch_calls


@pytest.mark.parametrize("shape", ["open5gs", "free5gc", "oai"])
def test_failure_at_every_batch_rolls_back_establishment(shape: str) -> None:
    rules = getattr(shapes, f"{shape}_establishment")()
    n = count_batches(rules)
    assert n >= 4  # pdr_stats, qers/fars, uplink, downlink
    for k in range(1, n + 1):
        alloc, maps = shapes.allocator(), MemoryMaps()
        maps.fail_on_batch = k
        txn = alloc.begin()
        result = cc.establish(SEID, base(), rules, alloc, txn)
        with pytest.raises(ApplyError) as info:
            apply_plan(maps, result.plan)
        txn.abort()
        assert info.value.cause is Cause.SYSTEM_FAILURE
        assert maps.snapshot() == {name: {} for name in maps.maps}, f"stale entry (batch {k})"
        assert alloc.key_owners == {} and alloc.teids.in_use() == 0


def test_failure_mid_modification_restores_previous_values() -> None:
    alloc, maps = shapes.allocator(), MemoryMaps()
    txn = alloc.begin()
    r = cc.establish(SEID, base(), shapes.open5gs_establishment(), alloc, txn)
    apply_plan(maps, r.plan)
    txn.commit()
    assert r.session is not None
    before = maps.snapshot()
    rules = SessionRules(update_far=(shapes.gnb_far_update(0x99),),
                         create_pdr=(shapes.open5gs_establishment().create_pdr[0].__class__(
                             pdr_id=9, precedence=1,
                             pdi=shapes.open5gs_establishment().create_pdr[0].pdi,
                             far_id=1),))
    plan_batches = None
    for k in range(1, 10):
        maps.batch_calls = 0
        maps.fail_on_batch = k
        txn = alloc.begin()
        m = cc.modify(r.session, rules, alloc, txn)
        try:
            apply_plan(maps, m.plan)
        except ApplyError:
            txn.abort()
            assert maps.snapshot() == before, f"batch {k}"
            continue
        plan_batches = k - 1
        break
    assert plan_batches is not None and plan_batches >= 2


def test_full_hash_map_gives_no_resources_and_no_stale_entry() -> None:
    alloc = shapes.allocator()
    maps = MemoryMaps({MapName.DOWNLINK_PDRS_V4: 1})
    txn = alloc.begin()
    apply_plan(maps, cc.establish(1, base(1), shapes.open5gs_establishment(), alloc, txn).plan)
    txn.commit()
    before = maps.snapshot()
    txn = alloc.begin()
    second = cc.establish(2, base(2), shapes.free5gc_establishment(), alloc, txn)
    with pytest.raises(ResourceExhausted) as info:
        apply_plan(maps, second.plan)
    txn.abort()
    assert info.value.cause is Cause.NO_RESOURCES_AVAILABLE
    assert maps.snapshot() == before


def test_deletion_reads_counters_before_clearing() -> None:
    alloc, maps = shapes.allocator(), MemoryMaps()
    txn = alloc.begin()
    r = cc.establish(SEID, base(), shapes.open5gs_establishment(), alloc, txn)
    apply_plan(maps, r.plan)
    txn.commit()
    assert r.session is not None
    ul_slot = r.session.pdrs[1].slot
    maps.set_counter(ul_slot, Counter(10, 1500).pack())
    txn = alloc.begin()
    d = cc.delete(r.session, txn)
    applied = apply_plan(maps, d.plan)
    txn.commit()
    assert applied.counters[ul_slot] == Counter(10, 1500)
    assert maps.maps[MapName.PDR_STATS][slot_key(ul_slot)] == Counter().pack()


def test_coalescing_applier_batches_and_isolates_the_bad_plan() -> None:
    async def run() -> None:
        alloc = shapes.allocator()
        maps = MemoryMaps({MapName.DOWNLINK_PDRS_V4: 2})
        applier = CoalescingApplier(maps)
        results = []
        txns = []
        for seid in (1, 2, 3):
            ue = shapes.UE + seid
            txn = alloc.begin()
            results.append(cc.establish(seid, base(seid), shapes.open5gs_establishment(ue),
                                        alloc, txn))
            txns.append(txn)
        outcomes = await asyncio.gather(*(applier.apply(r.plan) for r in results),
                                        return_exceptions=True)
        assert applier.batches == 1 and applier.fallbacks == 1
        assert [isinstance(o, ResourceExhausted) for o in outcomes] == [False, False, True]
        assert len(maps.maps[MapName.DOWNLINK_PDRS_V4]) == 2
        # The rejected session left nothing behind.
        teid3 = results[2].created[0].f_teid.teid  # type: ignore[union-attr]
        assert shapes.uplink_set(maps, teid3) is None
        # Without a failure, one combined batch write serves all plans.
        maps2 = MemoryMaps()
        applier2 = CoalescingApplier(maps2)
        alloc2 = shapes.allocator()
        plans = [cc.establish(s, base(s), shapes.open5gs_establishment(shapes.UE + s), alloc2,
                              alloc2.begin()).plan for s in (1, 2, 3)]
        await asyncio.gather(*(applier2.apply(p) for p in plans))
        single = MemoryMaps()
        apply_plan(single, plans[0])
        assert maps2.batch_calls == single.batch_calls
        assert len(maps2.nonzero(MapName.UPLINK_BY_TEID)) == 3

    asyncio.run(run())


def test_rollback_empties_a_fresh_array_slot_instead_of_deleting_it() -> None:
    """An array slot cannot be deleted (the kernel says EINVAL): rolling back a write into
    a slot that was empty writes zeroes back, and the later failure is still reported."""
    from control.plan import MapOp, Phase, Plan

    maps = MemoryMaps({MapName.DOWNLINK_PDRS_V4: 0})
    far = b"\x02" + bytes(19)
    plan = Plan(ops=(
        MapOp(MapName.FARS, slot_key(9), far, None, Phase.LEAF_WRITE),
        MapOp(MapName.DOWNLINK_PDRS_V4, b"\x0a\x2d\x00\x01", bytes(152), None, Phase.PDR),
    ))
    with pytest.raises(ResourceExhausted):
        apply_plan(maps, plan)
    assert maps.lookup(MapName.FARS, slot_key(9)) == bytes(20)
    assert maps.snapshot()[MapName.FARS] in ({}, {slot_key(9): bytes(20)})


def test_a_taken_key_rejects_only_its_plan_and_is_left_alone() -> None:
    """A PDR key a plan creates but the map already holds (another N4 worker's session;
    here written straight into the map) is refused with KeyConflict (Rule creation/
    modification failure). The combined write falls back to one plan at a time, so the
    others are applied; the rollback removes what the refused plan wrote, not the key it
    found taken."""
    async def run() -> None:
        alloc = shapes.allocator()
        maps = MemoryMaps()
        theirs = ue_v4_key(shapes.UE + 2)
        maps.maps[MapName.DOWNLINK_PDRS_V4][theirs] = b"another worker's"
        applier = CoalescingApplier(maps)
        results = [cc.establish(s, base(s), shapes.open5gs_establishment(shapes.UE + s),
                                alloc, alloc.begin()) for s in (1, 2, 3)]
        outcomes = await asyncio.gather(*(applier.apply(r.plan) for r in results),
                                        return_exceptions=True)
        assert applier.fallbacks == 1
        assert [type(o).__name__ for o in outcomes] == ["Applied", "KeyConflict", "Applied"]
        conflict = outcomes[1]
        assert isinstance(conflict, KeyConflict)
        assert conflict.cause is Cause.RULE_CREATION_MODIFICATION_FAILURE
        assert (conflict.map_name, conflict.key) == (MapName.DOWNLINK_PDRS_V4, theirs)
        assert maps.maps[MapName.DOWNLINK_PDRS_V4][theirs] == b"another worker's"
        teid2 = results[1].created[0].f_teid.teid  # type: ignore[union-attr]
        assert shapes.uplink_set(maps, teid2) is None  # nothing of the refused plan stays
        assert set(maps.maps[MapName.DOWNLINK_PDRS_V4]) == {
            ue_v4_key(shapes.UE + 1), theirs, ue_v4_key(shapes.UE + 3)}

    asyncio.run(run())


def test_new_keys_written_before_a_taken_one_are_rolled_back() -> None:
    """Within one batch of new keys, those before the taken one were written (the writer
    says how many) and are removed again; the taken one and those after are not touched."""
    maps = MemoryMaps()
    alloc = shapes.allocator()
    plans = [cc.establish(s, base(s), shapes.open5gs_establishment(shapes.UE + s), alloc,
                          alloc.begin()).plan for s in (1, 2, 3)]
    theirs = ue_v4_key(shapes.UE + 2)
    maps.maps[MapName.DOWNLINK_PDRS_V4][theirs] = b"x"
    before = maps.snapshot()
    with pytest.raises(KeyConflict):
        apply_plan(maps, combine(plans))
    assert maps.snapshot() == before
