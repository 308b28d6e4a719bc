"""The modification fast path (compile.modify: _modify_rules + render.update) against the
general path (compile._run: _apply_rules, render both sessions in full, diff them), over
random modification sequences: same session, same created PDRs, same plan (every op with
the same value and prev, same reads and End Markers), same maps once applied, same
allocator state after commit or abort, and the same rejection when one is rejected."""

from __future__ import annotations

import ipaddress
import os
from collections import defaultdict
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from control import compile as cc
from control.alloc import Allocator, Pool
from control.apply import apply_plan
from control.compile import SessionRules
from control.errors import ControlError
from control.memory import MemoryMaps
from control.plan import Plan
from control.render import diff, render
from control.session import Session
from pfcp.enums import (
    ApplyAction,
    DestinationInterface,
    Gate,
    MeasurementMethod,
    OuterHeaderCreationDescription,
    OuterHeaderRemovalDescription,
    PfcpsmReqFlags,
    ReportingTriggers,
    SourceInterface,
)
from pfcp.ies.address import FTeid, OuterHeaderCreation, UeIpAddress
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
    UpdateForwardingParameters,
    UpdatePdr,
    UpdateQer,
    UpdateUrr,
)
from pfcp.ies.simple import GateStatus, OuterHeaderRemoval
from tests.control import shapes

SEID, OTHER = 0x10, 0x20
UE_BASE = ipaddress.IPv4Address("10.9.0.0")
V6_BASE = ipaddress.IPv6Address("2001:db8:9::")


def pdi(kind: int, ue: int, teid: int) -> Pdi:
    if kind == 0:  # uplink, CHID 1 (shared TEID)
        return Pdi(SourceInterface.ACCESS, local_f_teid=FTeid(choose=True, choose_id=1),
                   ue_ip_address=UeIpAddress(ipv4=UE_BASE + ue), qfi=(1,))
    if kind == 1:  # uplink, own TEID
        return Pdi(SourceInterface.ACCESS, local_f_teid=FTeid(choose=True))
    if kind == 2:  # uplink, a TEID the SMF chose (uplink_pdrs hash)
        return Pdi(SourceInterface.ACCESS, local_f_teid=FTeid(0x7000 + teid, shapes.N3))
    if kind == 3:  # downlink, fixed UE address (shared with the other session for ue 0)
        return Pdi(SourceInterface.CORE, ue_ip_address=UeIpAddress(
            ipv4=UE_BASE + ue, is_destination=True))
    if kind == 4:  # downlink, UE address from the pool
        return Pdi(SourceInterface.CORE, ue_ip_address=UeIpAddress(choose_v4=True,
                                                                is_destination=True))
    # downlink, dual stack
    return Pdi(SourceInterface.CORE, ue_ip_address=UeIpAddress(
        ipv4=UE_BASE + ue, ipv6=V6_BASE + (ue << 64), is_destination=True))


OHR = OuterHeaderRemoval(OuterHeaderRemovalDescription.GTP_U_UDP_IPV4)
qer_lists = st.lists(st.integers(1, 3), max_size=2, unique=True).map(tuple)
urr_lists = st.lists(st.integers(1, 2), max_size=2, unique=True).map(tuple)
pdis = st.builds(pdi, st.integers(0, 5), st.integers(0, 3), st.integers(0, 3))


def create_pdr(pdr_id: int, p: Pdi, prec: int, far: int, qers: tuple[int, ...],
               urrs: tuple[int, ...]) -> CreatePdr:
    ohr = OHR if p.local_f_teid is not None else None
    return CreatePdr(pdr_id, prec, p, outer_header_removal=ohr, far_id=far, qer_id=qers,
                     urr_id=urrs)


def create_far(far_id: int, gtp: bool, teid: int) -> CreateFar:
    if not gtp:
        return CreateFar(far_id, ApplyAction.FORW, ForwardingParameters(DestinationInterface.CORE))
    return CreateFar(far_id, ApplyAction.FORW, ForwardingParameters(
        DestinationInterface.ACCESS, outer_header_creation=OuterHeaderCreation(
            OuterHeaderCreationDescription.GTP_U_UDP_IPV4, teid=teid, ipv4=shapes.GNB)))


