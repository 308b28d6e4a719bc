"""Address-carrying IEs: Node ID, F-SEID, F-TEID, UE IP Address, Outer Header Creation,
Remote GTP-U Peer, User Plane IP Resource Information, FQ-CSID (TS 29.244 8.2)."""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv6Address
from typing import Any

from pfcp.buffer import (
    IP_INT_OK,
    IPV4_CACHE,
    U16,
    U32,
    U64,
    Buffer,
    Writer,
    ipv4_cached,
    ipv4_from_int,
    ipv6_from_int,
)
from pfcp.enums import (
    DestinationInterface,
    EnumCache,
    IEType,
    NodeIdType,
    OuterHeaderCreationDescription,
    SourceInterface,
)
from pfcp.errors import BufferReadError, IeValueError
from pfcp.ies.base import fast_ctor, register
from pfcp.ies.simple import NetworkInstance, dns_labels_to_text, text_to_dns_labels, tlv_via_push

IPAddress = IPv4Address | IPv6Address

# ``tlv`` encoders (see pfcp.ies.base.register): the whole IE in one struct.pack for the usual
# IPv4 shapes, read from the address's integer (``_ip``; buffer.IP_INT_OK checked the layout),
# and through ``push`` for every other shape.
_NODE_ID_V4 = struct.Struct("!HHBI").pack  # type, length, flags/type octet, IPv4
_F_SEID_V4 = struct.Struct("!HHBQI").pack
_F_TEID_V4 = struct.Struct("!HHBII").pack
_F_TEID_CH = struct.Struct("!HHB").pack
_F_TEID_CH_ID = struct.Struct("!HHBB").pack
_OHC_GTPU_V4 = struct.Struct("!HHHII").pack
# decoders' shortcuts for the usual IPv4 shapes (exact lengths; anything else the long way)
_Q_I = struct.Struct("!QI").unpack_from  # F-SEID: SEID, IPv4
_B_I = struct.Struct("!BI").unpack_from  # UE IP Address: flags, IPv4
_H_I_I = struct.Struct("!HII").unpack_from  # Outer Header Creation: description, TEID, IPv4
_v4get = IPV4_CACHE.get


def _tlv(ie_type: int, push: Callable[[Writer, Any], None], fast: Callable[[Any], bytes | None]) -> Callable[[Any], bytes]:
    slow = tlv_via_push(ie_type, push)
    if not IP_INT_OK:
        return slow

    def tlv(v: Any) -> bytes:
        out = fast(v)
        return slow(v) if out is None else out

    # (fast, slow): the generated encoders call them themselves, one call less per IE
    tlv.parts = (fast, slow)  # type: ignore[attr-defined]
    return tlv


@dataclass(frozen=True, slots=True)
class NodeId:
    """TS 29.244 8.2.38: an IPv4 address, an IPv6 address or an FQDN (str)."""

    value: IPv4Address | IPv6Address | str

    @property
    def node_id_type(self) -> NodeIdType:
        if isinstance(self.value, IPv4Address):
            return NodeIdType.IPV4
        if isinstance(self.value, IPv6Address):
            return NodeIdType.IPV6
        return NodeIdType.FQDN

    def __str__(self) -> str:
        return str(self.value)


_new_node_id = fast_ctor(NodeId)


def _pull_node_id(buf: Buffer) -> NodeId:
    t = buf.pull_u8() & 0x0F
    if t == 0:
        return _new_node_id(buf.pull_ipv4())
    if t == 1:
        return _new_node_id(buf.pull_ipv6())
    if t == 2:
        raw = buf.pull_rest()
        text = dns_labels_to_text(raw)
        if text is None or not raw:
            raise IeValueError("Node ID FQDN is not a DNS label sequence")
        return NodeId(text)
    raise IeValueError(f"Node ID type {t} unknown")


def _push_node_id(w: Writer, v: NodeId) -> None:
    val = v.value
    if isinstance(val, IPv4Address):
        w.append(0)
        w += val.packed
    elif isinstance(val, IPv6Address):
        w.append(1)
        w += val.packed
    else:
        w.append(2)
        w += text_to_dns_labels(val)


def _tlv_node_id(v: NodeId) -> bytes | None:
    val = v.value
    if type(val) is IPv4Address:
        return _NODE_ID_V4(IEType.NODE_ID, 5, 0, val._ip)  # type: ignore[attr-defined]
    return None


