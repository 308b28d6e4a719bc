"""Building PFCP responses and IEs from control-plane results (no I/O, no state)."""

from __future__ import annotations

import dataclasses
import functools
import struct
from collections.abc import Callable, Iterable
from ipaddress import IPv4Address, IPv6Address
from typing import Any, TypeVar

from control.compile import CreatedInfo
from control.errors import ControlError
from control.session import Session
from control.usage import Usage
from pfcp import (
    AssociationReleaseResponse,
    AssociationSetupResponse,
    AssociationUpdateResponse,
    Cause,
    CreatedPdr,
    FailedRuleId,
    FqCsid,
    FSeid,
    FTeid,
    IEType,
    Message,
    MessageType,
    NodeId,
    SessionDeletionResponse,
    SessionEstablishmentResponse,
    SessionModificationResponse,
    SessionSetDeletionResponse,
    UeIpAddress,
    UsageReportSdr,
    UsageReportSmr,
    UsageReportTrigger,
    VolumeMeasurement,
    encode_ie,
    encode_message,
)
from pfcp.ies.base import fast_ctor
from pfcp.node import Address


def socket_address(raw: object) -> Address:
    """(host, port) of a socket address (IPv6 addresses come with flowinfo and scope)."""
    if not isinstance(raw, tuple) or len(raw) < 2:
        raise TypeError(f"not an IP socket address: {raw!r}")
    return (str(raw[0]), int(raw[1]))


def offending_ie(value: int | None) -> IEType | None:
    return IEType(value) if value is not None else None


def failed_rule_id(exc: ControlError) -> FailedRuleId | None:
    if exc.failed_rule is None or exc.cause is not Cause.RULE_CREATION_MODIFICATION_FAILURE:
        return None
    return FailedRuleId(*exc.failed_rule)


_R = TypeVar("_R", UsageReportSdr, UsageReportSmr)
_REPORT_HEAD = ("urr_id", "ur_seqn", "usage_report_trigger", "start_time", "end_time",
                "volume_measurement")
_VOLUME_FIELDS = ("total_volume", "uplink_volume", "downlink_volume", "total_packets",
                  "uplink_packets", "downlink_packets")


def _positional(cls: type[Any], head: tuple[str, ...]) -> tuple[Callable[..., Any], tuple[Any, ...]]:
    """A constructor taking every field of ``cls`` in order (pfcp's fast_ctor: no frozen
    ``__init__``, ~3 us less per report), and the defaults of the fields after ``head``.
    (``cls`` itself and no defaults if its fields do not start with ``head`` or have
    factories: then usage_report() calls it by keyword.)"""
    fields = dataclasses.fields(cls)
    rest = fields[len(head):]
    if (tuple(f.name for f in fields[:len(head)]) != head
            or any(f.default is dataclasses.MISSING for f in rest)):
        return cls, ()
    return fast_ctor(cls), tuple(f.default for f in rest)


_MAKERS = {cls: _positional(cls, _REPORT_HEAD) for cls in (UsageReportSdr, UsageReportSmr)}
_VOLUME_MAKER = _positional(VolumeMeasurement, _VOLUME_FIELDS)


def usage_report(cls: type[_R], u: Usage, trigger: UsageReportTrigger) -> _R:
    """A Usage Report IE (TS 29.244 7.5.5.2 / 7.5.7.2) with the Volume Measurement."""
    ul, dl = u.uplink, u.downlink
    volumes = (ul.octets + dl.octets, ul.octets, dl.octets, ul.packets + dl.packets,
               ul.packets, dl.packets)
    make, rest = _VOLUME_MAKER
    if make is VolumeMeasurement:
        vm = VolumeMeasurement(**dict(zip(_VOLUME_FIELDS, volumes, strict=True)))
    else:
        vm = make(*volumes, *rest)
    make, rest = _MAKERS[cls]
    if make is cls:
        return cls(urr_id=u.urr_id, ur_seqn=u.ur_seqn, usage_report_trigger=trigger,
                   volume_measurement=vm)
    return make(u.urr_id, u.ur_seqn, trigger, None, None, vm, *rest)  # type: ignore[no-any-return]


