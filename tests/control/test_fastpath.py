"""The fast paths (compile.establish -> render.install, compile.modify -> render.update,
compile.delete -> render.uninstall) and their helpers agree with the general compiler
(the diff of two rendered sessions) and keep values shared."""

from __future__ import annotations

import copy
import dataclasses
import pickle

import pytest

from control import compile as cc
from control.layout import Counter, Far, Qer, slot_key
from control.render import diff, install, packed, render, uninstall
from control.responses import usage_report
from control.session import EMPTY, RuleMap, Session, frozen
from control.usage import report, usage_by_urr
from pfcp import (
    Cause,
    CreatePdr,
    FTeid,
    Pdi,
    SessionDeletionResponse,
    UsageReportSdr,
    UsageReportSmr,
    UsageReportTrigger,
    VolumeMeasurement,
    encode_message,
)
from pfcp.enums import SourceInterface
from tests.control import shapes

SEID = 0x3000


def base(seid: int = SEID) -> Session:
    return Session(local_seid=seid, remote_seid=7, peer="127.0.0.1")


@pytest.mark.parametrize("shape", ["open5gs", "free5gc", "oai"])
def test_establish_fast_path_equals_general_compiler(shape: str) -> None:
    rules = getattr(shapes, f"{shape}_establishment")()
    a, b = shapes.allocator(), shapes.allocator()
    fast = cc.establish(SEID, base(), rules, a, a.begin())
    general = cc._run(None, base(), rules, b, b.begin())  # _apply_rules + diff
    assert fast.session == general.session
    assert fast.plan == general.plan
    assert fast.created == general.created
    assert a.key_owners == b.key_owners


def test_install_and_uninstall_equal_render() -> None:
    alloc = shapes.allocator()
    result = cc.establish(SEID, base(), shapes.open5gs_establishment(), alloc, alloc.begin())
    assert result.session is not None
    rendered = render(result.session)
    plan = install(result.session, alloc.begin())
    assert {(op.map, op.key): op.value for op in plan.ops if op.map != "pdr_stats"} == rendered
    gone = uninstall(result.session, alloc.begin())
    assert {(op.map, op.key): op.prev for op in gone.ops if op.map != "pdr_stats"} == rendered
    assert gone == diff(result.session, None, alloc.begin())
    assert sorted(gone.reads) == sorted(p.slot for p in result.session.pdrs.values())


def test_equal_far_and_qer_values_are_one_object() -> None:
    alloc = shapes.allocator()
    one = cc.establish(SEID, base(), shapes.open5gs_establishment(), alloc, alloc.begin())
    two = cc.establish(SEID + 1, base(SEID + 1),
                       shapes.open5gs_establishment(shapes.UE + 1), alloc, alloc.begin())
    assert one.session is not None and two.session is not None
    for far_id in (1, 2):
        assert one.session.fars[far_id].value is two.session.fars[far_id].value
        assert one.session.fars[far_id].forwarding is two.session.fars[far_id].forwarding
    assert one.session.qers[1].value is two.session.qers[1].value
    assert one.session.urrs[1] is two.session.urrs[1]


def test_packed_is_pack() -> None:
    far, qer = Far(teid=5), Qer(qfi=9, mbr_ul_kbps=3)
    assert packed(far) == far.pack() and packed(far) is packed(far)
    assert packed(qer) == qer.pack()


def test_rulemap_is_an_immutable_mapping() -> None:
    m: RuleMap[int, str] = RuleMap([(1, "a"), (2, "b")])
    assert (len(m), m[2], m.get(3), m.get(1), 2 in m, 3 in m) == (2, "b", None, "a", True, False)
    assert list(m) == [1, 2] and list(m.values()) == ["a", "b"] and dict(m.items()) == {1: "a", 2: "b"}
    with pytest.raises(KeyError):
        m[3]
    assert m == {2: "b", 1: "a"} and m == RuleMap([(2, "b"), (1, "a")])
    assert hash(m) == hash(RuleMap([(2, "b"), (1, "a")]))
    assert m != {1: "a"} and m != (1, "a", 2, "b")
    assert copy.deepcopy(m) == m and pickle.loads(pickle.dumps(m)) == m
    assert RuleMap.of_flat((1, "a")) == {1: "a"}
    assert frozen({}) is EMPTY and not EMPTY and frozen(m) is m
    assert {**m} == {1: "a", 2: "b"}


def test_identical_ie_objects_are_memoised_per_allocator() -> None:
    rules = shapes.open5gs_establishment()
    other_ue = dataclasses.replace(
        rules, create_pdr=shapes.open5gs_establishment(shapes.UE + 1).create_pdr)
    a, b = shapes.allocator(), shapes.allocator()
    s1 = cc.establish(SEID, base(), rules, a, a.begin()).session
    s2 = cc.establish(SEID + 1, base(SEID + 1), other_ue, a, a.begin()).session
    s3 = cc.establish(SEID, base(), rules, b, b.begin()).session
    assert s1 is not None and s2 is not None and s3 is not None
    assert s1.fars[1].slot != s2.fars[1].slot  # memoised values, fresh slots
    assert s1.fars[1].value is s2.fars[1].value is s3.fars[1].value


