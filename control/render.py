"""Session state -> map contents, and the difference of two sessions as a Plan. Pure.

``render(session)`` is everything one session holds in the maps, keyed by
``(map name, key)``. ``diff(old, new, txn)`` turns the change from one session
state to the next into map operations (each with the value it replaces) and
records in ``txn`` which keys are claimed or released and which slots are freed.
Establishment is ``diff(None, new)``, deletion ``diff(old, None)``.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from ipaddress import IPv4Address

from control.alloc import AllocTxn
from control.errors import RuleError
from control.layout import (
    PDR_MAPS,
    RULES_PER_KEY,
    Counter,
    MapName,
    PdrFlags,
    PdrRule,
    PdrSet,
    slot_key,
    teid_key,
    ue_v4_key,
    ue_v6_key,
    zero_value,
)
from control.plan import EndMarker, MapOp, Phase, Plan
from control.session import PdrState, Session
from pfcp.enums import Cause, RuleIdType

RKey = tuple[MapName, bytes]
Rendered = dict[RKey, bytes]


def pdr_keys(pdr: PdrState) -> list[RKey]:
    """The PDR map keys a PDR is installed under (both families for a dual-stack UE)."""
    if pdr.f_teid is not None:
        return [(MapName.UPLINK_PDRS, teid_key(pdr.f_teid.teid))]
    keys: list[RKey] = []
    if pdr.ue_is_destination:
        if pdr.ue_v4 is not None:
            keys.append((MapName.DOWNLINK_PDRS_V4, ue_v4_key(pdr.ue_v4)))
        if pdr.ue_v6 is not None:
            keys.append((MapName.DOWNLINK_PDRS_V6, ue_v6_key(pdr.ue_v6)))
    return keys


_MATCH_UE_V4 = int(PdrFlags.MATCH_UE_V4)
_MATCH_UE_V6 = int(PdrFlags.MATCH_UE_V6)
_MATCH_QFI = int(PdrFlags.MATCH_QFI)
_SET_QFI = int(PdrFlags.SET_QFI)
_FLAGS = [PdrFlags(i) for i in range(16)]
_NO_V4 = IPv4Address(0)


def pdr_rule(session: Session, pdr: PdrState) -> PdrRule:
    far = session.fars.get(pdr.far_id) if pdr.far_id is not None else None
    qers = [session.qers[q] for q in pdr.qer_ids if q in session.qers]
    flags = 0  # plain int arithmetic: IntFlag operators are slow on the hot path
    qfi = 0
    if pdr.f_teid is not None:  # uplink (or N9): match on the inner packet
        if pdr.ue_v4 is not None:
            flags |= _MATCH_UE_V4
        if pdr.ue_v6 is not None:
            flags |= _MATCH_UE_V6
        if pdr.qfi is not None:
            flags |= _MATCH_QFI
            qfi = pdr.qfi
    else:  # downlink: mark the QoS flow from the QER's QFI (TS 29.244 5.2.1A)
        for qer in qers:
            if qer.value.qfi:
                flags |= _SET_QFI
                qfi = qer.value.qfi
                break
    return PdrRule(
        pdr_slot=pdr.slot,
        far_slot=far.slot if far is not None else 0,
        qer_slot=qers[0].slot if qers else 0,
        precedence=pdr.precedence,
        pdr_id=pdr.pdr_id,
        flags=_FLAGS[flags],
        qfi=qfi,
        ohr=pdr.ohr,
        ue_v4=pdr.ue_v4 if pdr.ue_v4 is not None else _NO_V4,
        ue_v6_prefix=ue_v6_key(pdr.ue_v6) if pdr.ue_v6 is not None else bytes(8),
    )


def render(session: Session | None) -> Rendered:
    if session is None:
        return {}
    out: Rendered = {}
    by_key: dict[RKey, list[PdrState]] = defaultdict(list)
    for pdr in session.pdrs.values():
        for key in pdr_keys(pdr):
            by_key[key].append(pdr)
    for key, pdrs in by_key.items():
        pdrs.sort(key=lambda p: (p.precedence, p.pdr_id))
        if len(pdrs) > RULES_PER_KEY:
            worst = pdrs[RULES_PER_KEY]
            raise RuleError(
                f"PDR {worst.pdr_id}: more than {RULES_PER_KEY} PDRs share "
                f"{key[0]} key {key[1].hex()}",
                Cause.RULE_CREATION_MODIFICATION_FAILURE,
                failed_rule=(RuleIdType.PDR, worst.pdr_id),
            )
        out[key] = PdrSet(tuple(pdr_rule(session, p) for p in pdrs)).pack()
    for far in session.fars.values():
        out[(MapName.FARS, slot_key(far.slot))] = far.value.pack()
    for qer in session.qers.values():
        out[(MapName.QERS, slot_key(qer.slot))] = qer.value.pack()
    return out


def diff(
    old: Session | None,
    new: Session | None,
    txn: AllocTxn,
    end_markers: tuple[EndMarker, ...] = (),
) -> Plan:
    """The plan taking the maps from ``old``'s entries to ``new``'s; claims/frees in ``txn``."""
    before, after = render(old), render(new)
    either = new if new is not None else old
    seid = either.local_seid if either is not None else 0
    ops: list[MapOp] = []
    for (name, key), value in after.items():
        prev = before.get((name, key))
        if prev == value:
            continue
        if name in PDR_MAPS:
            if prev is None and not txn.claim_key((name, key), seid):
                raise RuleError(
                    f"{name} key {key.hex()} belongs to another session",
                    Cause.RULE_CREATION_MODIFICATION_FAILURE,
                    failed_rule=_rule_for_key(new, name, key),
                )
            ops.append(MapOp(name, key, value, prev, Phase.PDR))
        else:
            prev = prev if prev is not None else zero_value(name)
            ops.append(MapOp(name, key, value, prev, Phase.LEAF_WRITE))
    for (name, key), prev in before.items():
        if (name, key) in after:
            continue
        if name in PDR_MAPS:
            ops.append(MapOp(name, key, None, prev, Phase.PDR))
            txn.unclaim_key((name, key))
        else:
            ops.append(MapOp(name, key, zero_value(name), prev, Phase.LEAF_CLEAR))
    old_slots = _pdr_slots(old)
    new_slots = _pdr_slots(new)
    zero = Counter().pack()
    for slot in sorted(new_slots.keys() - old_slots.keys()):
        ops.append(MapOp(MapName.PDR_STATS, slot_key(slot), zero, zero, Phase.LEAF_WRITE))
    removed = sorted(old_slots.keys() - new_slots.keys())
    for slot in removed:
        ops.append(MapOp(MapName.PDR_STATS, slot_key(slot), zero, zero, Phase.LEAF_CLEAR))
    _release_slots(old, new, txn)
    return Plan(tuple(ops), reads=tuple(removed), end_markers=end_markers, seid=seid)


def _pdr_slots(session: Session | None) -> Mapping[int, PdrState]:
    if session is None:
        return {}
    return {p.slot: p for p in session.pdrs.values()}


def _rule_for_key(session: Session | None, name: str, key: bytes) -> tuple[RuleIdType, int] | None:
    if session is None:
        return None
    for pdr in session.pdrs.values():
        if (name, key) in pdr_keys(pdr):
            return (RuleIdType.PDR, pdr.pdr_id)
    return None


def _release_slots(old: Session | None, new: Session | None, txn: AllocTxn) -> None:
    """Free (at commit) the slots, TEIDs and UE addresses ``old`` held and ``new`` does not."""
    if old is None:
        return
    new_pdr = {p.slot for p in new.pdrs.values()} if new else set()
    new_far = {f.slot for f in new.fars.values()} if new else set()
    new_qer = {q.slot for q in new.qers.values()} if new else set()
    for pdr in old.pdrs.values():
        if pdr.slot not in new_pdr:
            txn.release_pdr_slot(pdr.slot)
    for far in old.fars.values():
        if far.slot not in new_far:
            txn.release_far_slot(far.slot)
    for qer in old.qers.values():
        if qer.slot not in new_qer:
            txn.release_qer_slot(qer.slot)
    new_teids = {p.f_teid.teid for p in new.pdrs.values() if p.f_teid} if new else set()
    released: set[int] = set()
    for pdr in old.pdrs.values():
        f = pdr.f_teid
        if f is not None and f.allocated and f.teid not in new_teids and f.teid not in released:
            released.add(f.teid)
            txn.release_teid(f.teid)
    for ni, addr in old.ue_v4_allocs.items():
        if new is None or new.ue_v4_allocs.get(ni) != addr:
            txn.release_ue_v4(ni, addr)
    for ni, prefix in old.ue_v6_allocs.items():
        if new is None or new.ue_v6_allocs.get(ni) != prefix:
            txn.release_ue_v6(ni, prefix)
