"""Byte layout of the map keys and values the control plane writes (xdp/upf_shared.h).

Plans carry keys and values as ``bytes`` so that compiling stays pure and the
map writer needs no knowledge of the structures. Nothing here is hand-synced with
the C header: the struct formats (offsets, sizes, padding, which fields are ``__be32``),
the enums and the limits all come from the ctypes mirror that abigen generates from the
object's BTF (upf/datapath/abi.py), once, at import. A change in upf_shared.h reaches
this module through ``make abi``; only a renamed, added or reordered field (which every
caller packs positionally) stops the import with a :class:`LayoutError`.
"""

from __future__ import annotations

import builtins
import ctypes
import enum
import ipaddress
import re
import struct
from dataclasses import dataclass, field
from typing import Any

from control.fastinit import fast_init
from upf.datapath import abi


class LayoutError(Exception):
    """abi.py describes a struct this module cannot pack as its callers expect (our bug)."""


# Limits from enum upf_limits.
RULES_PER_KEY = int(abi.Limits.RULES_PER_KEY)
DEFAULT_PDRS = int(abi.Limits.DEFAULT_PDRS)
DEFAULT_FARS = int(abi.Limits.DEFAULT_FARS)
DEFAULT_QERS = int(abi.Limits.DEFAULT_QERS)
GTPU_PORT = int(abi.Limits.GTPU_PORT)


class MapName(enum.StrEnum):
    """Maps the control plane writes, by their name in the BPF object."""

    UPLINK_PDRS = "uplink_pdrs"  # hash: teid_key -> pdr_set (TEIDs the SMF chose)
    UPLINK_BY_TEID = "uplink_by_teid"  # array: TEID index -> pdr_set (TEIDs we allocated)
    DOWNLINK_PDRS_V4 = "downlink_pdrs_v4"  # hash: ue_v4_key -> pdr_set
    DOWNLINK_PDRS_V6 = "downlink_pdrs_v6"  # hash: ue_v6_key -> pdr_set
    FARS = "fars"  # array: slot -> far
    QERS = "qers"  # array: slot -> qer
    PDR_STATS = "pdr_stats"  # array: slot -> counter (written by the datapath)


PDR_MAPS = frozenset({MapName.UPLINK_PDRS, MapName.UPLINK_BY_TEID, MapName.DOWNLINK_PDRS_V4,
                      MapName.DOWNLINK_PDRS_V6})
# uplink_by_teid is both: its entries are PDR sets (phase PDR), never deleted but zeroed.
ARRAY_MAPS = frozenset({MapName.FARS, MapName.QERS, MapName.PDR_STATS, MapName.UPLINK_BY_TEID})

# Our own TEIDs (F-TEID CHOOSE): generation << TEID_INDEX_BITS | index into uplink_by_teid.
TEID_INDEX_BITS = int(abi.Limits.TEID_INDEX_BITS)
TEID_INDEX_MASK = (1 << TEID_INDEX_BITS) - 1
DEFAULT_SESSIONS = int(abi.Limits.DEFAULT_SESSIONS)

# The enums of upf_shared.h, as abigen mirrors them from BTF.
ApplyActionBits = abi.ApplyAction  # enum upf_apply_action (TS 29.244 8.2.26, low octet)
Ohr = abi.Ohr  # enum upf_ohr (TS 29.244 8.2.64)
Encap = abi.Encap  # enum upf_encap
Iface = abi.Iface  # enum upf_iface
PdrFlags = abi.PdrFlags  # enum upf_pdr_flags

NO_PDR_FLAGS = PdrFlags(0)
NO_ACTION = ApplyActionBits(0)

# ---------------------------------------------------------------------------
# struct formats from the ctypes mirror

_PADDING = re.compile(r"_?pad(_?\d+)?")  # the header's `pad`, `pad2`; abigen's `_pad_<offset>`
_INT_CODES = {1: "b", 2: "h", 4: "i", 8: "q"}  # struct's standard sizes ("=" prefix)


def _code(name: str, ctype: Any, network_order: bool) -> str:
    """The struct code of one field: integers in host order, octets for the rest."""
    size = ctypes.sizeof(ctype)
    if network_order:
        return f"{size}s"  # __be16/__be32/__be64: octets, network order, as the callers give
    if issubclass(ctype, ctypes.Array):
        if ctype._type_ in (ctypes.c_uint8, ctypes.c_char):
            return f"{size}s"
    elif issubclass(ctype, ctypes._SimpleCData) and size in _INT_CODES:
        code: str = ctype._type_
        if code in "bBhHiIlLqQ":  # by size: ctypes' own "L" is 8 octets here, struct's is 4
            return _INT_CODES[size] if code.islower() else _INT_CODES[size].upper()
        if code == "?":
            return "?"
    raise LayoutError(f"field {name!r}: cannot pack a {ctype.__name__}")


