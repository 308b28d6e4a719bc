"""Compiling SMF-shaped requests into map contents (applied to in-memory maps)."""

from __future__ import annotations

import ipaddress

import pytest

from control import compile as cc
from control.alloc import Allocator
from control.apply import apply_plan, check_kinds
from control.compile import SessionRules
from control.errors import ResourceExhausted, RuleError
from control.layout import (
    ApplyActionBits,
    Encap,
    Far,
    Iface,
    MapName,
    Ohr,
    PdrFlags,
    PdrSet,
    Qer,
    slot_key,
    ue_v4_key,
    ue_v6_key,
)
from control.memory import MemoryMaps
from control.plan import EndMarker
from control.session import Session
from pfcp.enums import (
    ApplyAction,
    Cause,
    DestinationInterface,
    OuterHeaderCreationDescription,
    OuterHeaderRemovalDescription,
    RuleIdType,
    SourceInterface,
)
from pfcp.ies.address import FTeid, OuterHeaderCreation, UeIpAddress
from pfcp.ies.grouped import (
    CreateFar,
    CreatePdr,
    ForwardingParameters,
    Pdi,
    RemoveFar,
    RemovePdr,
    UpdatePdr,
)
from pfcp.ies.simple import OuterHeaderRemoval
from tests.control import shapes
from tests.control.shapes import GNB, GNB2, N3, UE

SEID = 0x1000


def base(seid: int = SEID) -> Session:
    return Session(local_seid=seid, remote_seid=0xABC, peer="127.0.0.1")


def establish(alloc: Allocator, maps: MemoryMaps, rules: SessionRules,
              seid: int = SEID) -> cc.Result:
    txn = alloc.begin()
    result = cc.establish(seid, base(seid), rules, alloc, txn)
    check_kinds(result.plan.ops)
    apply_plan(maps, result.plan)
    txn.commit()
    return result


def modify(alloc: Allocator, maps: MemoryMaps, session: Session,
           rules: SessionRules) -> cc.Result:
    txn = alloc.begin()
    result = cc.modify(session, rules, alloc, txn)
    check_kinds(result.plan.ops)
    apply_plan(maps, result.plan)
    txn.commit()
    return result


def pdr_set(maps: MemoryMaps, name: MapName, key: bytes) -> PdrSet:
    return PdrSet.unpack(maps.maps[name][key])


def uplink(maps: MemoryMaps, teid: int) -> PdrSet:
    raw = shapes.uplink_set(maps, teid)
    assert raw is not None, f"no uplink pdr_set for TEID {teid:#x}"
    return PdrSet.unpack(raw)


def test_open5gs_establishment() -> None:
    alloc, maps = shapes.allocator(), MemoryMaps()
    result = establish(alloc, maps, shapes.open5gs_establishment())
    assert result.session is not None
    (ul_created, dl_created) = result.created
    assert ul_created.f_teid is not None and ul_created.f_teid.ipv4 == N3
    teid = ul_created.f_teid.teid
    assert teid != 0
    assert dl_created.f_teid is None and dl_created.ue_v4 is None  # SMF chose the UE address

    ul = uplink(maps, teid)
    assert len(ul.rules) == 1
    rule = ul.rules[0]
    assert rule.pdr_id == 1 and rule.ohr is Ohr.GTPU_UDP_IP
    assert rule.flags == PdrFlags.MATCH_UE_V4 | PdrFlags.MATCH_QFI
    assert (rule.qfi, rule.ue_v4) == (1, UE)
    session = result.session
    assert rule.far_slot == session.fars[1].slot and rule.qer_slot == session.qers[1].slot
    assert rule.qer_slot != 0

    dl = pdr_set(maps, MapName.DOWNLINK_PDRS_V4, ue_v4_key(UE))
    (drule,) = dl.rules
    assert drule.flags == PdrFlags.SET_QFI and drule.qfi == 1 and drule.ohr is Ohr.NONE
    ul_far = Far.unpack(maps.maps[MapName.FARS][slot_key(session.fars[1].slot)])
    assert ul_far == Far(ApplyActionBits.FORW, Encap.NONE, 0, Iface.CORE)
    dl_far = Far.unpack(maps.maps[MapName.FARS][slot_key(session.fars[2].slot)])
    assert dl_far.action == ApplyActionBits.BUFF | ApplyActionBits.NOCP
    qer = Qer.unpack(maps.maps[MapName.QERS][slot_key(session.qers[1].slot)])
    assert qer == Qer(0, 0, 1, 1000000, 2000000)


