"""Allocation and release: TEIDs, UE addresses, slots, key ownership, txn commit/abort."""

from __future__ import annotations

import ipaddress

import pytest

from control.alloc import (
    Allocator,
    AllocConfig,
    EndpointConfig,
    Pool,
    UePoolConfig,
    slot_pool,
)
from control.errors import ResourceExhausted
from pfcp.enums import Cause

N3 = ipaddress.IPv4Address("192.0.2.1")
N9 = ipaddress.IPv4Address("198.51.100.1")


def make(**kw: object) -> Allocator:
    cfg = AllocConfig(
        endpoints=(
            EndpointConfig(0, N3),
            EndpointConfig(1, N9),
            EndpointConfig(0, ipaddress.IPv4Address("192.0.2.7"), network_instance="ims"),
        ),
        ue_pools=(
            UePoolConfig(None, ipaddress.IPv4Network("10.45.0.0/30"),
                         ipaddress.IPv6Network("2001:db8::/63")),
            UePoolConfig("ims", ipaddress.IPv4Network("10.46.0.0/24")),
        ),
        pdr_slots=4, far_slots=3, qer_slots=2,
        **kw,  # type: ignore[arg-type]
    )
    return Allocator(cfg)


def test_pool_reuses_released_values_last() -> None:
    pool = Pool("p", iter(range(3)))
    a, b = pool.take(), pool.take()
    assert (a, b) == (0, 1)
    pool.give(a)
    assert pool.take() == 2  # fresh values first, released ones last
    assert pool.take() == 0
    with pytest.raises(ResourceExhausted):
        pool.take()


def test_slot_zero_reserved_and_exhaustion_cause() -> None:
    alloc = make()
    txn = alloc.begin()
    assert [txn.qer_slot()] == [1]
    with pytest.raises(ResourceExhausted) as info:
        txn.qer_slot()
    assert info.value.cause is Cause.NO_RESOURCES_AVAILABLE
    assert [txn.far_slot(), txn.far_slot()] == [1, 2]


def test_abort_returns_everything() -> None:
    alloc = make()
    txn = alloc.begin()
    teid = txn.teid("uplink_pdrs")
    addr = txn.ue_v4(None, "downlink_pdrs_v4")
    slot = txn.pdr_slot()
    assert txn.claim_key(("uplink_pdrs", teid.to_bytes(4, "big")), 7)
    txn.abort()
    assert alloc.teids.in_use() == 0
    assert alloc.ue_v4[None].in_use() == 0
    assert alloc.pdr_slots.in_use() == 0
    assert alloc.key_owners == {}
    again = alloc.begin()
    # Released values are reusable.
    assert {again.pdr_slot(), again.pdr_slot(), again.pdr_slot()} >= {slot}
    assert again.ue_v4(None, "downlink_pdrs_v4") in {addr, ipaddress.IPv4Address("10.45.0.2")}


def test_release_is_deferred_until_commit() -> None:
    alloc = make()
    txn = alloc.begin()
    a = txn.ue_v4(None, "downlink_pdrs_v4")
    b = txn.ue_v4(None, "downlink_pdrs_v4")
    txn.commit()
    assert (a, b) == (ipaddress.IPv4Address("10.45.0.1"), ipaddress.IPv4Address("10.45.0.2"))
    rel = alloc.begin()
    rel.release_ue_v4(None, a)
    # Not yet free: the /30 pool has only two hosts.
    with pytest.raises(ResourceExhausted):
        alloc.begin().ue_v4(None, "downlink_pdrs_v4")
    rel.commit()
    assert alloc.begin().ue_v4(None, "downlink_pdrs_v4") == a


def test_ipv6_prefixes_are_64s() -> None:
    alloc = make()
    txn = alloc.begin()
    p1 = txn.ue_v6(None, "downlink_pdrs_v6")
    p2 = txn.ue_v6(None, "downlink_pdrs_v6")
    assert (p1.prefixlen, p2.prefixlen) == (64, 64)
    assert p1 != p2
    with pytest.raises(ResourceExhausted):
        txn.ue_v6(None, "downlink_pdrs_v6")


def test_network_instance_pool_and_endpoint() -> None:
    alloc = make()
    assert alloc.begin().ue_v4("ims", "downlink_pdrs_v4") == ipaddress.IPv4Address("10.46.0.1")
    ep = alloc.endpoint(0, "ims")
    assert ep is not None and ep.ipv4 == ipaddress.IPv4Address("192.0.2.7")
    ep = alloc.endpoint(0, "internet")
    assert ep is not None and ep.ipv4 == N3
    ep = alloc.endpoint(1, None)
    assert ep is not None and ep.ipv4 == N9
    assert alloc.endpoint(2, None) is None


