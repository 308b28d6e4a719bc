"""control/layout.py packs exactly what the BTF-generated mirror (upf/datapath/abi.py) says.

Its formats are derived from abi.py at import: these tests check the derivation (packed
bytes equal the ctypes structure filled with the same values) and that it follows abi.py
(a mirror with moved fields gives a layout with moved fields, with no edit of layout.py).
"""

from __future__ import annotations

import ctypes
import enum
import importlib.util
import ipaddress
import sys
import types
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from control import layout
from control.layout import Encap, Far, Iface, Ohr, PdrFlags, PdrRule, PdrSet, Qer
from upf.datapath import abi


def u(bits: int) -> st.SearchStrategy[int]:
    return st.integers(0, (1 << bits) - 1)


def octets(n: int) -> st.SearchStrategy[bytes]:
    return st.binary(min_size=n, max_size=n)


def ordered(**strategies: st.SearchStrategy[Any]) -> st.SearchStrategy[dict[str, Any]]:
    """Field values in the order given (the packers' argument order)."""
    names = tuple(strategies)
    return st.tuples(*strategies.values()).map(lambda t: dict(zip(names, t, strict=True)))


def offset(cls: type[ctypes.Structure], name: str) -> int:
    off: int = getattr(cls, name).offset
    return off


def mirror(cls: type[ctypes.Structure], **values: Any) -> bytes:
    """The bytes of the ctypes mirror filled field by field; network-order fields and octet
    arrays are given as the octets they hold in memory."""
    s = cls()
    for name, v in values.items():
        if isinstance(v, bytes):
            off, size = getattr(cls, name).offset, getattr(cls, name).size
            assert len(v) == size, name
            ctypes.memmove(ctypes.addressof(s) + off, v, size)
        else:
            setattr(s, name, v)
    return bytes(s)


# ---------------------------------------------------------------------------
# The generated mirror and the derived packers agree


def test_sizes_match_btf() -> None:
    assert ctypes.sizeof(abi.PdrRule) == layout.PDR_RULE_SIZE
    assert ctypes.sizeof(abi.PdrSet) == layout.PDR_SET_SIZE
    assert ctypes.sizeof(abi.Far) == layout.FAR_SIZE
    assert ctypes.sizeof(abi.Qer) == layout.QER_SIZE
    assert ctypes.sizeof(abi.Counter) == layout.COUNTER_SIZE
    for name in layout.ARRAY_MAPS:
        assert len(layout.zero_value(name)) == ctypes.sizeof(abi.MAPS[name].value)


def test_limits_and_enums_are_btfs() -> None:
    limits = abi.Limits
    assert (layout.RULES_PER_KEY, layout.TEID_INDEX_BITS) == (
        limits.RULES_PER_KEY, limits.TEID_INDEX_BITS)
    assert (layout.DEFAULT_PDRS, layout.DEFAULT_FARS, layout.DEFAULT_QERS) == (
        limits.DEFAULT_PDRS, limits.DEFAULT_FARS, limits.DEFAULT_QERS)
    assert (layout.DEFAULT_SESSIONS, layout.GTPU_PORT) == (
        limits.DEFAULT_SESSIONS, limits.GTPU_PORT)
    assert type(layout.RULES_PER_KEY) is int  # not an IntEnum on the hot path
    assert layout.ApplyActionBits is abi.ApplyAction
    assert (layout.Ohr, layout.Encap, layout.Iface, layout.PdrFlags) == (
        abi.Ohr, abi.Encap, abi.Iface, abi.PdrFlags)


def test_map_names_exist_in_object() -> None:
    for name in layout.MapName:
        assert name in abi.MAPS
    assert abi.MAPS["fars"].value is abi.Far
    assert abi.MAPS["uplink_pdrs"].value is abi.PdrSet


def test_formats_from_the_mirror() -> None:
    """Padding as x, __be32 as octets, native integers by size (ctypes' c_uint64 is 'L')."""
    assert layout.struct_format(abi.Far) == (
        "=HBBB3x4s4s4s", ("action", "encap", "tos", "dst_iface", "teid", "peer_v4", "local_v4"))
    assert layout.struct_format(abi.Qer)[0] == "=BBB1x4xQQ"
    assert layout.struct_format(abi.PdrRule)[0] == "=IIIIHBBBB2x4s8s"
    assert layout.struct_format(abi.PdrSet, "rules") == ("=I4s", ("count", "teid"))
    assert layout.struct_format(abi.NhKey) == ("=I16s", ("family", "addr"))