def update_far(far_id: int, action: ApplyAction | None, teid: int | None, sndem: bool,
               tlm: int | None) -> UpdateFar:
    ufp = None
    if teid is not None or tlm is not None:
        ufp = UpdateForwardingParameters(
            destination_interface=DestinationInterface.ACCESS,
            outer_header_creation=OuterHeaderCreation(
                OuterHeaderCreationDescription.GTP_U_UDP_IPV4, teid=teid, ipv4=shapes.GNB2)
            if teid is not None else None,
            transport_level_marking=tlm,
            pfcpsmreq_flags=PfcpsmReqFlags.SNDEM if sndem else None)
    return UpdateFar(far_id, apply_action=action, update_forwarding_parameters=ufp)


def ids(existing: Any, valid: bool, lo: int, hi: int, *, fresh: bool = False
        ) -> st.SearchStrategy[int]:
    """Mostly a rule ID the request can use (an existing one, or a free one to create),
    sometimes any ID (then the request is mostly rejected)."""
    have = sorted(existing)
    pool = [i for i in range(lo, hi + 1) if i not in have] if fresh else have
    if not valid or not pool:
        return st.integers(lo, hi)
    return st.sampled_from(pool)


@st.composite
def request(draw: st.DrawFn, s: Session) -> SessionRules:
    """A modification of ``s``: a few changes, mostly valid ones."""
    out: dict[str, list[Any]] = defaultdict(list)
    for _ in range(draw(st.integers(1, 4))):
        valid = draw(st.integers(0, 5)) > 0
        kind = draw(st.sampled_from(KINDS))
        if kind == "create_pdr":
            ie: Any = draw(st.builds(
                create_pdr, ids(s.pdrs, valid, 1, 6, fresh=True), pdis, st.integers(0, 9),
                ids(s.fars, valid, 1, 4), qer_lists, urr_lists))
        elif kind == "remove_pdr":
            ie = RemovePdr(draw(ids(s.pdrs, valid, 1, 6)))
        elif kind == "update_pdr":
            ie = draw(st.builds(
                UpdatePdr, ids(s.pdrs, valid, 1, 6),
                outer_header_removal=st.none() | st.just(OHR),
                precedence=st.none() | st.integers(0, 9),
                pdi=st.none() | pdis,
                far_id=st.none() | ids(s.fars, valid, 1, 4),
                qer_id=qer_lists, urr_id=urr_lists))
        elif kind == "create_far":
            ie = draw(st.builds(create_far, ids(s.fars, valid, 1, 4, fresh=True),
                                st.booleans(), st.integers(1, 9)))
        elif kind == "remove_far":
            ie = RemoveFar(draw(ids(s.fars, valid, 1, 4)))
        elif kind == "update_far":
            ie = draw(st.builds(
                update_far, ids(s.fars, valid, 1, 4),
                st.none() | st.sampled_from([ApplyAction.FORW, ApplyAction.DROP,
                                             ApplyAction.BUFF | ApplyAction.NOCP]),
                st.none() | st.integers(1, 9), st.booleans(), st.none() | st.just(0xB8FC)))
        elif kind == "create_qer":
            ie = draw(st.builds(
                lambda i, q, g: CreateQer(i, GateStatus(g, Gate.OPEN), qfi=q),
                ids(s.qers, valid, 1, 3, fresh=True), st.none() | st.integers(1, 3),
                st.sampled_from(Gate)))
        elif kind == "remove_qer":
            ie = RemoveQer(draw(ids(s.qers, valid, 1, 3)))
        elif kind == "update_qer":
            ie = draw(st.builds(
                lambda i, q, g: UpdateQer(i, gate_status=g, qfi=q), ids(s.qers, valid, 1, 3),
                st.none() | st.integers(0, 3), st.none() | st.just(GateStatus(Gate.CLOSED))))
        elif kind == "create_urr":
            ie = CreateUrr(draw(ids(s.urrs, valid, 1, 2, fresh=True)), MeasurementMethod.VOLUM,
                           ReportingTriggers.PERIO)
        elif kind == "remove_urr":
            ie = RemoveUrr(draw(ids(s.urrs, valid, 1, 2)))
        else:
            ie = UpdateUrr(draw(ids(s.urrs, valid, 1, 2)),
                           measurement_method=MeasurementMethod.DURAT)
        out[kind].append(ie)
    return SessionRules(**{kind: tuple(ies) for kind, ies in out.items()})


