"""PFCP session rules -> new session state + Plan. Pure: it never writes a map.

The only state it touches is the allocation transaction it is given, whose
allocations are listed there and undone with ``txn.abort()`` when the plan is
not applied (see control/alloc.py).

Choices where TS 29.244 leaves room, or where the fast path is narrower:
- Outer Header Removal: 0 (GTP-U/UDP/IPv4) and 6 (GTP-U/UDP/IP) are accepted, and
  no OHR at all; anything else is rejected with RULE_CREATION_MODIFICATION_FAILURE
  and the PDR in Failed Rule ID (the fast path could not honour it).
- A PDR is installed under its local F-TEID (uplink, N9, CP-function tunnels) or,
  without one, under its UE IP address (downlink). A PDR with neither is rejected
  (cause 73). At most RULES_PER_KEY PDRs may share one key (cause 73, Failed Rule ID
  = the PDR that did not fit, i.e. the lowest priority one).
- SDF filters are accepted but not enforced by the fast path (sdf_id 0): PDRs that
  share a key are tried by precedence and QFI only.
- Outer Header Creation other than GTP-U/UDP/IPv4 is rejected (cause 73, FAR).
- The QFI marked on downlink is the first QFI among the PDR's QERs; the QER slot
  the fast path gates with is the PDR's first QER.
- F-TEID CHOOSE ID scope is one request; CHV4/CHV6 UE addresses are allocated once
  per session and network instance and reused by every PDR asking for one.
"""

from __future__ import annotations

import dataclasses
import functools
import ipaddress
import itertools
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import NamedTuple, TypeVar

from control.alloc import Allocator, AllocTxn
from control.errors import ResourceExhausted, RuleError
from control.fastinit import fast_init
from control.layout import (
    ApplyActionBits,
    Encap,
    Far,
    Iface,
    MapName,
    Ohr,
    Qer,
    pack_far,
    pack_qer,
)
from control.plan import EndMarker, Plan
from control.render import diff, install, remember_packed, uninstall, update
from control.session import (
    EMPTY,
    FarState,
    ForwardingState,
    LocalFTeid,
    PdrState,
    QerState,
    RuleMap,
    Session,
    UrrState,
    frozen,
)
from pfcp.enums import (
    Cause,
    DestinationInterface,
    IEType,
    OuterHeaderCreationDescription,
    OuterHeaderRemovalDescription,
    PfcpsmReqFlags,
    RuleIdType,
    SourceInterface,
)
from pfcp.ies.address import FTeid
from pfcp.ies.grouped import (
    CreateFar,
    CreatePdr,
    CreateQer,
    CreateUrr,
    ForwardingParameters,
    Pdi,
    RemoveFar,
    RemovePdr,
    RemoveQer,
    RemoveUrr,
    UpdateFar,
    UpdatePdr,
    UpdateQer,
    UpdateUrr,
)
from pfcp.ies.simple import NetworkInstance, OuterHeaderRemoval

log = logging.getLogger("upf.control.compile")

V = TypeVar("V")

_OHR = {
    OuterHeaderRemovalDescription.GTP_U_UDP_IPV4: Ohr.GTPU_UDP_IPV4,
    OuterHeaderRemovalDescription.GTP_U_UDP_IP: Ohr.GTPU_UDP_IP,
}
_FAST_PATH_ACTIONS = 0x1F  # DROP FORW BUFF NOCP DUPL: the bits struct far carries


class CreatedInfo(NamedTuple):
    """What the UPF chose for a PDR (goes into the Created PDR IE, TS 29.244 7.5.3.2).

    A NamedTuple: built for every PDR, and one that chose nothing holds no object the GC
    has to track."""

    pdr_id: int
    f_teid: LocalFTeid | None = None
    ue_v4: ipaddress.IPv4Address | None = None
    ue_v6: ipaddress.IPv6Network | None = None


_new_created = functools.partial(tuple.__new__, CreatedInfo)


@fast_init
@dataclass(frozen=True, slots=True)
class SessionRules:
    """The rule IEs of an Establishment or Modification Request, as the compiler needs them."""

    create_pdr: tuple[CreatePdr, ...] = ()
    create_far: tuple[CreateFar, ...] = ()
    create_qer: tuple[CreateQer, ...] = ()
    create_urr: tuple[CreateUrr, ...] = ()
    update_pdr: tuple[UpdatePdr, ...] = ()
    update_far: tuple[UpdateFar, ...] = ()
    update_qer: tuple[UpdateQer, ...] = ()
    update_urr: tuple[UpdateUrr, ...] = ()
    remove_pdr: tuple[RemovePdr, ...] = ()
    remove_far: tuple[RemoveFar, ...] = ()
    remove_qer: tuple[RemoveQer, ...] = ()
    remove_urr: tuple[RemoveUrr, ...] = ()


@fast_init
@dataclass(frozen=True, slots=True)
class Result:
    session: Session | None
    plan: Plan
    created: tuple[CreatedInfo, ...] = ()