def test_teids_unique_and_skip_claimed_keys() -> None:
    alloc = make()
    # The SMF chose TEID 1 for some session: the allocator must not hand it out.
    pre = alloc.begin()
    assert pre.claim_key(("uplink_pdrs", (1).to_bytes(4, "big")), 99)
    pre.commit()
    txn = alloc.begin()
    teids = [txn.teid("uplink_pdrs") for _ in range(100)]
    assert 1 not in teids and 0 not in teids
    assert len(set(teids)) == 100


def test_key_claimed_by_other_session_refused() -> None:
    alloc = make()
    txn = alloc.begin()
    key = ("downlink_pdrs_v4", bytes([10, 0, 0, 1]))
    assert txn.claim_key(key, 1)
    assert txn.claim_key(key, 1)
    assert not txn.claim_key(key, 2)


def test_teids_index_uplink_by_teid_and_change_generation_on_reuse() -> None:
    alloc = make(teid_indices=3)  # indices 1 and 2 (0 is never used)
    txn = alloc.begin()
    first, second = txn.teid("uplink_pdrs"), txn.teid("uplink_pdrs")
    assert (first, second) == (1, 2)  # generation 0: TEID == index
    with pytest.raises(ResourceExhausted):
        txn.teid("uplink_pdrs")
    txn.commit()
    release = alloc.begin()
    release.release_teid(first)
    assert alloc.teids.is_used(first)  # only at commit
    release.commit()
    assert not alloc.teids.is_used(first) and alloc.teids.in_use() == 1
    again = alloc.begin().teid("uplink_pdrs")
    assert again == (1 << 24) | 1  # the same slot, the next generation
    assert not alloc.teids.is_used(first)  # the old TEID is not the new owner's
    alloc.teids.give(first)  # a stale release is refused
    assert alloc.teids.is_used(again)


def test_teid_generation_wraps_and_never_gives_teid_zero() -> None:
    alloc = make(teid_indices=2)  # one index
    seen = set()
    for _ in range(300):  # a session each, established and deleted
        txn = alloc.begin()
        teid = txn.teid("uplink_pdrs")
        assert teid != 0 and teid & 0xFFFFFF == 1
        seen.add(teid)
        txn.commit()
        release = alloc.begin()
        release.release_teid(teid)
        release.commit()
    assert len(seen) == 256


def test_an_aborted_transaction_leaves_the_pools_as_they_were() -> None:
    """Abort undoes the takes (no TEID generation spent, no reordering): the same values
    come next, whether they were fresh or from the free lists."""
    alloc = make(teid_indices=64)
    for reuse in (False, True):
        if reuse:  # free some of everything: the next takes come from the free lists
            held = alloc.begin()
            taken = [(held.teid("uplink_pdrs"), held.pdr_slot(), held.ue_v4("ims", "v4"))
                     for _ in range(2)]
            held.commit()
            release = alloc.begin()
            for teid, slot, ue in taken:
                release.release_teid(teid)
                release.release_pdr_slot(slot)
                release.release_ue_v4("ims", ue)
            release.commit()
        before = (alloc.teids.in_use(), alloc.pdr_slots.in_use())
        txn = alloc.begin()
        first = [(txn.teid("uplink_pdrs"), txn.pdr_slot(), txn.ue_v4("ims", "v4"))
                 for _ in range(1 if reuse else 2)]
        txn.abort()
        assert (alloc.teids.in_use(), alloc.pdr_slots.in_use()) == before
        again = alloc.begin()
        assert [(again.teid("uplink_pdrs"), again.pdr_slot(), again.ue_v4("ims", "v4"))
                for _ in first] == first
        again.abort()


def test_teid_skips_a_value_an_smf_holds() -> None:
    alloc = make(teid_indices=4)
    txn = alloc.begin()
    # An SMF chose TEID 1 for its own PDR (uplink_pdrs hash): we must not hand it out.
    assert txn.claim_key(("uplink_pdrs", (1).to_bytes(4, "big")), 9)
    teid = txn.teid("uplink_pdrs")
    assert teid != 1 and alloc.teids.is_used(teid)


def test_untake_from_the_free_list_puts_the_value_back_in_front() -> None:
    pool = slot_pool("slots", 4)  # slots 1..3
    taken = [pool.take() for _ in range(3)]
    pool.give(taken[0])
    pool.give(taken[2])
    value = pool.take()  # (the counter is spent: from the free list's front)
    assert value == taken[0]
    pool.untake(value)
    assert pool.in_use() == 1
    assert [pool.take(), pool.take()] == [taken[0], taken[2]]
