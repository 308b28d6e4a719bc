"""Session Establishments compiled once per request shape, then replayed.

An SMF's Establishment Requests share one shape (pfcp/shapes.py): the same rules, with a
few per-session values in fixed places (the UE's address, the gNB's tunnel, an F-TEID it
chose). Compiling one (control/compile.py) decides everything else: which rules there are,
their interfaces, network instances and actions, the FAR and QER values towards the core,
which PDRs share a map key. A :class:`Template` keeps that first compile's result and,
for each later request of the shape, builds the new session from it:

- the same allocations in the same order (FAR slots, QER slots, then each PDR's slot,
  F-TEID and UE address), from the request's own transaction;
- each PDR, FAR and QER of the template with its new slot, and with the values of the
  request's slots where the template's came from its slots;
- the plan from the new session (render.install, as compile.establish does).

What depends on a slot's value is computed by the compiler's own code (a FAR's tunnel:
the tunnel's value packed as ``_far_value`` packs it; map keys as render keys them). A request the
template would get wrong is not replayed: an F-TEID with TEID 0, and whatever raises (a
pool exhausted, a map key another session holds, more PDRs on one key than the fast path
takes); its transaction is aborted and the request compiled in full, which answers it. tests/control/test_template.py checks replays against
full compiles, Session, plan and Created PDRs, over the shapes of the common SMFs.

Shapes this does not replay (compiled in full each time): a slot in any IE but a PDR's
PDI (UE IP Address, F-TEID), a FAR's Forwarding Parameters (Outer Header Creation) or the
CP F-SEID; a UE IPv6 prefix the UPF allocates (CHV6).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any, NamedTuple

from control import compile as cc
from control.alloc import Allocator, AllocTxn
from control.layout import (
    ONE_RULE_HEAD,
    ONE_RULE_TAIL,
    TEID_INDEX_MASK,
    Counter,
    Encap,
    Far,
    MapName,
    pack_far,
    pack_one_rule_head,
    pack_pdr_rule,
    pack_slot_key,
    zero_value,
)
from control.plan import MapOp, Phase, Plan
from control.render import _rule_fields, install, packed, pdr_keys
from control.session import (
    EMPTY,
    FarState,
    ForwardingState,
    LocalFTeid,
    PdrState,
    QerState,
    Session,
    UrrState,
    frozen,
)
from pfcp.ies.address import FSeid, FTeid, OuterHeaderCreation, UeIpAddress
from pfcp.ies.base import fast_ctor
from pfcp.messages import SessionEstablishmentRequest
from pfcp.shapes import Shape, Shaped

_KEEP, _GIVEN, _CHOSEN = 0, 1, 2
_V4_MAP = MapName.DOWNLINK_PDRS_V4
_UPLINK_MAP = MapName.UPLINK_PDRS
_BY_TEID = MapName.UPLINK_BY_TEID
_FARS = MapName.FARS
_QERS = MapName.QERS
_PDR_STATS = MapName.PDR_STATS
_PDR_PHASE, _LEAF_WRITE = Phase.PDR, Phase.LEAF_WRITE
_ZERO_SET = zero_value(_BY_TEID)
_ZERO_FAR = zero_value(_FARS)
_ZERO_QER = zero_value(_QERS)
_ZERO_COUNTER = Counter().pack()
_NO_V4 = bytes(4)
_ENCAP_GTPU = int(Encap.GTPU_IPV4)
_FARS_BY_RAW = cc._FARS_BY_RAW
_new_far_value = fast_ctor(Far)
_NO_V6 = bytes(8)
_new_created = cc._new_created
_new_op = partial(tuple.__new__, MapOp)
_new_rule_map: Callable[[Any], Any] = cc._new_rule_map
# Every field, in order, without the __init__ call (pfcp.ies.base.fast_ctor).
_new_pdr = fast_ctor(PdrState)
_new_far = fast_ctor(FarState)
_new_qer = fast_ctor(QerState)
_new_f_teid = fast_ctor(LocalFTeid)
_new_fwd = fast_ctor(ForwardingState)
_new_session = fast_ctor(Session)


class _Pdr(NamedTuple):
    """How a PDR of the template is replayed."""

    state: PdrState  # the template's
    teid_from: int  # _KEEP the template's F-TEID (or none), _GIVEN by a slot, _CHOSEN by us
    teid_slot: int  # the slot (_GIVEN)
    choose: object  # CHOOSE ID group (_CHOSEN): PDRs with the same one share the F-TEID
    ue_from: int  # _KEEP the template's UE IPv4 (or none), _GIVEN by a slot, _CHOSEN (pool)
    ue_slot: int
    created_teid: bool  # what its Created PDR carries
    created_v4: bool
    # Its map entry, when the plan is built here (Template._ops): the map it is keyed in,
    # and the FAR and QER (by position) and flags and QFI of its rule.
    key_map: MapName | None
    far_index: int
    qer_index: int
    flags: int
    qfi: int


class _Far(NamedTuple):
    state: FarState
    ohc_slot: int  # -1: the template's forwarding and value
    raw: bytes  # its value, packed (the template's: a FAR with a tunnel of its own packs its)


class Template:
    """One shape's establishment, compiled (see the module docstring)."""

    __slots__ = ("_fars", "_fast", "_fq_csids", "_n_far", "_n_pdr", "_pdrs",
                 "_qer_raws", "_qers", "_remote", "_urr_map", "_urrs", "alloc")

    def __init__(self, alloc: Allocator, pdrs: tuple[_Pdr, ...], fars: tuple[_Far, ...],
                 qers: tuple[QerState, ...], urrs: tuple[UrrState, ...], remote: int,
                 fq_csids: frozenset[tuple[str, int]]) -> None:
        self.alloc = alloc
        self._remote = remote  # the CP F-SEID's slot
        self._fq_csids = fq_csids  # (the FQ-CSIDs are outside the slots: the template's)
        self._pdrs, self._fars, self._qers, self._urrs = pdrs, fars, qers, urrs
        self._qer_raws = [packed(q.value) for q in qers]
        self._fast = all(p.key_map is not None for p in pdrs)
        self._n_pdr, self._n_far = len(pdrs), len(fars)
        # The URRs are the template's own (their state changes only as reports are sent).
        self._urr_map = (_new_rule_map([x for u in urrs for x in (u.urr_id, u)]) if urrs
                         else EMPTY)

    @classmethod
    def learn(cls, shape: Shape, message: SessionEstablishmentRequest, result: cc.Result,
              alloc: Allocator) -> Template | None:
        """The template of ``shape`` from the full compile of one of its requests, or None if
        the shape is not replayed (the module docstring says which)."""
        session = result.session
        if session is None or session.ue_v6_allocs:
            return None
        pdr_slots: dict[tuple[int, str], int] = {}
        far_slots: dict[int, int] = {}
        remote = -1
        for i, slot in enumerate(shape.slots):
            path = slot.path
            if path == (("cp_f_seid", None),):
                remote = i  # the session's remote SEID and address
                continue
            if (len(path) == 3 and path[0][0] == "create_pdr" and path[1] == ("pdi", None)
                    and path[2][0] in ("ue_ip_address", "local_f_teid")):
                pdr_slots[(path[0][1] or 0, path[2][0])] = i
            elif (len(path) == 3 and path[0][0] == "create_far"
                  and path[1] == ("forwarding_parameters", None)
                  and path[2][0] == "outer_header_creation"):
                far_slots[path[0][1] or 0] = i
            else:
                return None
        fars = tuple(_Far(session.fars[cf.far_id], far_slots.get(j, -1),
                          packed(session.fars[cf.far_id].value))
                     for j, cf in enumerate(message.create_far))
        for far in fars:  # a tunnel of the fast path's kind: the value is packed here
            value = far.state.value
            if far.ohc_slot >= 0 and (value.encap != Encap.GTPU_IPV4
                                      or far.state.forwarding is None):
                return None
        qers = tuple(session.qers[cq.qer_id] for cq in message.create_qer)
        urrs = tuple(session.urrs[cu.urr_id] for cu in message.create_urr)
        far_ids = [f.state.far_id for f in fars]
        qer_ids = [q.qer_id for q in qers]
        keys = [k for cp in message.create_pdr for k in pdr_keys(session.pdrs[cp.pdr_id])]
        distinct = len(set(keys)) == len(keys)
        pdrs = []
        for i, cp in enumerate(message.create_pdr):
            state = session.pdrs[cp.pdr_id]
            f, ue = cp.pdi.local_f_teid, cp.pdi.ue_ip_address
            teid_from, choose = _KEEP, None
            if f is not None and f.choose:
                teid_from = _CHOSEN
                choose = ("id", f.choose_id) if f.choose_id is not None else ("pdr", i)
            elif (i, "local_f_teid") in pdr_slots:
                teid_from = _GIVEN
            ue_from = _KEEP
            if ue is not None:
                if ue.choose_v6:
                    return None  # (a UE IPv6 prefix we allocate, or report: not replayed)
                if (i, "ue_ip_address") in pdr_slots:
                    ue_from = _GIVEN
                elif ue.choose_v4 and ue.ipv4 is None:
                    ue_from = _CHOSEN
            _, _, flags, qfi = _rule_fields(session.fars, session.qers, state)
            qer_index = next((qer_ids.index(q) for q in state.qer_ids if q in qer_ids), -1)
            pdrs.append(_Pdr(
                state, teid_from, pdr_slots.get((i, "local_f_teid"), -1), choose, ue_from,
                pdr_slots.get((i, "ue_ip_address"), -1), f is not None and f.choose,
                ue is not None and ue.choose_v4,
                _key_map(state) if distinct else None,
                far_ids.index(state.far_id) if state.far_id in far_ids else -1,
                qer_index, flags, qfi))
        if remote < 0:
            return None
        template = cls(alloc, tuple(pdrs), fars, qers, urrs, remote, session.fq_csids)
        if template._fast:  # its own plan, built here, must be the one compiled
            states = list(session.pdrs.values())
            ops = template._ops(states, [f.state for f in fars], [f.raw for f in fars], qers,
                                None, session.local_seid)
            if ops is None or ops != result.plan.ops:
                template._fast = False
        return template

    def replay(self, seid: int, peer: str, shaped: Shaped, txn: AllocTxn) -> cc.Result | None:
        """What compile.establish makes of the request ``shaped`` for the session ``seid``
        with the CP function ``peer``, from ``txn``; None if it is not replayed (then ``txn``
        is aborted: compile in full)."""
        try:
            result = self._replay(seid, peer, shaped.leaves, txn)
        except Exception:  # the full compile says what (a pool or key exhausted or taken)
            result = None
        if result is None:
            txn.abort()
        return result

    def _replay(self, seid: int, peer: str, leaves: tuple[Any, ...], txn: AllocTxn
                ) -> cc.Result | None:
        pdrs, n_pdr, n_far = self._pdrs, self._n_pdr, self._n_far
        # The slots compile takes, in its order (FARs, QERs, then each PDR's).
        far_slot, qer_slot = txn.far_slot, txn.qer_slot
        slots = [0] * n_pdr
        slots += [far_slot() for _ in range(n_far)]
        slots += [qer_slot() for _ in self._qers]
        far_flat: list[Any] = []  # the FARs' RuleMap: id, state, id, state...
        far_states: list[FarState] = []
        far_raws: list[bytes] = []
        i = n_pdr
        for f0, ohc_slot, raw in self._fars:
            far_id = f0.far_id
            if ohc_slot < 0:
                far = _new_far(far_id, slots[i], f0.apply_action, f0.forwarding, f0.value)
            else:  # compile._far_value, for the tunnel: only its TEID and address differ
                ohc: OuterHeaderCreation = leaves[ohc_slot]
                was, t0 = f0.forwarding, f0.value
                assert was is not None and ohc.ipv4 is not None
                teid = ohc.teid or 0
                fwd = _new_fwd(was.destination_interface, was.network_instance,
                               int(ohc.description), teid, ohc.ipv4, ohc.ipv6, ohc.port,
                               was.tos)
                raw = pack_far(int(t0.action), _ENCAP_GTPU, t0.tos, int(t0.dst_iface),
                               teid.to_bytes(4, "big"),
                               ohc.ipv4._ip.to_bytes(4, "big"),  # type: ignore[attr-defined]
                               t0.local_v4._ip.to_bytes(4, "big"))  # type: ignore[attr-defined]
                value = _FARS_BY_RAW.get(raw)
                if value is None:
                    value = cc._intern_far(raw, _new_far_value(
                        t0.action, t0.encap, t0.tos, t0.dst_iface, teid, ohc.ipv4, t0.local_v4))
                far = _new_far(far_id, slots[i], f0.apply_action, fwd, value)
            far_flat += (far_id, far)
            far_states.append(far)
            far_raws.append(raw)
            i += 1
        qer_flat: list[Any] = []
        qer_states: list[QerState] = []
        for q0 in self._qers:
            qer = _new_qer(q0.qer_id, slots[i], q0.value)
            qer_flat += (q0.qer_id, qer)
            qer_states.append(qer)
            i += 1
        flat: list[Any] = []  # the PDRs' RuleMap
        states: list[PdrState] = []
        created = []
        chosen: dict[object, LocalFTeid] = {}
        ue_v4: dict[str | None, Any] = {}
        pdr_slot = txn.pdr_slot
        for step in pdrs:
            p0, teid_from, teid_slot, choose, ue_from, ue_slot, created_teid, created_v4 = \
                step[:8]
            f_teid = p0.f_teid
            if teid_from == _CHOSEN:
                f_teid = chosen.get(choose)
                if f_teid is None:
                    ours = p0.f_teid
                    assert ours is not None
                    f_teid = chosen[choose] = _new_f_teid(txn.teid(_UPLINK_MAP), ours.ipv4,
                                                          ours.ipv6, True)
            elif teid_from == _GIVEN:
                given: FTeid = leaves[teid_slot]
                if not given.teid:
                    return None  # (rejected by the full compile)
                f_teid = _new_f_teid(given.teid, given.ipv4, given.ipv6, False)
            v4 = p0.ue_v4
            if ue_from == _GIVEN:
                ue: UeIpAddress = leaves[ue_slot]
                v4 = ue.ipv4
            elif ue_from == _CHOSEN:
                ni = p0.network_instance
                v4 = ue_v4.get(ni)
                if v4 is None:
                    v4 = ue_v4[ni] = txn.ue_v4(ni, _V4_MAP)
            pdr = _new_pdr(p0.pdr_id, p0.precedence, pdr_slot(), p0.source_interface,
                           p0.network_instance, f_teid, v4, p0.ue_v6, p0.ue_is_destination,
                           p0.ohr, p0.far_id, p0.qer_ids, p0.urr_ids, p0.qfi, p0.sdf_filters)
            flat += (p0.pdr_id, pdr)
            states.append(pdr)
            created.append(_new_created((p0.pdr_id, f_teid if created_teid else None,
                                         v4 if created_v4 else None, None)))
        remote: FSeid = leaves[self._remote]
        new = _new_session(
            seid, remote.seid, peer, remote.ipv4, remote.ipv6,
            _new_rule_map(flat) if flat else EMPTY,
            _new_rule_map(far_flat) if far_flat else EMPTY,
            _new_rule_map(qer_flat) if qer_flat else EMPTY,
            self._urr_map, frozen(ue_v4) if ue_v4 else EMPTY, EMPTY, self._fq_csids,
        )
        ops = None
        if self._fast:
            ops = self._ops(states, far_states, far_raws, qer_states, txn, seid)
        if ops is None:  # (dicts of its FARs and QERs, as install takes them)
            plan = install(new, txn, fars=dict(new.fars.items()), qers=dict(new.qers.items()))
        else:
            plan = Plan(ops, (), (), seid)
        return cc.Result(new, plan, tuple(created))

    def _ops(self, states: list[PdrState], fars: list[FarState], far_raws: list[bytes],
             qers: list[QerState] | tuple[QerState, ...], txn: AllocTxn | None, seid: int
             ) -> tuple[MapOp, ...] | None:
        """What render.install writes for a session of this template's PDRs, built from the
        rule constants worked out when it was learnt; the keys claimed in ``txn`` (raises
        if another session holds one). None if two PDRs now share a key (install groups
        them)."""
        entries: list[tuple[MapName | None, bytes, bytes, bytes | None]] = []
        for step, pdr in zip(self._pdrs, states, strict=True):
            v4 = pdr.ue_v4
            v4_raw = v4._ip.to_bytes(4, "big") if v4 is not None else _NO_V4  # type: ignore[attr-defined]
            far_index, qer_index = step.far_index, step.qer_index
            rule = pack_pdr_rule(
                pdr.slot, fars[far_index].slot if far_index >= 0 else 0,
                qers[qer_index].slot if qer_index >= 0 else 0, pdr.precedence,
                pdr.pdr_id, step.flags, step.qfi, pdr.ohr, 0, v4_raw, _NO_V6)
            name = step.key_map
            f = pdr.f_teid
            if name is _BY_TEID:
                assert f is not None
                teid = f.teid.to_bytes(4, "big")
                entries.append((name, pack_slot_key(f.teid & TEID_INDEX_MASK),
                                pack_one_rule_head(1, teid) + rule + ONE_RULE_TAIL, _ZERO_SET))
            elif name is _UPLINK_MAP:
                assert f is not None
                entries.append((name, f.teid.to_bytes(4, "big"),
                                ONE_RULE_HEAD + rule + ONE_RULE_TAIL, None))
            else:
                entries.append((name, v4_raw, ONE_RULE_HEAD + rule + ONE_RULE_TAIL, None))
        if len(entries) > 1 and len({(e[0], e[1]) for e in entries}) != len(entries):
            return None
        ops: list[MapOp] = []
        append = ops.append
        claim = txn.claim_key if txn is not None else None
        for name, key, value, prev in entries:
            assert name is not None
            # (render.owner_of: one of our TEIDs is owned as uplink_pdrs[TEID])
            owner = (_UPLINK_MAP, value[4:8]) if name is _BY_TEID else (name, key)
            if claim is not None and not claim(owner, seid):
                raise KeyError(key)  # (the full compile answers it: Failed Rule ID and all)
            append(_new_op((name, key, value, prev, _PDR_PHASE)))
        for far, raw in zip(fars, far_raws, strict=True):
            append(_new_op((_FARS, pack_slot_key(far.slot), raw, _ZERO_FAR, _LEAF_WRITE)))
        for qer, raw in zip(qers, self._qer_raws, strict=True):
            append(_new_op((_QERS, pack_slot_key(qer.slot), raw, _ZERO_QER, _LEAF_WRITE)))
        for slot in sorted([pdr.slot for pdr in states]):
            append(_new_op((_PDR_STATS, pack_slot_key(slot), _ZERO_COUNTER, _ZERO_COUNTER,
                            _LEAF_WRITE)))
        return tuple(ops)