KINDS = ["create_pdr", "remove_pdr", "update_pdr", "update_pdr", "create_far", "remove_far",
         "update_far", "update_far", "create_qer", "remove_qer", "update_qer", "create_urr",
         "remove_urr", "update_urr"]


ESTABLISH = SessionRules(
    create_far=(create_far(1, False, 0), create_far(2, True, 5)),
    create_qer=(CreateQer(1, GateStatus(), qfi=1), CreateQer(2, GateStatus(Gate.CLOSED), qfi=2)),
    create_urr=(CreateUrr(1, MeasurementMethod.VOLUM, ReportingTriggers.PERIO),),
)


def pool_state(pool: Pool[Any]) -> tuple[object, ...]:
    return (pool.in_use(), list(pool._free), getattr(pool, "_fresh", None),
            bytes(getattr(pool, "_flags", b"")), bytes(getattr(pool, "_gen", b"")))


def alloc_state(alloc: Allocator) -> tuple[object, ...]:
    return (dict(alloc.key_owners), pool_state(alloc.teids), pool_state(alloc.pdr_slots),
            pool_state(alloc.far_slots), pool_state(alloc.qer_slots),
            *(pool_state(p) for p in alloc.ue_v4.values()))


def same_plan(fast: Plan, general: Plan) -> None:
    assert len(set(fast.ops)) == len(fast.ops)
    assert set(fast.ops) == set(general.ops)
    assert (fast.reads, fast.end_markers, fast.seid) == (
        general.reads, general.end_markers, general.seid)


def same_rejection(err_f: ControlError | None, err_g: ControlError | None,
                   alloc_f: Allocator, alloc_g: Allocator) -> None:
    """Both paths rejected the request alike, and left their allocators alike."""
    assert err_f is not None and err_g is not None, (err_f, err_g)
    assert (type(err_f), str(err_f), err_f.cause, err_f.failed_rule) == (
        type(err_g), str(err_g), err_g.cause, err_g.failed_rule)
    assert alloc_state(alloc_f) == alloc_state(alloc_g)


class Side:
    """One allocator, maps and session, driven by one compiler."""

    def __init__(self, pdrs: tuple[CreatePdr, ...]) -> None:
        self.alloc = shapes.allocator(pdr_slots=64, far_slots=64, qer_slots=64,
                                      teid_indices=64)
        self.maps = MemoryMaps()
        # Another session holds UE address UE_BASE + 0: claiming it must fail.
        other = self.establish(OTHER, SessionRules(
            create_pdr=(create_pdr(1, pdi(3, 0, 0), 0, 1, (), ()),),
            create_far=ESTABLISH.create_far[:1]))
        assert other is not None
        self.session = self.establish(SEID, SessionRules(
            create_pdr=pdrs, create_far=ESTABLISH.create_far,
            create_qer=ESTABLISH.create_qer, create_urr=ESTABLISH.create_urr))

    def establish(self, seid: int, rules: SessionRules) -> Session | None:
        txn = self.alloc.begin()
        try:
            result = cc.establish(seid, Session(seid, seid, "x"), rules, self.alloc, txn)
        except ControlError:
            return None
        apply_plan(self.maps, result.plan)
        txn.commit()
        return result.session


@settings(max_examples=int(os.environ.get("CONTROL_EXAMPLES", "150")), deadline=None)
@given(st.lists(st.builds(create_pdr, st.integers(1, 6), pdis, st.integers(0, 9),
                          st.integers(1, 2), qer_lists.map(lambda q: tuple(i for i in q if i < 3)),
                          urr_lists.map(lambda u: tuple(i for i in u if i < 2))),
                max_size=4, unique_by=lambda p: p.pdr_id),
       st.integers(1, 8), st.data())
