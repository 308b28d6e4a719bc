"""Hypothesis round-trip properties. Message and grouped-IE strategies are derived from the
codec's own tables (pfcp.ies.base.Spec); leaf IEs have hand-written strategies that produce the
canonical form of each value (what the decoder returns)."""

from __future__ import annotations

from enum import IntEnum, IntFlag
from ipaddress import IPv4Address, IPv6Address
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import pfcp
from pfcp import IEType as T
from pfcp.ies.base import IE_CODECS, K_GROUP, K_U8, K_U16, K_U32, M, Spec

v4 = st.integers(0, 2**32 - 1).map(IPv4Address)
v6 = st.integers(0, 2**128 - 1).map(IPv6Address)
u8, u16, u32, u64 = (st.integers(0, 2**n - 1) for n in (8, 16, 32, 64))
text = st.text(st.characters(max_codepoint=255), max_size=30)
label = st.text("abcdefghijklmnopqrstuvwxyz0123456789-", min_size=1, max_size=12)
fqdn = st.lists(label, min_size=1, max_size=4).map(".".join)


def _enum(e: type[IntEnum], mask: int = 0xFF) -> st.SearchStrategy[Any]:
    return st.sampled_from(list(e))


def _flags(f: type[IntFlag]) -> st.SearchStrategy[Any]:
    return st.lists(st.sampled_from(list(f)), max_size=4).map(lambda xs: f(sum({int(x) for x in xs})))


OHC = pfcp.OuterHeaderCreationDescription


@st.composite
def _ohc(draw: st.DrawFn) -> pfcp.OuterHeaderCreation:
    d = draw(st.sampled_from([OHC.GTP_U_UDP_IPV4, OHC.GTP_U_UDP_IPV6, OHC.UDP_IPV4, OHC.UDP_IPV6, OHC.IPV4,
                              OHC.IPV6, OHC.GTP_U_UDP_IPV4 | OHC.N19_INDICATION]))
    gtp = bool(d & (OHC.GTP_U_UDP_IPV4 | OHC.GTP_U_UDP_IPV6))
    has4 = bool(d & (OHC.GTP_U_UDP_IPV4 | OHC.UDP_IPV4 | OHC.IPV4))
    has6 = bool(d & (OHC.GTP_U_UDP_IPV6 | OHC.UDP_IPV6 | OHC.IPV6))
    udp = bool(d & (OHC.UDP_IPV4 | OHC.UDP_IPV6))
    return pfcp.OuterHeaderCreation(
        d,
        teid=draw(u32) if gtp else None,
        ipv4=draw(v4) if has4 else None,
        ipv6=draw(v6) if has6 else None,
        port=draw(u16) if udp else None,
    )


@st.composite
def _fteid(draw: st.DrawFn) -> pfcp.FTeid:
    cid = draw(st.none() | u8)
    if draw(st.booleans()):
        return pfcp.FTeid(choose=True, choose_id=cid, choose_v4=draw(st.booleans()), choose_v6=draw(st.booleans()))
    return pfcp.FTeid(draw(u32), draw(st.none() | v4), draw(st.none() | v6), choose_id=cid)


