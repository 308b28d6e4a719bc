"""The establishment fast path (compile.establish -> render.install) and its helpers agree
with the general compiler (the diff of two sessions) and keep values shared."""

from __future__ import annotations

import copy
import dataclasses
import pickle

import pytest

from control import compile as cc
from control.layout import Far, Qer
from control.render import diff, install, packed, render, uninstall
from control.session import EMPTY, RuleMap, Session, frozen
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
