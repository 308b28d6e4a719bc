"""Synthetic PDU sessions written straight into the UPF maps (no PFCP agent involved).

Session i (0-based) of a `SessionPlan`:
  - uplink PDR:   1 rule, pdr_slot 2i+1, far_slot 2i+1, match UE source + QFI,
                  OHR GTP-U/UDP/IPv4; by default on a TEID the UPF allocated (F-TEID
                  CHOOSE): teid(i) = TEID_GEN << 24 | (i + 1), written to
                  uplink_by_teid[i + 1] (the array path); with smf_teids=True on a TEID
                  the SMF allocated, teid_base + i, written to the uplink_pdrs hash;
  - downlink PDR: downlink_pdrs_v4[ue(i)] = 1 rule, pdr_slot 2i+2, far_slot 2i+2,
                  mark QFI (PDU Session Container);
  - FAR 2i+1: FORW, no encap, to N6;  FAR 2i+2: FORW, GTP-U to the gNB, TEID gnb_teid(i).

Entries are built as u32 word arrays (a `struct`-packed template per kind of entry,
repeated, per-session fields set by strided slice assignment: no Python loop per
session) and written with the typed handles' batch calls (`Map.update_arrays`), a
chunk at a time: the kernel's ~0.6 us per entry is most of the cost.
"""

from __future__ import annotations

import ctypes
import ipaddress
import struct
import sys
from array import array
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Final

from upf.datapath import abi
from upf.datapath.loader import Datapath, DatapathLimits
from upf.datapath.maps import ArrayMap, Map, PerCpuArrayMap

CHUNK: Final = 65536

# struct pdr_rule and struct far, little-endian host fields, __be32 fields as raw bytes.
_RULE: Final = struct.Struct("<IIIIHBBBB2x4s8x")
_SET_HEAD: Final = struct.Struct("<I4s")  # count, teid (network order)
_FAR: Final = struct.Struct("<HBBB3x4s4s4s")
assert _RULE.size == ctypes.sizeof(abi.PdrRule)
assert _FAR.size == ctypes.sizeof(abi.Far)
_SET_SIZE: Final = ctypes.sizeof(abi.PdrSet)


def be32(addr: str | int) -> int:
    """An IPv4 address (or a u32) as the c_uint32 whose memory holds it in network order."""
    packed = ipaddress.IPv4Address(addr).packed
    return int.from_bytes(packed, "little")


@dataclass(frozen=True, slots=True)
class SessionPlan:
    """How synthetic sessions are numbered and where their tunnels go."""

    count: int
    n3_addr: str = "10.200.3.1"
    gnb_addr: str = "10.200.3.2"
    ue_base: str = "10.64.0.1"  # 10.64.0.0/10 holds 4M UEs
    teid_base: int = 0x00010000  # SMF-allocated uplink TEIDs (smf_teids): teid_base + i
    gnb_teid_base: int = 0x40000000  # the gNB's downlink TEIDs: gnb_teid_base + i
    qfi: int = 9
    smf_teids: bool = False  # uplink TEIDs from the SMF (hash path), not ours (array path)
    teid_gen: int = 1  # generation of our TEIDs (upper 8 bits)

    def teid(self, i: int) -> int:
        """Our uplink TEID of session i: generation << 24 | array index i + 1."""
        if self.smf_teids:
            return self.teid_base + i
        return (self.teid_gen << abi.Limits.TEID_INDEX_BITS) | self.teid_index(i)

    def teid_index(self, i: int) -> int:
        """uplink_by_teid slot of session i (slot 0 is never used)."""
        if not 0 <= i < (1 << abi.Limits.TEID_INDEX_BITS) - 1:
            raise ValueError(f"session {i}: no TEID index for it")
        return i + 1

    def gnb_teid(self, i: int) -> int:
        return self.gnb_teid_base + i

    def ue(self, i: int) -> str:
        return str(ipaddress.IPv4Address(self.ue_base) + i)

    def ul_far(self, i: int) -> int:
        return 2 * i + 1

    def dl_far(self, i: int) -> int:
        return 2 * i + 2

    @property
    def slots(self) -> int:
        """FAR and PDR-counter slots needed (slot 0 unused)."""
        return 2 * self.count + 2