def test_open5gs_n2_update_and_handover_with_end_marker() -> None:
    alloc, maps = shapes.allocator(), MemoryMaps()
    session = establish(alloc, maps, shapes.open5gs_establishment()).session
    assert session is not None
    # PDU Session Resource Setup Response: the gNB's TEID arrives, DSCP 46 marking.
    r1 = modify(alloc, maps, session,
                SessionRules(update_far=(shapes.gnb_far_update(0x55, tlm=0xB8FC),)))
    assert r1.plan.end_markers == ()
    assert r1.session is not None
    slot = r1.session.fars[2].slot
    far = Far.unpack(maps.maps[MapName.FARS][slot_key(slot)])
    assert far == Far(ApplyActionBits.FORW, Encap.GTPU_IPV4, 0xB8, Iface.ACCESS, 0x55, GNB, N3)
    # Only the FAR changed: no PDR map is written.
    assert {op.map for op in r1.plan.ops} == {MapName.FARS}
    # Xn handover: new gNB and TEID, SNDEM -> End Marker to the old gNB with the old TEID.
    r2 = modify(alloc, maps, r1.session,
                SessionRules(update_far=(shapes.gnb_far_update(0x66, GNB2, sndem=True),)))
    assert r2.plan.end_markers == (EndMarker(teid=0x55, peer=GNB, local=N3),)
    far = Far.unpack(maps.maps[MapName.FARS][slot_key(slot)])
    assert (far.teid, far.peer_v4, far.tos) == (0x66, GNB2, 0xB8)  # TLM kept


def test_sndem_without_path_change_sends_nothing() -> None:
    alloc, maps = shapes.allocator(), MemoryMaps()
    s = establish(alloc, maps, shapes.free5gc_establishment()).session
    assert s is not None
    r = modify(alloc, maps, s, SessionRules(
        update_far=(shapes.gnb_far_update(0x77, GNB, sndem=True),)))
    assert r.plan.end_markers == ()


def test_free5gc_establishment() -> None:
    alloc, maps = shapes.allocator(), MemoryMaps()
    result = establish(alloc, maps, shapes.free5gc_establishment())
    assert result.session is not None
    teid = result.created[0].f_teid.teid  # type: ignore[union-attr]
    (rule,) = uplink(maps, teid).rules
    assert rule.ohr is Ohr.GTPU_UDP_IPV4 and rule.flags == PdrFlags(0)
    # S/D flag clear on the DL PDR: still keyed by the UE address.
    (drule,) = pdr_set(maps, MapName.DOWNLINK_PDRS_V4,
                       ue_v4_key(ipaddress.IPv4Address("10.60.0.1"))).rules
    assert drule.flags == PdrFlags(0)
    far = Far.unpack(maps.maps[MapName.FARS][slot_key(drule.far_slot)])
    assert (far.encap, far.teid, far.peer_v4, far.local_v4) == (Encap.GTPU_IPV4, 0x77, GNB, N3)


def test_oai_establishment_ue_ip_allocated_once_per_session() -> None:
    alloc, maps = shapes.allocator(), MemoryMaps()
    result = establish(alloc, maps, shapes.oai_establishment())
    ul, dl = result.created
    assert ul.ue_v4 == dl.ue_v4 == ipaddress.IPv4Address("10.60.0.1")
    assert ul.f_teid is None  # the SMF chose it
    (rule,) = uplink(maps, 0x1001).rules
    assert rule.flags == PdrFlags.MATCH_UE_V4 and rule.ue_v4 == ul.ue_v4
    assert ul.ue_v4 is not None
    (drule,) = pdr_set(maps, MapName.DOWNLINK_PDRS_V4, ue_v4_key(ul.ue_v4)).rules
    assert (drule.flags, drule.qfi) == (PdrFlags.SET_QFI, 9)


def test_ipv6_ue_prefix_keyed_by_64() -> None:
    alloc, maps = shapes.allocator(), MemoryMaps()
    rules = SessionRules(
        create_pdr=(CreatePdr(1, 10, Pdi(SourceInterface.CORE, ue_ip_address=UeIpAddress(
            choose_v6=True, is_destination=True)), far_id=1),),
        create_far=(CreateFar(1, ApplyAction.DROP),),
    )
    result = establish(alloc, maps, rules)
    prefix = result.created[0].ue_v6
    assert prefix is not None and prefix.prefixlen == 64
    assert ue_v6_key(prefix) in maps.maps[MapName.DOWNLINK_PDRS_V6]