@dataclass(slots=True)
class _Ctx:
    alloc: Allocator
    txn: AllocTxn
    seid: int
    chosen: dict[int, LocalFTeid] = field(default_factory=dict)  # CHOOSE ID -> F-TEID
    ue_v4: dict[str | None, ipaddress.IPv4Address] = field(default_factory=dict)
    ue_v6: dict[str | None, ipaddress.IPv6Network] = field(default_factory=dict)


_SHARED: dict[object, object] = {}
_SHARED_MAX = 1 << 16


def _shared(value: V) -> V:
    """One instance per distinct immutable value: most sessions hold equal FARs, QERs and
    URRs (the same forwarding towards the core, the same QoS); sharing them saves hundreds
    of bytes per session. The table is bounded (cleared when full). Keys should hash in C
    (tuples of ints and strings): a dataclass's __hash__ is Python code."""
    got = _SHARED.get(value)
    if got is None:
        if len(_SHARED) >= _SHARED_MAX:
            _SHARED.clear()
        _SHARED[value] = value
        return value
    return got  # type: ignore[return-value]


# FAR and QER values interned by their packed bytes (hashed in C): equal values are one
# object, and render() finds its bytes by identity instead of packing it again.
_FARS_BY_RAW: dict[bytes, Far] = {}
_QERS_BY_RAW: dict[bytes, Qer] = {}
_FWD_BY_KEY: dict[tuple[int, str | None, int], ForwardingState] = {}
_URR_BY_KEY: dict[tuple[int, int, int], UrrState] = {}


def _far_of(raw: bytes) -> Far:
    far = _FARS_BY_RAW.get(raw)
    if far is None:
        far = _intern_far(raw, Far.unpack(raw))
    return far


def _intern_far(raw: bytes, far: Far) -> Far:
    if len(_FARS_BY_RAW) >= _SHARED_MAX:
        _FARS_BY_RAW.clear()
    _FARS_BY_RAW[raw] = far
    remember_packed(far, raw)
    return far


def _qer_of(raw: bytes) -> Qer:
    qer = _QERS_BY_RAW.get(raw)
    if qer is None:
        if len(_QERS_BY_RAW) >= _SHARED_MAX:
            _QERS_BY_RAW.clear()
        qer = _QERS_BY_RAW[raw] = Qer.unpack(raw)
        remember_packed(qer, raw)
    return qer


# Identical decoded IEs may be the very same object across requests (the decoder may
# intern them): what depends only on the IE (and the allocator's configuration) is
# memoised by identity. Each entry keeps its IE alive, so an id is never reused while
# its entry exists.
_BY_IE: dict[int, tuple[object, object, object]] = {}
_BY_IE_MAX = 512  # interned IEs are few; others must not be kept alive for long


def _memo_get(ie: object, alloc: Allocator) -> object:
    got = _BY_IE.get(id(ie))
    if got is not None and got[0] is ie and got[1] is alloc:
        return got[2]
    return None


def _memo_put(ie: object, alloc: Allocator, value: object) -> None:
    if len(_BY_IE) >= _BY_IE_MAX:
        _BY_IE.clear()
    _BY_IE[id(ie)] = (ie, alloc, value)


@functools.lru_cache(maxsize=1024)
def _ni_text(raw: bytes) -> str:
    return NetworkInstance(raw).text


def _ni(value: NetworkInstance | None) -> str | None:
    return _ni_text(value.raw) if value is not None else None


def _fail(rule: RuleIdType, rule_id: int, why: str, cause: Cause | None = None) -> RuleError:
    return RuleError(f"{rule.name} {rule_id}: {why}", cause, failed_rule=(rule, rule_id))


# ---------------------------------------------------------------------------- PDRs


def _endpoint_interface(source: int) -> int:
    """Which of our endpoint roles serves a PDR's source interface: CORE -> N9, else N3."""
    return 1 if source == SourceInterface.CORE else 0


def _local_f_teid(ctx: _Ctx, f: FTeid, pdr_id: int, source: int, ni: str | None,
                  previous: LocalFTeid | None) -> LocalFTeid:
    if not f.choose:
        if f.teid == 0 or (f.ipv4 is None and f.ipv6 is None):
            raise RuleError(f"PDR {pdr_id}: F-TEID without TEID or address",
                            Cause.MANDATORY_IE_INCORRECT, offending_ie=IEType.F_TEID)
        return LocalFTeid(f.teid, f.ipv4, f.ipv6, allocated=False)
    if f.choose_id is not None and f.choose_id in ctx.chosen:
        return ctx.chosen[f.choose_id]
    if previous is not None and previous.allocated:
        chosen = previous  # an Update PDR re-sending CH keeps the TEID the peer knows
    else:
        ep = ctx.alloc.endpoint(_endpoint_interface(source), ni)
        if ep is None:
            raise _fail(RuleIdType.PDR, pdr_id,
                        f"no GTP-U endpoint for source interface {source} instance {ni!r}")
        want_v6 = f.choose_v6 and ep.ipv6 is not None
        want_v4 = f.choose_v4 or not want_v6
        teid = ctx.txn.teid(MapName.UPLINK_PDRS)
        chosen = LocalFTeid(teid, ep.ipv4 if want_v4 else None, ep.ipv6 if want_v6 else None,
                            allocated=True)
    if f.choose_id is not None:
        ctx.chosen[f.choose_id] = chosen
    return chosen


