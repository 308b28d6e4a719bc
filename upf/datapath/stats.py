"""Read the fast path's counters: xdp_stats (per interface slot x reason) and pdr_stats.

Both maps are per-CPU arrays of struct counter; the values here are summed over CPUs.

    read_xdp_stats(dp.xdp_stats)        -> {(slot, "DROP_UNKNOWN_TEID"): (packets, bytes)}
    read_pdr_stats(dp.pdr_stats, slots) -> {slot: (packets, bytes)}
    iface_slot(ifindex)                 -> the slot an interface's counters live in
"""

from __future__ import annotations

import ctypes
from collections.abc import Iterable
from typing import Final

from upf.datapath import abi, libbpf
from upf.datapath.maps import PerCpuArrayMap

__all__ = ["iface_slot", "read_pdr_stats", "read_xdp_stats", "xdp_stats_key"]

REASON_MAX: Final = int(abi.Reason.REASON_MAX)
MAX_IFACES: Final = int(abi.Limits.MAX_IFACES)
_REASON_NAMES: Final = {int(r): r.name for r in abi.Reason if r != abi.Reason.REASON_MAX}


def iface_slot(ifindex: int) -> int:
    """The xdp_stats slot of an ingress interface (ifindex & (UPF_MAX_IFACES - 1))."""
    return ifindex & (MAX_IFACES - 1)


def xdp_stats_key(ifindex: int, reason: abi.Reason) -> int:
    return iface_slot(ifindex) * REASON_MAX + int(reason)


def _sum_cpus(words: memoryview, base: int, ncpus: int, stride_words: int) -> tuple[int, int]:
    packets = bytes_ = 0
    for c in range(ncpus):
        i = base + c * stride_words
        packets += words[i]
        bytes_ += words[i + 1]
    return packets, bytes_


def read_xdp_stats(
    m: PerCpuArrayMap[abi.Counter], *, include_zero: bool = False
) -> dict[tuple[int, str], tuple[int, int]]:
    """{(interface slot, reason name): (packets, bytes)} summed over CPUs; one batch read."""
    buf, n = m.read_raw()
    ncpus, stride_words = m.ncpus, m.stride // 8
    words = memoryview(buf).cast("B").cast("Q")
    out: dict[tuple[int, str], tuple[int, int]] = {}
    per_key = ncpus * stride_words
    for key in range(n):
        name = _REASON_NAMES.get(key % REASON_MAX)
        if name is None:
            continue
        val = _sum_cpus(words, key * per_key, ncpus, stride_words)
        if include_zero or val != (0, 0):
            out[(key // REASON_MAX, name)] = val
    return out


def read_pdr_stats(
    m: PerCpuArrayMap[abi.Counter], slots: Iterable[int]
) -> dict[int, tuple[int, int]]:
    """{pdr_slot: (packets, bytes)} summed over CPUs, one lookup per slot."""
    ncpus, stride_words = m.ncpus, m.stride // 8
    buf = (ctypes.c_uint64 * (ncpus * stride_words))()
    words = memoryview(buf).cast("B").cast("Q")
    key = ctypes.c_uint32()
    out: dict[int, tuple[int, int]] = {}
    for slot in slots:
        key.value = slot
        if libbpf.map_lookup_elem(m.fd, key, buf):
            out[slot] = _sum_cpus(words, 0, ncpus, stride_words)
    return out