register(
    IEType.NODE_ID, NodeId, _pull_node_id, _push_node_id, tlv=_tlv(IEType.NODE_ID, _push_node_id, _tlv_node_id)
)


@dataclass(frozen=True, slots=True)
class FSeid:
    """TS 29.244 8.2.37."""

    seid: int
    ipv4: IPv4Address | None = None
    ipv6: IPv6Address | None = None


_new_fseid = fast_ctor(FSeid)


def _pull_fseid(buf: Buffer) -> FSeid:
    f = buf.pull_u8()
    seid = buf.pull_u64()
    v4 = buf.pull_ipv4() if f & 0x02 else None
    v6 = buf.pull_ipv6() if f & 0x01 else None
    return _new_fseid(seid, v4, v6)


def _push_fseid(w: Writer, v: FSeid) -> None:
    v4, v6 = v.ipv4, v.ipv6
    w.append((0x02 if v4 is not None else 0) | (0x01 if v6 is not None else 0))
    w += U64.pack(v.seid)
    if v4 is not None:
        w += v4.packed
    if v6 is not None:
        w += v6.packed


def _short(need: int, have: int) -> BufferReadError:
    return BufferReadError(f"need {need} octets, have {have}")


_u32 = U32.unpack_from
_u64 = U64.unpack_from


def _fast_fseid(data: bytes, pos: int, end: int) -> FSeid:
    if end - pos == 13 and data[pos] == 0x02:  # V4 only
        seid, ip = _Q_I(data, pos + 1)
        return _new_fseid(seid, _v4get(ip) or ipv4_cached(ip), None)
    if pos >= end:
        raise _short(1, 0)
    f = data[pos]
    need = 9 + (4 if f & 0x02 else 0) + (16 if f & 0x01 else 0)
    if end - pos < need:
        raise _short(need, end - pos)
    seid = _u64(data, pos + 1)[0]
    p = pos + 9
    v4 = v6 = None
    if f & 0x02:
        v4 = ipv4_from_int(_u32(data, p)[0])
        p += 4
    if f & 0x01:
        v6 = ipv6_from_int(int.from_bytes(data[p : p + 16], "big"))
    return _new_fseid(seid, v4, v6)


def _tlv_fseid(v: FSeid) -> bytes | None:
    v4 = v.ipv4
    if v.ipv6 is None and type(v4) is IPv4Address:
        return _F_SEID_V4(IEType.F_SEID, 13, 0x02, v.seid, v4._ip)  # type: ignore[attr-defined]
    return None


register(
    IEType.F_SEID,
    FSeid,
    _pull_fseid,
    _push_fseid,
    fast=_fast_fseid,
    tlv=_tlv(IEType.F_SEID, _push_fseid, _tlv_fseid),
)


@dataclass(frozen=True, slots=True)
class FTeid:
    """TS 29.244 8.2.3.

    With ``choose`` (CH) the UP function allocates the TEID and address; ``choose_v4`` /
    ``choose_v6`` then say which address families it should pick (the V4/V6 flags) and
    ``choose_id`` (CHID) groups PDRs that must share the chosen F-TEID.
    """

    teid: int = 0
    ipv4: IPv4Address | None = None
    ipv6: IPv6Address | None = None
    choose: bool = False
    choose_id: int | None = None
    choose_v4: bool = False
    choose_v6: bool = False


_new_fteid = fast_ctor(FTeid)


def pull_fteid(buf: Buffer) -> FTeid:
    f = buf.pull_u8()
    if f & 0x04:  # CH
        cid = buf.pull_u8() if f & 0x08 else None
        return _new_fteid(0, None, None, True, cid, bool(f & 0x01), bool(f & 0x02))
    teid = buf.pull_u32()
    v4 = buf.pull_ipv4() if f & 0x01 else None
    v6 = buf.pull_ipv6() if f & 0x02 else None
    cid = buf.pull_u8() if f & 0x08 else None
    return _new_fteid(teid, v4, v6, False, cid, False, False)


