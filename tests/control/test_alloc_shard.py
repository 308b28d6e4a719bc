"""Sharded allocation: N allocators (one per N4 worker) over the same maps never hand out
the same TEID, slot, UE address or prefix, and together cover every pool."""

from __future__ import annotations

import contextlib
import ipaddress
import logging
import os
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from control.alloc import (
    Allocator,
    AllocConfig,
    EndpointConfig,
    Pool,
    SlotPool,
    TeidPool,
    UePoolConfig,
    v4_pool,
    v6_prefix_pool,
)
from control.errors import ResourceExhausted

V4 = ipaddress.IPv4Network("10.45.0.0/28")  # 14 hosts
V4_IMS = ipaddress.IPv4Network("10.46.0.0/29")  # 6 hosts
V6 = ipaddress.IPv6Network("2001:db8::/60")  # 16 /64s
HOSTS = list(V4.hosts())
HOSTS_IMS = list(V4_IMS.hosts())
PREFIXES = list(V6.subnets(new_prefix=64))
SLOTS = {"pdr_slots": 23, "far_slots": 17, "qer_slots": 11}
TEID_INDICES = 29
COUNTS = (2, 3, 4)


def config(shard: tuple[int, int], **kw: Any) -> AllocConfig:
    kw = {**SLOTS, "teid_indices": TEID_INDICES, **kw}
    return AllocConfig(
        endpoints=(EndpointConfig(0, ipaddress.IPv4Address("192.0.2.1")),),
        ue_pools=(UePoolConfig(None, V4, V6), UePoolConfig("ims", V4_IMS)),
        shard=shard, **kw)


def drain(take: Callable[[], Any]) -> list[Any]:
    out = []
    while True:
        try:
            out.append(take())
        except ResourceExhausted:
            return out


def drain_all(alloc: Allocator) -> dict[str, list[Any]]:
    """Every value of every pool, in the order the allocator hands them out."""
    txn = alloc.begin()
    out = {
        "teid": drain(lambda: txn.teid("uplink_pdrs")),
        "pdr_slots": drain(txn.pdr_slot),
        "far_slots": drain(txn.far_slot),
        "qer_slots": drain(txn.qer_slot),
        "v4": drain(lambda: txn.ue_v4(None, "downlink_pdrs_v4")),
        "v4 ims": drain(lambda: txn.ue_v4("ims", "downlink_pdrs_v4")),
        "v6": drain(lambda: txn.ue_v6(None, "downlink_pdrs_v6")),
    }
    txn.commit()
    return out


def stride(k: int, count: int, size: int) -> list[int]:
    """The slot indices of shard k, stated independently of the code: 1 .. size-1, i % count == k."""
    return [i for i in range(1, size) if i % count == k]


@pytest.mark.parametrize("count", COUNTS)
def test_each_shard_takes_exactly_its_stride(count: int) -> None:
    for k in range(count):
        got = drain_all(Allocator(config((k, count))))
        assert got["teid"] == stride(k, count, TEID_INDICES)  # generation 0: TEID == index
        for name, size in SLOTS.items():
            assert got[name] == stride(k, count, size), name
        assert got["v4"] == HOSTS[k::count]
        assert got["v4 ims"] == HOSTS_IMS[k::count]
        assert got["v6"] == PREFIXES[k::count]


@pytest.mark.parametrize("count", COUNTS)
def test_skipping_a_teid_an_smf_holds_keeps_the_stride(count: int) -> None:
    for k in range(count):
        alloc = Allocator(config((k, count)))
        first, *rest = stride(k, count, TEID_INDICES)
        pre = alloc.begin()  # an SMF chose our first TEID: the search path takes over
        assert pre.claim_key(("uplink_pdrs", first.to_bytes(4, "big")), 9)
        pre.commit()
        assert drain_all(alloc)["teid"] == [1 << 24 | first, *rest]