def ul_pdr(pdr_id: int, precedence: int, choose_id: int = 1, qfi: int | None = None) -> CreatePdr:
    return CreatePdr(
        pdr_id, precedence,
        Pdi(SourceInterface.ACCESS, local_f_teid=FTeid(choose=True, choose_id=choose_id),
            qfi=(qfi,) if qfi is not None else ()),
        outer_header_removal=OuterHeaderRemoval(OuterHeaderRemovalDescription.GTP_U_UDP_IPV4),
        far_id=1,
    )


FAR1 = CreateFar(1, ApplyAction.FORW, ForwardingParameters(DestinationInterface.CORE))


def test_several_pdrs_share_a_teid_sorted_by_precedence() -> None:
    alloc, maps = shapes.allocator(), MemoryMaps()
    rules = SessionRules(
        create_pdr=(ul_pdr(1, 300, qfi=1), ul_pdr(2, 100, qfi=5), ul_pdr(3, 200, qfi=9)),
        create_far=(FAR1,),
    )
    result = establish(alloc, maps, rules)
    teids = {c.f_teid.teid for c in result.created if c.f_teid}
    assert len(teids) == 1  # same CHOOSE ID -> same F-TEID
    ps = uplink(maps, teids.pop())
    assert [r.pdr_id for r in ps.rules] == [2, 3, 1]
    assert [r.qfi for r in ps.rules] == [5, 9, 1]
    # Different CHOOSE IDs -> different TEIDs.
    alloc2, maps2 = shapes.allocator(), MemoryMaps()
    r2 = establish(alloc2, maps2, SessionRules(
        create_pdr=(ul_pdr(1, 1, choose_id=1), ul_pdr(2, 1, choose_id=2)), create_far=(FAR1,)))
    assert len({c.f_teid.teid for c in r2.created if c.f_teid}) == 2


def test_too_many_pdrs_per_key_rejected_and_nothing_allocated() -> None:
    alloc, maps = shapes.allocator(), MemoryMaps()
    rules = SessionRules(
        create_pdr=tuple(ul_pdr(i, 10 * i) for i in range(1, 6)), create_far=(FAR1,))
    with pytest.raises(RuleError) as info:
        establish(alloc, maps, rules)
    assert info.value.cause is Cause.RULE_CREATION_MODIFICATION_FAILURE
    assert info.value.failed_rule == (RuleIdType.PDR, 5)
    assert alloc.pdr_slots.in_use() == 0 and alloc.teids.in_use() == 0
    assert alloc.far_slots.in_use() == 0 and alloc.key_owners == {}
    assert maps.snapshot() == {name: {} for name in maps.maps}


def test_unsupported_ohr_rejected_with_failed_rule() -> None:
    alloc = shapes.allocator()
    rules = SessionRules(create_pdr=(CreatePdr(
        7, 1, Pdi(SourceInterface.ACCESS, local_f_teid=FTeid(choose=True)),
        outer_header_removal=OuterHeaderRemoval(OuterHeaderRemovalDescription.UDP_IPV4),
    ),))
    with pytest.raises(RuleError) as info:
        cc.establish(SEID, base(), rules, alloc, alloc.begin())
    assert info.value.failed_rule == (RuleIdType.PDR, 7)
    assert alloc.teids.in_use() == 0


def test_pdr_with_unknown_far_rejected() -> None:
    alloc = shapes.allocator()
    rules = SessionRules(create_pdr=(ul_pdr(1, 1),))
    with pytest.raises(RuleError) as info:
        cc.establish(SEID, base(), rules, alloc, alloc.begin())
    assert info.value.failed_rule == (RuleIdType.PDR, 1)


def test_ue_address_of_another_session_rejected() -> None:
    alloc, maps = shapes.allocator(), MemoryMaps()
    establish(alloc, maps, shapes.open5gs_establishment(), seid=1)
    with pytest.raises(RuleError) as info:
        establish(alloc, maps, shapes.open5gs_establishment(), seid=2)
    assert info.value.failed_rule == (RuleIdType.PDR, 2)
    # The second session's TEID went back to the pool.
    assert alloc.teids.in_use() == 1