def push_fteid(w: Writer, v: FTeid) -> None:
    cid = v.choose_id
    if v.choose:
        w.append(0x04 | v.choose_v4 | (v.choose_v6 << 1) | (0x08 if cid is not None else 0))
        if cid is not None:
            w.append(cid)
        return
    v4, v6 = v.ipv4, v.ipv6
    w.append((v4 is not None) | ((v6 is not None) << 1) | (0x08 if cid is not None else 0))
    w += U32.pack(v.teid)
    if v4 is not None:
        w += v4.packed
    if v6 is not None:
        w += v6.packed
    if cid is not None:
        w.append(cid)


# CHOOSE F-TEIDs (no per-session value: one object per V4/V6/CHID/CHOOSE ID combination, at
# most 4 * 257) by ``f & 0x0B | choose_id << 8``
_CHOOSE: dict[int, FTeid] = {}


def _fast_fteid(data: bytes, pos: int, end: int) -> FTeid:
    if pos >= end:
        raise _short(1, 0)
    f = data[pos]
    if f & 0x04:  # CH
        key = f & 0x0B
        if f & 0x08:
            if end - pos < 2:
                raise _short(2, end - pos)
            key |= data[pos + 1] << 8
        v = _CHOOSE.get(key)
        if v is None:
            cid = key >> 8 if f & 0x08 else None
            v = _CHOOSE[key] = _new_fteid(0, None, None, True, cid, bool(f & 0x01), bool(f & 0x02))
        return v
    need = 5 + (4 if f & 0x01 else 0) + (16 if f & 0x02 else 0) + (1 if f & 0x08 else 0)
    if end - pos < need:
        raise _short(need, end - pos)
    teid = _u32(data, pos + 1)[0]
    p = pos + 5
    v4 = v6 = None
    if f & 0x01:
        ip = _u32(data, p)[0]
        v4 = _v4get(ip) or ipv4_cached(ip)
        p += 4
    if f & 0x02:
        v6 = ipv6_from_int(int.from_bytes(data[p : p + 16], "big"))
        p += 16
    return _new_fteid(teid, v4, v6, False, data[p] if f & 0x08 else None, False, False)


def _tlv_fteid(v: FTeid) -> bytes | None:
    cid = v.choose_id
    if v.choose:
        flags = 0x04 | v.choose_v4 | (v.choose_v6 << 1)
        if cid is None:
            return _F_TEID_CH(IEType.F_TEID, 1, flags)
        return _F_TEID_CH_ID(IEType.F_TEID, 2, flags | 0x08, cid)
    v4 = v.ipv4
    if cid is None and v.ipv6 is None and type(v4) is IPv4Address:
        return _F_TEID_V4(IEType.F_TEID, 9, 0x01, v.teid, v4._ip)  # type: ignore[attr-defined]
    return None


register(
    IEType.F_TEID,
    FTeid,
    pull_fteid,
    push_fteid,
    fast=_fast_fteid,
    tlv=_tlv(IEType.F_TEID, push_fteid, _tlv_fteid),
)


@dataclass(frozen=True, slots=True)
class UeIpAddress:
    """TS 29.244 8.2.62.

    ``is_destination`` is the S/D flag; ``choose_v4``/``choose_v6`` (CHV4/CHV6) ask the UP
    function to allocate; ``ipv6_prefix_delegation_bits`` is present with IPv6D,
    ``ipv6_prefix_length`` with IP6PL (Rel-16).
    """

    ipv4: IPv4Address | None = None
    ipv6: IPv6Address | None = None
    is_destination: bool = False
    choose_v4: bool = False
    choose_v6: bool = False
    ipv6_prefix_delegation_bits: int | None = None
    ipv6_prefix_length: int | None = None


_new_ueip = fast_ctor(UeIpAddress)


def _pull_ueip(buf: Buffer) -> UeIpAddress:
    f = buf.pull_u8()
    v4 = buf.pull_ipv4() if f & 0x02 else None
    v6 = buf.pull_ipv6() if f & 0x01 else None
    pdb = buf.pull_u8() if f & 0x08 else None
    pl = buf.pull_u8() if f & 0x40 else None
    return _new_ueip(v4, v6, bool(f & 0x04), bool(f & 0x10), bool(f & 0x20), pdb, pl)