def struct_format(cls: type[ctypes.Structure], stop: str | None = None
                  ) -> tuple[str, tuple[str, ...]]:
    """The ``struct`` format of ctypes mirror ``cls`` and the names its values pack, in order.

    Fields go by their ctypes offsets (gaps and ``pad`` fields become ``x``), the fields
    abigen lists in ``_network_order_`` are octets (``4s``), native-order integers keep
    their size. ``stop`` ends the format at that field's offset (the rest is packed by
    hand)."""
    be = frozenset(getattr(cls, "_network_order_", ()))
    parts = ["="]
    names: list[str] = []
    pos = 0
    end = ctypes.sizeof(cls)
    for spec in cls._fields_:
        if len(spec) != 2:
            raise LayoutError(f"struct {cls.__name__}: bitfield {spec[0]!r}")
        name, ctype = spec
        off: int = getattr(cls, name).offset
        if name == stop:
            end = off
            break
        if off < pos:
            raise LayoutError(f"struct {cls.__name__}: field {name!r} overlaps")
        if off > pos:
            parts.append(f"{off - pos}x")
        size = ctypes.sizeof(ctype)
        if _PADDING.fullmatch(name):
            parts.append(f"{size}x")
        else:
            parts.append(_code(name, ctype, name in be))
            names.append(name)
        pos = off + size
    else:
        if stop is not None:
            raise LayoutError(f"struct {cls.__name__} has no field {stop!r}")
    if end > pos:
        parts.append(f"{end - pos}x")
    fmt = "".join(parts)
    if struct.calcsize(fmt) != end:
        raise LayoutError(f"struct {cls.__name__}: {fmt!r} is not {end} octets")
    return fmt, tuple(names)


def packer(cls: type[ctypes.Structure], *names: str, stop: str | None = None) -> struct.Struct:
    """A precompiled ``struct.Struct`` for ``cls`` whose values are ``names``, in this order
    (the order every caller packs them in: a renamed or moved field is a LayoutError)."""
    fmt, fields = struct_format(cls, stop)
    if fields != names:
        raise LayoutError(f"struct {cls.__name__} has fields {fields}, layout.py packs {names}")
    return struct.Struct(fmt)


def _whole_be_field(cls: type[ctypes.Structure], name: str) -> int:
    """The size of a key that is one network-order field (or octet array) and nothing else."""
    fmt = packer(cls, name).format
    if fmt != f"={ctypes.sizeof(cls)}s":
        raise LayoutError(f"struct {cls.__name__} is not one field of octets: {fmt!r}")
    return ctypes.sizeof(cls)


# (slot, far, qer, precedence, pdr_id, flags, qfi, ohr, sdf, v4 (4 octets), v6 (8 octets))
_PDR_RULE = packer(abi.PdrRule, "pdr_slot", "far_slot", "qer_slot", "precedence", "pdr_id",
                   "flags", "qfi", "ohr", "sdf_id", "ue_v4", "ue_v6")
_SET_HEAD = packer(abi.PdrSet, "count", "teid", stop="rules")  # count, teid (network order)
# (action, encap, tos, dst_iface, teid (4 octets, network order), peer, local)
_FAR = packer(abi.Far, "action", "encap", "tos", "dst_iface", "teid", "peer_v4", "local_v4")
_QER = packer(abi.Qer, "gate_ul", "gate_dl", "qfi", "mbr_ul_kbps", "mbr_dl_kbps")
_COUNTER = packer(abi.Counter, "packets", "bytes")
_COUNT = struct.Struct("=" + _code("key", abi.MAPS[MapName.FARS].key, False))  # array map key


def _member(cls: type[ctypes.Structure], name: str) -> tuple[int, int]:
    """(offset, size) of a field of a ctypes mirror."""
    descr = getattr(cls, name)
    return descr.offset, descr.size


def _rules_array() -> tuple[int, int]:
    """(octets after pdr_set's rules, their count) as the mirror says."""
    rules_type: Any = dict(abi.PdrSet._fields_)["rules"]
    offset, size = _member(abi.PdrSet, "rules")
    if (offset != _SET_HEAD.size or not issubclass(rules_type, ctypes.Array)
            or rules_type._type_ is not abi.PdrRule):
        raise LayoutError("struct pdr_set: rules is not an array of pdr_rule after the head")
    return ctypes.sizeof(abi.PdrSet) - offset - size, rules_type._length_