def _ue_addresses(ctx: _Ctx, pdi: Pdi, ni: str | None, pdr_id: int
                  ) -> tuple[ipaddress.IPv4Address | None, ipaddress.IPv6Network | None, bool]:
    ue = pdi.ue_ip_address
    if ue is None:
        return None, None, False
    v4: ipaddress.IPv4Address | None = ue.ipv4
    v6: ipaddress.IPv6Network | None = None
    if ue.ipv6 is not None:
        v6 = ipaddress.IPv6Network((ue.ipv6, 64), strict=False)
    try:
        if ue.choose_v4 and v4 is None:
            v4 = ctx.ue_v4.get(ni)
            if v4 is None:
                v4 = ctx.ue_v4[ni] = ctx.txn.ue_v4(ni, MapName.DOWNLINK_PDRS_V4)
        if ue.choose_v6 and v6 is None:
            v6 = ctx.ue_v6.get(ni)
            if v6 is None:
                v6 = ctx.ue_v6[ni] = ctx.txn.ue_v6(ni, MapName.DOWNLINK_PDRS_V6)
    except ResourceExhausted as exc:
        raise ResourceExhausted(
            f"PDR {pdr_id}: {exc}", Cause.ALL_DYNAMIC_ADDRESSES_ARE_OCCUPIED,
            failed_rule=(RuleIdType.PDR, pdr_id),
        ) from exc
    return v4, v6, ue.is_destination


def _ohr(value: OuterHeaderRemoval | None, pdr_id: int) -> Ohr:
    if value is None:
        return Ohr.NONE
    ohr = _OHR.get(value.description)
    if ohr is None:
        raise _fail(RuleIdType.PDR, pdr_id,
                    f"outer header removal {value.description.name} not supported")
    return ohr


def _build_pdr(ctx: _Ctx, pdr_id: int, precedence: int, pdi: Pdi,
               ohr: OuterHeaderRemoval | None, far_id: int | None, qer_ids: tuple[int, ...],
               urr_ids: tuple[int, ...], slot: int, previous: PdrState | None) -> PdrState:
    source = int(pdi.source_interface)
    ni = _ni(pdi.network_instance)
    f_teid = None
    if pdi.local_f_teid is not None:
        f_teid = _local_f_teid(ctx, pdi.local_f_teid, pdr_id, source, ni,
                               previous.f_teid if previous else None)
    v4, v6, is_dst = _ue_addresses(ctx, pdi, ni, pdr_id)
    if f_teid is None:
        if v4 is None and v6 is None:
            raise _fail(RuleIdType.PDR, pdr_id,
                        "PDI has neither a local F-TEID nor a UE IP address")
        # Without an F-TEID the packet comes from the core: the UE address is the
        # destination whatever the S/D flag says (some SMFs leave it clear).
        is_dst = True
    return PdrState(
        pdr_id, precedence, slot, source, ni, f_teid, v4, v6, is_dst, _ohr(ohr, pdr_id), far_id,
        _shared(qer_ids),  # tuples of the decoded request: share, do not keep
        _shared(urr_ids),
        pdi.qfi[0] if pdi.qfi else None,
        len(pdi.sdf_filter),
    )


# ---------------------------------------------------------------------------- FARs


def _forwarding(fp: ForwardingParameters) -> ForwardingState:
    ohc = fp.outer_header_creation
    tlm = fp.transport_level_marking
    tos = (tlm >> 8) & 0xFF if tlm else 0
    ni = fp.network_instance
    ni_text = _ni_text(ni.raw) if ni is not None else None
    if ohc is None:  # towards the core: the same for most sessions, shared
        key = (int(fp.destination_interface), ni_text, tos)
        fwd = _FWD_BY_KEY.get(key)
        if fwd is None:
            if len(_FWD_BY_KEY) >= _SHARED_MAX:
                _FWD_BY_KEY.clear()
            fwd = _FWD_BY_KEY[key] = ForwardingState(key[0], ni_text, tos=tos)
        return fwd
    return ForwardingState(int(fp.destination_interface), ni_text, int(ohc.description),
                           ohc.teid or 0, ohc.ipv4, ohc.ipv6, ohc.port, tos)


_FORW = int(ApplyActionBits.FORW)
_ACCESS = int(DestinationInterface.ACCESS)
_OHC_GTPU_V4 = int(OuterHeaderCreationDescription.GTP_U_UDP_IPV4)
_NO_V4 = bytes(4)
_ENCAP_GTPU = int(Encap.GTPU_IPV4)
_IF_ACCESS, _IF_CORE, _IF_N9 = int(Iface.ACCESS), int(Iface.CORE), int(Iface.N9)
_ACTIONS = [ApplyActionBits(bits) for bits in range(_FAST_PATH_ACTIONS + 1)]
_IFACES = {int(i): i for i in Iface}


