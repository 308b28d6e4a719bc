"""Properties over random rule churn: whatever succeeds or fails, the maps hold exactly what
the live sessions render, and deleting everything leaves empty maps and full pools."""

from __future__ import annotations

import collections
import ipaddress
import os

from hypothesis import given, settings
from hypothesis import strategies as st

from control import compile as cc
from control.apply import apply_plan
from control.compile import SessionRules
from control.errors import ControlError
from control.layout import MapName
from control.memory import MemoryMaps
from control.render import render
from control.session import Session
from pfcp.enums import (
    ApplyAction,
    DestinationInterface,
    Gate,
    OuterHeaderCreationDescription,
    OuterHeaderRemovalDescription,
    SourceInterface,
)
from pfcp.ies.address import FTeid, OuterHeaderCreation, UeIpAddress
from pfcp.ies.grouped import (
    CreateFar,
    CreatePdr,
    CreateQer,
    ForwardingParameters,
    Pdi,
    RemoveFar,
    RemovePdr,
    RemoveQer,
    UpdateFar,
    UpdateForwardingParameters,
    UpdatePdr,
)
from pfcp.ies.simple import GateStatus, OuterHeaderRemoval
from tests.control import shapes

SESSIONS = 3


def pdr(pdr_id: int, kind: int, prec: int, far: int, qer: int | None, ue: int) -> CreatePdr:
    if kind == 0:  # uplink, CHID 1 (shared TEID)
        pdi = Pdi(SourceInterface.ACCESS, local_f_teid=FTeid(choose=True, choose_id=1))
    elif kind == 1:  # uplink, own TEID
        pdi = Pdi(SourceInterface.ACCESS, local_f_teid=FTeid(choose=True))
    elif kind == 2:  # downlink, fixed UE address (may collide with other sessions)
        pdi = Pdi(SourceInterface.CORE, ue_ip_address=UeIpAddress(
            ipv4=ipaddress.IPv4Address("10.9.0.0") + ue, is_destination=True))
    else:  # downlink, UE address from the pool
        pdi = Pdi(SourceInterface.CORE, ue_ip_address=UeIpAddress(choose_v4=True,
                                                                is_destination=True))
    ohr = OuterHeaderRemoval(OuterHeaderRemovalDescription.GTP_U_UDP_IPV4) if kind < 2 else None
    return CreatePdr(pdr_id, prec, pdi, outer_header_removal=ohr, far_id=far,
                     qer_id=(qer,) if qer is not None else ())


def far(far_id: int, gtp: bool, teid: int) -> CreateFar:
    if not gtp:
        return CreateFar(far_id, ApplyAction.FORW,
                         ForwardingParameters(DestinationInterface.CORE))
    return CreateFar(far_id, ApplyAction.FORW, ForwardingParameters(
        DestinationInterface.ACCESS, outer_header_creation=OuterHeaderCreation(
            OuterHeaderCreationDescription.GTP_U_UDP_IPV4, teid=teid, ipv4=shapes.GNB)))


ids = st.integers(1, 6)
create_pdrs = st.lists(
    st.builds(pdr, ids, st.integers(0, 3), st.integers(0, 50), st.integers(1, 3),
              st.one_of(st.none(), st.integers(1, 2)), st.integers(0, 3)),
    max_size=5)
ALL_FARS = (far(1, False, 0), far(2, True, 5), far(3, True, 6))
ALL_QERS = (CreateQer(1, GateStatus(), qfi=1), CreateQer(2, GateStatus(Gate.CLOSED), qfi=2))