def created_pdr(c: CreatedInfo) -> CreatedPdr:
    f = c.f_teid
    fteid = FTeid(f.teid, f.ipv4, f.ipv6) if f is not None else None
    ue = None
    if c.ue_v4 is not None or c.ue_v6 is not None:
        ue = UeIpAddress(ipv4=c.ue_v4,
                         ipv6=c.ue_v6.network_address if c.ue_v6 is not None else None,
                         is_destination=True)
    return CreatedPdr(c.pdr_id, local_f_teid=fteid, ue_ip_address=ue)


# --- Accepted session responses, as octets (TS 29.244 7.5.3, 7.5.5, 7.5.7) ----------------
#
# The agent answers every accepted Session Establishment, Modification and Deletion with
# these octets instead of a message object for the codec: building the message, its Created
# PDRs and Usage Reports and encoding them costs 5-10 us, packing them 1-2 us. What is the
# same in every answer comes from the codec itself (Node ID, Cause, the F-SEID's flags and
# address, Usage Report Triggers); the header, our SEID, the Created PDRs and the Usage
# Reports are packed per answer. The octets are those of encode_message() of the message with
# created_pdr() and usage_report(); tests/control/test_fast_responses.py checks that for every
# shape (and decodes them with scapy).

_HEADER_LEN = 16  # a session message's header (TS 29.244 7.2.2.1)
_HEADER_FLAGS = 0x21  # version 1, S=1 (no FO, no MP)
_ESTABLISHMENT_RESPONSE = int(MessageType.SESSION_ESTABLISHMENT_RESPONSE)
_MODIFICATION_RESPONSE = int(MessageType.SESSION_MODIFICATION_RESPONSE)
_DELETION_RESPONSE = int(MessageType.SESSION_DELETION_RESPONSE)
_CREATED_PDR = int(IEType.CREATED_PDR)
_PDR_ID = int(IEType.PDR_ID)
_F_TEID = int(IEType.F_TEID)
_UE_IP_ADDRESS = int(IEType.UE_IP_ADDRESS)
_F_SEID = int(IEType.F_SEID).to_bytes(2, "big")
_UE_SD = 0x04  # UE IP Address S/D: a destination address (TS 29.244 8.2.62)

_CAUSE_ACCEPTED = encode_ie(IEType.CAUSE, Cause.REQUEST_ACCEPTED)
_SESSION_HEADER = struct.Struct("!BBHQI").pack  # flags, type, length, SEID, sequence << 8
_TL = struct.Struct("!HH").pack
_PDR_ID_IE = struct.Struct("!HHH").pack
_U32 = struct.Struct("!I").pack
# The two usual Created PDRs in one pack each: PDR ID + F-TEID (IPv4), PDR ID + UE IP (IPv4)
_WITH_F_TEID_V4 = struct.Struct("!HHHHHHHBII").pack
_WITH_UE_V4 = struct.Struct("!HHHHHHHBI").pack


def created_pdr_octets(c: CreatedInfo) -> bytes:
    """The Created PDR IE (TS 29.244 7.5.3.2) of ``c``: the octets of created_pdr(c)."""
    f, v4, v6 = c.f_teid, c.ue_v4, c.ue_v6
    if v4 is None and v6 is None:
        if f is not None and f.ipv4 is not None and f.ipv6 is None:
            return _WITH_F_TEID_V4(_CREATED_PDR, 19, _PDR_ID, 2, c.pdr_id,
                                   _F_TEID, 9, 0x01, f.teid, f.ipv4._ip)  # type: ignore[attr-defined]
    elif v4 is not None and v6 is None and f is None:
        return _WITH_UE_V4(_CREATED_PDR, 15, _PDR_ID, 2, c.pdr_id,
                           _UE_IP_ADDRESS, 5, 0x02 | _UE_SD, v4._ip)  # type: ignore[attr-defined]
    value = _PDR_ID_IE(_PDR_ID, 2, c.pdr_id)
    if f is not None:  # TS 29.244 8.2.3: flags (V4, V6), TEID, IPv4, IPv6
        addrs = (f.ipv4.packed if f.ipv4 is not None else b"") + \
            (f.ipv6.packed if f.ipv6 is not None else b"")
        flags = (f.ipv4 is not None) | (f.ipv6 is not None) << 1
        value += _TL(_F_TEID, 5 + len(addrs)) + bytes((flags,)) + _U32(f.teid) + addrs
    if v4 is not None or v6 is not None:  # TS 29.244 8.2.62: flags (V6, V4, S/D), IPv4, IPv6
        addrs = (v4.packed if v4 is not None else b"") + \
            (v6.network_address.packed if v6 is not None else b"")
        flags = (v6 is not None) | (v4 is not None) << 1 | _UE_SD
        value += _TL(_UE_IP_ADDRESS, 1 + len(addrs)) + bytes((flags,)) + addrs
    return _TL(_CREATED_PDR, len(value)) + value