def _push_ueip(w: Writer, v: UeIpAddress) -> None:
    v4, v6, pdb, pl = v.ipv4, v.ipv6, v.ipv6_prefix_delegation_bits, v.ipv6_prefix_length
    w.append(
        (v6 is not None)
        | ((v4 is not None) << 1)
        | (v.is_destination << 2)
        | ((pdb is not None) << 3)
        | (v.choose_v4 << 4)
        | (v.choose_v6 << 5)
        | ((pl is not None) << 6)
    )
    if v4 is not None:
        w += v4.packed
    if v6 is not None:
        w += v6.packed
    if pdb is not None:
        w.append(pdb)
    if pl is not None:
        w.append(pl)


def _fast_ueip(data: bytes, pos: int, end: int) -> UeIpAddress:
    if end - pos == 5:
        f, ip = _B_I(data, pos)
        if f == 0x02 or f == 0x06:  # V4, with or without S/D
            return _new_ueip(_v4get(ip) or ipv4_cached(ip), None, f == 0x06, False, False, None, None)
    if pos >= end:
        raise _short(1, 0)
    f = data[pos]
    need = 1 + (4 if f & 0x02 else 0) + (16 if f & 0x01 else 0) + (f >> 3 & 1) + (f >> 6 & 1)
    if end - pos < need:
        raise _short(need, end - pos)
    p = pos + 1
    v4 = v6 = pdb = pl = None
    if f & 0x02:
        v4 = ipv4_from_int(_u32(data, p)[0])
        p += 4
    if f & 0x01:
        v6 = ipv6_from_int(int.from_bytes(data[p : p + 16], "big"))
        p += 16
    if f & 0x08:
        pdb = data[p]
        p += 1
    if f & 0x40:
        pl = data[p]
    return _new_ueip(v4, v6, bool(f & 0x04), bool(f & 0x10), bool(f & 0x20), pdb, pl)


def _tlv_ueip(v: UeIpAddress) -> bytes | None:
    v4 = v.ipv4
    if (
        type(v4) is IPv4Address
        and v.ipv6 is None
        and v.ipv6_prefix_delegation_bits is None
        and v.ipv6_prefix_length is None
    ):
        flags = 0x02 | (v.is_destination << 2) | (v.choose_v4 << 4) | (v.choose_v6 << 5)
        return _NODE_ID_V4(IEType.UE_IP_ADDRESS, 5, flags, v4._ip)  # type: ignore[attr-defined]
    return None


register(
    IEType.UE_IP_ADDRESS,
    UeIpAddress,
    _pull_ueip,
    _push_ueip,
    fast=_fast_ueip,
    tlv=_tlv(IEType.UE_IP_ADDRESS, _push_ueip, _tlv_ueip),
)

_OHC = OuterHeaderCreationDescription
_OHC_TEID = _OHC.GTP_U_UDP_IPV4 | _OHC.GTP_U_UDP_IPV6
_OHC_V4 = _OHC.GTP_U_UDP_IPV4 | _OHC.UDP_IPV4 | _OHC.IPV4
_OHC_V6 = _OHC.GTP_U_UDP_IPV6 | _OHC.UDP_IPV6 | _OHC.IPV6
_OHC_PORT = _OHC.UDP_IPV4 | _OHC.UDP_IPV6


@dataclass(frozen=True, slots=True)
class OuterHeaderCreation:
    """TS 29.244 8.2.56. ``c_tag``/``s_tag`` are the 3-octet tag fields as sent."""

    description: OuterHeaderCreationDescription
    teid: int | None = None
    ipv4: IPv4Address | None = None
    ipv6: IPv6Address | None = None
    port: int | None = None
    c_tag: bytes | None = None
    s_tag: bytes | None = None


_OHC_CACHE = EnumCache(_OHC)
_new_ohc = fast_ctor(OuterHeaderCreation)
_I_TEID, _I_V4, _I_V6, _I_PORT = int(_OHC_TEID), int(_OHC_V4), int(_OHC_V6), int(_OHC_PORT)
_OHC_GTPU_V4_DESC = _OHC_CACHE[0x0100]


def _pull_ohc(buf: Buffer) -> OuterHeaderCreation:
    d = buf.pull_u16()
    teid = buf.pull_u32() if d & _I_TEID else None
    v4 = buf.pull_ipv4() if d & _I_V4 else None
    v6 = buf.pull_ipv6() if d & _I_V6 else None
    port = buf.pull_u16() if d & _I_PORT else None
    ctag = buf.pull_bytes(3) if d & 0x4000 else None
    stag = buf.pull_bytes(3) if d & 0x8000 else None
    return _new_ohc(_OHC_CACHE[d], teid, v4, v6, port, ctag, stag)