def test_handover_keeps_unchanged_rules_and_writes_one_far() -> None:
    alloc = shapes.allocator()
    s = cc.establish(SEID, base(), shapes.open5gs_establishment(), alloc, alloc.begin()).session
    assert s is not None
    r = cc.modify(s, cc.SessionRules(update_far=(shapes.gnb_far_update(0x55),)), alloc,
                  alloc.begin())
    assert r.session is not None
    new = r.session
    assert (new.pdrs, new.qers, new.urrs) == (s.pdrs, s.qers, s.urrs)
    assert new.pdrs is s.pdrs and new.qers is s.qers and new.urrs is s.urrs
    assert new.fars[1] is s.fars[1] and new.fars[2].slot == s.fars[2].slot
    (op,) = r.plan.ops
    assert (op.map, op.key, op.value, op.prev) == (
        "fars", slot_key(s.fars[2].slot), packed(new.fars[2].value), packed(s.fars[2].value))
    assert new.fars[2].value == Far.unpack(op.value)  # built from fields, not unpacked
    general = cc._run(s, s, cc.SessionRules(update_far=(shapes.gnb_far_update(0x55),)),
                      alloc, alloc.begin())
    assert general.session == new and general.plan == r.plan


def test_usage_reports_equal_the_keyword_built_ies() -> None:
    alloc = shapes.allocator()
    s = cc.establish(SEID, base(), shapes.open5gs_establishment(), alloc, alloc.begin()).session
    assert s is not None
    counters = {s.pdrs[1].slot: Counter(3, 300), s.pdrs[2].slot: Counter(5, 700)}
    (u,) = usage_by_urr(s, counters)
    assert [u] == report(s, counters, s.urrs.keys())[0]
    assert (u.uplink, u.downlink) == (Counter(3, 300), Counter(5, 700))
    for cls in (UsageReportSdr, UsageReportSmr):
        ie = usage_report(cls, u, UsageReportTrigger.TERMR)
        want = cls(urr_id=1, ur_seqn=0, usage_report_trigger=UsageReportTrigger.TERMR,
                   volume_measurement=VolumeMeasurement(1000, 300, 700, 8, 3, 5))
        assert type(ie) is cls and ie == want
        msg = SessionDeletionResponse(1, Cause.REQUEST_ACCEPTED, usage_report=(ie,), seid=1)
        if cls is UsageReportSdr:
            assert encode_message(msg) == encode_message(dataclasses.replace(
                msg, usage_report=(want,)))


def shared_teid_establishment() -> cc.SessionRules:
    """Two uplink PDRs under one chosen TEID (CHID 1) and one under the SMF's TEID."""
    def ul(pdr_id: int, f_teid: FTeid) -> CreatePdr:
        return CreatePdr(pdr_id, pdr_id, Pdi(SourceInterface.ACCESS, local_f_teid=f_teid),
                         far_id=1)
    return cc.SessionRules(
        create_pdr=(ul(1, FTeid(choose=True, choose_id=1)), ul(3, FTeid(0x99, shapes.N3)),
                    ul(4, FTeid(choose=True, choose_id=1)),
                    *shapes.open5gs_establishment().create_pdr[1:]),
        create_far=shapes.open5gs_establishment().create_far,
        create_qer=shapes.open5gs_establishment().create_qer,
        create_urr=shapes.open5gs_establishment().create_urr)


@pytest.mark.parametrize("shape", ["open5gs", "free5gc", "oai", "shared_teid"])
def test_uninstall_equals_the_diff_to_an_empty_session(shape: str) -> None:
    make = shared_teid_establishment if shape == "shared_teid" else getattr(
        shapes, f"{shape}_establishment")
    a, b = shapes.allocator(), shapes.allocator()
    s = cc.establish(SEID, base(), make(), a, a.begin()).session
    s_b = cc.establish(SEID, base(), make(), b, b.begin()).session
    assert s is not None and s == s_b
    txn_a, txn_b = a.begin(), b.begin()
    gone = cc.delete(s, txn_a).plan
    general = diff(s, base(), txn_b)  # render both, diff: the general path
    assert sorted(gone.ops) == sorted(general.ops)
    assert (gone.reads, gone.seid) == (general.reads, general.seid)
    txn_a.commit()
    txn_b.commit()
    assert a.key_owners == b.key_owners == {}
    assert [p.in_use() for p in (a.teids, a.pdr_slots, a.far_slots, a.qer_slots)] == [0] * 4
    assert list(a.pdr_slots._free) == list(b.pdr_slots._free)  # type: ignore[attr-defined]