def test_fast_modify_equals_render_and_diff(pdrs: list[CreatePdr], steps: int,
                                            data: st.DataObject) -> None:
    fast, general = Side(tuple(pdrs)), Side(tuple(pdrs))
    if fast.session is None:
        assert general.session is None
        return
    assert general.session == fast.session
    for _ in range(steps):
        assert fast.session is not None and general.session is not None
        rules = data.draw(request(fast.session))
        txn_f, txn_g = fast.alloc.begin(), general.alloc.begin()
        err_f = err_g = None
        try:
            rf = cc.modify(fast.session, rules, fast.alloc, txn_f)
        except ControlError as exc:
            err_f = exc
        try:
            rg = cc._run(general.session, general.session, rules, general.alloc, txn_g)
        except ControlError as exc:
            err_g = exc
        if err_f is not None or err_g is not None:
            same_rejection(err_f, err_g, fast.alloc, general.alloc)
            continue
        assert rf.session == rg.session
        assert rf.created == rg.created
        same_plan(rf.plan, rg.plan)
        apply_plan(fast.maps, rf.plan)
        apply_plan(general.maps, rg.plan)
        assert fast.maps.snapshot() == general.maps.snapshot()
        txn_f.commit()
        txn_g.commit()
        assert alloc_state(fast.alloc) == alloc_state(general.alloc)
        fast.session, general.session = rf.session, rg.session
    assert fast.session is not None and general.session is not None
    # And deletion (uninstall) against the general diff to a session without rules.
    txn_f, txn_g = fast.alloc.begin(), general.alloc.begin()
    gone = cc.delete(fast.session, txn_f)
    s = general.session
    same_plan(gone.plan, diff(s, Session(s.local_seid, s.remote_seid, s.peer), txn_g))
    txn_f.commit()
    txn_g.commit()
    assert alloc_state(fast.alloc) == alloc_state(general.alloc)


# The establishment fast path (compile.establish: _establish_rules + render.install with
# the FAR and QER dicts and the inline grouping) against the general path (_apply_rules,
# then diff(None, new)) and against render() of the session it built.

@settings(max_examples=int(os.environ.get("CONTROL_EXAMPLES", "150")), deadline=None)
@given(st.lists(st.builds(create_pdr, st.integers(1, 6), pdis, st.integers(0, 9),
                          st.integers(1, 3), qer_lists, urr_lists),
                max_size=5, unique_by=lambda p: p.pdr_id),
       # Mostly every rule the PDRs may refer to (else the request is rejected).
       st.lists(st.builds(create_far, st.integers(1, 3), st.booleans(), st.integers(1, 9)),
                min_size=3, max_size=3, unique_by=lambda f: f.far_id) | st.lists(
           st.builds(create_far, st.integers(1, 3), st.booleans(), st.integers(1, 9)),
           max_size=3),
       st.lists(st.builds(lambda i, q: CreateQer(i, GateStatus(), qfi=q), st.integers(1, 3),
                          st.none() | st.integers(1, 3)),
                min_size=3, max_size=3, unique_by=lambda q: q.qer_id),
       st.lists(st.builds(lambda i: CreateUrr(i, MeasurementMethod.VOLUM,
                                              ReportingTriggers.PERIO), st.integers(1, 2)),
                min_size=2, max_size=2, unique_by=lambda u: u.urr_id))
def test_fast_establish_equals_general_and_render(
        pdrs: list[CreatePdr], fars: list[CreateFar], qers: list[CreateQer],
        urrs: list[CreateUrr]) -> None:
    rules = SessionRules(create_pdr=tuple(pdrs), create_far=tuple(fars),
                         create_qer=tuple(qers), create_urr=tuple(urrs))
    fast, general = Side(()), Side(())  # each holds the other session (UE_BASE + 0)
    txn_f, txn_g = fast.alloc.begin(), general.alloc.begin()
    base = Session(SEID + 1, 7, "x")
    err_f = err_g = None
    try:
        rf = cc.establish(SEID + 1, base, rules, fast.alloc, txn_f)
    except ControlError as exc:
        err_f = exc
    try:
        rg = cc._run(None, base, rules, general.alloc, txn_g)
    except ControlError as exc:
        err_g = exc
    if err_f is not None or err_g is not None:
        same_rejection(err_f, err_g, fast.alloc, general.alloc)
        return
    assert rf.session == rg.session and rf.created == rg.created
    assert rf.plan == rg.plan  # the same ops in the same order
    assert rf.session is not None
    assert {(op.map, op.key): op.value for op in rf.plan.ops if op.map != "pdr_stats"} == \
        render(rf.session)
    txn_f.commit()
    txn_g.commit()
    assert alloc_state(fast.alloc) == alloc_state(general.alloc)