def _push_ohc(w: Writer, v: OuterHeaderCreation) -> None:
    d = int(v.description)
    w += U16.pack(d)
    if d & _I_TEID:
        w += U32.pack(v.teid or 0)
    if d & _I_V4:
        if v.ipv4 is None:
            raise ValueError("Outer Header Creation: IPv4 description without ipv4")
        w += v.ipv4.packed
    if d & _I_V6:
        if v.ipv6 is None:
            raise ValueError("Outer Header Creation: IPv6 description without ipv6")
        w += v.ipv6.packed
    if d & _I_PORT:
        w += U16.pack(v.port or 0)
    if d & 0x4000:
        w += (v.c_tag or b"")[:3].ljust(3, b"\0")
    if d & 0x8000:
        w += (v.s_tag or b"")[:3].ljust(3, b"\0")


def _fast_ohc(data: bytes, pos: int, end: int) -> OuterHeaderCreation:
    if end - pos == 10:
        d, teid, ip = _H_I_I(data, pos)
        if d == 0x0100:  # GTP-U/UDP/IPv4
            return _new_ohc(_OHC_GTPU_V4_DESC, teid, _v4get(ip) or ipv4_cached(ip), None, None, None, None)
    if end - pos < 2:
        raise _short(2, end - pos)
    d = U16.unpack_from(data, pos)[0]
    if d & 0xC000 or not d & (_I_TEID | _I_V4 | _I_V6):  # tags, or nothing known: the long way
        return _pull_ohc(Buffer(data, pos, end))
    need = 2 + (4 if d & _I_TEID else 0) + (4 if d & _I_V4 else 0) + (16 if d & _I_V6 else 0)
    need += 2 if d & _I_PORT else 0
    if end - pos < need:
        raise _short(need, end - pos)
    p = pos + 2
    teid = v4 = v6 = port = None
    if d & _I_TEID:
        teid = _u32(data, p)[0]
        p += 4
    if d & _I_V4:
        v4 = ipv4_from_int(_u32(data, p)[0])
        p += 4
    if d & _I_V6:
        v6 = ipv6_from_int(int.from_bytes(data[p : p + 16], "big"))
        p += 16
    if d & _I_PORT:
        port = U16.unpack_from(data, p)[0]
    return _new_ohc(_OHC_CACHE[d], teid, v4, v6, port, None, None)


def _tlv_ohc(v: OuterHeaderCreation) -> bytes | None:
    v4 = v.ipv4
    if v.description == _OHC.GTP_U_UDP_IPV4 and type(v4) is IPv4Address:
        return _OHC_GTPU_V4(IEType.OUTER_HEADER_CREATION, 10, 0x0100, v.teid or 0, v4._ip)  # type: ignore[attr-defined]
    return None


register(
    IEType.OUTER_HEADER_CREATION,
    OuterHeaderCreation,
    _pull_ohc,
    _push_ohc,
    fast=_fast_ohc,
    tlv=_tlv(IEType.OUTER_HEADER_CREATION, _push_ohc, _tlv_ohc),
)


@dataclass(frozen=True, slots=True)
class RemoteGtpUPeer:
    """TS 29.244 8.2.70: peer address(es), and optionally its Destination Interface and
    Network Instance (each a length-prefixed field, Rel-16)."""

    ipv4: IPv4Address | None = None
    ipv6: IPv6Address | None = None
    destination_interface: DestinationInterface | None = None
    network_instance: NetworkInstance | None = None


def _pull_rgp(buf: Buffer) -> RemoteGtpUPeer:
    f = buf.pull_u8()
    v4 = buf.pull_ipv4() if f & 0x02 else None
    v6 = buf.pull_ipv6() if f & 0x01 else None
    di = None
    ni = None
    if f & 0x04:
        raw = buf.pull_bytes(buf.pull_u16())
        if not raw:
            raise IeValueError("empty Destination Interface field")
        di = DestinationInterface(raw[0] & 0x0F)
    if f & 0x08:
        ni = NetworkInstance(buf.pull_bytes(buf.pull_u16()))
    return RemoteGtpUPeer(v4, v6, di, ni)


