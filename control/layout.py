"""Byte layout of the map keys and values the control plane writes (xdp/upf_shared.h).

Plans carry keys and values as ``bytes`` so that compiling stays pure and the
map writer needs no knowledge of the structures. The packing below follows
upf_shared.h field by field; ``tests/control/test_layout.py`` checks every size
and offset against the ctypes mirror generated from the object's BTF
(upf/datapath/abi.py), so a drift in the C header fails a test.
"""

from __future__ import annotations

import builtins
import enum
import ipaddress
import struct
from dataclasses import dataclass, field

from control.fastinit import fast_init

# Limits from enum upf_limits.
RULES_PER_KEY = 4
DEFAULT_PDRS = 400000
DEFAULT_FARS = 400000
DEFAULT_QERS = 200000
GTPU_PORT = 2152


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
TEID_INDEX_BITS = 24
TEID_INDEX_MASK = (1 << TEID_INDEX_BITS) - 1
DEFAULT_SESSIONS = 100000


class ApplyActionBits(enum.IntFlag):
    """enum upf_apply_action (TS 29.244 8.2.26, low octet)."""

    DROP = 1 << 0
    FORW = 1 << 1
    BUFF = 1 << 2
    NOCP = 1 << 3
    DUPL = 1 << 4


class Ohr(enum.IntEnum):
    """enum upf_ohr (TS 29.244 8.2.64)."""

    GTPU_UDP_IPV4 = 0
    GTPU_UDP_IPV6 = 1
    UDP_IPV4 = 2
    UDP_IPV6 = 3
    IPV4 = 4
    IPV6 = 5
    GTPU_UDP_IP = 6
    NONE = 255


class Encap(enum.IntEnum):
    """enum upf_encap."""

    NONE = 0
    GTPU_IPV4 = 1


class Iface(enum.IntEnum):
    """enum upf_iface."""

    ACCESS = 0
    CORE = 1
    N9 = 2


class PdrFlags(enum.IntFlag):
    """enum upf_pdr_flags."""

    MATCH_UE_V4 = 1 << 0
    MATCH_UE_V6 = 1 << 1
    MATCH_QFI = 1 << 2
    SET_QFI = 1 << 3


NO_PDR_FLAGS = PdrFlags(0)
NO_ACTION = ApplyActionBits(0)

_PDR_RULE = struct.Struct("=IIIIHBBBB2x4s8s")
_COUNT = struct.Struct("=I")
_SET_HEAD = struct.Struct("=I4s")  # count, teid (network order)
_FAR = struct.Struct("=HBBB3x4s4s4s")
_QER = struct.Struct("=BBBx4xQQ")
_COUNTER = struct.Struct("=QQ")

PDR_RULE_SIZE = _PDR_RULE.size
PDR_SET_SIZE = _SET_HEAD.size + RULES_PER_KEY * PDR_RULE_SIZE
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


_RULE_PAD = [bytes((RULES_PER_KEY - n) * PDR_RULE_SIZE) for n in range(RULES_PER_KEY + 1)]


def pack_pdr_set(rules: list[bytes], teid: int = 0) -> bytes:
    """struct pdr_set from packed rules (at most RULES_PER_KEY; the caller checks)."""
    return b"".join((_SET_HEAD.pack(len(rules), teid.to_bytes(4, "big")), *rules,
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
            self.teid.to_bytes(4, "big"),
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
    return teid.to_bytes(4, "big")


def ue_v4_key(addr: ipaddress.IPv4Address) -> bytes:
    """struct ue_v4_key (network order)."""
    return addr.packed


def ue_v6_key(prefix: ipaddress.IPv6Network | ipaddress.IPv6Address) -> bytes:
    """struct ue_v6_key: the first 8 octets (the /64 prefix)."""
    addr = prefix.network_address if isinstance(prefix, ipaddress.IPv6Network) else prefix
    return addr.packed[:8]


pack_slot_key = _COUNT.pack  # slot_key, without the Python call


def slot_key(slot: int) -> bytes:
    """Key of an array map (__u32, host order)."""
    return _COUNT.pack(slot)


def teid_index(teid: int) -> int:
    """The uplink_by_teid index of one of our TEIDs."""
    return teid & TEID_INDEX_MASK


_ZERO_VALUES = {
    MapName.UPLINK_BY_TEID: bytes(PDR_SET_SIZE),
    MapName.FARS: bytes(FAR_SIZE),
    MapName.QERS: bytes(QER_SIZE),
    MapName.PDR_STATS: bytes(COUNTER_SIZE),
}


def zero_value(map_name: str) -> bytes:
    """The empty value of an array map slot."""
    return _ZERO_VALUES[map_name]  # type: ignore[index]