# One modification per request, of one kind: the rule sets stay mostly valid.
modifications = st.one_of(
    st.builds(lambda p: {"create_pdr": p}, create_pdrs),
    st.builds(lambda i: {"remove_pdr": [RemovePdr(i)]}, ids),
    st.builds(lambda i, p: {"update_pdr": [UpdatePdr(i, precedence=p)]}, ids,
              st.integers(0, 50)),
    st.builds(lambda i, q: {"update_pdr": [UpdatePdr(i, qer_id=(q,))]}, ids, st.integers(1, 2)),
    st.builds(lambda i, t: {"update_far": [UpdateFar(
        i, update_forwarding_parameters=UpdateForwardingParameters(
            outer_header_creation=OuterHeaderCreation(
                OuterHeaderCreationDescription.GTP_U_UDP_IPV4, teid=t, ipv4=shapes.GNB2)))]},
        st.integers(1, 3), st.integers(1, 9)),
    st.builds(lambda i: {"remove_qer": [RemoveQer(i)]}, st.integers(1, 2)),
    st.builds(lambda i: {"remove_far": [RemoveFar(i)]}, st.integers(1, 3)),
    st.builds(lambda c: {"create_far": [c]}, st.builds(far, st.integers(1, 3), st.booleans(),
                                                       st.integers(1, 9))),
)
requests = st.fixed_dictionaries({
    "seid": st.integers(1, SESSIONS),
    "create_pdr": create_pdrs,
    "modification": modifications,
    "delete": st.integers(0, 6).map(lambda n: n == 0),
    "fail_on": st.one_of(st.none(), st.none(), st.integers(1, 8)),
})


stats: collections.Counter[str] = collections.Counter()


def expected(sessions: dict[int, Session]) -> dict[str, dict[bytes, bytes]]:
    out: dict[str, dict[bytes, bytes]] = {name: {} for name in MapName}
    for s in sessions.values():
        for (name, key), value in render(s).items():
            if any(value):
                out[name][key] = value
    return out


def contents(maps: MemoryMaps) -> dict[str, dict[bytes, bytes]]:
    snap = maps.snapshot()
    snap[MapName.PDR_STATS] = {}  # counters are not rendered
    return snap


# CONTROL_EXAMPLES=5000 for a long hunt; the default keeps `make test` fast.
@settings(max_examples=int(os.environ.get("CONTROL_EXAMPLES", "100")), deadline=None)
@given(st.lists(requests, min_size=1, max_size=12))
def test_random_churn_keeps_maps_equal_to_sessions(reqs: list[dict[str, object]]) -> None:
    alloc = shapes.allocator(pdr_slots=64, far_slots=64, qer_slots=64, teid_indices=64)
    # Small maps: writes past them fail (hash full, array index out of range) and roll back.
    maps = MemoryMaps({MapName.UPLINK_PDRS: 6, MapName.UPLINK_BY_TEID: 6,
                       MapName.DOWNLINK_PDRS_V4: 5})
    sessions: dict[int, Session] = {}
    for req in reqs:
        seid = int(req["seid"])  # type: ignore[call-overload]
        maps.fail_on_batch = None
        if req["fail_on"] is not None:
            maps.batch_calls = 0
            maps.fail_on_batch = int(req["fail_on"])  # type: ignore[call-overload]
        txn = alloc.begin()
        try:
            if seid not in sessions:
                result = cc.establish(seid, Session(seid, seid, "x"), SessionRules(
                    create_pdr=tuple(req["create_pdr"]),  # type: ignore[arg-type]
                    create_far=ALL_FARS, create_qer=ALL_QERS), alloc, txn)
            elif req["delete"]:
                result = cc.delete(sessions[seid], txn)
            else:
                mod: dict[str, list[object]] = req["modification"]  # type: ignore[assignment]
                result = cc.modify(sessions[seid], SessionRules(
                    **{k: tuple(v) for k, v in mod.items()}), alloc, txn)  # type: ignore[arg-type]
            stats[type(result.session).__name__] += 1
            apply_plan(maps, result.plan)
        except ControlError:
            txn.abort()
        else:
            txn.commit()
            if result.session is None:
                del sessions[seid]
            else:
                sessions[seid] = result.session
        assert contents(maps) == expected(sessions)
    maps.fail_on_batch = None
    for seid, s in list(sessions.items()):
        txn = alloc.begin()
        apply_plan(maps, cc.delete(s, txn).plan)
        txn.commit()
        del sessions[seid]
    assert all(not v for v in maps.snapshot().values())
    assert alloc.key_owners == {}
    in_use = [alloc.teids.in_use(), alloc.pdr_slots.in_use(), alloc.far_slots.in_use(),
              alloc.qer_slots.in_use(), *(p.in_use() for p in alloc.ue_v4.values())]
    assert in_use == [0] * len(in_use)