@dataclass(frozen=True, slots=True)
class UpfMaps:
    """Typed handles on the UPF object's maps (fds owned by the object)."""

    uplink_pdrs: Map[abi.TeidKey, abi.PdrSet]
    downlink_pdrs_v4: Map[abi.UeV4Key, abi.PdrSet]
    fars: ArrayMap[abi.Far]
    qers: ArrayMap[abi.Qer]
    local_addrs: Map[abi.LocalAddrKey, abi.LocalAddr]
    nh_cache: Map[abi.NhKey, abi.NhEntry]
    runtime: ArrayMap[abi.Runtime]
    pdr_stats: PerCpuArrayMap[abi.Counter]
    xdp_stats: PerCpuArrayMap[abi.Counter]
    uplink_by_teid: ArrayMap[abi.PdrSet] | None = None  # None: an object without it

    @classmethod
    def from_datapath(cls, dp: Datapath) -> UpfMaps:
        return cls(
            uplink_pdrs=dp.uplink_pdrs,
            downlink_pdrs_v4=dp.downlink_pdrs_v4,
            fars=dp.fars,
            qers=dp.qers,
            local_addrs=dp.local_addrs,
            nh_cache=dp.nh_cache,
            runtime=dp.runtime,
            pdr_stats=dp.pdr_stats,
            xdp_stats=dp.xdp_stats,
            uplink_by_teid=_array_or_none(dp, "uplink_by_teid"),
        )

    def reason_count(self, ifindex: int, reason: abi.Reason) -> int:
        """Packets counted in xdp_stats for (ingress ifindex, reason)."""
        key = (ifindex & (abi.Limits.MAX_IFACES - 1)) * abi.Reason.REASON_MAX + reason
        c = self.xdp_stats.get_sum(key)
        return 0 if c is None else int(c.packets)

    def reasons(self, ifindex: int) -> dict[str, int]:
        """Every non-zero reason counter of one interface, by name."""
        out: dict[str, int] = {}
        for r in abi.Reason:
            if r is abi.Reason.REASON_MAX:
                continue
            n = self.reason_count(ifindex, r)
            if n:
                out[r.name] = n
        return out

    def bump_nh_gen(self) -> int:
        """Invalidate every nh_cache entry (what the netlink watcher does)."""
        cur = self.runtime.get(0)
        rt = abi.Runtime()
        rt.nh_gen = (0 if cur is None else cur.nh_gen) + 1
        self.runtime.set(0, rt)
        return int(rt.nh_gen)


def _array_or_none(dp: Datapath, name: str) -> ArrayMap[Any] | None:
    m = dp.maps.get(name)
    return m if isinstance(m, ArrayMap) else None


def limits_for(plan: SessionPlan) -> DatapathLimits:
    """Map sizes with room for the plan's sessions (at least 1024 of everything;
    the loader adds the unused slot 0 of uplink_by_teid itself)."""
    n = max(plan.count + 1, 1024)
    slots = max(plan.slots, 1024)
    return DatapathLimits(sessions=n, pdrs=slots, fars=slots, qers=1024)


def _chunks(n: int) -> Iterator[tuple[int, int]]:
    for start in range(0, n, CHUNK):
        yield start, min(n, start + CHUNK)


def _rule(slot: int, flags: int, qfi: int, ohr: int, ue: bytes) -> bytes:
    return _RULE.pack(slot, slot, 0, 100, 1, flags, qfi, ohr, 0, ue)


def program_local(maps: UpfMaps, n3_addr: str) -> None:
    key = abi.LocalAddrKey()
    key.addr = be32(n3_addr)
    val = abi.LocalAddr()
    val.iface = abi.Iface.ACCESS
    maps.local_addrs.set(key, val)


def _words(data: bytes) -> array[int]:
    if len(data) % 4:
        raise ValueError("not a whole number of u32 words")
    out = array("I")
    out.frombytes(data)
    return out


def _be(values: range) -> array[int]:
    """u32 words holding each value in network byte order (as __be32 fields do)."""
    out = array("I", values)
    if sys.byteorder == "little":
        out.byteswap()
    return out


