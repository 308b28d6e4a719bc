"""Single-value IEs: integers, enums, flags, timers, rates and octet strings (TS 29.244 8.2).

Most of these decode to a plain ``int``, an enum/flag member, ``bytes`` or ``str`` rather than a
wrapper dataclass; the IE's type is known from the field it lands in. Text is decoded as
latin-1 so any octets round-trip exactly. Spare bits are not kept (they are sent as 0).
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass
from enum import IntEnum, IntFlag
from typing import Any, Self

from pfcp.buffer import TL, U16, U32, U64, Buffer, Writer
from pfcp.enums import (
    ApplyAction,
    AssociationReleaseRequestFlags,
    Cause,
    CpFeatures,
    DestinationInterface,
    EnumCache,
    Gate,
    IEType,
    InterfaceType3gpp,
    MeasurementInformation,
    MeasurementMethod,
    NodeReportType,
    OciFlags,
    OuterHeaderRemovalDescription,
    PdnType,
    PfcpasRspFlags,
    PfcpauReqFlags,
    PfcpseReqFlags,
    PfcpsmReqFlags,
    PfcpsrReqFlags,
    PfcpsrRspFlags,
    ReportingTriggers,
    ReportType,
    RuleIdType,
    SourceInterface,
    TimerUnit,
    UpFeatures,
    UsageInformation,
    UsageReportTrigger,
)
from pfcp.errors import BufferReadError, IeValueError
from pfcp.ies.base import K_ENUM8, K_FLAGS, K_GENERIC, K_U8, K_U16, K_U32, fast_ctor, register

# --- generic pull/push helpers ------------------------------------------------------------


def pull_u8(buf: Buffer) -> int:
    return buf.pull_u8()


def push_u8(w: Writer, v: int) -> None:
    w.append(v)


def pull_u16(buf: Buffer) -> int:
    return buf.pull_u16()


def push_u16(w: Writer, v: int) -> None:
    w += U16.pack(v)


def pull_u32(buf: Buffer) -> int:
    return buf.pull_u32()


def push_u32(w: Writer, v: int) -> None:
    w += U32.pack(v)


def pull_octets(buf: Buffer) -> bytes:
    return buf.pull_rest()


def push_octets(w: Writer, v: bytes) -> None:
    w += v


def pull_text(buf: Buffer) -> str:
    return buf.pull_rest().decode("latin-1")


def push_text(w: Writer, v: str) -> None:
    w += v.encode("latin-1")


def pull_bool1(buf: Buffer) -> bool:
    return bool(buf.pull_u8() & 0x01)


def push_bool1(w: Writer, v: bool) -> None:
    w.append(1 if v else 0)


def _enum_u8(
    enum: type[IntEnum], mask: int, cache: EnumCache[Any]
) -> tuple[Callable[[Buffer], Any], Callable[[Writer, Any], None]]:

    def pull(buf: Buffer) -> Any:
        return cache[buf.pull_u8() & mask]

    def push(w: Writer, v: Any) -> None:
        w.append(int(v) & mask)

    return pull, push


def _flags(
    flag: type[IntFlag], min_len: int, cache: EnumCache[Any]
) -> tuple[Callable[[Buffer], Any], Callable[[Writer, Any], None]]:
    """Flag octets 5..n as one little-endian-by-octet integer (see pfcp.enums)."""

    def pull(buf: Buffer) -> Any:
        pos, end = buf.pos, buf.end
        if pos >= end:
            raise BufferReadError("flag IE with no octets")
        buf.pos = end
        if end - pos == 1:
            return cache[buf.data[pos]]
        return cache[int.from_bytes(buf.data[pos:end], "little")]

    def push(w: Writer, v: Any) -> None:
        iv = int(v)
        w += iv.to_bytes(max(min_len, (iv.bit_length() + 7) // 8), "little")

    return pull, push


def tlv_via_push(ie_type: int, push: Callable[[Writer, Any], None]) -> Callable[[Any], bytes]:
    """A ``tlv`` function (see pfcp.ies.base.register) for the cases a fast one leaves out."""

    def tlv(v: Any) -> bytes:
        w = Writer()
        push(w, v)
        return TL.pack(ie_type, len(w)) + w

    return tlv


def _reg_int(ie_type: IEType, pull: Callable[[Buffer], int], push: Callable[[Writer, int], None]) -> None:
    kinds: dict[Callable[[Buffer], int], int] = {pull_u8: K_U8, pull_u16: K_U16, pull_u32: K_U32}
    kind = kinds.get(pull, K_GENERIC)
    register(ie_type, int, pull, push, kind)


# --- integers -----------------------------------------------------------------------------

for _t in (
    IEType.QER_CORRELATION_ID,  # 8.2.10
    IEType.PRECEDENCE,  # 8.2.11
    IEType.TIME_THRESHOLD,  # 8.2.14
    IEType.MONITORING_TIME,  # 8.2.15
    IEType.SUBSEQUENT_TIME_THRESHOLD,  # 8.2.17
    IEType.INACTIVITY_DETECTION_TIME,  # 8.2.18
    IEType.SEQUENCE_NUMBER,  # 8.2.33
    IEType.MEASUREMENT_PERIOD,  # 8.2.42
    IEType.DURATION_MEASUREMENT,  # 8.2.45
    IEType.TIME_OF_FIRST_PACKET,  # 8.2.47
    IEType.TIME_OF_LAST_PACKET,  # 8.2.48
    IEType.QUOTA_HOLDING_TIME,  # 8.2.49
    IEType.TIME_QUOTA,  # 8.2.51
    IEType.START_TIME,  # 8.2.52
    IEType.END_TIME,  # 8.2.53
    IEType.URR_ID,  # 8.2.54
    IEType.LINKED_URR_ID,  # 8.2.55
    IEType.RECOVERY_TIME_STAMP,  # 8.2.65
    IEType.UR_SEQN,  # 8.2.71
    IEType.FAR_ID,  # 8.2.74
    IEType.QER_ID,  # 8.2.75
    IEType.USER_PLANE_INACTIVITY_TIMER,  # 8.2.83
    IEType.AGGREGATED_URR_ID,  # 8.2.85
    IEType.SUBSEQUENT_TIME_QUOTA,  # 8.2.89
    IEType.QUERY_URR_REFERENCE,  # 8.2.92
    IEType.ETHERNET_FILTER_ID,  # 8.2.98
    IEType.ETHERNET_INACTIVITY_TIMER,  # 8.2.104
    IEType.EVENT_QUOTA,  # 8.2.112
    IEType.EVENT_THRESHOLD,  # 8.2.113
    IEType.SUBSEQUENT_EVENT_QUOTA,  # 8.2.114
    IEType.SUBSEQUENT_EVENT_THRESHOLD,  # 8.2.115
    IEType.FRAMED_ROUTING,  # 8.2.110
    IEType.EVENT_TIME_STAMP,  # 8.2.117
    IEType.AVERAGING_WINDOW,  # 8.2.118
    IEType.ACTIVATION_TIME,  # 8.2.121
    IEType.DEACTIVATION_TIME,  # 8.2.122
    IEType.QUOTA_VALIDITY_TIME,  # 8.2.158
):
    _reg_int(_t, pull_u32, push_u32)

for _t in (
    IEType.PDR_ID,  # 8.2.36
    IEType.TRANSPORT_LEVEL_MARKING,  # 8.2.12: ToS/Traffic Class value + mask
    IEType.ETHERTYPE,  # 8.2.96
    IEType.MAR_ID,  # 8.2.123
    IEType.NUMBER_OF_REPORTS,  # 8.2.159
):
    _reg_int(_t, pull_u16, push_u16)

for _t in (
    IEType.DOWNLINK_DATA_NOTIFICATION_DELAY,  # 8.2.28: units of 50 ms
    IEType.METRIC,  # 8.2.34
    IEType.BAR_ID,  # 8.2.57
    IEType.TRAFFIC_ENDPOINT_ID,  # 8.2.92
    IEType.SUGGESTED_BUFFERING_PACKETS_COUNT,  # 8.2.100
    IEType.ETHERNET_FILTER_PROPERTIES,  # 8.2.99 (BIDE)
    IEType.ETHERNET_PDU_SESSION_INFORMATION,  # 8.2.102 (ETHI)
    IEType.PROXYING,  # 8.2.97 (ARP, INS)
):
    _reg_int(_t, pull_u8, push_u8)


def _pull_qfi(buf: Buffer) -> int:
    return buf.pull_u8() & 0x3F


def _pull_ppi(buf: Buffer) -> int:
    return buf.pull_u8() & 0x07


# One-octet IEs decoded by table lookup (inline in the generated decoders: kind K_ENUM8).
register(IEType.QFI, int, _pull_qfi, push_u8, K_ENUM8, table=list(range(64)), mask=0x3F, enc_mask=-1)  # 8.2.89
register(
    IEType.PAGING_POLICY_INDICATOR, int, _pull_ppi, push_u8, K_ENUM8, table=list(range(8)), mask=0x07, enc_mask=-1
)
register(IEType.RQI, bool, pull_bool1, push_bool1, K_ENUM8, table=[False, True], mask=0x01)  # 8.2.88


def _pull_dl_buffering_count(buf: Buffer) -> int:
    # TS 29.244 8.2.30: one or two octets.
    return buf.pull_u8() if buf.remaining() == 1 else buf.pull_u16()


def _push_dl_buffering_count(w: Writer, v: int) -> None:
    if v < 256:
        w.append(v)
    else:
        w += U16.pack(v)


_reg_int(IEType.DL_BUFFERING_SUGGESTED_PACKET_COUNT, _pull_dl_buffering_count, _push_dl_buffering_count)


_IE_TYPES = EnumCache(IEType)


def _pull_offending(buf: Buffer) -> IEType:
    return _IE_TYPES[buf.pull_u16()]


register(IEType.OFFENDING_IE, IEType, _pull_offending, push_u16)  # 8.2.22

# --- enums --------------------------------------------------------------------------------

for _t, _enum, _mask in (
    (IEType.CAUSE, Cause, 0xFF),  # 8.2.1
    (IEType.SOURCE_INTERFACE, SourceInterface, 0x0F),  # 8.2.2
    (IEType.DESTINATION_INTERFACE, DestinationInterface, 0x0F),  # 8.2.24
    (IEType.PDN_TYPE, PdnType, 0x07),  # 8.2.79
    (IEType.INTERFACE_TYPE_3GPP, InterfaceType3gpp, 0x3F),  # 8.2.118
):
    _cache: EnumCache[Any] = EnumCache(_enum)
    register(_t, _enum, *_enum_u8(_enum, _mask, _cache), K_ENUM8, table=_cache, mask=_mask, enc_mask=_mask)

# --- flags --------------------------------------------------------------------------------

for _t, _flag, _min in (
    (IEType.REPORTING_TRIGGERS, ReportingTriggers, 2),  # 8.2.19
    (IEType.REPORT_TYPE, ReportType, 1),  # 8.2.21
    (IEType.UP_FUNCTION_FEATURES, UpFeatures, 2),  # 8.2.25
    (IEType.APPLY_ACTION, ApplyAction, 1),  # 8.2.26 (1 octet, or 2 when a Rel-16 bit is set)
    (IEType.PFCPSMREQ_FLAGS, PfcpsmReqFlags, 1),  # 8.2.31
    (IEType.PFCPSRRSP_FLAGS, PfcpsrRspFlags, 1),  # 8.2.32
    (IEType.MEASUREMENT_METHOD, MeasurementMethod, 1),  # 8.2.40
    (IEType.USAGE_REPORT_TRIGGER, UsageReportTrigger, 3),  # 8.2.41
    (IEType.CP_FUNCTION_FEATURES, CpFeatures, 1),  # 8.2.58
    (IEType.USAGE_INFORMATION, UsageInformation, 1),  # 8.2.63
    (IEType.MEASUREMENT_INFORMATION, MeasurementInformation, 1),  # 8.2.68
    (IEType.NODE_REPORT_TYPE, NodeReportType, 1),  # 8.2.69
    (IEType.OCI_FLAGS, OciFlags, 1),  # 8.2.76
    (IEType.PFCP_ASSOCIATION_RELEASE_REQUEST, AssociationReleaseRequestFlags, 1),  # 8.2.77
    (IEType.PFCPSRREQ_FLAGS, PfcpsrReqFlags, 1),  # 8.2.119
    (IEType.PFCPAUREQ_FLAGS, PfcpauReqFlags, 1),  # 8.2.120
    (IEType.PFCPASRSP_FLAGS, PfcpasRspFlags, 1),  # 8.2.161
    (IEType.PFCPSEREQ_FLAGS, PfcpseReqFlags, 1),  # 8.2.163
):
    _fcache: EnumCache[Any] = EnumCache(_flag)
    register(_t, _flag, *_flags(_flag, _min, _fcache), K_FLAGS, table=_fcache, flag_len=_min)

# --- octet strings and text ---------------------------------------------------------------

for _t in (
    IEType.PACKET_RATE,  # 8.2.50 (kept raw)
    IEType.DL_FLOW_LEVEL_MARKING,  # 8.2.67 (kept raw)
    IEType.HEADER_ENRICHMENT,  # 8.2.67 (kept raw)
    IEType.APPLICATION_INSTANCE_ID,  # 8.2.60
    IEType.MAC_ADDRESS,  # 8.2.93 (kept raw)
    IEType.C_TAG,  # 8.2.94 (kept raw)
    IEType.S_TAG,  # 8.2.95 (kept raw)
    IEType.USER_ID,  # 8.2.101 (kept raw)
    IEType.MAC_ADDRESSES_DETECTED,  # 8.2.103 (kept raw)
    IEType.MAC_ADDRESSES_REMOVED,  # 8.2.104 (kept raw)
    IEType.TRACE_INFORMATION,  # 8.2.103 (kept raw)
    IEType.FRAMED_ROUTE,  # 8.2.109
    IEType.FRAMED_IPV6_ROUTE,  # 8.2.111
    IEType.SMF_SET_ID,  # 8.2.142 (kept raw)
    IEType.ALTERNATIVE_SMF_IP_ADDRESS,  # 8.2.137 (kept raw)
    IEType.CP_PFCP_ENTITY_IP_ADDRESS,  # 8.2.162 (kept raw)
    IEType.SOURCE_IP_ADDRESS,  # 8.2.138 (kept raw)
):
    register(_t, bytes, pull_octets, push_octets)

for _t in (
    IEType.APPLICATION_ID,  # 8.2.6
    IEType.ACTIVATE_PREDEFINED_RULES,  # 8.2.72
    IEType.DEACTIVATE_PREDEFINED_RULES,  # 8.2.73
):
    register(_t, str, pull_text, push_text)


def _pull_len16_octets(buf: Buffer) -> bytes:
    return buf.pull_bytes(buf.pull_u16())


def _push_len16_octets(w: Writer, v: bytes) -> None:
    w += U16.pack(len(v))
    w += v


def _pull_len8_octets(buf: Buffer) -> bytes:
    return buf.pull_bytes(buf.pull_u8())


def _push_len8_octets(w: Writer, v: bytes) -> None:
    w.append(len(v))
    w += v


register(IEType.UE_IP_ADDRESS_POOL_IDENTITY, bytes, _pull_len16_octets, _push_len16_octets)  # 8.2.157
register(IEType.FORWARDING_POLICY, bytes, _pull_len8_octets, _push_len8_octets)  # 8.2.23


def dns_labels_to_text(raw: bytes) -> str | None:
    """``b"\\x08internet"`` -> ``"internet"``; None when ``raw`` is not a clean label sequence."""
    labels = []
    i = 0
    n = len(raw)
    while i < n:
        ln = raw[i]
        if ln == 0 or ln > 63 or i + 1 + ln > n:
            return None
        label = raw[i + 1 : i + 1 + ln].decode("latin-1")
        if "." in label:
            return None
        labels.append(label)
        i += 1 + ln
    return ".".join(labels)


def text_to_dns_labels(text: str) -> bytes:
    out = bytearray()
    for label in text.split("."):
        raw = label.encode("latin-1")
        if not 0 < len(raw) < 64:
            raise ValueError(f"bad DNS label {label!r} in {text!r}")
        out.append(len(raw))
        out += raw
    return bytes(out)


@dataclass(frozen=True, slots=True)
class NetworkInstance:
    """TS 29.244 8.2.4: an octet string, usually a DNN/APN in DNS label encoding (TS 23.003).

    ``raw`` is kept as received; :attr:`text` is the dotted form when ``raw`` holds clean labels,
    else the octets as latin-1 text (some SMFs send plain text).
    """

    raw: bytes

    @property
    def text(self) -> str:
        t = dns_labels_to_text(self.raw)
        return t if t is not None else self.raw.decode("latin-1")

    @classmethod
    def from_text(cls, text: str, labels: bool = True) -> Self:
        return cls(text_to_dns_labels(text) if labels else text.encode("latin-1"))


@dataclass(frozen=True, slots=True)
class ApnDnn(NetworkInstance):
    """APN/DNN, TS 29.244 8.2.103: same encoding as Network Instance."""


_new_ni = fast_ctor(NetworkInstance)
_new_apn = fast_ctor(ApnDnn)


def _pull_ni(buf: Buffer) -> NetworkInstance:
    return _new_ni(buf.pull_rest())


def _pull_apn(buf: Buffer) -> ApnDnn:
    return _new_apn(buf.pull_rest())


def _push_ni(w: Writer, v: NetworkInstance) -> None:
    w += v.raw


def _tlv_ni(ie_type: int) -> Callable[[NetworkInstance], bytes]:
    pack = TL.pack

    def tlv(v: NetworkInstance) -> bytes:
        raw = v.raw
        return pack(ie_type, len(raw)) + raw

    return tlv


register(IEType.NETWORK_INSTANCE, NetworkInstance, _pull_ni, _push_ni, tlv=_tlv_ni(IEType.NETWORK_INSTANCE))
register(IEType.APN_DNN, ApnDnn, _pull_apn, _push_ni, tlv=_tlv_ni(IEType.APN_DNN))

# --- small structures ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class GateStatus:
    """TS 29.244 8.2.7."""

    ul: Gate = Gate.OPEN
    dl: Gate = Gate.OPEN


_GATES = {b: GateStatus(Gate((b >> 2) & 0x03), Gate(b & 0x03)) for b in range(256)}


def _pull_gate(buf: Buffer) -> GateStatus:
    return _GATES[buf.pull_u8()]


def _push_gate(w: Writer, v: GateStatus) -> None:
    w.append(((int(v.ul) & 3) << 2) | (int(v.dl) & 3))


def _tlv_gate(v: GateStatus) -> bytes:
    return _TLB(IEType.GATE_STATUS, 1, ((v.ul & 3) << 2) | (v.dl & 3))


register(IEType.GATE_STATUS, GateStatus, _pull_gate, _push_gate, K_ENUM8, table=_GATES, tlv=_tlv_gate)


@dataclass(frozen=True, slots=True)
class Mbr:
    """TS 29.244 8.2.8: UL and DL maximum bit rate in kbps (40 bits each)."""

    ul: int
    dl: int


@dataclass(frozen=True, slots=True)
class Gbr:
    """TS 29.244 8.2.9: UL and DL guaranteed bit rate in kbps (40 bits each)."""

    ul: int
    dl: int


_TLB = struct.Struct("!HHB").pack
_BITRATE = struct.Struct("!HHBIBI").pack  # 40-bit UL and DL as high octet + low 32 bits
_VOLUME_TOTAL = struct.Struct("!HHBQ").pack


def _tlv_bitrate(ie_type: int) -> Callable[[Any], bytes]:
    def tlv(v: Any) -> bytes:
        ul, dl = v.ul, v.dl
        if not (0 <= ul < 1 << 40 and 0 <= dl < 1 << 40):
            raise OverflowError(f"bit rate {ul}/{dl} out of range")
        return _BITRATE(ie_type, 10, ul >> 32, ul & 0xFFFFFFFF, dl >> 32, dl & 0xFFFFFFFF)

    return tlv


def _bitrate(cls: type[Mbr] | type[Gbr]) -> tuple[Callable[[Buffer], Any], Callable[[Writer, Any], None]]:
    new = fast_ctor(cls)

    def pull(buf: Buffer) -> Any:
        return new(buf.pull_u40(), buf.pull_u40())

    def push(w: Writer, v: Any) -> None:
        w += v.ul.to_bytes(5, "big")
        w += v.dl.to_bytes(5, "big")

    return pull, push


register(IEType.MBR, Mbr, *_bitrate(Mbr), tlv=_tlv_bitrate(IEType.MBR))
register(IEType.GBR, Gbr, *_bitrate(Gbr), tlv=_tlv_bitrate(IEType.GBR))


@dataclass(frozen=True, slots=True)
class VolumeThreshold:
    """TS 29.244 8.2.13 (flags TOVOL/ULVOL/DLVOL, then octets): total, uplink, downlink."""

    total: int | None = None
    uplink: int | None = None
    downlink: int | None = None


@dataclass(frozen=True, slots=True)
class VolumeQuota(VolumeThreshold):
    """TS 29.244 8.2.50."""


@dataclass(frozen=True, slots=True)
class SubsequentVolumeThreshold(VolumeThreshold):
    """TS 29.244 8.2.16."""


@dataclass(frozen=True, slots=True)
class SubsequentVolumeQuota(VolumeThreshold):
    """TS 29.244 8.2.88."""


def _volume(cls: type[VolumeThreshold]) -> tuple[Callable[[Buffer], Any], Callable[[Writer, Any], None]]:
    new = fast_ctor(cls)

    def pull(buf: Buffer) -> Any:
        f = buf.pull_u8()
        total = buf.pull_u64() if f & 1 else None
        ul = buf.pull_u64() if f & 2 else None
        dl = buf.pull_u64() if f & 4 else None
        return new(total, ul, dl)

    def push(w: Writer, v: Any) -> None:
        t, u, d = v.total, v.uplink, v.downlink
        w.append((t is not None) | ((u is not None) << 1) | ((d is not None) << 2))
        if t is not None:
            w += U64.pack(t)
        if u is not None:
            w += U64.pack(u)
        if d is not None:
            w += U64.pack(d)

    return pull, push


def _reg_volume(ie_type: IEType, cls: type[VolumeThreshold]) -> None:
    pull, push = _volume(cls)
    slow = tlv_via_push(ie_type, push)

    def tlv(v: VolumeThreshold) -> bytes:
        if v.uplink is None and v.downlink is None and v.total is not None:  # TOVOL only
            return _VOLUME_TOTAL(ie_type, 9, 1, v.total)
        return slow(v)

    register(ie_type, cls, pull, push, tlv=tlv)


_reg_volume(IEType.VOLUME_THRESHOLD, VolumeThreshold)
_reg_volume(IEType.VOLUME_QUOTA, VolumeQuota)
_reg_volume(IEType.SUBSEQUENT_VOLUME_THRESHOLD, SubsequentVolumeThreshold)
_reg_volume(IEType.SUBSEQUENT_VOLUME_QUOTA, SubsequentVolumeQuota)


@dataclass(frozen=True, slots=True)
class VolumeMeasurement:
    """TS 29.244 8.2.44: octets and (Rel-16) packets, each total/uplink/downlink."""

    total_volume: int | None = None
    uplink_volume: int | None = None
    downlink_volume: int | None = None
    total_packets: int | None = None
    uplink_packets: int | None = None
    downlink_packets: int | None = None




_new_vm = fast_ctor(VolumeMeasurement)


def _pull_vm(buf: Buffer) -> VolumeMeasurement:
    f = buf.pull_u8()
    vals = [buf.pull_u64() if f & (1 << i) else None for i in range(6)]
    return _new_vm(*vals)


def _push_vm(w: Writer, v: VolumeMeasurement) -> None:
    vals = (v.total_volume, v.uplink_volume, v.downlink_volume, v.total_packets, v.uplink_packets, v.downlink_packets)
    flags = 0
    for i, x in enumerate(vals):
        if x is not None:
            flags |= 1 << i
    w.append(flags)
    for x in vals:
        if x is not None:
            w += U64.pack(x)


register(IEType.VOLUME_MEASUREMENT, VolumeMeasurement, _pull_vm, _push_vm)


@dataclass(frozen=True, slots=True)
class DroppedDlTrafficThreshold:
    """TS 29.244 8.2.49 (flags DLPA, DLBY)."""

    packets: int | None = None
    octets: int | None = None


def _pull_dddt(buf: Buffer) -> DroppedDlTrafficThreshold:
    f = buf.pull_u8()
    p = buf.pull_u64() if f & 1 else None
    o = buf.pull_u64() if f & 2 else None
    return DroppedDlTrafficThreshold(p, o)


def _push_dddt(w: Writer, v: DroppedDlTrafficThreshold) -> None:
    w.append((v.packets is not None) | ((v.octets is not None) << 1))
    if v.packets is not None:
        w += U64.pack(v.packets)
    if v.octets is not None:
        w += U64.pack(v.octets)


register(IEType.DROPPED_DL_TRAFFIC_THRESHOLD, DroppedDlTrafficThreshold, _pull_dddt, _push_dddt)


@dataclass(frozen=True, slots=True)
class Timer:
    """Timer-format IEs (Timer 8.2.35, Graceful Release Period 8.2.78, DL Buffering Duration
    8.2.29): a 3-bit unit and a 5-bit value."""

    unit: TimerUnit
    value: int

    def seconds(self) -> float | None:
        """None means infinite."""
        scale = {0: 2, 1: 60, 2: 600, 3: 3600, 4: 36000}.get(int(self.unit))
        return None if scale is None else float(scale * self.value)


def _pull_timer(buf: Buffer) -> Timer:
    b = buf.pull_u8()
    return Timer(TimerUnit(b >> 5), b & 0x1F)


def _push_timer(w: Writer, v: Timer) -> None:
    w.append(((int(v.unit) & 7) << 5) | (v.value & 0x1F))


register(IEType.TIMER, Timer, _pull_timer, _push_timer)
register(IEType.GRACEFUL_RELEASE_PERIOD, Timer, _pull_timer, _push_timer)
register(IEType.DL_BUFFERING_DURATION, Timer, _pull_timer, _push_timer)


@dataclass(frozen=True, slots=True)
class OuterHeaderRemoval:
    """TS 29.244 8.2.64: description, and (optional octet 6) GTP-U extension header deletion."""

    description: OuterHeaderRemovalDescription
    gtpu_extension_header_deletion: int | None = None


_OHR = EnumCache(OuterHeaderRemovalDescription)


_new_ohr = fast_ctor(OuterHeaderRemoval)


def _pull_ohr(buf: Buffer) -> OuterHeaderRemoval:
    d = _OHR[buf.pull_u8()]
    ext = buf.pull_u8() if buf.remaining() else None
    return _new_ohr(d, ext)


def _push_ohr(w: Writer, v: OuterHeaderRemoval) -> None:
    w.append(int(v.description))
    if v.gtpu_extension_header_deletion is not None:
        w.append(v.gtpu_extension_header_deletion)


def _tlv_ohr(v: OuterHeaderRemoval) -> bytes:
    if v.gtpu_extension_header_deletion is None:
        return _TLB(IEType.OUTER_HEADER_REMOVAL, 1, v.description)
    return _tlv_ohr_slow(v)


_tlv_ohr_slow = tlv_via_push(IEType.OUTER_HEADER_REMOVAL, _push_ohr)
register(IEType.OUTER_HEADER_REMOVAL, OuterHeaderRemoval, _pull_ohr, _push_ohr, tlv=_tlv_ohr)


@dataclass(frozen=True, slots=True)
class FailedRuleId:
    """TS 29.244 8.2.80."""

    rule_id_type: RuleIdType
    rule_id: int


_RULE_ID_SIZE = {0: 2, 1: 4, 2: 4, 3: 4, 4: 1}


def _pull_frid(buf: Buffer) -> FailedRuleId:
    t = RuleIdType(buf.pull_u8() & 0x1F)
    size = _RULE_ID_SIZE.get(int(t))
    if size is None:
        raise IeValueError(f"unknown rule ID type {int(t)}")
    return FailedRuleId(t, int.from_bytes(buf.pull_bytes(size), "big"))


def _push_frid(w: Writer, v: FailedRuleId) -> None:
    w.append(int(v.rule_id_type))
    w += v.rule_id.to_bytes(_RULE_ID_SIZE[int(v.rule_id_type)], "big")


register(IEType.FAILED_RULE_ID, FailedRuleId, _pull_frid, _push_frid)


@dataclass(frozen=True, slots=True)
class DownlinkDataServiceInformation:
    """TS 29.244 8.2.27 (flags PPI, QFII)."""

    paging_policy_indication: int | None = None
    qfi: int | None = None


def _pull_ddsi(buf: Buffer) -> DownlinkDataServiceInformation:
    f = buf.pull_u8()
    ppi = buf.pull_u8() & 0x3F if f & 1 else None
    qfi = buf.pull_u8() & 0x3F if f & 2 else None
    return DownlinkDataServiceInformation(ppi, qfi)


def _push_ddsi(w: Writer, v: DownlinkDataServiceInformation) -> None:
    p, q = v.paging_policy_indication, v.qfi
    w.append((p is not None) | ((q is not None) << 1))
    if p is not None:
        w.append(p)
    if q is not None:
        w.append(q)


register(IEType.DOWNLINK_DATA_SERVICE_INFORMATION, DownlinkDataServiceInformation, _pull_ddsi, _push_ddsi)


@dataclass(frozen=True, slots=True)
class Multiplier:
    """TS 29.244 8.2.84: value = value_digits * 10**exponent."""

    value_digits: int
    exponent: int


def _pull_mult(buf: Buffer) -> Multiplier:
    return Multiplier(
        int.from_bytes(buf.pull_bytes(8), "big", signed=True),
        int.from_bytes(buf.pull_bytes(4), "big", signed=True),
    )


def _push_mult(w: Writer, v: Multiplier) -> None:
    w += v.value_digits.to_bytes(8, "big", signed=True)
    w += v.exponent.to_bytes(4, "big", signed=True)


register(IEType.MULTIPLIER, Multiplier, _pull_mult, _push_mult)


@dataclass(frozen=True, slots=True)
class TimeQuotaMechanism:
    """TS 29.244 8.2.81: base time interval type (CTP=0, DTP=1) and interval in seconds."""

    btit: int
    base_time_interval: int


def _pull_tqm(buf: Buffer) -> TimeQuotaMechanism:
    return TimeQuotaMechanism(buf.pull_u8() & 0x03, buf.pull_u32())


def _push_tqm(w: Writer, v: TimeQuotaMechanism) -> None:
    w.append(v.btit)
    w += U32.pack(v.base_time_interval)


register(IEType.TIME_QUOTA_MECHANISM, TimeQuotaMechanism, _pull_tqm, _push_tqm)


@dataclass(frozen=True, slots=True)
class AdditionalUsageReportsInformation:
    """TS 29.244 8.2.91: AURI flag or a 15-bit number of additional usage reports."""

    auri: bool = False
    number: int = 0


def _pull_auri(buf: Buffer) -> AdditionalUsageReportsInformation:
    v = buf.pull_u16()
    return AdditionalUsageReportsInformation(bool(v & 0x8000), v & 0x7FFF)


def _push_auri(w: Writer, v: AdditionalUsageReportsInformation) -> None:
    w += U16.pack((0x8000 if v.auri else 0) | v.number)


register(
    IEType.ADDITIONAL_USAGE_REPORTS_INFORMATION, AdditionalUsageReportsInformation, _pull_auri, _push_auri
)

NTP_UNIX_OFFSET = 2208988800  # seconds from 1900-01-01 to 1970-01-01


def ntp_to_unix(ntp_seconds: int) -> int:
    """Time-stamp IEs (Recovery Time Stamp, Start/End Time...) are NTP seconds (TS 29.244 8.2.65)."""
    return ntp_seconds - NTP_UNIX_OFFSET


def unix_to_ntp(unix_seconds: float) -> int:
    return (int(unix_seconds) + NTP_UNIX_OFFSET) & 0xFFFFFFFF
