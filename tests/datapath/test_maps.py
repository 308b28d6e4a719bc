"""Typed map handles against real kernel maps (build/xdp/upf.o's, resized small)."""

from __future__ import annotations

import ctypes
import os
from collections.abc import Iterator

import pytest

from tests.datapath.dp_support import upf_object
from upf.datapath import abi, libbpf, stats
from upf.datapath.libbpf import BpfError, MapFullError
from upf.datapath.loader import Datapath, DatapathLimits
from upf.datapath.maps import ArrayMap, Map, PerCpuArrayMap, sum_values

pytestmark = [pytest.mark.root, pytest.mark.skipif(os.geteuid() != 0, reason="needs root")]

SESSIONS = 4096


@pytest.fixture(scope="module")
def dp() -> Iterator[Datapath]:
    limits = DatapathLimits(sessions=SESSIONS, pdrs=1024, fars=1024, qers=64, nexthops=64)
    with Datapath(upf_object(), limits=limits) as d:
        yield d


@pytest.fixture
def uplink(dp: Datapath) -> Iterator[Map[abi.TeidKey, abi.PdrSet]]:
    m = dp.uplink_pdrs
    yield m
    m.delete_batch(list(m))
    m._batch_ok = True


def pdr_set(teid: int) -> abi.PdrSet:
    s = abi.PdrSet(count=1)
    s.rules[0].pdr_slot = teid & 0xFFFF
    s.rules[0].far_slot = teid * 3 & 0xFFFF
    s.rules[0].ue_v4 = teid ^ 0x0A000000
    return s


def test_handles_are_typed(dp: Datapath) -> None:
    assert isinstance(dp.fars, ArrayMap) and dp.fars.value_type is abi.Far
    assert isinstance(dp.xdp_stats, PerCpuArrayMap)
    assert dp.uplink_pdrs.key_type is abi.TeidKey
    assert dp.uplink_pdrs.max_entries == SESSIONS


def test_single_set_get_delete(uplink: Map[abi.TeidKey, abi.PdrSet]) -> None:
    k = abi.TeidKey(0x12345678)
    assert uplink.get(k) is None
    uplink.set(k, pdr_set(7))
    got = uplink.get(k)
    assert got is not None and bytes(got) == bytes(pdr_set(7))
    assert k in uplink
    assert uplink.delete(k) is True
    assert uplink.delete(k) is False
    assert uplink.get(k) is None


def test_noexist_flag(uplink: Map[abi.TeidKey, abi.PdrSet]) -> None:
    k = abi.TeidKey(1)
    uplink.set(k, pdr_set(1), libbpf.BPF_NOEXIST)
    with pytest.raises(BpfError) as ei:
        uplink.set(k, pdr_set(2), libbpf.BPF_NOEXIST)
    assert ei.value.errno == 17  # EEXIST


@pytest.mark.parametrize("batched", [True, False])
def test_batch_round_trip(uplink: Map[abi.TeidKey, abi.PdrSet], batched: bool) -> None:
    uplink._batch_ok = batched  # False: the per-element fallback path
    items = [(abi.TeidKey(t), pdr_set(t)) for t in range(1, 3001)]
    uplink.update_batch(items)
    got = {k.teid: bytes(v) for k, v in uplink.items(chunk=500)}
    assert got == {k.teid: bytes(v) for k, v in items}
    assert sorted(k.teid for k in uplink) == list(range(1, 3001))
    # delete: absent keys in the middle are skipped, not fatal
    doomed = [abi.TeidKey(t) for t in (5, 999_999, 6, 7)]
    assert uplink.delete_batch(doomed) == 3
    assert uplink.get(abi.TeidKey(5)) is None and uplink.get(abi.TeidKey(8)) is not None


def test_update_arrays_in_place(uplink: Map[abi.TeidKey, abi.PdrSet]) -> None:
    keys, values = uplink.batch_arrays(100)
    for i in range(100):
        keys[i].teid = 1000 + i
        values[i].count = 1
        values[i].rules[0].far_slot = i
    uplink.update_arrays(keys, values, 100)
    v = uplink.get(abi.TeidKey(1042))
    assert v is not None and (v.count, v.rules[0].far_slot) == (1, 42)


def test_full_map_raises_map_full(uplink: Map[abi.TeidKey, abi.PdrSet]) -> None:
    items = [(abi.TeidKey(t), pdr_set(t)) for t in range(SESSIONS + 10)]
    with pytest.raises(MapFullError) as ei:
        uplink.update_batch(items)
    assert ei.value.done == SESSIONS
    with pytest.raises(MapFullError):
        uplink.set(abi.TeidKey(SESSIONS + 100), pdr_set(0))
    uplink.set(abi.TeidKey(0), pdr_set(1))  # replacing an existing key still works


def test_array_map(dp: Datapath) -> None:
    fars = dp.fars
    far = abi.Far(action=abi.ApplyAction.FORW, encap=abi.Encap.GTPU_IPV4, teid=0x01000000)
    fars.update_batch([(3, far), (4, far)])
    got = fars.get(3)
    assert got is not None and (got.action, got.teid) == (abi.ApplyAction.FORW, 0x01000000)
    assert fars.delete(3) is True  # zeroes the slot
    got = fars.get(3)
    assert got is not None and got.action == 0
    assert fars.delete_batch([4]) == 1
    assert fars.get(4).action == 0  # type: ignore[union-attr]
    assert fars.get(fars.max_entries) is None  # past the end
    with pytest.raises(MapFullError):  # E2BIG: index out of range
        fars.set(fars.max_entries, far)
    assert len(list(fars.items())) == fars.max_entries