def test_ue_pool_exhausted_cause() -> None:
    alloc = Allocator(shapes.alloc_config())
    alloc.ue_v4.clear()
    with pytest.raises(ResourceExhausted) as info:
        cc.establish(SEID, base(), shapes.oai_establishment(), alloc, alloc.begin())
    assert info.value.cause is Cause.ALL_DYNAMIC_ADDRESSES_ARE_OCCUPIED


def test_modification_remove_and_update_pdr() -> None:
    alloc, maps = shapes.allocator(), MemoryMaps()
    r = establish(alloc, maps, SessionRules(
        create_pdr=(ul_pdr(1, 100), ul_pdr(2, 200)), create_far=(FAR1,)))
    assert r.session is not None
    teid = r.created[0].f_teid.teid  # type: ignore[union-attr]
    r2 = modify(alloc, maps, r.session, SessionRules(
        remove_pdr=(RemovePdr(1),), update_pdr=(UpdatePdr(2, precedence=5),)))
    (rule,) = uplink(maps, teid).rules
    assert (rule.pdr_id, rule.precedence) == (2, 5)
    assert alloc.pdr_slots.in_use() == 1
    # Remove the last PDR and the FAR: the TEID key disappears and the TEID is freed.
    assert r2.session is not None
    modify(alloc, maps, r2.session, SessionRules(
        remove_pdr=(RemovePdr(2),), remove_far=(RemoveFar(1),)))
    assert maps.nonzero(MapName.UPLINK_PDRS) == {}
    assert maps.nonzero(MapName.UPLINK_BY_TEID) == {}
    assert maps.nonzero(MapName.FARS) == {}
    assert alloc.teids.in_use() == 0 and alloc.key_owners == {}
    assert (alloc.pdr_slots.in_use(), alloc.far_slots.in_use()) == (0, 0)


def test_deletion_removes_everything() -> None:
    alloc, maps = shapes.allocator(), MemoryMaps()
    s = establish(alloc, maps, shapes.oai_establishment()).session
    assert s is not None
    txn = alloc.begin()
    result = cc.delete(s, txn)
    assert set(result.plan.reads) == {p.slot for p in s.pdrs.values()}
    apply_plan(maps, result.plan)
    txn.commit()
    assert all(not v for v in maps.snapshot().values())
    assert alloc.key_owners == {}
    assert alloc.ue_v4[None].in_use() == 0
    for pool in (alloc.pdr_slots, alloc.far_slots, alloc.qer_slots):
        assert pool.in_use() == 0


def test_slots_are_reused_only_after_commit() -> None:
    alloc, maps = shapes.allocator(pdr_slots=3, far_slots=3, qer_slots=2), MemoryMaps()
    s = establish(alloc, maps, shapes.oai_establishment()).session
    assert s is not None
    txn = alloc.begin()
    cc.delete(s, txn)
    with pytest.raises(ResourceExhausted):
        alloc.begin().pdr_slot()
    txn.commit()
    assert alloc.begin().pdr_slot() in {p.slot for p in s.pdrs.values()}


def test_update_pdr_with_choose_keeps_the_teid() -> None:
    alloc, maps = shapes.allocator(), MemoryMaps()
    r = establish(alloc, maps, SessionRules(create_pdr=(ul_pdr(1, 10),), create_far=(FAR1,)))
    assert r.session is not None
    teid = r.created[0].f_teid.teid  # type: ignore[union-attr]
    new_pdi = Pdi(SourceInterface.ACCESS, local_f_teid=FTeid(choose=True, choose_id=3),
                  qfi=(7,))
    r2 = modify(alloc, maps, r.session, SessionRules(update_pdr=(UpdatePdr(1, pdi=new_pdi),)))
    assert r2.created[0].f_teid is not None and r2.created[0].f_teid.teid == teid
    (rule,) = uplink(maps, teid).rules
    assert (rule.flags, rule.qfi, rule.ohr) == (PdrFlags.MATCH_QFI, 7, Ohr.GTPU_UDP_IPV4)
    assert alloc.teids.in_use() == 1