def _far_value(ctx: _Ctx, far_id: int, action: int, fwd: ForwardingState | None) -> Far:
    """The struct far of a FAR (interned: equal values are one object)."""
    bits = action & _FAST_PATH_ACTIONS
    if not bits & _FORW or fwd is None:
        if bits & _FORW:
            raise RuleError(f"FAR {far_id}: FORW without Forwarding Parameters",
                            Cause.CONDITIONAL_IE_MISSING,
                            offending_ie=IEType.FORWARDING_PARAMETERS,
                            failed_rule=(RuleIdType.FAR, far_id))
        return _far_of(pack_far(bits, 0, 0, 0, _NO_V4, _NO_V4, _NO_V4))
    dst = fwd.destination_interface
    if fwd.ohc_description == 0:
        iface = _IF_ACCESS if dst == _ACCESS else _IF_CORE
        return _far_of(pack_far(bits, 0, fwd.tos, iface, _NO_V4, _NO_V4, _NO_V4))
    if not fwd.ohc_description & _OHC_GTPU_V4 or fwd.ohc_ipv4 is None:
        desc = OuterHeaderCreationDescription(fwd.ohc_description)
        raise _fail(RuleIdType.FAR, far_id,
                    f"outer header creation {desc!r} not supported (GTP-U/UDP/IPv4 only)")
    role = 0 if dst == _ACCESS else 1
    ep = ctx.alloc.endpoint(role, fwd.network_instance) or ctx.alloc.endpoint(0, None)
    if ep is None:
        raise _fail(RuleIdType.FAR, far_id, f"no local GTP-U address towards interface {dst}")
    iface = _IF_ACCESS if dst == _ACCESS else _IF_N9
    # (an address's octets from its integer: .packed is two Python calls, per session here)
    raw = pack_far(bits, _ENCAP_GTPU, fwd.tos, iface, fwd.ohc_teid.to_bytes(4, "big"),
                   fwd.ohc_ipv4._ip.to_bytes(4, "big"),  # type: ignore[attr-defined]
                   ep.ipv4._ip.to_bytes(4, "big"))  # type: ignore[attr-defined]
    far = _FARS_BY_RAW.get(raw)
    if far is None:  # (a handover's FAR is new: built from its fields, not unpacked)
        far = _intern_far(raw, Far(_ACTIONS[bits], Encap.GTPU_IPV4, fwd.tos, _IFACES[iface],
                                   fwd.ohc_teid, fwd.ohc_ipv4, ep.ipv4))
    return far


def _update_forwarding(old: ForwardingState | None, u: UpdateFar) -> ForwardingState | None:
    """The forwarding of a FAR after an Update FAR (built directly: dataclasses.replace
    costs ~10 us, and a handover updates one FAR per request)."""
    ufp = u.update_forwarding_parameters
    if ufp is None:
        return old
    if old is None:
        dst, ni, desc, teid, v4, v6, port, tos = _ACCESS, None, 0, 0, None, None, None, 0
    else:
        dst, ni, desc = old.destination_interface, old.network_instance, old.ohc_description
        teid, v4, v6, port, tos = (old.ohc_teid, old.ohc_ipv4, old.ohc_ipv6, old.ohc_port,
                                   old.tos)
    if ufp.destination_interface is not None:
        dst = int(ufp.destination_interface)
    if ufp.network_instance is not None:
        ni = _ni(ufp.network_instance)
    ohc = ufp.outer_header_creation
    if ohc is not None:
        desc, teid, v4, v6, port = int(ohc.description), ohc.teid or 0, ohc.ipv4, ohc.ipv6, ohc.port
    if ufp.transport_level_marking is not None:
        tos = (ufp.transport_level_marking >> 8) & 0xFF
    return ForwardingState(dst, ni, desc, teid, v4, v6, port, tos)


# ---------------------------------------------------------------------------- QERs


def _qer_value(gate_ul: int, gate_dl: int, mbr: tuple[int, int], qfi: int | None) -> Qer:
    return _qer_of(pack_qer(gate_ul, gate_dl, qfi or 0, mbr[0], mbr[1]))


def _create_far(ctx: _Ctx, cf: CreateFar) -> FarState:
    memo: tuple[int, ForwardingState | None, Far] | None
    memo = _memo_get(cf, ctx.alloc)  # type: ignore[assignment]
    if memo is None:
        action = int(cf.apply_action)
        fp = cf.forwarding_parameters
        fwd = _forwarding(fp) if fp is not None else None
        memo = (action, fwd, _far_value(ctx, cf.far_id, action, fwd))
        if fwd is None or not fwd.ohc_description:  # (a tunnel is per session: not again)
            _memo_put(cf, ctx.alloc, memo)
    return FarState(cf.far_id, ctx.txn.far_slot(), *memo)


def _create_qer(ctx: _Ctx, cq: CreateQer) -> QerState:
    value = _memo_get(cq, ctx.alloc)
    if value is None:
        mbr = cq.mbr
        gate = cq.gate_status
        value = _qer_of(pack_qer(int(gate.ul), int(gate.dl), cq.qfi or 0,
                                 mbr.ul if mbr else 0, mbr.dl if mbr else 0))
        _memo_put(cq, ctx.alloc, value)
    assert isinstance(value, Qer)
    return QerState(cq.qer_id, ctx.txn.qer_slot(), value)