rule_values = ordered(**{
    "pdr_slot": u(32), "far_slot": u(32), "qer_slot": u(32), "precedence": u(32),
    "pdr_id": u(16), "flags": u(4), "qfi": u(8), "ohr": st.sampled_from([int(o) for o in Ohr]),
    "sdf_id": u(8),
    "ue_v4": octets(4), "ue_v6": octets(8),
})


@settings(max_examples=60, deadline=None)
@given(rule_values)
def test_pdr_rule_packs_like_the_mirror(v: dict[str, Any]) -> None:
    raw = layout.pack_pdr_rule(*v.values())
    assert raw == mirror(abi.PdrRule, **v)
    rule = PdrRule.unpack(raw)
    assert (rule.ue_v4.packed, rule.ue_v6_prefix, rule.pdr_id) == (v["ue_v4"], v["ue_v6"],
                                                                     v["pdr_id"])


@settings(max_examples=40, deadline=None)
@given(st.lists(rule_values, max_size=layout.RULES_PER_KEY), u(32))
def test_pdr_set_packs_like_the_mirror(rules: list[dict[str, Any]], teid: int) -> None:
    raw = layout.pack_pdr_set([layout.pack_pdr_rule(*v.values()) for v in rules], teid)
    expect = abi.PdrSet.from_buffer_copy(
        mirror(abi.PdrSet, count=len(rules), teid=teid.to_bytes(4, "big")))
    for i, v in enumerate(rules):
        expect.rules[i] = abi.PdrRule.from_buffer_copy(mirror(abi.PdrRule, **v))
    assert raw == bytes(expect)
    assert PdrSet.unpack(raw).teid == teid


@settings(max_examples=60, deadline=None)
@given(ordered(**{
    "action": u(16), "encap": u(8), "tos": u(8), "dst_iface": u(8),
    "teid": octets(4), "peer_v4": octets(4), "local_v4": octets(4),
}))
def test_far_packs_like_the_mirror(v: dict[str, Any]) -> None:
    assert layout.pack_far(*v.values()) == mirror(abi.Far, **v)


@settings(max_examples=60, deadline=None)
@given(ordered(**{
    "gate_ul": u(8), "gate_dl": u(8), "qfi": u(8), "mbr_ul_kbps": u(64), "mbr_dl_kbps": u(64),
}))
def test_qer_packs_like_the_mirror(v: dict[str, Any]) -> None:
    assert layout.pack_qer(*v.values()) == mirror(abi.Qer, **v)
    assert Qer.unpack(layout.pack_qer(*v.values())) == Qer(*v.values())


@settings(max_examples=30, deadline=None)
@given(u(64), u(64), u(32))
def test_counter_and_keys_pack_like_the_mirror(packets: int, octets_: int, n: int) -> None:
    c = layout.Counter(packets, octets_)
    assert c.pack() == mirror(abi.Counter, packets=packets, bytes=octets_)
    assert layout.Counter.unpack(c.pack()) == c
    assert layout.slot_key(n) == bytes(ctypes.c_uint32(n))
    assert layout.teid_key(n) == mirror(abi.TeidKey, teid=n.to_bytes(4, "big"))
    v4 = ipaddress.IPv4Address(n)
    assert layout.ue_v4_key(v4) == mirror(abi.UeV4Key, addr=v4.packed)
    v6 = ipaddress.IPv6Network((n << 96, 64), strict=False)
    assert layout.ue_v6_key(v6) == mirror(abi.UeV6Key, prefix=v6.network_address.packed[:8])


def test_pdr_set_fields_land_where_btf_says() -> None:
    rule = PdrRule(
        pdr_slot=7, far_slot=9, qer_slot=3, precedence=255, pdr_id=0x1234,
        flags=PdrFlags.MATCH_UE_V4 | PdrFlags.MATCH_QFI, qfi=9, ohr=Ohr.GTPU_UDP_IP,
        ue_v4=ipaddress.IPv4Address("10.45.0.2"), ue_v6_prefix=bytes(range(8)),
    )
    raw = PdrSet((rule,)).pack()
    m = abi.PdrSet.from_buffer_copy(raw)
    r = m.rules[0]
    assert m.count == 1
    assert (r.pdr_slot, r.far_slot, r.qer_slot, r.precedence, r.pdr_id) == (7, 9, 3, 255, 0x1234)
    assert (r.flags, r.qfi, r.ohr) == (5, 9, 6)
    off = offset(abi.PdrSet, "rules") + offset(abi.PdrRule, "ue_v4")
    assert raw[off : off + 4] == bytes([10, 45, 0, 2])  # __be32: network order in memory
    assert bytes(r.ue_v6) == bytes(range(8))
    assert PdrSet.unpack(raw) == PdrSet((rule,))