def _opt(s: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.none() | s


LEAF: dict[int, st.SearchStrategy[Any]] = {
    T.NODE_ID: st.builds(pfcp.NodeId, v4 | v6 | fqdn),
    T.F_SEID: st.builds(pfcp.FSeid, u64, _opt(v4), _opt(v6)),
    T.F_TEID: _fteid(),
    T.UE_IP_ADDRESS: st.builds(pfcp.UeIpAddress, _opt(v4), _opt(v6), st.booleans(), st.booleans(), st.booleans(),
                               _opt(u8), _opt(u8)),
    T.OUTER_HEADER_CREATION: _ohc(),
    T.OUTER_HEADER_REMOVAL: st.builds(pfcp.OuterHeaderRemoval, _enum(pfcp.OuterHeaderRemovalDescription), _opt(u8)),
    T.SDF_FILTER: st.builds(pfcp.SdfFilter, _opt(text), _opt(u16), _opt(u32), _opt(st.integers(0, 2**24 - 1)),
                            _opt(u32)),
    T.GATE_STATUS: st.builds(pfcp.GateStatus, _enum(pfcp.Gate), _enum(pfcp.Gate)),
    T.MBR: st.builds(pfcp.Mbr, st.integers(0, 2**40 - 1), st.integers(0, 2**40 - 1)),
    T.GBR: st.builds(pfcp.Gbr, st.integers(0, 2**40 - 1), st.integers(0, 2**40 - 1)),
    T.VOLUME_THRESHOLD: st.builds(pfcp.VolumeThreshold, _opt(u64), _opt(u64), _opt(u64)),
    T.VOLUME_QUOTA: st.builds(pfcp.VolumeQuota, _opt(u64), _opt(u64), _opt(u64)),
    T.VOLUME_MEASUREMENT: st.builds(pfcp.VolumeMeasurement, *[_opt(u64)] * 6),
    T.NETWORK_INSTANCE: st.builds(pfcp.NetworkInstance, st.binary(max_size=20)),
    T.APN_DNN: st.builds(pfcp.ApnDnn, st.binary(max_size=20)),
    T.TIMER: st.builds(pfcp.Timer, _enum(pfcp.TimerUnit), st.integers(0, 31)),
    T.GRACEFUL_RELEASE_PERIOD: st.builds(pfcp.Timer, _enum(pfcp.TimerUnit), st.integers(0, 31)),
    T.DL_BUFFERING_DURATION: st.builds(pfcp.Timer, _enum(pfcp.TimerUnit), st.integers(0, 31)),
    T.FAILED_RULE_ID: st.sampled_from([(0, 16), (1, 32), (2, 32), (3, 32), (4, 8)]).flatmap(
        lambda k: st.builds(pfcp.FailedRuleId, st.just(pfcp.RuleIdType(k[0])), st.integers(0, 2 ** k[1] - 1))
    ),
    T.FQ_CSID: st.builds(pfcp.FqCsid, v4 | v6 | u32, st.lists(u16, max_size=15).map(tuple)),
    T.REMOTE_GTP_U_PEER: st.builds(pfcp.RemoteGtpUPeer, _opt(v4), _opt(v6), _opt(_enum(pfcp.DestinationInterface)),
                                   _opt(st.builds(pfcp.NetworkInstance, st.binary(max_size=10)))),
    T.APPLICATION_ID: text,
    T.ACTIVATE_PREDEFINED_RULES: text,
    T.DEACTIVATE_PREDEFINED_RULES: text,
    T.FORWARDING_POLICY: st.binary(max_size=20),
    T.DL_BUFFERING_SUGGESTED_PACKET_COUNT: u16,
    T.OFFENDING_IE: st.sampled_from(list(pfcp.IEType)),
    T.RQI: st.booleans(),
    T.QFI: st.integers(0, 63),
    T.PAGING_POLICY_INDICATOR: st.integers(0, 7),
    T.DOWNLINK_DATA_SERVICE_INFORMATION: st.builds(pfcp.DownlinkDataServiceInformation, _opt(st.integers(0, 63)),
                                                   _opt(st.integers(0, 63))),
    T.ADDITIONAL_USAGE_REPORTS_INFORMATION: st.builds(pfcp.AdditionalUsageReportsInformation, st.booleans(),
                                                      st.integers(0, 2**15 - 1)),
    T.MULTIPLIER: st.builds(pfcp.Multiplier, st.integers(-(2**63), 2**63 - 1), st.integers(-(2**31), 2**31 - 1)),
    T.TIME_QUOTA_MECHANISM: st.builds(pfcp.TimeQuotaMechanism, st.integers(0, 3), u32),
    T.FLOW_INFORMATION: st.builds(pfcp.FlowInformation, _enum(pfcp.FlowDirection), text),
    T.PFD_CONTENTS: st.builds(pfcp.PfdContents, _opt(text), _opt(text), _opt(text), _opt(st.binary(max_size=8)),
                              _opt(text)),
    T.REDIRECT_INFORMATION: st.builds(pfcp.RedirectInformation, _enum(pfcp.RedirectAddressType), text, _opt(text)),
    T.DROPPED_DL_TRAFFIC_THRESHOLD: st.builds(pfcp.DroppedDlTrafficThreshold, _opt(u64), _opt(u64)),
    T.SUBSEQUENT_VOLUME_THRESHOLD: st.builds(pfcp.SubsequentVolumeThreshold, _opt(u64), _opt(u64), _opt(u64)),
    T.SUBSEQUENT_VOLUME_QUOTA: st.builds(pfcp.SubsequentVolumeQuota, _opt(u64), _opt(u64), _opt(u64)),
    T.USER_PLANE_IP_RESOURCE_INFORMATION: st.builds(
        pfcp.UserPlaneIpResourceInformation, _opt(v4), _opt(v6), st.just(0), st.none(),
        _opt(st.builds(pfcp.NetworkInstance, st.binary(max_size=10))), _opt(_enum(pfcp.SourceInterface)),
    ),
}


def _leaf(ie_type: int) -> st.SearchStrategy[Any] | None:
    if ie_type in LEAF:
        return LEAF[ie_type]
    codec = IE_CODECS[ie_type]
    if codec.kind in (K_U8, K_U16, K_U32):
        return st.integers(0, 2 ** {K_U8: 8, K_U16: 16, K_U32: 32}[codec.kind] - 1)
    if isinstance(codec.cls, type) and issubclass(codec.cls, IntFlag):
        return _flags(codec.cls)
    if isinstance(codec.cls, type) and issubclass(codec.cls, IntEnum):
        return _enum(codec.cls)
    if codec.cls is bytes:
        return st.binary(max_size=16)
    return None  # no strategy: the field keeps its default


def spec_strategy(spec: Spec, depth: int = 0) -> st.SearchStrategy[Any]:
    """Instances of a message or grouped IE, field by field from its table."""
    kwargs: dict[str, st.SearchStrategy[Any]] = {}
    for row in spec.fields:
        codec = IE_CODECS[row.ie_type]
        if codec.kind == K_GROUP:
            assert codec.spec is not None
            leaf = spec_strategy(codec.spec, depth + 1)
        else:
            found = _leaf(row.ie_type)
            if found is None:
                assert row.presence != M, row
                continue
            leaf = found
        if row.multiple:
            kwargs[row.name] = st.lists(leaf, min_size=1 if row.presence == M else 0, max_size=2).map(tuple)
        elif row.presence == M:
            kwargs[row.name] = leaf
        else:
            kwargs[row.name] = st.none() | leaf
    if hasattr(spec.cls, "message_type"):
        kwargs["sequence"] = st.integers(0, 2**24 - 1)
        kwargs["priority"] = st.none() | st.integers(0, 15)
        if getattr(spec.cls, "is_session", False):
            kwargs["seid"] = u64
    return st.builds(spec.cls, **kwargs)


def _valid(msg: pfcp.Message) -> bool:
    """Drop instances the decoder must reject (conditional IEs the condition demands)."""
    try:
        pfcp.decode_message(pfcp.encode_message(msg))
    except pfcp.DecodeError as exc:
        return exc.cause != pfcp.Cause.CONDITIONAL_IE_MISSING
    return True


messages = st.sampled_from(sorted(pfcp.MESSAGE_CLASSES.values(), key=lambda c: c.message_type)).flatmap(
    lambda cls: spec_strategy(cls._spec)
).filter(_valid)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(messages)
def test_round_trip(msg: pfcp.Message) -> None:
    data = pfcp.encode_message(msg)
    decoded = pfcp.decode_message(data)
    assert decoded == msg
    assert pfcp.encode_message(decoded) == data


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=64))
def test_garbage_raises_only_decode_error(data: bytes) -> None:
    for candidate in (data, b"\x20\x05" + len(data).to_bytes(2, "big") + data):
        try:
            pfcp.decode_message(candidate)
        except pfcp.DecodeError as exc:
            assert exc.cause != pfcp.Cause.SYSTEM_FAILURE