def _create_urr(cu: CreateUrr) -> UrrState:
    key = (cu.urr_id, int(cu.measurement_method), int(cu.reporting_triggers))
    urr = _URR_BY_KEY.get(key)
    if urr is None:
        if len(_URR_BY_KEY) >= _SHARED_MAX:
            _URR_BY_KEY.clear()
        urr = _URR_BY_KEY[key] = UrrState(*key)
    return urr


# ---------------------------------------------------------------------------- the compiler


def _check_unique(ids: Iterable[int], rule: RuleIdType) -> None:
    seen: set[int] = set()
    for rule_id in ids:
        if rule_id in seen:
            raise _fail(rule, rule_id, "rule ID appears twice in the request")
        seen.add(rule_id)


def _edit_rules(ctx: _Ctx, old: Session, rules: SessionRules, pdrs: dict[int, PdrState],
                fars: dict[int, FarState], qers: dict[int, QerState], urrs: dict[int, UrrState],
                *, merge_allocs: bool) -> tuple[list[CreatedInfo], list[EndMarker]]:
    """Apply a request's removals, creations and updates, in that order, to the rule dicts
    given (copies of the session's; empty for a kind the request leaves alone).
    ``merge_allocs``: first take the session's UE address allocations into ``ctx``, where
    created and updated PDRs find them."""
    for rule, ids in (
        (RuleIdType.PDR, [c.pdr_id for c in rules.create_pdr]),
        (RuleIdType.FAR, [c.far_id for c in rules.create_far]),
        (RuleIdType.QER, [c.qer_id for c in rules.create_qer]),
        (RuleIdType.URR, [c.urr_id for c in rules.create_urr]),
    ):
        if len(ids) > 1:
            _check_unique(ids, rule)

    # Removals first (TS 29.244 7.5.4: a rule may be removed and re-created in one request).
    for rp in rules.remove_pdr:
        _pop(pdrs, rp.pdr_id, RuleIdType.PDR)
    for rf in rules.remove_far:
        _pop(fars, rf.far_id, RuleIdType.FAR)
    for rq in rules.remove_qer:
        _pop(qers, rq.qer_id, RuleIdType.QER)
    for ru in rules.remove_urr:
        _pop(urrs, ru.urr_id, RuleIdType.URR)

    # Creations.
    for cf in rules.create_far:
        if cf.far_id in fars:
            raise _fail(RuleIdType.FAR, cf.far_id, "FAR already exists")
        fars[cf.far_id] = _create_far(ctx, cf)
    for cq in rules.create_qer:
        if cq.qer_id in qers:
            raise _fail(RuleIdType.QER, cq.qer_id, "QER already exists")
        qers[cq.qer_id] = _create_qer(ctx, cq)
    for cu in rules.create_urr:
        if cu.urr_id in urrs:
            raise _fail(RuleIdType.URR, cu.urr_id, "URR already exists")
        urrs[cu.urr_id] = _create_urr(cu)
    if merge_allocs:
        if old.ue_v4_allocs:  # (dict.update of a non-dict Mapping is slow even when empty)
            ctx.ue_v4.update(old.ue_v4_allocs.items())
        if old.ue_v6_allocs:
            ctx.ue_v6.update(old.ue_v6_allocs.items())
    created: list[CreatedInfo] = []
    for cp in rules.create_pdr:
        if cp.pdr_id in pdrs:
            raise _fail(RuleIdType.PDR, cp.pdr_id, "PDR already exists")
        pdr = _build_pdr(ctx, cp.pdr_id, cp.precedence, cp.pdi, cp.outer_header_removal,
                         cp.far_id, cp.qer_id, cp.urr_id, ctx.txn.pdr_slot(), None)
        pdrs[cp.pdr_id] = pdr
        created.append(_created(cp.pdi, pdr))

    # Updates.
    end_markers: list[EndMarker] = []
    for uf in rules.update_far:
        fars[uf.far_id] = _update_far(ctx, fars.get(uf.far_id), uf, end_markers)
    for uq in rules.update_qer:
        qers[uq.qer_id] = _update_qer(qers.get(uq.qer_id), uq)
    for uu in rules.update_urr:
        urrs[uu.urr_id] = _update_urr(urrs.get(uu.urr_id), uu)
    for up in rules.update_pdr:
        old_pdr = pdrs.get(up.pdr_id)
        if old_pdr is None:
            raise _fail(RuleIdType.PDR, up.pdr_id, "no such PDR")
        pdr = pdrs[up.pdr_id] = _update_pdr(ctx, old_pdr, up)
        if up.pdi is not None:
            created.append(_created(up.pdi, pdr))
    return created, end_markers