def _created_pdrs(created: Iterable[CreatedInfo]) -> bytes:
    """The Created PDRs of those of ``created`` that chose something (an F-TEID, a UE
    address), as the agent puts them in its responses."""
    return b"".join([created_pdr_octets(c) for c in created if c.f_teid or c.ue_v4 or c.ue_v6])


# A Usage Report as usage_report() makes it (TS 29.244 7.5.5.2, 7.5.7.2): URR ID, UR-SEQN,
# Usage Report Trigger, Volume Measurement with all six values (TS 29.244 8.2.44)
_REPORT_IDS = struct.Struct("!HHHHIHHI").pack  # the report's type, length; URR ID; UR-SEQN
_VOLUME = struct.Struct("!HHB6Q").pack
_VOLUME_IE, _VOLUME_LEN, _VOLUME_FLAGS = int(IEType.VOLUME_MEASUREMENT), 49, 0x3F
_URR_ID, _UR_SEQN = int(IEType.URR_ID), int(IEType.UR_SEQN)


@functools.cache
def _trigger_ie(trigger: UsageReportTrigger) -> bytes:
    return encode_ie(IEType.USAGE_REPORT_TRIGGER, trigger)


def usage_report_octets(ie_type: int, u: Usage, trigger: UsageReportTrigger) -> bytes:
    """The Usage Report IE of type ``ie_type`` (in a Modification or a Deletion Response):
    the octets of usage_report(UsageReportSmr or UsageReportSdr, u, trigger)."""
    ul, dl = u.uplink, u.downlink
    trig = _trigger_ie(trigger)
    return _REPORT_IDS(ie_type, 16 + len(trig) + 4 + _VOLUME_LEN, _URR_ID, 4, u.urr_id,
                       _UR_SEQN, 4, u.ur_seqn) + trig + \
        _VOLUME(_VOLUME_IE, _VOLUME_LEN, _VOLUME_FLAGS, ul.octets + dl.octets, ul.octets,
                dl.octets, ul.packets + dl.packets, ul.packets, dl.packets)


_SMR = int(IEType.USAGE_REPORT_SESSION_MODIFICATION_RESPONSE)
_SDR = int(IEType.USAGE_REPORT_SESSION_DELETION_RESPONSE)
_TERMR, _IMMER = UsageReportTrigger.TERMR, UsageReportTrigger.IMMER


def modification_accepted(sequence: int, remote_seid: int, created: Iterable[CreatedInfo],
                          final: Iterable[Usage] = (), current: Iterable[Usage] = ()) -> bytes:
    """The accepted Session Modification Response (TS 29.244 7.5.5) to request ``sequence``
    of the session the peer calls ``remote_seid``: the Created PDRs of ``created``, the
    final Usage Reports of removed URRs (TERMR), then the queried ones (IMMER)."""
    ies = _CAUSE_ACCEPTED + _created_pdrs(created) + \
        b"".join([usage_report_octets(_SMR, u, _TERMR) for u in final]) + \
        b"".join([usage_report_octets(_SMR, u, _IMMER) for u in current])
    return _SESSION_HEADER(_HEADER_FLAGS, _MODIFICATION_RESPONSE, 12 + len(ies), remote_seid,
                           sequence << 8) + ies


def deletion_accepted(sequence: int, remote_seid: int, usages: Iterable[Usage]) -> bytes:
    """The accepted Session Deletion Response (TS 29.244 7.5.7) to request ``sequence`` of
    the session the peer calls ``remote_seid``, with a final Usage Report (TERMR) each."""
    ies = _CAUSE_ACCEPTED + b"".join([usage_report_octets(_SDR, u, _TERMR) for u in usages])
    return _SESSION_HEADER(_HEADER_FLAGS, _DELETION_RESPONSE, 12 + len(ies), remote_seid,
                           sequence << 8) + ies