def _push_rgp(w: Writer, v: RemoteGtpUPeer) -> None:
    di, ni = v.destination_interface, v.network_instance
    w.append(
        (0x02 if v.ipv4 is not None else 0)
        | (0x01 if v.ipv6 is not None else 0)
        | (0x04 if di is not None else 0)
        | (0x08 if ni is not None else 0)
    )
    if v.ipv4 is not None:
        w += v.ipv4.packed
    if v.ipv6 is not None:
        w += v.ipv6.packed
    if di is not None:
        w += b"\x00\x01"
        w.append(int(di))
    if ni is not None:
        w += U16.pack(len(ni.raw))
        w += ni.raw


register(IEType.REMOTE_GTP_U_PEER, RemoteGtpUPeer, _pull_rgp, _push_rgp)


@dataclass(frozen=True, slots=True)
class UserPlaneIpResourceInformation:
    """TS 29.244 8.2.82 (Rel-15; deprecated by Rel-16 but still sent by many peers)."""

    ipv4: IPv4Address | None = None
    ipv6: IPv6Address | None = None
    teid_range_indication: int = 0
    teid_range: int | None = None
    network_instance: NetworkInstance | None = None
    source_interface: SourceInterface | None = None


def _pull_upiri(buf: Buffer) -> UserPlaneIpResourceInformation:
    f = buf.pull_u8()
    teidri = (f >> 2) & 0x07
    rng = buf.pull_u8() if teidri else None
    v4 = buf.pull_ipv4() if f & 0x01 else None
    v6 = buf.pull_ipv6() if f & 0x02 else None
    ni = None
    si = None
    if f & 0x20:  # ASSONI
        raw = buf.pull_rest()
        if f & 0x40:  # ASSOSI: the last octet is the Source Interface
            if not raw:
                raise IeValueError("ASSOSI without Source Interface")
            si = SourceInterface(raw[-1] & 0x0F)
            raw = raw[:-1]
        ni = NetworkInstance(raw)
    elif f & 0x40:
        si = SourceInterface(buf.pull_u8() & 0x0F)
    return UserPlaneIpResourceInformation(v4, v6, teidri, rng, ni, si)


def _push_upiri(w: Writer, v: UserPlaneIpResourceInformation) -> None:
    teidri = v.teid_range_indication & 0x07
    w.append(
        (v.ipv4 is not None)
        | ((v.ipv6 is not None) << 1)
        | (teidri << 2)
        | ((v.network_instance is not None) << 5)
        | ((v.source_interface is not None) << 6)
    )
    if teidri:
        w.append(v.teid_range or 0)
    if v.ipv4 is not None:
        w += v.ipv4.packed
    if v.ipv6 is not None:
        w += v.ipv6.packed
    if v.network_instance is not None:
        w += v.network_instance.raw
    if v.source_interface is not None:
        w.append(int(v.source_interface))


register(
    IEType.USER_PLANE_IP_RESOURCE_INFORMATION, UserPlaneIpResourceInformation, _pull_upiri, _push_upiri
)


@dataclass(frozen=True, slots=True)
class FqCsid:
    """TS 29.244 8.2.46: a node address (IPv4, IPv6, or a 4-octet MCC/MNC-based id) and CSIDs."""

    node_address: IPv4Address | IPv6Address | int
    csids: tuple[int, ...] = ()


def _pull_fqcsid(buf: Buffer) -> FqCsid:
    b = buf.pull_u8()
    t, n = b >> 4, b & 0x0F
    addr: IPv4Address | IPv6Address | int
    if t == 0:
        addr = buf.pull_ipv4()
    elif t == 1:
        addr = buf.pull_ipv6()
    elif t == 2:
        addr = buf.pull_u32()
    else:
        raise IeValueError(f"FQ-CSID node-ID type {t} unknown")
    return FqCsid(addr, tuple(buf.pull_u16() for _ in range(n)))


def _push_fqcsid(w: Writer, v: FqCsid) -> None:
    a = v.node_address
    t = 0 if isinstance(a, IPv4Address) else 1 if isinstance(a, IPv6Address) else 2
    if len(v.csids) > 15:
        raise ValueError("FQ-CSID holds at most 15 CSIDs")
    w.append((t << 4) | len(v.csids))
    if isinstance(a, int):
        w += U32.pack(a)
    else:
        w += a.packed
    for c in v.csids:
        w += U16.pack(c)


register(IEType.FQ_CSID, FqCsid, _pull_fqcsid, _push_fqcsid)