def _apply_rules(ctx: _Ctx, old: Session, rules: SessionRules
                 ) -> tuple[Session, tuple[CreatedInfo, ...], tuple[EndMarker, ...]]:
    """The general path: every kind of rule copied and checked, whatever the request
    touches (_modify_rules and _establish_rules are tested against it)."""
    pdrs: dict[int, PdrState] = dict(old.pdrs.items())  # (dict(Mapping) is slow)
    fars: dict[int, FarState] = dict(old.fars.items())
    qers: dict[int, QerState] = dict(old.qers.items())
    urrs: dict[int, UrrState] = dict(old.urrs.items())
    created, end_markers = _edit_rules(ctx, old, rules, pdrs, fars, qers, urrs,
                                       merge_allocs=True)
    _check_references(pdrs, fars, qers, urrs)
    used_v4 = {p.ue_v4 for p in pdrs.values() if p.ue_v4 is not None}
    used_v6 = {p.ue_v6 for p in pdrs.values() if p.ue_v6 is not None}
    new = Session(
        local_seid=old.local_seid,
        remote_seid=old.remote_seid,
        peer=old.peer,
        remote_ipv4=old.remote_ipv4,
        remote_ipv6=old.remote_ipv6,
        pdrs=frozen(pdrs),
        fars=frozen(fars),
        qers=frozen(qers),
        urrs=frozen(urrs),
        # Keep an allocated address while any PDR of the session still uses it.
        ue_v4_allocs=frozen({ni: a for ni, a in ctx.ue_v4.items() if a in used_v4}),
        ue_v6_allocs=frozen({ni: p for ni, p in ctx.ue_v6.items() if p in used_v6}),
        fq_csids=old.fq_csids,
    )
    return new, tuple(created), tuple(end_markers)


def _update_far(ctx: _Ctx, old: FarState | None, uf: UpdateFar,
                end_markers: list[EndMarker]) -> FarState:
    if old is None:
        raise _fail(RuleIdType.FAR, uf.far_id, "no such FAR")
    action = int(uf.apply_action) if uf.apply_action is not None else old.apply_action
    fwd = _update_forwarding(old.forwarding, uf)
    value = _far_value(ctx, uf.far_id, action, fwd)
    ufp = uf.update_forwarding_parameters
    if ufp is not None and ufp.pfcpsmreq_flags is not None:
        em = _end_marker(old.value, value, ufp.pfcpsmreq_flags)
        if em is not None:
            end_markers.append(em)
    return FarState(uf.far_id, old.slot, action, fwd, value)


def _update_qer(old: QerState | None, uq: UpdateQer) -> QerState:
    if old is None:
        raise _fail(RuleIdType.QER, uq.qer_id, "no such QER")
    v = old.value
    gate, mbr = uq.gate_status, uq.mbr
    qv = _qer_of(pack_qer(
        int(gate.ul) if gate else v.gate_ul,
        int(gate.dl) if gate else v.gate_dl,
        uq.qfi if uq.qfi is not None else v.qfi,
        mbr.ul if mbr else v.mbr_ul_kbps,
        mbr.dl if mbr else v.mbr_dl_kbps,
    ))
    return QerState(uq.qer_id, old.slot, qv)


def _update_urr(old: UrrState | None, uu: UpdateUrr) -> UrrState:
    if old is None:
        raise _fail(RuleIdType.URR, uu.urr_id, "no such URR")
    return UrrState(
        old.urr_id,
        int(uu.measurement_method) if uu.measurement_method is not None
        else old.measurement_method,
        int(uu.reporting_triggers) if uu.reporting_triggers is not None
        else old.reporting_triggers,
        old.ur_seqn, old.reported_ul, old.reported_dl,
    )


def _update_pdr(ctx: _Ctx, old: PdrState, up: UpdatePdr) -> PdrState:
    if up.pdi is not None:
        pdr = _build_pdr(
            ctx, old.pdr_id, up.precedence if up.precedence is not None else old.precedence,
            up.pdi, up.outer_header_removal, up.far_id if up.far_id is not None else old.far_id,
            up.qer_id or old.qer_ids, up.urr_id or old.urr_ids, old.slot, old,
        )
        if up.outer_header_removal is None:
            pdr = dataclasses.replace(pdr, ohr=old.ohr)
        return pdr
    return dataclasses.replace(
        old,
        precedence=up.precedence if up.precedence is not None else old.precedence,
        ohr=_ohr(up.outer_header_removal, old.pdr_id) if up.outer_header_removal else old.ohr,
        far_id=up.far_id if up.far_id is not None else old.far_id,
        qer_ids=up.qer_id or old.qer_ids,
        urr_ids=up.urr_id or old.urr_ids,
    )


def _end_marker(old: Far, new: Far, flags: PfcpsmReqFlags | None) -> EndMarker | None:
    """TS 29.244 5.2.2.3.2: SNDEM on a path switch -> End Marker on the old GTP-U path."""
    if flags is None or not flags & PfcpsmReqFlags.SNDEM:
        return None
    if old.encap != Encap.GTPU_IPV4:
        return None
    if (old.teid, old.peer_v4) == (new.teid, new.peer_v4):
        return None
    return EndMarker(teid=old.teid, peer=old.peer_v4, local=old.local_v4)


def _created(pdi: Pdi, pdr: PdrState) -> CreatedInfo:
    chose_teid = pdi.local_f_teid is not None and pdi.local_f_teid.choose
    ue = pdi.ue_ip_address
    return CreatedInfo(
        pdr_id=pdr.pdr_id,
        f_teid=pdr.f_teid if chose_teid else None,
        ue_v4=pdr.ue_v4 if ue is not None and ue.choose_v4 else None,
        ue_v6=pdr.ue_v6 if ue is not None and ue.choose_v6 else None,
    )