def _key_map(pdr: PdrState) -> MapName | None:
    """The map a PDR's one entry is in, when _ops can build it (else None: render.install)."""
    keys = pdr_keys(pdr)
    if len(keys) != 1 or pdr.ue_v6 is not None:
        return None
    name = keys[0][0]
    return name if name in (_BY_TEID, _UPLINK_MAP, _V4_MAP) else None


class Templates:
    """The templates of the shapes seen (None: a shape that is not replayed), at most
    ``max_templates`` (then it starts afresh, as the ShapeTable does)."""

    def __init__(self, alloc: Allocator, max_templates: int = 256) -> None:
        self.alloc = alloc
        self.max_templates = max_templates
        self._by_shape: dict[Shape, Template | None] = {}

    def get(self, shape: Shape) -> Template | None:
        """The template of ``shape``: None if unknown yet or not replayed."""
        return self._by_shape.get(shape)

    def learn(self, shaped: Shaped, result: cc.Result) -> None:
        """Keep the template of ``shaped.shape`` from ``result``, the full compile of
        ``shaped.message`` (once per shape)."""
        if shaped.shape in self._by_shape:
            return
        if len(self._by_shape) >= self.max_templates:
            self._by_shape.clear()
        message = shaped.message
        assert isinstance(message, SessionEstablishmentRequest)
        self._by_shape[shaped.shape] = Template.learn(shaped.shape, message, result, self.alloc)