def test_dual_stack_downlink_pdr_keyed_in_both_maps() -> None:
    alloc, maps = shapes.allocator(), MemoryMaps()
    rules = SessionRules(
        create_pdr=(CreatePdr(2, 10, Pdi(SourceInterface.CORE, ue_ip_address=UeIpAddress(
            choose_v4=True, choose_v6=True, is_destination=True)), far_id=1),),
        create_far=(CreateFar(1, ApplyAction.BUFF),),
    )
    r = establish(alloc, maps, rules)
    (c,) = r.created
    assert c.ue_v4 is not None and c.ue_v6 is not None
    assert ue_v4_key(c.ue_v4) in maps.maps[MapName.DOWNLINK_PDRS_V4]
    assert ue_v6_key(c.ue_v6) in maps.maps[MapName.DOWNLINK_PDRS_V6]
    assert r.session is not None
    txn = alloc.begin()
    apply_plan(maps, cc.delete(r.session, txn).plan)
    txn.commit()
    assert alloc.ue_v4[None].in_use() == 0 and alloc.ue_v6[None].in_use() == 0


def test_n9_uplink_relay_and_psa_side_use_the_n9_address() -> None:
    """An I-UPF forwards uplink over N9 (FAR to CORE with OHC); a PSA receives on N9
    (source interface CORE with a local F-TEID)."""
    alloc, maps = shapes.allocator(), MemoryMaps()
    psa = ipaddress.IPv4Address("198.51.100.9")
    rules = SessionRules(
        create_pdr=(
            ul_pdr(1, 10),
            CreatePdr(2, 10, Pdi(SourceInterface.CORE, local_f_teid=FTeid(choose=True)),
                      outer_header_removal=OuterHeaderRemoval(
                          OuterHeaderRemovalDescription.GTP_U_UDP_IPV4), far_id=2),
        ),
        create_far=(
            CreateFar(1, ApplyAction.FORW, ForwardingParameters(
                DestinationInterface.CORE, outer_header_creation=OuterHeaderCreation(
                    OuterHeaderCreationDescription.GTP_U_UDP_IPV4, teid=0x900, ipv4=psa))),
            CreateFar(2, ApplyAction.FORW, ForwardingParameters(DestinationInterface.CORE)),
        ),
    )
    r = establish(alloc, maps, rules)
    access, n9 = r.created
    assert access.f_teid is not None and access.f_teid.ipv4 == N3
    assert n9.f_teid is not None and n9.f_teid.ipv4 == shapes.N9
    assert r.session is not None
    far = Far.unpack(maps.maps[MapName.FARS][slot_key(r.session.fars[1].slot)])
    assert far == Far(ApplyActionBits.FORW, Encap.GTPU_IPV4, 0, Iface.N9, 0x900, psa, shapes.N9)


def test_our_teid_goes_to_uplink_by_teid_and_smf_teid_to_the_hash() -> None:
    alloc, maps = shapes.allocator(), MemoryMaps()
    ours = establish(alloc, maps, shapes.open5gs_establishment())
    teid = ours.created[0].f_teid.teid  # type: ignore[union-attr]
    raw = maps.maps[MapName.UPLINK_BY_TEID][slot_key(teid & 0xFFFFFF)]
    assert PdrSet.unpack(raw).teid == teid and len(PdrSet.unpack(raw).rules) == 1
    assert maps.nonzero(MapName.UPLINK_PDRS) == {}
    smf = establish(alloc, maps, shapes.oai_establishment(), seid=SEID + 1)
    assert smf.session is not None
    assert PdrSet.unpack(maps.maps[MapName.UPLINK_PDRS][(0x1001).to_bytes(4, "big")]).teid == 0
    # An SMF choosing a TEID that is one of ours in use is refused (it would be shadowed).
    rules = shapes.oai_establishment()
    ul = rules.create_pdr[0]
    clash = SessionRules(
        create_pdr=(CreatePdr(ul.pdr_id, ul.precedence, Pdi(
            SourceInterface.ACCESS, local_f_teid=FTeid(teid=teid, ipv4=N3),
            ue_ip_address=UeIpAddress(choose_v4=True)), far_id=1),),
        create_far=rules.create_far)
    with pytest.raises(RuleError) as info:
        establish(alloc, maps, clash, seid=SEID + 2)
    assert info.value.failed_rule == (RuleIdType.PDR, 1)


def test_deleted_session_zeroes_its_uplink_by_teid_slot() -> None:
    alloc, maps = shapes.allocator(), MemoryMaps()
    result = establish(alloc, maps, shapes.open5gs_establishment())
    assert result.session is not None
    txn = alloc.begin()
    d = cc.delete(result.session, txn)
    check_kinds(d.plan.ops)
    apply_plan(maps, d.plan)
    txn.commit()
    assert maps.nonzero(MapName.UPLINK_BY_TEID) == {}
    assert alloc.teids.in_use() == 0 and alloc.key_owners == {}