def test_far_and_qer_fields() -> None:
    far = Far(layout.ApplyActionBits.FORW, Encap.GTPU_IPV4, 0xB8, Iface.ACCESS, 0x01020304,
              ipaddress.IPv4Address("192.0.2.9"), ipaddress.IPv4Address("192.0.2.1"))
    raw = far.pack()
    m = abi.Far.from_buffer_copy(raw)
    assert (m.action, m.encap, m.tos, m.dst_iface) == (2, 1, 0xB8, 0)
    assert raw[offset(abi.Far, "teid") :][:4] == bytes([1, 2, 3, 4])
    assert raw[offset(abi.Far, "peer_v4") :][:4] == bytes([192, 0, 2, 9])
    assert Far.unpack(raw) == far
    qer = Qer(gate_ul=1, gate_dl=0, qfi=5, mbr_ul_kbps=1000, mbr_dl_kbps=2000)
    q = abi.Qer.from_buffer_copy(qer.pack())
    assert (q.gate_ul, q.gate_dl, q.qfi, q.mbr_ul_kbps, q.mbr_dl_kbps) == (1, 0, 5, 1000, 2000)
    assert Qer.unpack(qer.pack()) == qer


# ---------------------------------------------------------------------------
# A changed mirror changes the layout, with no edit of layout.py


def struct_like(base: type[ctypes.Structure], fields: list[tuple[str, Any]],
                network_order: tuple[str, ...] | None = None) -> type[ctypes.Structure]:
    """A ctypes mirror like abigen would emit for an edited upf_shared.h."""
    attrs: dict[str, Any] = {"_pack_": 1, "_fields_": tuple(fields)}
    attrs["_network_order_"] = (getattr(base, "_network_order_", ())
                                if network_order is None else network_order)
    return type(base.__name__, (ctypes.Structure,), attrs)


def far_fields(pad: int) -> list[tuple[str, Any]]:
    return [(n, ctypes.c_uint8 * pad if n == "pad" else t) for n, t in abi.Far._fields_]


def test_format_follows_moved_offsets() -> None:
    wide = struct_like(abi.Far, far_fields(7))  # pad[3] -> pad[7]: teid moves from 8 to 12
    fmt, names = layout.struct_format(wide)
    assert (fmt, names) == ("=HBBB7x4s4s4s", layout.struct_format(abi.Far)[1])
    raw = layout.packer(wide, *names).pack(2, 1, 0xB8, 0, b"\1\2\3\4", b"\xc0\0\2\x09", bytes(4))
    assert len(raw) == ctypes.sizeof(wide) == layout.FAR_SIZE + 4
    assert raw[12:16] == b"\1\2\3\4" and wide.from_buffer_copy(raw).tos == 0xB8
    # a gap with no pad field (abigen names its filler _pad_<offset>), a widened field
    gap = struct_like(abi.Qer, [("gate_ul", ctypes.c_uint8), ("gate_dl", ctypes.c_uint8),
                                ("qfi", ctypes.c_uint16), ("_pad_4", ctypes.c_uint8 * 4),
                                ("mbr_ul_kbps", ctypes.c_uint64),
                                ("mbr_dl_kbps", ctypes.c_uint64)])
    assert layout.struct_format(gap)[0] == "=BBH4xQQ"
    # a __be32 that became host order packs as an integer
    host = struct_like(abi.Far, far_fields(3), network_order=("peer_v4", "local_v4"))
    assert layout.struct_format(host)[0] == "=HBBB3xI4s4s"


def test_renamed_or_reordered_field_stops_the_import() -> None:
    """Callers pack positionally: a field they do not know of is an error, not a shift."""
    swapped = [abi.Far._fields_[i] for i in (0, 2, 1, 3, 4, 5, 6, 7)]
    with pytest.raises(layout.LayoutError, match="encap"):
        layout.packer(struct_like(abi.Far, swapped), *layout.struct_format(abi.Far)[1])
    with pytest.raises(layout.LayoutError, match="bitfield"):
        layout.struct_format(struct_like(abi.Far, [("a", ctypes.c_uint32, 3)]))  # type: ignore[list-item]