def program_sessions(maps: UpfMaps, plan: SessionPlan) -> None:
    """Write every session of the plan (batched), plus our N3 address in local_addrs.

    Uplink PDRs go to uplink_by_teid (slot teid_index(i), pdr_set.teid = teid(i)) unless
    the plan has SMF-allocated TEIDs or the object has no such map: then to uplink_pdrs.

    Entries are built as u32 word arrays: one packed template per kind of entry,
    repeated, then the per-session fields written with strided slice assignment.
    """
    program_local(maps, plan.n3_addr)
    by_index = maps.uplink_by_teid if not plan.smf_teids else None
    ue0 = int(ipaddress.IPv4Address(plan.ue_base))
    n3 = ipaddress.IPv4Address(plan.n3_addr).packed
    gnb = ipaddress.IPv4Address(plan.gnb_addr).packed
    ul_flags = abi.PdrFlags.MATCH_UE_V4 | abi.PdrFlags.MATCH_QFI
    pad = bytes(_SET_SIZE - _SET_HEAD.size - _RULE.size)
    ul_set = _words(
        _SET_HEAD.pack(1, bytes(4))
        + _rule(0, ul_flags, plan.qfi, abi.Ohr.GTPU_UDP_IPV4, bytes(4))
        + pad
    )
    dl_set = _words(
        _SET_HEAD.pack(1, bytes(4))
        + _rule(0, abi.PdrFlags.SET_QFI, plan.qfi, abi.Ohr.NONE, bytes(4))
        + pad
    )
    forw = int(abi.ApplyAction.FORW)
    far_pair = _words(
        _FAR.pack(forw, abi.Encap.NONE, 0, abi.Iface.CORE, bytes(4), bytes(4), bytes(4))
        + _FAR.pack(forw, abi.Encap.GTPU_IPV4, 0, abi.Iface.ACCESS, bytes(4), gnb, n3)
    )
    set_w, far_w = len(ul_set), len(far_pair) // 2  # words per entry: 38, 5
    # word offsets inside an entry (struct pdr_set / struct far)
    set_teid_w, slot_w, far_slot_w, ue_w, teid_w = 1, 2, 3, 8, 2
    for start, end in _chunks(plan.count):
        n = end - start
        ul_slots = range(2 * start + 1, 2 * end + 1, 2)
        dl_slots = range(2 * start + 2, 2 * end + 2, 2)
        ues = _be(range(ue0 + start, ue0 + end))

        ul_teids = _be(range(plan.teid(start), plan.teid(end - 1) + 1))
        ul_vals = ul_set * n
        ul_vals[slot_w::set_w] = array("I", ul_slots)
        ul_vals[far_slot_w::set_w] = array("I", ul_slots)
        ul_vals[ue_w::set_w] = ues

        dl_vals = dl_set * n
        dl_vals[slot_w::set_w] = array("I", dl_slots)
        dl_vals[far_slot_w::set_w] = array("I", dl_slots)
        dl_vals[ue_w::set_w] = ues

        far_keys = array("I", bytes(8 * n))
        far_keys[0::2] = array("I", ul_slots)
        far_keys[1::2] = array("I", dl_slots)
        far_vals = far_pair * n
        far_vals[far_w + teid_w :: 2 * far_w] = _be(range(plan.gnb_teid(start), plan.gnb_teid(end)))

        maps.fars.update_arrays(
            _ctypes(ctypes.c_uint32, far_keys, 2 * n), _ctypes(abi.Far, far_vals, 2 * n), 2 * n
        )
        if by_index is not None:
            ul_vals[set_teid_w::set_w] = ul_teids
            ul_idx = array("I", range(plan.teid_index(start), plan.teid_index(end - 1) + 1))
            by_index.update_arrays(
                _ctypes(ctypes.c_uint32, ul_idx, n), _ctypes(abi.PdrSet, ul_vals, n), n
            )
        else:
            maps.uplink_pdrs.update_arrays(
                _ctypes(abi.TeidKey, ul_teids, n), _ctypes(abi.PdrSet, ul_vals, n), n
            )
        maps.downlink_pdrs_v4.update_arrays(
            _ctypes(abi.UeV4Key, ues, n), _ctypes(abi.PdrSet, dl_vals, n), n
        )


def _ctypes(t: Any, words: array[int], n: int) -> ctypes.Array[Any]:
    """The words as a ctypes array of n `t` (shares the memory)."""
    if len(words) * 4 != ctypes.sizeof(t) * n:
        raise ValueError(f"{len(words) * 4} bytes for {n} x {t.__name__}")
    arr: ctypes.Array[Any] = (t * n).from_buffer(words)
    return arr


assert array("I").itemsize == 4