def _pop(rules: dict[int, V], rule_id: int, kind: RuleIdType) -> V:
    try:
        return rules.pop(rule_id)
    except KeyError:
        raise _fail(kind, rule_id, "no such rule to remove") from None


def _check_references(pdrs: Mapping[int, PdrState], fars: Mapping[int, FarState],
                      qers: Mapping[int, QerState], urrs: Mapping[int, UrrState]) -> None:
    for pdr in pdrs.values():
        if pdr.far_id is not None and pdr.far_id not in fars:
            raise _fail(RuleIdType.PDR, pdr.pdr_id, f"refers to unknown FAR {pdr.far_id}")
        for q in pdr.qer_ids:
            if q not in qers:
                raise _fail(RuleIdType.PDR, pdr.pdr_id, f"refers to unknown QER {q}")
        for u in pdr.urr_ids:
            if u not in urrs:
                raise _fail(RuleIdType.PDR, pdr.pdr_id, f"refers to unknown URR {u}")


def _establish_rules(ctx: _Ctx, base: Session, rules: SessionRules
                     ) -> tuple[Session, tuple[CreatedInfo, ...], dict[int, FarState],
                                dict[int, QerState]]:
    """_apply_rules for an empty session and creations only, straight-line; also the
    session's FARs and QERs as dicts (for render.install)."""
    create_pdr, create_far = rules.create_pdr, rules.create_far
    create_qer, create_urr = rules.create_qer, rules.create_urr
    # Rule IDs twice in the request: checked first, kind by kind, as _edit_rules does.
    if len(create_pdr) > 1 and len({c.pdr_id for c in create_pdr}) != len(create_pdr):
        _check_unique([c.pdr_id for c in create_pdr], RuleIdType.PDR)
    if len(create_far) > 1 and len({c.far_id for c in create_far}) != len(create_far):
        _check_unique([c.far_id for c in create_far], RuleIdType.FAR)
    if len(create_qer) > 1 and len({c.qer_id for c in create_qer}) != len(create_qer):
        _check_unique([c.qer_id for c in create_qer], RuleIdType.QER)
    if len(create_urr) > 1 and len({c.urr_id for c in create_urr}) != len(create_urr):
        _check_unique([c.urr_id for c in create_urr], RuleIdType.URR)
    far_by_id: dict[int, FarState] = {}
    for cf in create_far:
        far_by_id[cf.far_id] = _create_far(ctx, cf)
    qer_by_id: dict[int, QerState] = {}
    for cq in create_qer:
        qer_by_id[cq.qer_id] = _create_qer(ctx, cq)
    urr_by_id: dict[int, UrrState] = {}
    for cu in create_urr:
        urr_by_id[cu.urr_id] = _create_urr(cu)
    pdr_by_id: dict[int, PdrState] = {}
    created: list[CreatedInfo] = []
    pdr_slot = ctx.txn.pdr_slot
    for cp in create_pdr:
        pdi = cp.pdi
        pdr = _build_pdr(ctx, cp.pdr_id, cp.precedence, pdi, cp.outer_header_removal,
                         cp.far_id, cp.qer_id, cp.urr_id, pdr_slot(), None)
        pdr_by_id[cp.pdr_id] = pdr
        f, ue = pdi.local_f_teid, pdi.ue_ip_address
        created.append(_new_created((
            pdr.pdr_id,
            pdr.f_teid if f is not None and f.choose else None,
            pdr.ue_v4 if ue is not None and ue.choose_v4 else None,
            pdr.ue_v6 if ue is not None and ue.choose_v6 else None,
        )))
    _check_references(pdr_by_id, far_by_id, qer_by_id, urr_by_id)
    new = Session(
        base.local_seid, base.remote_seid, base.peer, base.remote_ipv4, base.remote_ipv6,
        _rule_map(pdr_by_id), _rule_map(far_by_id), _rule_map(qer_by_id), _rule_map(urr_by_id),
        # Every address allocated here went to a PDR of the session.
        frozen(ctx.ue_v4) if ctx.ue_v4 else EMPTY,
        frozen(ctx.ue_v6) if ctx.ue_v6 else EMPTY,
        base.fq_csids,
    )
    return new, tuple(created), far_by_id, qer_by_id


_flat = itertools.chain.from_iterable


_new_rule_map = functools.partial(tuple.__new__, RuleMap)


def _rule_map(rules: dict[int, V]) -> RuleMap[int, V]:
    """A RuleMap of ``rules`` in their order (EMPTY when there are none)."""
    if not rules:
        return EMPTY  # type: ignore[return-value]
    if len(rules) == 1:  # (most sessions: one QER, one URR) its one item is the flat tuple
        for item in rules.items():
            return _new_rule_map(item)
    return _new_rule_map(_flat(rules.items()))