def limits_with(**changed: int) -> Any:
    """enum upf_limits with some values changed."""
    members = {n: m.value for n, m in abi.Limits.__members__.items()} | changed
    return enum.IntEnum("Limits", list(members.items()))


def load_layout_with(monkeypatch: pytest.MonkeyPatch, **changed: Any) -> types.ModuleType:
    """A fresh copy of control/layout.py imported against abi.py with ``changed`` names."""
    fake = types.ModuleType("upf.datapath.abi")
    fake.__dict__.update(vars(abi))
    fake.__dict__.update(changed)
    import upf.datapath

    monkeypatch.setitem(sys.modules, "upf.datapath.abi", fake)
    monkeypatch.setattr(upf.datapath, "abi", fake)
    spec = importlib.util.spec_from_file_location("layout_copy", layout.__file__)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, spec.name, mod)  # dataclasses look their module up
    spec.loader.exec_module(mod)
    return mod


def test_layout_follows_an_edited_header(monkeypatch: pytest.MonkeyPatch) -> None:
    """upf_shared.h edited, `make abi` run: the Far pad grows, QER loses pad2 (mbr_* move to
    offset 4) and RULES_PER_KEY drops to 2. layout.py follows with no edit."""
    far = struct_like(abi.Far, far_fields(7))
    qer = struct_like(abi.Qer, [f for f in abi.Qer._fields_ if f[0] != "pad2"])
    rule_fields = dict(abi.PdrSet._fields_)
    pdr_set = struct_like(abi.PdrSet, [(n, abi.PdrRule * 2 if n == "rules" else rule_fields[n])
                                       for n, _ in abi.PdrSet._fields_])
    limits = limits_with(RULES_PER_KEY=2)
    maps = dict(abi.MAPS)
    maps["fars"] = maps["fars"]._replace(value=far)
    maps["qers"] = maps["qers"]._replace(value=qer)
    maps["uplink_by_teid"] = maps["uplink_by_teid"]._replace(value=pdr_set)
    mod = load_layout_with(monkeypatch, Far=far, Qer=qer, PdrSet=pdr_set, Limits=limits,
                           MAPS=maps)

    assert (mod.FAR_SIZE, mod.QER_SIZE, mod.RULES_PER_KEY) == (24, 20, 2)
    assert mod.PDR_SET_SIZE == ctypes.sizeof(pdr_set) == 8 + 2 * layout.PDR_RULE_SIZE
    assert len(mod.zero_value("fars")) == 24
    f = mod.Far(mod.ApplyActionBits.FORW, mod.Encap.GTPU_IPV4, 0xB8, mod.Iface.N9, 0x01020304,
                ipaddress.IPv4Address("192.0.2.9"), ipaddress.IPv4Address("192.0.2.1"))
    raw = f.pack()
    assert raw[12:16] == b"\1\2\3\4" and mod.Far.unpack(raw) == f
    assert far.from_buffer_copy(raw).dst_iface == 2
    q = qer.from_buffer_copy(mod.Qer(1, 0, 5, 1000, 2000).pack())
    assert (q.gate_ul, q.qfi, q.mbr_ul_kbps, q.mbr_dl_kbps) == (1, 5, 1000, 2000)
    rules = [mod.pack_pdr_rule(i, 0, 0, i, i, 0, 0, 255, 0, bytes(4), bytes(8)) for i in (1, 2)]
    packed = mod.pack_pdr_set(rules, 7)
    s = pdr_set.from_buffer_copy(packed)
    assert (s.count, [r.pdr_slot for r in s.rules]) == (2, [1, 2])
    # the real module is untouched
    assert (layout.FAR_SIZE, layout.QER_SIZE, layout.RULES_PER_KEY) == (20, 24, 4)


def test_header_the_callers_cannot_pack_stops_the_import(
        monkeypatch: pytest.MonkeyPatch) -> None:
    pdr_set = struct_like(abi.PdrSet, list(abi.PdrSet._fields_))
    limits = limits_with(RULES_PER_KEY=8)
    with pytest.raises(Exception, match="holds 4 rules") as e:  # the copy's LayoutError
        load_layout_with(monkeypatch, PdrSet=pdr_set, Limits=limits)
    assert type(e.value).__name__ == "LayoutError"