@pytest.mark.parametrize("count", COUNTS)
def test_shards_are_disjoint_and_cover_every_pool(count: int) -> None:
    shards = [drain_all(Allocator(config((k, count)))) for k in range(count)]
    whole = {
        "teid": set(range(1, TEID_INDICES)),
        **{name: set(range(1, size)) for name, size in SLOTS.items()},
        "v4": set(HOSTS), "v4 ims": set(HOSTS_IMS), "v6": set(PREFIXES),
    }
    for name, pool in whole.items():
        values = [v for shard in shards for v in shard[name]]
        assert len(values) == len(set(values)), f"{name}: shards overlap"
        assert set(values) == pool, f"{name}: shards do not cover the pool"
        sizes = [len(shard[name]) for shard in shards]
        assert max(sizes) - min(sizes) <= 1, f"{name}: uneven shares {sizes}"


@pytest.mark.parametrize("count", COUNTS)
def test_teids_stay_disjoint_across_generations(count: int) -> None:
    # count + 1 indices: 1 .. count, one per shard (shard 0 gets index count).
    seen: list[set[int]] = []
    for k in range(count):
        alloc = Allocator(config((k, count), teid_indices=count + 1))
        own = set()
        for _ in range(300):  # past the generation wrap: sessions established and deleted
            txn = alloc.begin()
            teid = txn.teid("uplink_pdrs")
            assert teid & 0xFFFFFF == (k or count)
            own.add(teid)
            txn.commit()
            release = alloc.begin()
            release.release_teid(teid)
            release.commit()
        assert len(own) == 256  # every generation of the shard's one index
        seen.append(own)
    union = set().union(*seen)
    assert len(union) == sum(map(len, seen))
    assert union == {gen << 24 | i for gen in range(256) for i in range(1, count + 1)}


@pytest.mark.parametrize("count", COUNTS)
def test_release_and_reuse_stay_in_the_shard(count: int) -> None:
    for k in range(count):
        alloc = Allocator(config((k, count)))
        got = drain_all(alloc)
        rel = alloc.begin()
        teids = got["teid"][:2]
        for teid in teids:
            rel.release_teid(teid)
        rel.release_slots(got["pdr_slots"][-1:], got["far_slots"][:1], got["qer_slots"][:1])
        rel.release_ue_v4(None, got["v4"][0])
        rel.release_ue_v6(None, got["v6"][-1])
        rel.commit()
        # Exactly the released values come back (FIFO), TEIDs with the next generation.
        again = drain_all(alloc)
        assert again["teid"] == [1 << 24 | t for t in teids]
        assert again["pdr_slots"] == got["pdr_slots"][-1:]
        assert again["far_slots"] == got["far_slots"][:1]
        assert again["qer_slots"] == got["qer_slots"][:1]
        assert again["v4"] == got["v4"][:1]
        assert again["v6"] == got["v6"][-1:]
        assert again["v4 ims"] == []
        for teid in again["teid"]:
            assert (teid & 0xFFFFFF) % count == k


@pytest.mark.parametrize("count", COUNTS)
def test_a_value_of_another_shard_is_refused(count: int, caplog: pytest.LogCaptureFixture
                                              ) -> None:
    mine, other = Allocator(config((0, count))), Allocator(config((1, count)))
    txn = mine.begin()
    taken = (txn.teid("uplink_pdrs"), txn.pdr_slot(), txn.ue_v4(None, "downlink_pdrs_v4"),
             txn.ue_v6(None, "downlink_pdrs_v6"))
    txn.commit()
    theirs = drain_all(other)
    pools: list[tuple[Pool[Any], str]] = [
        (mine.teids, "teid"), (mine.pdr_slots, "pdr_slots"), (mine.ue_v4[None], "v4"),
        (mine.ue_v6[None], "v6")]
    caplog.set_level(logging.ERROR, logger="upf.control.alloc")
    for pool, name in pools:
        for value in theirs[name]:
            caplog.clear()
            pool.give(value)
            assert "not allocated" in caplog.text, (name, value)
            assert not pool.is_used(value)
        assert pool.in_use() == 1, name
    # Nothing of theirs entered our pools: we still hand out our own values, then nothing.
    rest = drain_all(mine)
    assert [taken[0], *rest["teid"]] == stride(0, count, TEID_INDICES)
    assert [taken[1], *rest["pdr_slots"]] == stride(0, count, SLOTS["pdr_slots"])
    assert [taken[2], *rest["v4"]] == HOSTS[::count]
    assert [taken[3], *rest["v6"]] == PREFIXES[::count]
    # The deferred releases skip a value that is not ours.
    rel = mine.begin()
    rel.release_teid(theirs["teid"][0])
    rel.release_ue_v4(None, theirs["v4"][0])
    rel.commit()
    assert drain_all(mine)["teid"] == []


