"""control/layout.py packs exactly what the BTF-generated mirror (upf/datapath/abi.py) says."""

from __future__ import annotations

import ctypes
import ipaddress

import pytest

from control import layout
from control.layout import Encap, Far, Iface, Ohr, PdrFlags, PdrRule, PdrSet, Qer

abi = pytest.importorskip("upf.datapath.abi")


def test_sizes_match_btf() -> None:
    assert ctypes.sizeof(abi.PdrRule) == layout.PDR_RULE_SIZE
    assert ctypes.sizeof(abi.PdrSet) == layout.PDR_SET_SIZE
    assert ctypes.sizeof(abi.Far) == layout.FAR_SIZE
    assert ctypes.sizeof(abi.Qer) == layout.QER_SIZE
    assert ctypes.sizeof(abi.Counter) == layout.COUNTER_SIZE
    assert layout.RULES_PER_KEY == abi.Limits.RULES_PER_KEY


def test_map_names_exist_in_object() -> None:
    for name in layout.MapName:
        assert name in abi.MAPS
    assert abi.MAPS["fars"].value is abi.Far
    assert abi.MAPS["uplink_pdrs"].value is abi.PdrSet


def test_enums_match_btf() -> None:
    assert {m.name: int(m) for m in layout.PdrFlags} == {m.name: int(m) for m in abi.PdrFlags}
    assert {m.name: int(m) for m in layout.Encap} == {m.name: int(m) for m in abi.Encap}
    assert {m.name: int(m) for m in layout.Iface} == {m.name: int(m) for m in abi.Iface}
    for m in layout.ApplyActionBits:
        assert int(abi.ApplyAction[m.name]) == int(m)


def test_pdr_set_fields_land_where_btf_says() -> None:
    rule = PdrRule(
        pdr_slot=7, far_slot=9, qer_slot=3, precedence=255, pdr_id=0x1234,
        flags=PdrFlags.MATCH_UE_V4 | PdrFlags.MATCH_QFI, qfi=9, ohr=Ohr.GTPU_UDP_IP,
        ue_v4=ipaddress.IPv4Address("10.45.0.2"), ue_v6_prefix=bytes(range(8)),
    )
    raw = PdrSet((rule,)).pack()
    mirror = abi.PdrSet.from_buffer_copy(raw)
    r = mirror.rules[0]
    assert mirror.count == 1
    assert (r.pdr_slot, r.far_slot, r.qer_slot, r.precedence, r.pdr_id) == (7, 9, 3, 255, 0x1234)
    assert (r.flags, r.qfi, r.ohr) == (5, 9, 6)
    assert r.ue_v4.to_bytes(4, "little") == bytes([10, 45, 0, 2])  # __be32 as stored
    assert bytes(r.ue_v6) == bytes(range(8))
    assert PdrSet.unpack(raw) == PdrSet((rule,))


def test_far_and_qer_fields() -> None:
    far = Far(layout.ApplyActionBits.FORW, Encap.GTPU_IPV4, 0xB8, Iface.ACCESS, 0x01020304,
              ipaddress.IPv4Address("192.0.2.9"), ipaddress.IPv4Address("192.0.2.1"))
    m = abi.Far.from_buffer_copy(far.pack())
    assert (m.action, m.encap, m.tos, m.dst_iface) == (2, 1, 0xB8, 0)
    assert m.teid.to_bytes(4, "little") == bytes([1, 2, 3, 4])
    assert m.peer_v4.to_bytes(4, "little") == bytes([192, 0, 2, 9])
    assert Far.unpack(far.pack()) == far
    qer = Qer(gate_ul=1, gate_dl=0, qfi=5, mbr_ul_kbps=1000, mbr_dl_kbps=2000)
    q = abi.Qer.from_buffer_copy(qer.pack())
    assert (q.gate_ul, q.gate_dl, q.qfi, q.mbr_ul_kbps, q.mbr_dl_kbps) == (1, 0, 5, 1000, 2000)
    assert Qer.unpack(qer.pack()) == qer