_SET_TAIL, _SET_RULES = _rules_array()
if _SET_RULES != RULES_PER_KEY:
    raise LayoutError(f"struct pdr_set holds {_SET_RULES} rules, not UPF_RULES_PER_KEY")
for _name in ARRAY_MAPS:
    if abi.MAPS[_name].key is not abi.MAPS[MapName.FARS].key:
        raise LayoutError(f"array map {_name} has another key type than fars")

_TEID_OCTETS = _whole_be_field(abi.TeidKey, "teid")
if _whole_be_field(abi.UeV4Key, "addr") != 4:  # ue_v4_key() gives IPv4Address.packed
    raise LayoutError("struct ue_v4_key is not an IPv4 address")
_UE_V6_OCTETS = _whole_be_field(abi.UeV6Key, "prefix")
_FAR_TEID_OCTETS = _member(abi.Far, "teid")[1]
_SET_TEID_OCTETS = _member(abi.PdrSet, "teid")[1]

PDR_RULE_SIZE = _PDR_RULE.size
PDR_SET_SIZE = ctypes.sizeof(abi.PdrSet)
FAR_SIZE = _FAR.size
QER_SIZE = _QER.size
COUNTER_SIZE = _COUNTER.size

_ZERO_V4 = ipaddress.IPv4Address(0)


@fast_init
@dataclass(frozen=True, slots=True)
class PdrRule:
    """struct pdr_rule."""

    pdr_slot: int
    far_slot: int
    qer_slot: int
    precedence: int
    pdr_id: int
    flags: PdrFlags = NO_PDR_FLAGS
    qfi: int = 0
    ohr: Ohr = Ohr.NONE
    sdf_id: int = 0
    ue_v4: ipaddress.IPv4Address = _ZERO_V4
    ue_v6_prefix: bytes = bytes(8)

    def pack(self) -> bytes:
        return _PDR_RULE.pack(
            self.pdr_slot,
            self.far_slot,
            self.qer_slot,
            self.precedence,
            self.pdr_id,
            int(self.flags),
            self.qfi,
            int(self.ohr),
            self.sdf_id,
            self.ue_v4.packed,
            self.ue_v6_prefix,
        )

    @classmethod
    def unpack(cls, data: bytes) -> PdrRule:
        slot, far, qer, prec, pdr_id, flags, qfi, ohr, sdf, v4, v6 = _PDR_RULE.unpack(data)
        return cls(
            slot, far, qer, prec, pdr_id, PdrFlags(flags), qfi, Ohr(ohr), sdf,
            ipaddress.IPv4Address(v4), v6,
        )


@dataclass(frozen=True, slots=True)
class PdrSet:
    """struct pdr_set: at most RULES_PER_KEY rules, first match wins. ``teid`` is the full
    TEID an uplink_by_teid slot holds (0 in the hash maps)."""

    rules: tuple[PdrRule, ...] = field(default_factory=tuple)
    teid: int = 0

    def pack(self) -> bytes:
        if len(self.rules) > RULES_PER_KEY:
            raise ValueError(f"pdr_set holds at most {RULES_PER_KEY} rules")
        return pack_pdr_set([rule.pack() for rule in self.rules], self.teid)

    @classmethod
    def unpack(cls, data: bytes) -> PdrSet:
        count, teid = _SET_HEAD.unpack_from(data)
        h = _SET_HEAD.size
        rules = tuple(
            PdrRule.unpack(data[h + i * PDR_RULE_SIZE : h + (i + 1) * PDR_RULE_SIZE])
            for i in range(min(count, RULES_PER_KEY))
        )
        return cls(rules, int.from_bytes(teid, "big"))


# The unused rules of a pdr_set, and whatever follows them.
_RULE_PAD = [bytes((RULES_PER_KEY - n) * PDR_RULE_SIZE + _SET_TAIL)
             for n in range(RULES_PER_KEY + 1)]


# A pdr_set of one rule (most keys hold one PDR), without pack_pdr_set's call and join:
# ONE_RULE_HEAD + rule + ONE_RULE_TAIL, or pack_one_rule_head(1, TEID octets) for a TEID.
ONE_RULE_HEAD = _SET_HEAD.pack(1, bytes(_SET_TEID_OCTETS))
ONE_RULE_TAIL = _RULE_PAD[1]
pack_one_rule_head = _SET_HEAD.pack