def test_default_shard_is_the_whole_pool() -> None:
    assert AllocConfig(endpoints=()).shard == (0, 1)
    got = drain_all(Allocator(config((0, 1))))
    assert got["teid"] == list(range(1, TEID_INDICES))
    assert got["pdr_slots"] == list(range(1, SLOTS["pdr_slots"]))
    assert (got["v4"], got["v6"]) == (HOSTS, PREFIXES)


@pytest.mark.parametrize("shard", [(1, 1), (2, 2), (-1, 2), (0, 0), (1, 0), (0, -1), (0,),
                                   (0, 1, 2), [0, 1], (0.0, 1), ("0", "1"), None])
def test_invalid_shard_is_refused(shard: Any) -> None:
    with pytest.raises(ValueError, match="shard"):
        config(shard)
    with pytest.raises(ValueError, match="shard"):
        SlotPool("p", 10, 1, shard)
    with pytest.raises(ValueError, match="shard"):
        TeidPool(10, shard)
    with pytest.raises(ValueError, match="shard"):
        v4_pool("p", V4, shard)
    with pytest.raises(ValueError, match="shard"):
        v6_prefix_pool("p", V6, shard)


# --- property: random take/give on 2-3 shards --------------------------------------

POOLS = ("teid", "pdr", "v4", "v6")
ops = st.lists(st.tuples(st.integers(0, 2),  # shard
                         st.sampled_from(POOLS),
                         st.sampled_from(("take", "take", "give", "give foreign")),
                         st.integers(0, 50)),  # which live value
               max_size=80)


def pool_of(alloc: Allocator, name: str) -> Pool[Any]:
    pools: dict[str, Pool[Any]] = {"teid": alloc.teids, "pdr": alloc.pdr_slots,
                                   "v4": alloc.ue_v4[None], "v6": alloc.ue_v6[None]}
    return pools[name]


def slot_of(name: str, value: Any) -> Any:
    """What must differ between shards: the map slot or key a value stands for."""
    return value & 0xFFFFFF if name == "teid" else value


@settings(max_examples=int(os.environ.get("CONTROL_EXAMPLES", "100")), deadline=None)
@given(st.integers(2, 3), ops)
def test_random_take_give_never_overlaps(count: int, steps: list[tuple[int, str, str, int]]
                                         ) -> None:
    # Small pools: exhaustion and reuse (and TEID generations) happen within a run.
    allocs = [Allocator(config((k, count), pdr_slots=13, teid_indices=11))
              for k in range(count)]
    live: list[dict[str, list[Any]]] = [{name: [] for name in POOLS} for _ in range(count)]
    for shard, name, action, pick in steps:
        k = shard % count
        pool = pool_of(allocs[k], name)
        if action == "take":
            with contextlib.suppress(ResourceExhausted):
                live[k][name].append(pool.take())
        elif action == "give" and live[k][name]:
            pool.give(live[k][name].pop(pick % len(live[k][name])))
        elif action == "give foreign":
            j = (k + 1 + pick) % count
            if j != k and live[j][name]:
                pool.give(live[j][name][pick % len(live[j][name])])  # refused, logged
        for name_ in POOLS:
            seen: set[Any] = set()
            for j in range(count):
                values = live[j][name_]
                slots = {slot_of(name_, v) for v in values}
                assert not slots & seen, f"{name_}: shards overlap"
                seen |= slots
                own = pool_of(allocs[j], name_)
                assert own.in_use() == len(values)
                assert all(own.is_used(v) for v in values)
                if name_ in ("teid", "pdr"):
                    assert all(s % count == j for s in slots) and 0 not in slots
                else:
                    whole = HOSTS if name_ == "v4" else PREFIXES
                    assert all(whole.index(v) % count == j for v in values)
