"""benchmarks/sessions.py packs map entries with `struct` for speed: check the bytes
against the ctypes mirror of upf_shared.h (no kernel needed)."""

from __future__ import annotations

import ctypes
import ipaddress
from typing import Any

from benchmarks.sessions import SessionPlan, UpfMaps, be32, program_sessions
from upf.datapath import abi


class FakeMap:
    """Records update_arrays() calls; batch_arrays() like maps.Map."""

    def __init__(self, key_t: Any, value_t: Any) -> None:
        self.key_t, self.value_t = key_t, value_t
        self.entries: dict[bytes, bytes] = {}

    def batch_arrays(self, n: int) -> tuple[Any, Any]:
        return (self.key_t * n)(), (self.value_t * n)()

    def update_arrays(self, keys: Any, values: Any, n: int) -> None:
        for i in range(n):
            k = keys[i]
            self.entries[bytes(ctypes.c_uint32(k) if isinstance(k, int) else k)] = bytes(values[i])

    def set(self, key: Any, value: Any) -> None:
        self.entries[bytes(key)] = bytes(value)


def _maps() -> tuple[UpfMaps, dict[str, FakeMap]]:
    fakes = {
        "uplink_pdrs": FakeMap(abi.TeidKey, abi.PdrSet),
        "downlink_pdrs_v4": FakeMap(abi.UeV4Key, abi.PdrSet),
        "fars": FakeMap(ctypes.c_uint32, abi.Far),
        "local_addrs": FakeMap(abi.LocalAddrKey, abi.LocalAddr),
    }
    maps: Any = UpfMaps(
        uplink_pdrs=fakes["uplink_pdrs"],  # type: ignore[arg-type]
        downlink_pdrs_v4=fakes["downlink_pdrs_v4"],  # type: ignore[arg-type]
        fars=fakes["fars"],  # type: ignore[arg-type]
        qers=None,  # type: ignore[arg-type]
        local_addrs=fakes["local_addrs"],  # type: ignore[arg-type]
        nh_cache=None,  # type: ignore[arg-type]
        runtime=None,  # type: ignore[arg-type]
        pdr_stats=None,  # type: ignore[arg-type]
        xdp_stats=None,  # type: ignore[arg-type]
    )
    return maps, fakes


def test_packed_entries_match_the_ctypes_mirror() -> None:
    plan = SessionPlan(count=3)
    maps, fakes = _maps()
    program_sessions(maps, plan)
    i = 2
    ue = ipaddress.IPv4Address(plan.ue(i))

    key = abi.TeidKey(teid=be32(plan.teid(i)))
    ul = abi.PdrSet.from_buffer_copy(fakes["uplink_pdrs"].entries[bytes(key)])
    r = ul.rules[0]
    assert ul.count == 1
    assert (r.pdr_slot, r.far_slot, r.qer_slot, r.pdr_id) == (5, 5, 0, 1)
    assert r.flags == abi.PdrFlags.MATCH_UE_V4 | abi.PdrFlags.MATCH_QFI
    assert (r.qfi, r.ohr, r.sdf_id) == (plan.qfi, abi.Ohr.GTPU_UDP_IPV4, 0)
    assert r.ue_v4.to_bytes(4, "little") == ue.packed

    dkey = abi.UeV4Key(addr=be32(str(ue)))
    dl = abi.PdrSet.from_buffer_copy(fakes["downlink_pdrs_v4"].entries[bytes(dkey)])
    r = dl.rules[0]
    assert (dl.count, r.pdr_slot, r.far_slot, r.flags, r.qfi, r.ohr) == (
        1,
        6,
        6,
        abi.PdrFlags.SET_QFI,
        plan.qfi,
        abi.Ohr.NONE,
    )

    far = abi.Far.from_buffer_copy(fakes["fars"].entries[bytes(ctypes.c_uint32(6))])
    assert (far.action, far.encap, far.dst_iface) == (
        abi.ApplyAction.FORW,
        abi.Encap.GTPU_IPV4,
        abi.Iface.ACCESS,
    )
    assert far.teid.to_bytes(4, "little") == plan.gnb_teid(i).to_bytes(4, "big")
    assert far.peer_v4.to_bytes(4, "little") == ipaddress.IPv4Address(plan.gnb_addr).packed
    assert far.local_v4.to_bytes(4, "little") == ipaddress.IPv4Address(plan.n3_addr).packed
    far_ul = abi.Far.from_buffer_copy(fakes["fars"].entries[bytes(ctypes.c_uint32(5))])
    assert (far_ul.action, far_ul.encap, far_ul.dst_iface) == (
        abi.ApplyAction.FORW,
        abi.Encap.NONE,
        abi.Iface.CORE,
    )
    assert len(fakes["uplink_pdrs"].entries) == len(fakes["downlink_pdrs_v4"].entries) == 3
    assert len(fakes["fars"].entries) == 6
    assert len(fakes["local_addrs"].entries) == 1