def test_percpu_array(dp: Datapath) -> None:
    m = dp.pdr_stats
    ncpus = libbpf.num_possible_cpus()
    per_cpu = [abi.Counter(packets=c + 1, bytes=100 * (c + 1)) for c in range(ncpus)]
    m.set(9, per_cpu)
    got = m.get(9)
    assert got is not None and [(c.packets, c.bytes) for c in got] == [
        (c.packets, c.bytes) for c in per_cpu
    ]
    s = m.get_sum(9)
    assert s is not None and (s.packets, s.bytes) == (
        sum(range(1, ncpus + 1)),
        100 * sum(range(1, ncpus + 1)),
    )
    # The raw fast path (u64-only values, read at every deletion) sums the same.
    assert m.get_sum_raw(9) == bytes(s) and m._all_u64
    big = [abi.Counter(packets=2**64 - 1, bytes=c) for c in range(ncpus)]
    m.set(11, big)
    want = sum_values(abi.Counter, big)
    assert m.get_sum_raw(11) == bytes(want)
    assert stats.read_pdr_stats(m, [9, 10]) == {9: (s.packets, s.bytes), 10: (0, 0)}
    summed = dict(m.items_sum())
    assert summed[9].packets == s.packets and len(summed) == m.max_entries
    m.update_batch([(9, abi.Counter()), (10, abi.Counter(1, 1))])
    assert m.get_sum(9).packets == 0  # type: ignore[union-attr]
    s10 = m.get_sum(10)  # one V went to every CPU
    assert s10 is not None and s10.packets == ncpus


def test_xdp_stats_read(dp: Datapath) -> None:
    before = stats.read_xdp_stats(dp.xdp_stats).get((1, "PASS_NOT_IP"), (0, 0))
    for _ in range(3):
        assert dp.test_run(bytes(60))[0] == 2
    after = stats.read_xdp_stats(dp.xdp_stats)
    assert after[(1, "PASS_NOT_IP")] == (before[0] + 3, before[1] + 180)
    assert stats.xdp_stats_key(1, abi.Reason.PASS_NOT_IP) == 1 * 26 + 4


def test_size_mismatch_is_refused(dp: Datapath) -> None:
    with pytest.raises(BpfError, match="sizes"):
        Map(dp.fars.fd, ctypes.c_uint32, abi.Qer)


def test_sum_values() -> None:
    vals = [abi.Counter(1, 10), abi.Counter(2, 20)]
    s = sum_values(abi.Counter, vals)
    assert (s.packets, s.bytes) == (3, 30)
    assert sum_values(ctypes.c_uint64, [ctypes.c_uint64(4), ctypes.c_uint64(5)]).value == 9


def test_items_with_tiny_chunks(uplink: Map[abi.TeidKey, abi.PdrSet]) -> None:
    """A hash bucket with more entries than a chunk (ENOSPC) makes the chunk grow."""
    uplink.update_batch([(abi.TeidKey(t), pdr_set(t)) for t in range(2000)])
    assert sorted(k.teid for k, _ in uplink.items(chunk=1)) == list(range(2000))


@pytest.mark.parametrize("batched", [True, False])
def test_raw_round_trip(uplink: Map[abi.TeidKey, abi.PdrSet], batched: bool) -> None:
    """update_raw / delete_raw (packed bytes, what the agent writes) do what update_batch /
    delete_batch do, on the batch path and the per-element fallback."""
    uplink._batch_ok = batched
    teids = range(1, 301)
    keys = b"".join(bytes(abi.TeidKey(t)) for t in teids)
    values = b"".join(bytes(pdr_set(t)) for t in teids)
    uplink.update_raw(keys, values, len(teids))
    assert {k.teid: bytes(v) for k, v in uplink.items()} == {t: bytes(pdr_set(t)) for t in teids}
    doomed = [5, 999_999, 6, 300]  # an absent key in the middle is skipped, not fatal
    assert uplink.delete_raw(b"".join(bytes(abi.TeidKey(t)) for t in doomed), 4) == 3
    assert sorted(k.teid for k in uplink) == [t for t in teids if t not in (5, 6, 300)]


def test_raw_writes_make_no_ctypes_types(dp: Datapath) -> None:
    """Batches of ever new lengths through KernelMaps leave no cyclic garbage: ctypes makes
    a new array type per length (about 30 us each) and keeps it only while an array of it
    lives, so the agent's writes must not make arrays (the GC would collect a type per
    batch length and the next batch of that length would make it again)."""
    import gc

    from control.kernel import KernelMaps

    writer = KernelMaps(dp.maps)
    m = dp.uplink_pdrs
    gc.collect()
    gc.disable()
    try:
        before = len(gc.get_objects())
        for n in range(1, 40):
            keys = [bytes(abi.TeidKey(0x5000 + i)) for i in range(n)]
            writer.update_batch("uplink_pdrs", keys, [bytes(pdr_set(i)) for i in range(n)])
            writer.delete_batch("uplink_pdrs", keys)
            slots = [bytes(ctypes.c_uint32(i)) for i in range(n)]
            writer.update_batch("pdr_stats", slots, [bytes(16)] * n)
        made = len(gc.get_objects()) - before
        assert gc.collect() == 0
    finally:
        gc.enable()
    assert made < 20  # (a type per length would be 39 types and their dicts and tuples)
    assert list(m) == []


def test_array_delete_raw_zeroes(dp: Datapath) -> None:
    fars = dp.fars
    fars.set(7, abi.Far(action=2, teid=99))
    assert fars.delete_raw(bytes(ctypes.c_uint32(7)), 1) == 1
    got = fars.get(7)
    assert got is not None and bytes(got) == bytes(abi.Far())