class EstablishmentAccepted:
    """The accepted Session Establishment Response of one Node ID and N4 address, as
    octets: ``encode(...)`` is ``encode_message(SessionEstablishmentResponse(sequence,
    node_id, Cause.REQUEST_ACCEPTED, up_f_seid=FSeid(seid, ipv4, ipv6), created_pdr=...,
    seid=remote_seid))`` with the Created PDRs of created_pdr()."""

    __slots__ = ("_head", "_length", "_pack", "_tail", "ipv4", "ipv6")

    def __init__(self, node_id: NodeId, ipv4: IPv4Address | None,
                 ipv6: IPv6Address | None = None) -> None:
        self.ipv4 = ipv4
        self.ipv6 = ipv6
        accepted = functools.partial(SessionEstablishmentResponse, 0, node_id,
                                     Cause.REQUEST_ACCEPTED, seid=0)
        fixed = encode_message(accepted())[_HEADER_LEN:]  # Node ID, Cause
        body = encode_message(accepted(up_f_seid=FSeid(0, ipv4, ipv6)))[_HEADER_LEN:]
        at = len(fixed) + 5  # the SEID, after the F-SEID's type, length and flags
        if body[:len(fixed)] != fixed or body[len(fixed):len(fixed) + 2] != _F_SEID:
            raise RuntimeError("the codec no longer writes Node ID, Cause, F-SEID in order")
        self._head, self._tail = body[:at], body[at + 8:]
        # header, Node ID + Cause + F-SEID up to its SEID, the SEID, the F-SEID's addresses
        self._pack = struct.Struct(f"!BBHQI{at}sQ{len(self._tail)}s").pack
        self._length = (_HEADER_LEN - 4) + len(body)  # the Message Length, less Created PDRs

    def encode(self, sequence: int, remote_seid: int, seid: int,
               created: Iterable[CreatedInfo]) -> bytes:
        """The response to request ``sequence`` of the session the peer calls
        ``remote_seid`` and we ``seid``, with a Created PDR for each of ``created`` that
        chose something (an F-TEID or a UE address)."""
        pdrs = _created_pdrs(created)
        return self._pack(_HEADER_FLAGS, _ESTABLISHMENT_RESPONSE, self._length + len(pdrs),
                          remote_seid, sequence << 8, self._head, seid, self._tail) + pdrs


_NO_CSIDS: frozenset[tuple[str, int]] = frozenset()


def csid_set(fq_csids: Iterable[FqCsid]) -> frozenset[tuple[str, int]]:
    """(node address, CSID) pairs; the shared empty set when there are none (an empty
    frozenset costs 216 bytes, times every session)."""
    if not fq_csids:
        return _NO_CSIDS
    return frozenset((str(f.node_address), c) for f in fq_csids for c in f.csids) or _NO_CSIDS


def with_remote_seid(session: Session, f_seid: FSeid) -> Session:
    return dataclasses.replace(session, remote_seid=f_seid.seid, remote_ipv4=f_seid.ipv4,
                               remote_ipv6=f_seid.ipv6)


def error_response(message_type: int, cause: Cause, ie_type: int | None, node_id: NodeId,
                   seid: int, recovery_time_stamp: int) -> Message | None:
    """A response of the right type for ``message_type`` carrying ``cause`` (TS 29.244 7.6)."""
    off = offending_ie(ie_type)
    mt = MessageType(message_type)
    if mt is MessageType.SESSION_ESTABLISHMENT_REQUEST:
        return SessionEstablishmentResponse(0, node_id, cause, offending_ie=off, seid=seid)
    if mt is MessageType.SESSION_MODIFICATION_REQUEST:
        return SessionModificationResponse(0, cause, offending_ie=off, seid=seid)
    if mt is MessageType.SESSION_DELETION_REQUEST:
        return SessionDeletionResponse(0, cause, offending_ie=off, seid=seid)
    if mt is MessageType.SESSION_SET_DELETION_REQUEST:
        return SessionSetDeletionResponse(0, node_id, cause, offending_ie=off)
    if mt is MessageType.ASSOCIATION_SETUP_REQUEST:
        return AssociationSetupResponse(0, node_id, cause, recovery_time_stamp)
    if mt is MessageType.ASSOCIATION_UPDATE_REQUEST:
        return AssociationUpdateResponse(0, node_id, cause)
    if mt is MessageType.ASSOCIATION_RELEASE_REQUEST:
        return AssociationReleaseResponse(0, node_id, cause)
    return None
