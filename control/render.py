"""Session state -> map contents, and the difference of two sessions as a Plan. Pure.

``render(session)`` is everything one session holds in the maps, keyed by
``(map name, key)``. ``diff(old, new, txn)`` turns the change from one session
state to the next into map operations (each with the value it replaces) and
records in ``txn`` which keys are claimed or released and which slots are freed.
Establishment is ``diff(None, new)``, deletion ``diff(old, None)``.

Uplink PDR sets go to ``uplink_by_teid[index]`` (with ``pdr_set.teid`` set) for TEIDs the
UPF allocated (``generation << 24 | index``, control/alloc.py TeidPool) and to the
``uplink_pdrs`` hash for TEIDs the SMF chose. The array slot of a removed set is zeroed
(count 0), never deleted. Ownership of a TEID is one namespace, ``(uplink_pdrs, TEID)``,
wherever it is installed, so an SMF-chosen TEID equal to one of ours in use is refused.
Values are packed straight from the session state (no PdrRule/PdrSet objects on this path).
"""

from __future__ import annotations

from collections.abc import Mapping
from ipaddress import IPv4Address

from control.alloc import AllocTxn, KeyId
from control.errors import RuleError
from control.layout import (
    PDR_MAPS,
    RULES_PER_KEY,
    Counter,
    MapName,
    PdrFlags,
    PdrRule,
    pack_pdr_rule,
    pack_pdr_set,
    slot_key,
    teid_index,
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

_UPLINK_PDRS = MapName.UPLINK_PDRS
_BY_TEID = MapName.UPLINK_BY_TEID
_DL_V4 = MapName.DOWNLINK_PDRS_V4
_DL_V6 = MapName.DOWNLINK_PDRS_V6
_FARS = MapName.FARS
_QERS = MapName.QERS
_PDR_STATS = MapName.PDR_STATS


def pdr_keys(pdr: PdrState) -> list[RKey]:
    """The PDR map keys a PDR is installed under (both families for a dual-stack UE).

    A TEID we allocated goes to its uplink_by_teid slot, one the SMF chose to uplink_pdrs."""
    f = pdr.f_teid
    if f is not None:
        if f.allocated:
            return [(_BY_TEID, slot_key(teid_index(f.teid)))]
        return [(_UPLINK_PDRS, teid_key(f.teid))]
    keys: list[RKey] = []
    if pdr.ue_is_destination:
        if pdr.ue_v4 is not None:
            keys.append((_DL_V4, ue_v4_key(pdr.ue_v4)))
        if pdr.ue_v6 is not None:
            keys.append((_DL_V6, ue_v6_key(pdr.ue_v6)))
    return keys


def owner_of(name: MapName, key: bytes, value: bytes) -> KeyId:
    """Whose key this is for ownership: a TEID is owned as (uplink_pdrs, TEID) wherever it
    is installed, so an SMF-chosen TEID never shadows one of ours nor the reverse."""
    if name is _BY_TEID:
        return (_UPLINK_PDRS, value[4:8])
    return (name, key)


_MATCH_UE_V4 = int(PdrFlags.MATCH_UE_V4)
_MATCH_UE_V6 = int(PdrFlags.MATCH_UE_V6)
_MATCH_QFI = int(PdrFlags.MATCH_QFI)
_SET_QFI = int(PdrFlags.SET_QFI)
_FLAGS = [PdrFlags(i) for i in range(16)]
_NO_V4 = IPv4Address(0)
_NO_V6 = bytes(8)
_NO_V4_RAW = bytes(4)
_ZERO_COUNTER = Counter().pack()


def _rule_fields(session: Session, pdr: PdrState) -> tuple[int, int, int, int]:
    """(far slot, qer slot, flags, qfi) of a PDR in ``session``."""
    far = session.fars.get(pdr.far_id) if pdr.far_id is not None else None
    qers = session.qers
    qer_slot = 0
    flags = 0  # plain int arithmetic: IntFlag operators are slow on the hot path
    qfi = 0
    for q in pdr.qer_ids:  # the fast path gates with the first QER
        qer = qers.get(q)
        if qer is not None:
            qer_slot = qer.slot
            break
    if pdr.f_teid is not None:  # uplink (or N9): match on the inner packet
        if pdr.ue_v4 is not None:
            flags |= _MATCH_UE_V4
        if pdr.ue_v6 is not None:
            flags |= _MATCH_UE_V6
        if pdr.qfi is not None:
            flags |= _MATCH_QFI
            qfi = pdr.qfi
    else:  # downlink: mark the QoS flow from the QER's QFI (TS 29.244 5.2.1A)
        for q in pdr.qer_ids:
            qer = qers.get(q)
            if qer is not None and qer.value.qfi:
                flags |= _SET_QFI
                qfi = qer.value.qfi
                break
    return (far.slot if far is not None else 0), qer_slot, flags, qfi


def pdr_rule(session: Session, pdr: PdrState) -> PdrRule:
    far_slot, qer_slot, flags, qfi = _rule_fields(session, pdr)
    return PdrRule(
        pdr_slot=pdr.slot,
        far_slot=far_slot,
        qer_slot=qer_slot,
        precedence=pdr.precedence,
        pdr_id=pdr.pdr_id,
        flags=_FLAGS[flags],
        qfi=qfi,
        ohr=pdr.ohr,
        ue_v4=pdr.ue_v4 if pdr.ue_v4 is not None else _NO_V4,
        ue_v6_prefix=ue_v6_key(pdr.ue_v6) if pdr.ue_v6 is not None else _NO_V6,
    )


def _packed_rule(session: Session, pdr: PdrState) -> bytes:
    """pdr_rule(session, pdr).pack(), without the intermediate objects (hot path)."""
    far_slot, qer_slot, flags, qfi = _rule_fields(session, pdr)
    return pack_pdr_rule(
        pdr.slot, far_slot, qer_slot, pdr.precedence, pdr.pdr_id, flags, qfi, int(pdr.ohr), 0,
        pdr.ue_v4.packed if pdr.ue_v4 is not None else _NO_V4_RAW,
        ue_v6_key(pdr.ue_v6) if pdr.ue_v6 is not None else _NO_V6,
    )


def _by_precedence(p: PdrState) -> tuple[int, int]:
    return (p.precedence, p.pdr_id)


def render(session: Session | None) -> Rendered:
    if session is None:
        return {}
    out: Rendered = {}
    by_key: dict[RKey, list[PdrState]] = {}
    for pdr in session.pdrs.values():
        for key in pdr_keys(pdr):
            group = by_key.get(key)
            if group is None:
                by_key[key] = [pdr]
            else:
                group.append(pdr)
    for key, pdrs in by_key.items():
        if len(pdrs) > 1:
            pdrs.sort(key=_by_precedence)
            if len(pdrs) > RULES_PER_KEY:
                worst = pdrs[RULES_PER_KEY]
                raise RuleError(
                    f"PDR {worst.pdr_id}: more than {RULES_PER_KEY} PDRs share "
                    f"{key[0]} key {key[1].hex()}",
                    Cause.RULE_CREATION_MODIFICATION_FAILURE,
                    failed_rule=(RuleIdType.PDR, worst.pdr_id),
                )
        f = pdrs[0].f_teid
        teid = f.teid if key[0] is _BY_TEID and f is not None else 0
        out[key] = pack_pdr_set([_packed_rule(session, p) for p in pdrs], teid)
    for far in session.fars.values():
        out[(_FARS, slot_key(far.slot))] = far.value.pack()
    for qer in session.qers.values():
        out[(_QERS, slot_key(qer.slot))] = qer.value.pack()
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
    pdr_phase, leaf_write, leaf_clear = Phase.PDR, Phase.LEAF_WRITE, Phase.LEAF_CLEAR
    for rkey, value in after.items():
        name, key = rkey
        prev = before.get(rkey) if before else None
        if prev == value:
            continue
        if name in PDR_MAPS:
            if prev is None:
                if not txn.claim_key(owner_of(name, key, value), seid):
                    raise RuleError(
                        f"{name} key {key.hex()} belongs to another session",
                        Cause.RULE_CREATION_MODIFICATION_FAILURE,
                        failed_rule=_rule_for_key(new, name, key),
                    )
                if name is _BY_TEID:
                    prev = zero_value(name)
            ops.append(MapOp(name, key, value, prev, pdr_phase))
        else:
            ops.append(MapOp(name, key, value, prev if prev is not None else zero_value(name),
                             leaf_write))
    # A TEID may move between uplink_by_teid and uplink_pdrs within the session: it stays
    # owned. (Establishment has no ``before``: this costs nothing there.)
    kept = {owner_of(n, k, v) for (n, k), v in after.items() if n in PDR_MAPS} if before else ()
    for rkey, prev in before.items():
        if rkey in after:
            continue
        name, key = rkey
        if name is _BY_TEID:  # an array slot: zeroed, never deleted
            ops.append(MapOp(name, key, zero_value(name), prev, pdr_phase))
            if (owner := owner_of(name, key, prev)) not in kept:
                txn.unclaim_key(owner)
        elif name in PDR_MAPS:
            ops.append(MapOp(name, key, None, prev, pdr_phase))
            if rkey not in kept:
                txn.unclaim_key(rkey)
        else:
            ops.append(MapOp(name, key, zero_value(name), prev, leaf_clear))
    if old is None:  # establishment: every PDR slot is new
        for slot in sorted(p.slot for p in new.pdrs.values()) if new is not None else ():
            ops.append(MapOp(_PDR_STATS, slot_key(slot), _ZERO_COUNTER, _ZERO_COUNTER,
                             leaf_write))
        return Plan(tuple(ops), end_markers=end_markers, seid=seid)
    old_slots = _pdr_slots(old)
    new_slots = _pdr_slots(new)
    zero = _ZERO_COUNTER
    for slot in sorted(new_slots.keys() - old_slots.keys()):
        ops.append(MapOp(_PDR_STATS, slot_key(slot), zero, zero, leaf_write))
    removed = sorted(old_slots.keys() - new_slots.keys())
    for slot in removed:
        ops.append(MapOp(_PDR_STATS, slot_key(slot), zero, zero, leaf_clear))
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