def pack_pdr_set(rules: list[bytes], teid: int = 0) -> bytes:
    """struct pdr_set from packed rules (at most RULES_PER_KEY; the caller checks)."""
    return b"".join((_SET_HEAD.pack(len(rules), teid.to_bytes(_SET_TEID_OCTETS, "big")), *rules,
                     _RULE_PAD[len(rules)]))


pack_pdr_rule = _PDR_RULE.pack  # (slot, far, qer, precedence, pdr_id, flags, qfi, ohr, sdf, v4, v6)
pack_far = _FAR.pack  # (action, encap, tos, dst_iface, teid (4 octets, network order), peer, local)
pack_qer = _QER.pack  # (gate_ul, gate_dl, qfi, mbr_ul_kbps, mbr_dl_kbps)


@fast_init
@dataclass(frozen=True, slots=True)
class Far:
    """struct far. ``action == 0`` is an empty slot."""

    action: ApplyActionBits = NO_ACTION
    encap: Encap = Encap.NONE
    tos: int = 0
    dst_iface: Iface = Iface.ACCESS
    teid: int = 0
    peer_v4: ipaddress.IPv4Address = _ZERO_V4
    local_v4: ipaddress.IPv4Address = _ZERO_V4

    def __hash__(self) -> int:  # enum and IPv4Address hashes are Python code: avoid them
        return hash((int(self.action), int(self.encap), self.tos, int(self.dst_iface),
                     self.teid, int(self.peer_v4), int(self.local_v4)))

    def pack(self) -> bytes:
        return _FAR.pack(
            int(self.action),
            int(self.encap),
            self.tos,
            int(self.dst_iface),
            self.teid.to_bytes(_FAR_TEID_OCTETS, "big"),
            self.peer_v4.packed,
            self.local_v4.packed,
        )

    @classmethod
    def unpack(cls, data: bytes) -> Far:
        action, encap, tos, iface, teid, peer, local = _FAR.unpack(data)
        return cls(
            ApplyActionBits(action), Encap(encap), tos, Iface(iface),
            int.from_bytes(teid, "big"), ipaddress.IPv4Address(peer),
            ipaddress.IPv4Address(local),
        )


@fast_init
@dataclass(frozen=True, slots=True)
class Qer:
    """struct qer. Gates: 0 open, 1 closed (TS 29.244 8.2.7)."""

    gate_ul: int = 0
    gate_dl: int = 0
    qfi: int = 0
    mbr_ul_kbps: int = 0
    mbr_dl_kbps: int = 0

    def pack(self) -> bytes:
        return _QER.pack(self.gate_ul, self.gate_dl, self.qfi, self.mbr_ul_kbps, self.mbr_dl_kbps)

    @classmethod
    def unpack(cls, data: bytes) -> Qer:
        return cls(*_QER.unpack(data))


@fast_init
@dataclass(frozen=True, slots=True)
class Counter:
    """struct counter."""

    packets: int = 0
    octets: int = 0  # the C field `bytes`

    def pack(self) -> builtins.bytes:
        return _COUNTER.pack(self.packets, self.octets)

    @classmethod
    def unpack(cls, data: builtins.bytes) -> Counter:
        return cls(*_COUNTER.unpack(data))


def teid_key(teid: int) -> bytes:
    """struct teid_key (network order)."""
    return teid.to_bytes(_TEID_OCTETS, "big")


def ue_v4_key(addr: ipaddress.IPv4Address) -> bytes:
    """struct ue_v4_key (network order)."""
    return addr.packed


def ue_v6_key(prefix: ipaddress.IPv6Network | ipaddress.IPv6Address) -> bytes:
    """struct ue_v6_key: the first 8 octets (the /64 prefix)."""
    addr = prefix.network_address if isinstance(prefix, ipaddress.IPv6Network) else prefix
    return addr.packed[:_UE_V6_OCTETS]


pack_slot_key = _COUNT.pack  # slot_key, without the Python call


def slot_key(slot: int) -> bytes:
    """Key of an array map (__u32, host order)."""
    return _COUNT.pack(slot)


def teid_index(teid: int) -> int:
    """The uplink_by_teid index of one of our TEIDs."""
    return teid & TEID_INDEX_MASK


_ZERO_VALUES = {name: bytes(ctypes.sizeof(abi.MAPS[name].value)) for name in ARRAY_MAPS}


def zero_value(map_name: str) -> bytes:
    """The empty value of an array map slot."""
    return _ZERO_VALUES[map_name]  # type: ignore[index]
