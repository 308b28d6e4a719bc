"""Session state -> map contents, and the difference of two sessions as a Plan. Pure.

``render(session)`` is everything one session holds in the maps, keyed by
``(map name, key)``. ``diff(old, new, txn)`` turns the change from one session
state to the next into map operations (each with the value it replaces) and
records in ``txn`` which keys are claimed or released and which slots are freed.
Establishment is ``diff(None, new)``, deletion ``diff(old, None)``. The request path uses
equivalent straight-line versions: ``install(new)``, ``update(old, new)`` (only the
entries of the rules a modification changed) and ``uninstall(old)``; ``diff`` stays the
reference they are tested against (tests/control/test_fastpath.py,
test_modify_equivalence.py).

Uplink PDR sets go to ``uplink_by_teid[index]`` (with ``pdr_set.teid`` set) for TEIDs the
UPF allocated (``generation << 24 | index``, control/alloc.py TeidPool) and to the
``uplink_pdrs`` hash for TEIDs the SMF chose. The array slot of a removed set is zeroed
(count 0), never deleted. Ownership of a TEID is one namespace, ``(uplink_pdrs, TEID)``,
wherever it is installed, so an SMF-chosen TEID equal to one of ours in use is refused.
Values are packed straight from the session state (no PdrRule/PdrSet objects on this path).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from functools import partial
from ipaddress import IPv4Address

from control.alloc import AllocTxn, KeyId
from control.errors import RuleError
from control.layout import (
    PDR_MAPS,
    RULES_PER_KEY,
    TEID_INDEX_MASK,
    Counter,
    Far,
    MapName,
    PdrFlags,
    PdrRule,
    Qer,
    pack_pdr_rule,
    pack_pdr_set,
    pack_slot_key,
    slot_key,
    ue_v6_key,
    zero_value,
)
from control.plan import EndMarker, MapOp, Phase, Plan
from control.session import EMPTY, FarState, PdrState, QerState, Session
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

# MapOp(...) runs a Python __new__; tuple.__new__ through a partial does not.
_new_op = partial(tuple.__new__, MapOp)
_slot_key = pack_slot_key

# Packed bytes of FAR and QER values, by identity (compile interns its values, so most
# sessions share them). Each entry keeps its value alive: an id is not reused meanwhile.
_PACKED: dict[int, tuple[object, bytes]] = {}
_PACKED_MAX = 1 << 16


def remember_packed(value: Far | Qer, raw: bytes) -> None:
    """Note that ``value.pack() == raw`` (saves packing it again in render/diff)."""
    if len(_PACKED) >= _PACKED_MAX:
        _PACKED.clear()
    _PACKED[id(value)] = (value, raw)


def packed(value: Far | Qer) -> bytes:
    """``value.pack()``, remembered by identity."""
    got = _PACKED.get(id(value))
    if got is not None and got[0] is value:
        return got[1]
    raw = value.pack()
    remember_packed(value, raw)
    return raw


def pdr_keys(pdr: PdrState) -> list[RKey]:
    """The PDR map keys a PDR is installed under (both families for a dual-stack UE).

    A TEID we allocated goes to its uplink_by_teid slot, one the SMF chose to uplink_pdrs."""
    f = pdr.f_teid
    if f is not None:
        if f.allocated:
            return [(_BY_TEID, _slot_key(f.teid & TEID_INDEX_MASK))]
        return [(_UPLINK_PDRS, f.teid.to_bytes(4, "big"))]
    if not pdr.ue_is_destination:
        return []
    v4, v6 = pdr.ue_v4, pdr.ue_v6
    if v6 is None:
        return [(_DL_V4, v4._ip.to_bytes(4, "big"))] if v4 is not None else []  # type: ignore[attr-defined]
    if v4 is None:
        return [(_DL_V6, ue_v6_key(v6))]
    return [(_DL_V4, v4._ip.to_bytes(4, "big")),  # type: ignore[attr-defined]
            (_DL_V6, ue_v6_key(v6))]


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
_ZERO_SET = zero_value(_BY_TEID)
_ZERO_FAR = zero_value(_FARS)
_ZERO_QER = zero_value(_QERS)


def _claim_new_key(txn: AllocTxn, seid: int, new: Session | None, name: MapName, key: bytes,
                   value: bytes) -> bytes | None:
    """Claim a PDR map key the session did not hold; what the write replaces (an array slot's
    empty set, else nothing). A key another session holds is rejected with the PDR that
    wanted it."""
    if not txn.claim_key(owner_of(name, key, value), seid):
        raise RuleError(
            f"{name} key {key.hex()} belongs to another session",
            Cause.RULE_CREATION_MODIFICATION_FAILURE,
            failed_rule=rule_for_key(new, name, key),
        )
    return _ZERO_SET if name is _BY_TEID else None


def _rule_fields(fars: Mapping[int, FarState], qers: Mapping[int, QerState], pdr: PdrState
                 ) -> tuple[int, int, int, int]:
    """(far slot, qer slot, flags, qfi) of a PDR of a session with ``fars`` and ``qers``."""
    far = fars.get(pdr.far_id) if pdr.far_id is not None else None
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
    far_slot, qer_slot, flags, qfi = _rule_fields(session.fars, session.qers, pdr)
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


def _packed_rule(fars: Mapping[int, FarState], qers: Mapping[int, QerState], pdr: PdrState
                 ) -> bytes:
    """pdr_rule(session, pdr).pack(), without the intermediate objects (hot path)."""
    # _rule_fields, inlined.
    far = fars.get(pdr.far_id) if pdr.far_id is not None else None
    qer_slot = 0
    flags = 0  # plain int arithmetic: IntFlag operators are slow on the hot path
    qfi = 0
    v4, v6 = pdr.ue_v4, pdr.ue_v6
    if pdr.f_teid is not None:  # uplink (or N9): match on the inner packet
        for q in pdr.qer_ids:  # the fast path gates with the first QER
            qer = qers.get(q)
            if qer is not None:
                qer_slot = qer.slot
                break
        if v4 is not None:
            flags = _MATCH_UE_V4
        if v6 is not None:
            flags |= _MATCH_UE_V6
        if pdr.qfi is not None:
            flags |= _MATCH_QFI
            qfi = pdr.qfi
    else:  # downlink: mark the QoS flow from the QER's QFI (TS 29.244 5.2.1A)
        first = None  # (one pass finds both the gating QER and the first QFI)
        for q in pdr.qer_ids:
            qer = qers.get(q)
            if qer is None:
                continue
            if first is None:
                first = qer
                qer_slot = qer.slot
            if qer.value.qfi:
                flags = _SET_QFI
                qfi = qer.value.qfi
                break
    return pack_pdr_rule(
        pdr.slot, far.slot if far is not None else 0, qer_slot, pdr.precedence, pdr.pdr_id,
        flags, qfi, pdr.ohr, 0,
        v4._ip.to_bytes(4, "big") if v4 is not None else _NO_V4_RAW,  # type: ignore[attr-defined]
        ue_v6_key(v6) if v6 is not None else _NO_V6,
    )


def _by_precedence(p: PdrState) -> tuple[int, int]:
    return (p.precedence, p.pdr_id)


def _pack_set(fars: Mapping[int, FarState], qers: Mapping[int, QerState], key: RKey,
              pdrs: list[PdrState]) -> bytes:
    """The pdr_set of the PDRs installed under ``key`` (sorts ``pdrs`` by precedence)."""
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
    return pack_pdr_set([_packed_rule(fars, qers, p) for p in pdrs], teid)


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
    fars, qers = dict(session.fars.items()), dict(session.qers.items())  # (faster lookups)
    for key, pdrs in by_key.items():
        out[key] = _pack_set(fars, qers, key, pdrs)
    for far in session.fars.values():
        out[(_FARS, _slot_key(far.slot))] = packed(far.value)
    for qer in session.qers.values():
        out[(_QERS, _slot_key(qer.slot))] = packed(qer.value)
    return out


def diff(
    old: Session | None,
    new: Session | None,
    txn: AllocTxn,
    end_markers: tuple[EndMarker, ...] = (),
) -> Plan:
    """The plan taking the maps from ``old``'s entries to ``new``'s; claims/frees in ``txn``."""
    if old is None:
        return install(new, txn, end_markers) if new is not None else Plan(end_markers=end_markers)
    if new is None:
        return uninstall(old, txn, end_markers)
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
                prev = _claim_new_key(txn, seid, new, name, key, value)
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


def update(old: Session, new: Session, txn: AllocTxn,
           end_markers: tuple[EndMarker, ...] = ()) -> Plan:
    """``diff(old, new)``, computing only the entries the change can touch.

    A rule object ``new`` shares with ``old`` (by identity: sessions are immutable, and
    compile.modify keeps every rule a request leaves alone) renders the same. So only
    changed FARs and QERs are compared, at their slots; a PDR set is re-packed only for
    keys of a changed PDR, or of a PDR whose FAR moved slot or whose QERs changed slot or
    QFI. Claims, releases, phases and ``prev`` values are those diff() gives."""
    seid = new.local_seid
    ops: list[MapOp] = []
    far_moved: set[int] = set()  # FAR IDs whose slot changed (or that came or went)
    qer_moved: set[int] = set()  # QER IDs whose slot or QFI changed (or that came or went)
    if new.fars is not old.fars:
        _leaf_changes(ops, _FARS, _ZERO_FAR, old.fars, new.fars, far_moved, False,
                      txn.release_far_slot)
    if new.qers is not old.qers:
        _leaf_changes(ops, _QERS, _ZERO_QER, old.qers, new.qers, qer_moved, True,
                      txn.release_qer_slot)
    old_pdrs, new_pdrs = old.pdrs, new.pdrs
    pdrs_changed = new_pdrs is not old_pdrs
    if pdrs_changed or far_moved or qer_moved:
        _pdr_set_changes(ops, old, new, txn, far_moved, qer_moved)
    if not pdrs_changed:
        return Plan(tuple(ops), (), end_markers, seid)
    old_slots = {p.slot for p in old_pdrs.values()}
    new_slots = {p.slot for p in new_pdrs.values()}
    zero = _ZERO_COUNTER
    for slot in sorted(new_slots - old_slots):
        ops.append(_new_op((_PDR_STATS, _slot_key(slot), zero, zero, Phase.LEAF_WRITE)))
    removed = sorted(old_slots - new_slots)
    for slot in removed:
        ops.append(_new_op((_PDR_STATS, _slot_key(slot), zero, zero, Phase.LEAF_CLEAR)))
    if removed:
        for pdr in old_pdrs.values():  # (in the order _release_slots frees them)
            if pdr.slot not in new_slots:
                txn.release_pdr_slot(pdr.slot)
    new_teids = {p.f_teid.teid for p in new_pdrs.values() if p.f_teid}
    released: set[int] = set()
    for pdr in old_pdrs.values():
        f = pdr.f_teid
        if f is not None and f.allocated and f.teid not in new_teids and f.teid not in released:
            released.add(f.teid)
            txn.release_teid(f.teid)
    if new.ue_v4_allocs is not old.ue_v4_allocs:
        for ni, addr in old.ue_v4_allocs.items():
            if new.ue_v4_allocs.get(ni) != addr:
                txn.release_ue_v4(ni, addr)
    if new.ue_v6_allocs is not old.ue_v6_allocs:
        for ni, prefix in old.ue_v6_allocs.items():
            if new.ue_v6_allocs.get(ni) != prefix:
                txn.release_ue_v6(ni, prefix)
    return Plan(tuple(ops), tuple(removed), end_markers, seid)


def _leaf_changes(ops: list[MapOp], name: MapName, zero: bytes,
                  old: Mapping[int, FarState | QerState], new: Mapping[int, FarState | QerState],
                  moved: set[int], qfi_matters: bool, release: Callable[[int], None]) -> None:
    """The FAR (or QER) slot writes and clears from ``old`` to ``new``; frees the slots
    ``new`` no longer holds; notes in ``moved`` the IDs whose PDR rule fields changed."""
    before: dict[int, bytes] = {}
    after: dict[int, bytes] = {}
    for rule_id, rule in new.items():
        was = old.get(rule_id)
        if was is rule:
            continue
        if was is None or was.slot != rule.slot or (
                qfi_matters and was.value.qfi != rule.value.qfi):  # type: ignore[union-attr]
            moved.add(rule_id)
        after[rule.slot] = packed(rule.value)
    for rule_id, was in old.items():
        now = new.get(rule_id)
        if now is was:
            continue
        if now is None:
            moved.add(rule_id)
        before[was.slot] = packed(was.value)
    for slot, value in after.items():
        prev = before.get(slot)
        if prev != value:
            ops.append(_new_op((name, _slot_key(slot), value, zero if prev is None else prev,
                                Phase.LEAF_WRITE)))
    for slot, prev in before.items():
        if slot not in after:  # (no rule new shares with old holds it: slots are distinct)
            ops.append(_new_op((name, _slot_key(slot), zero, prev, Phase.LEAF_CLEAR)))
            release(slot)


def _refers(pdr: PdrState, far_moved: set[int], qer_moved: set[int]) -> bool:
    if pdr.far_id in far_moved:
        return True
    if qer_moved:
        for q in pdr.qer_ids:
            if q in qer_moved:
                return True
    return False


def _pdr_set_changes(ops: list[MapOp], old: Session, new: Session, txn: AllocTxn,
                     far_moved: set[int], qer_moved: set[int]) -> None:
    """The PDR set writes, zeroings and deletions (and key claims) of update()."""
    old_pdrs, new_pdrs = old.pdrs, new.pdrs
    touched: set[RKey] = set()
    for pdr_id, pdr in new_pdrs.items():
        if old_pdrs.get(pdr_id) is not pdr or _refers(pdr, far_moved, qer_moved):
            touched.update(pdr_keys(pdr))
    for pdr_id, pdr in old_pdrs.items():
        if new_pdrs.get(pdr_id) is not pdr or _refers(pdr, far_moved, qer_moved):
            touched.update(pdr_keys(pdr))
    if not touched:
        return
    # Whole groups of the touched keys (a key's set holds all the PDRs under it), in the
    # order render() meets them: a key with too many PDRs is reported as diff() does.
    before = {rkey: _pack_set(old.fars, old.qers, rkey, pdrs)
              for rkey, pdrs in _group(old_pdrs.values()).items() if rkey in touched}
    after = {rkey: _pack_set(new.fars, new.qers, rkey, pdrs)
             for rkey, pdrs in _group(new_pdrs.values()).items() if rkey in touched}
    seid = new.local_seid
    pdr_phase = Phase.PDR
    for rkey, value in after.items():
        prev = before.get(rkey)
        if prev == value:
            continue
        name, key = rkey
        if prev is None:
            prev = _claim_new_key(txn, seid, new, name, key, value)
        ops.append(_new_op((name, key, value, prev, pdr_phase)))
    kept: set[KeyId] | None = None  # owners of new's keys (a TEID may move between maps)
    for rkey, prev in before.items():
        if rkey in after:
            continue
        if kept is None:
            kept = _owners(new)
        name, key = rkey
        if name is _BY_TEID:  # an array slot: zeroed, never deleted
            ops.append(_new_op((name, key, _ZERO_SET, prev, pdr_phase)))
            if (owner := owner_of(name, key, prev)) not in kept:
                txn.unclaim_key(owner)
        else:
            ops.append(_new_op((name, key, None, prev, pdr_phase)))
            if rkey not in kept:
                txn.unclaim_key(rkey)


def _owners(session: Session) -> set[KeyId]:
    """owner_of() every PDR map entry of ``session``: a TEID as (uplink_pdrs, TEID)."""
    out: set[KeyId] = set()
    for pdr in session.pdrs.values():
        f = pdr.f_teid
        if f is not None:
            out.add((_UPLINK_PDRS, f.teid.to_bytes(4, "big")))
        else:
            out.update(pdr_keys(pdr))
    return out


def _pdr_sets(pdr_states: tuple[PdrState, ...], fars: Mapping[int, FarState],
              qers: Mapping[int, QerState]) -> list[tuple[RKey, bytes]]:
    """(key, pdr_set) of every PDR map key the PDRs are installed under, in order of first
    appearance: one pass for the common case (each key holds one PDR), else _group."""
    sets: list[tuple[RKey, bytes]] = []
    single: list[RKey] = []  # keys of one PDR each (the common case: no grouping)
    shared = False
    for pdr in pdr_states:
        f = pdr.f_teid
        if f is not None:  # (pdr_keys, inlined for the common case)
            if f.allocated:
                rkey = (_BY_TEID, _slot_key(f.teid & TEID_INDEX_MASK))
                teid = f.teid
            else:
                rkey, teid = (_UPLINK_PDRS, f.teid.to_bytes(4, "big")), 0
            if rkey in single:
                shared = True
                break
            single.append(rkey)
            sets.append((rkey, pack_pdr_set([_packed_rule(fars, qers, pdr)], teid)))
            continue
        keys = pdr_keys(pdr)
        if any(rkey in single for rkey in keys):
            shared = True
            break
        if keys:
            rule = [_packed_rule(fars, qers, pdr)]
            for rkey in keys:
                single.append(rkey)
                sets.append((rkey, pack_pdr_set(rule)))
    if shared:  # PDRs share a key: group them (and start over)
        return [(rkey, _pack_set(fars, qers, rkey, pdrs))
                for rkey, pdrs in _group(pdr_states).items()]
    return sets


def install(new: Session, txn: AllocTxn, end_markers: tuple[EndMarker, ...] = (), *,
            fars: Mapping[int, FarState] | None = None,
            qers: Mapping[int, QerState] | None = None) -> Plan:
    """``diff(None, new)``: everything ``new`` holds is written (a Session Establishment).
    ``fars`` and ``qers``: the session's, as dicts, if the caller has them (lookups in a
    dict are cheaper than in a RuleMap)."""
    seid = new.local_seid
    pdr_states: tuple[PdrState, ...] = new.pdrs.values()  # type: ignore[assignment]
    if fars is None or qers is None:
        fars, qers = dict(new.fars.items()), dict(new.qers.items())
    sets = _pdr_sets(pdr_states, fars, qers)
    ops: list[MapOp] = []
    append = ops.append
    pdr_phase, leaf_write = Phase.PDR, Phase.LEAF_WRITE
    for rkey, value in sets:
        name, key = rkey
        append(_new_op((name, key, value, _claim_new_key(txn, seid, new, name, key, value),
                        pdr_phase)))
    for far in fars.values():
        append(_new_op((_FARS, _slot_key(far.slot), packed(far.value), _ZERO_FAR, leaf_write)))
    for qer in qers.values():
        append(_new_op((_QERS, _slot_key(qer.slot), packed(qer.value), _ZERO_QER, leaf_write)))
    zero = _ZERO_COUNTER
    for slot in sorted([p.slot for p in pdr_states]):
        append(_new_op((_PDR_STATS, _slot_key(slot), zero, zero, leaf_write)))
    return Plan(tuple(ops), (), end_markers, seid)


def uninstall(old: Session, txn: AllocTxn, end_markers: tuple[EndMarker, ...] = ()) -> Plan:
    """``diff(old, None)``: everything ``old`` holds is removed (a Session Deletion).

    Built from the session directly, touching each rule once: a PDR set is packed as
    install() does, each FAR and QER value is looked up once, slots are freed as met."""
    ops: list[MapOp] = []
    append = ops.append
    unclaim = txn.unclaim_key
    pdr_phase, leaf_clear = Phase.PDR, Phase.LEAF_CLEAR
    pdr_states: tuple[PdrState, ...] = old.pdrs.values()  # type: ignore[assignment]
    fars, qers = old.fars, old.qers
    sets = _pdr_sets(pdr_states, fars, qers)
    slots = [p.slot for p in pdr_states]
    teids: list[int] = []
    for pdr in pdr_states:
        f = pdr.f_teid
        if f is not None and f.allocated and f.teid not in teids:
            teids.append(f.teid)
    for rkey, prev in sets:
        name, key = rkey
        if name is _BY_TEID:  # an array slot: zeroed, never deleted
            append(_new_op((name, key, _ZERO_SET, prev, pdr_phase)))
            unclaim((_UPLINK_PDRS, prev[4:8]))
        else:
            append(_new_op((name, key, None, prev, pdr_phase)))
            unclaim(rkey)
    far_slots: list[int] = []
    far_states: tuple[FarState, ...] = fars.values()  # type: ignore[assignment]
    for far in far_states:
        slot = far.slot
        far_slots.append(slot)
        append(_new_op((_FARS, _slot_key(slot), _ZERO_FAR, packed(far.value), leaf_clear)))
    qer_slots: list[int] = []
    qer_states: tuple[QerState, ...] = qers.values()  # type: ignore[assignment]
    for qer in qer_states:
        slot = qer.slot
        qer_slots.append(slot)
        append(_new_op((_QERS, _slot_key(slot), _ZERO_QER, packed(qer.value), leaf_clear)))
    # Free (at commit) everything old holds, in the order _release_slots would.
    txn.release_slots(slots, far_slots, qer_slots)
    for teid in teids:
        txn.release_teid(teid)
    v4_allocs, v6_allocs = old.ue_v4_allocs, old.ue_v6_allocs
    if v4_allocs is not EMPTY and v4_allocs:
        for ni, addr in v4_allocs.items():
            txn.release_ue_v4(ni, addr)
    if v6_allocs is not EMPTY and v6_allocs:
        for ni, prefix in v6_allocs.items():
            txn.release_ue_v6(ni, prefix)
    slots.sort()
    zero = _ZERO_COUNTER
    for slot in slots:
        append(_new_op((_PDR_STATS, _slot_key(slot), zero, zero, leaf_clear)))
    return Plan(tuple(ops), tuple(slots), end_markers, old.local_seid)


def _group(pdr_states: Iterable[PdrState]) -> dict[RKey, list[PdrState]]:
    """The PDRs installed under each key, in order of first appearance."""
    by_key: dict[RKey, list[PdrState]] = {}
    for pdr in pdr_states:
        f = pdr.f_teid
        if f is not None:  # (pdr_keys, inlined for the common case)
            rkey = ((_BY_TEID, _slot_key(f.teid & TEID_INDEX_MASK)) if f.allocated
                    else (_UPLINK_PDRS, f.teid.to_bytes(4, "big")))
            group = by_key.get(rkey)
            if group is None:
                by_key[rkey] = [pdr]
            else:
                group.append(pdr)
            continue
        for rkey in pdr_keys(pdr):
            group = by_key.get(rkey)
            if group is None:
                by_key[rkey] = [pdr]
            else:
                group.append(pdr)
    return by_key


def _pdr_slots(session: Session | None) -> Mapping[int, PdrState]:
    if session is None:
        return {}
    return {p.slot: p for p in session.pdrs.values()}


def rule_for_key(session: Session | None, name: str, key: bytes) -> tuple[RuleIdType, int] | None:
    """The PDR of ``session`` installed under ``key`` of map ``name`` (Failed Rule ID)."""
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