def _modify_rules(ctx: _Ctx, old: Session, rules: SessionRules
                  ) -> tuple[Session, tuple[CreatedInfo, ...], tuple[EndMarker, ...]]:
    """_apply_rules, touching only what the request changes: a kind of rule the request
    leaves alone keeps its RuleMap (and every rule it does not change, its object: what
    render.update relies on), and checks that cannot fail are skipped. Same checks in the
    same order, same allocations in the same order, same result."""
    edit_pdr = bool(rules.create_pdr or rules.update_pdr or rules.remove_pdr)
    edit_far = bool(rules.create_far or rules.update_far or rules.remove_far)
    edit_qer = bool(rules.create_qer or rules.update_qer or rules.remove_qer)
    edit_urr = bool(rules.create_urr or rules.update_urr or rules.remove_urr)
    # Copies of the kinds the request edits (dict(Mapping) is slow: from items()).
    pdrs: dict[int, PdrState] = dict(old.pdrs.items()) if edit_pdr else {}
    fars: dict[int, FarState] = dict(old.fars.items()) if edit_far else {}
    qers: dict[int, QerState] = dict(old.qers.items()) if edit_qer else {}
    urrs: dict[int, UrrState] = dict(old.urrs.items()) if edit_urr else {}
    # Only a created or updated PDR may take an address.
    created, end_markers = _edit_rules(ctx, old, rules, pdrs, fars, qers, urrs,
                                       merge_allocs=edit_pdr)

    # Only a PDR that changed, or a rule that went away, can leave a dangling reference.
    if edit_pdr or rules.remove_far or rules.remove_qer or rules.remove_urr:
        _check_references(pdrs if edit_pdr else old.pdrs, fars if edit_far else old.fars,
                          qers if edit_qer else old.qers, urrs if edit_urr else old.urrs)
    ue_v4_allocs, ue_v6_allocs = old.ue_v4_allocs, old.ue_v6_allocs
    if edit_pdr:  # keep an allocated address while any PDR of the session still uses it
        if ctx.ue_v4:
            used_v4 = {p.ue_v4 for p in pdrs.values() if p.ue_v4 is not None}
            ue_v4_allocs = frozen({ni: a for ni, a in ctx.ue_v4.items() if a in used_v4})
        if ctx.ue_v6:
            used_v6 = {p.ue_v6 for p in pdrs.values() if p.ue_v6 is not None}
            ue_v6_allocs = frozen({ni: p for ni, p in ctx.ue_v6.items() if p in used_v6})
    new = Session(
        old.local_seid, old.remote_seid, old.peer, old.remote_ipv4, old.remote_ipv6,
        frozen(pdrs) if edit_pdr else old.pdrs,
        frozen(fars) if edit_far else old.fars,
        frozen(qers) if edit_qer else old.qers,
        frozen(urrs) if edit_urr else old.urrs,
        ue_v4_allocs, ue_v6_allocs, old.fq_csids,
    )
    return new, tuple(created), tuple(end_markers)


def _run(old: Session | None, base: Session, rules: SessionRules, alloc: Allocator,
         txn: AllocTxn) -> Result:
    ctx = _Ctx(alloc, txn, base.local_seid)
    try:
        new, created, end_markers = _apply_rules(ctx, base, rules)
        plan = diff(old, new, txn, end_markers)
    except BaseException:  # a rejected rule, or a bug: nothing stays allocated
        txn.abort()
        raise
    return Result(new, plan, created)


def establish(local_seid: int, base: Session, rules: SessionRules, alloc: Allocator,
              txn: AllocTxn) -> Result:
    """Compile a Session Establishment. ``base`` is an empty session (SEIDs, peer)."""
    if ((base.pdrs is not EMPTY and base.pdrs) or (base.fars is not EMPTY and base.fars)
            or (base.qers is not EMPTY and base.qers) or (base.urrs is not EMPTY and base.urrs)):
        raise ValueError("establish() takes an empty session")
    if base.local_seid != local_seid:
        base = dataclasses.replace(base, local_seid=local_seid)
    if (rules.update_pdr or rules.update_far or rules.update_qer or rules.update_urr
            or rules.remove_pdr or rules.remove_far or rules.remove_qer or rules.remove_urr):
        return _run(None, base, rules, alloc, txn)  # (rejected there: no such rule)
    ctx = _Ctx(alloc, txn, local_seid)
    try:
        new, created, fars, qers = _establish_rules(ctx, base, rules)
        plan = install(new, txn, fars=fars, qers=qers)
    except BaseException:  # a rejected rule, or a bug: nothing stays allocated
        txn.abort()
        raise
    return Result(new, plan, created)


def modify(session: Session, rules: SessionRules, alloc: Allocator, txn: AllocTxn) -> Result:
    """Compile a Session Modification against the current session state.

    Only what the request changes is computed and compared (``_modify_rules``, then
    ``render.update``); ``_run(session, session, ...)`` is the general path (rebuild the
    session, render both in full and diff them) it must agree with (tests/control)."""
    ctx = _Ctx(alloc, txn, session.local_seid)
    try:
        new, created, end_markers = _modify_rules(ctx, session, rules)
        plan = update(session, new, txn, end_markers)
    except BaseException:  # a rejected rule, or a bug: nothing stays allocated
        txn.abort()
        raise
    return Result(new, plan, created)


def delete(session: Session, txn: AllocTxn) -> Result:
    """Compile a Session Deletion: every entry removed, every slot freed (at commit)."""
    return Result(None, uninstall(session, txn))
