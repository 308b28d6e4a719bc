"""Establishments replayed from their shape's template (control/template.py) are what the
full compile makes of the same request: the same Session, plan and Created PDRs, from the
same allocations. Each request is compiled twice, by each path, against two allocators
with the same configuration and history."""

from __future__ import annotations

import dataclasses
import ipaddress
from collections.abc import Callable
from typing import Any

import pytest

from control import compile as cc
from control.alloc import Allocator
from control.errors import ControlError, ResourceExhausted, RuleError
from control.session import Session
from control.template import Template, Templates
from pfcp import FSeid, NodeId, SessionEstablishmentRequest, encode_message
from pfcp.enums import (
    ApplyAction,
    DestinationInterface,
    OuterHeaderCreationDescription,
    SourceInterface,
)
from pfcp.ies.address import FTeid, OuterHeaderCreation, UeIpAddress
from pfcp.ies.grouped import CreateFar, CreatePdr, ForwardingParameters, Pdi
from pfcp.shapes import Shaped, ShapeTable
from tests.control import shapes
from upf import smfsim_codec

SMF = ipaddress.IPv4Address("127.0.0.9")
UE0 = int(ipaddress.IPv4Address("10.45.0.0"))
GNB0 = int(shapes.GNB)


def _vary(value: Any, i: int) -> Any:
    """``value`` (rules, or an IE in them) with session ``i``'s own UE address, gNB tunnel and
    SMF-chosen TEIDs: what differs between an SMF's establishments."""
    if isinstance(value, tuple):
        return tuple(_vary(v, i) for v in value)
    if isinstance(value, UeIpAddress) and value.ipv4 is not None:  # (distinct stay distinct)
        return dataclasses.replace(
            value, ipv4=ipaddress.IPv4Address(UE0 + 4096 * (int(value.ipv4) & 0xF) + i))
    if isinstance(value, FTeid) and not value.choose:
        return dataclasses.replace(value, teid=0x10000 + i)
    if isinstance(value, OuterHeaderCreation) and value.ipv4 is not None:
        return dataclasses.replace(value, teid=0x500 + 3 * i,
                                   ipv4=ipaddress.IPv4Address(GNB0 + i % 5))
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        changes = {f.name: _vary(getattr(value, f.name), i)
                   for f in dataclasses.fields(value) if f.init and not f.name.startswith("_")}
        return dataclasses.replace(value, **changes)
    return value


def _request(rules: cc.SessionRules, i: int) -> bytes:
    rules = _vary(rules, i)
    return encode_message(SessionEstablishmentRequest(
        i, NodeId(SMF), FSeid(0x1000 + 7 * i, ipv4=SMF), create_pdr=rules.create_pdr,
        create_far=rules.create_far, create_qer=rules.create_qer, create_urr=rules.create_urr,
        seid=0))


def _sim(i: int) -> bytes:
    """``upf smf-sim``'s own requests (the session benchmark's load)."""
    sim = smfsim_codec.Templates(str(SMF), str(SMF), 9)
    return sim.establishment(i, 0x1000 + 7 * i, UE0 + i, GNB0 + i % 5, 0x500 + 3 * i)


def _shared_teid() -> cc.SessionRules:
    """Two uplink PDRs on one chosen F-TEID (CHOOSE ID), told apart by precedence: one map
    key for both (the plan is render.install's, not the template's own)."""
    rules = shapes.open5gs_establishment()
    ul, dl = rules.create_pdr
    ul2 = dataclasses.replace(ul, pdr_id=3, precedence=100)
    return dataclasses.replace(rules, create_pdr=(ul, ul2, dl))


def _two_downlinks() -> cc.SessionRules:
    """Two downlink PDRs with UE addresses of their own (both slots)."""
    rules = shapes.free5gc_establishment()
    ul, dl = rules.create_pdr
    dl2 = dataclasses.replace(dl, pdr_id=3, precedence=64, pdi=dataclasses.replace(
        dl.pdi, ue_ip_address=UeIpAddress(ipv4=ipaddress.IPv4Address("10.60.0.2"))))
    return dataclasses.replace(rules, create_pdr=(ul, dl, dl2))


def _smf_teid_n9() -> cc.SessionRules:
    """An N9 uplink on an F-TEID the SMF chose, and a downlink by UE address."""
    ul = CreatePdr(pdr_id=1, precedence=10,
                   pdi=Pdi(SourceInterface.CORE, local_f_teid=FTeid(teid=0x2001, ipv4=shapes.N9),
                           ue_ip_address=UeIpAddress(ipv4=shapes.UE)),
                   far_id=1)
    dl = CreatePdr(pdr_id=2, precedence=10,
                   pdi=Pdi(SourceInterface.CORE,
                           ue_ip_address=UeIpAddress(ipv4=shapes.UE, is_destination=True)),
                   far_id=2)
    return cc.SessionRules(
        create_pdr=(ul, dl),
        create_far=(
            CreateFar(1, ApplyAction.FORW, ForwardingParameters(DestinationInterface.CORE)),
            CreateFar(2, ApplyAction.FORW, ForwardingParameters(
                DestinationInterface.ACCESS, outer_header_creation=OuterHeaderCreation(
                    OuterHeaderCreationDescription.GTP_U_UDP_IPV4, teid=1,
                    ipv4=shapes.GNB))),
        ))


SHAPES: dict[str, Callable[[int], bytes]] = {
    "smf-sim": _sim,
    "open5gs": lambda i: _request(shapes.open5gs_establishment(), i),
    "free5gc": lambda i: _request(shapes.free5gc_establishment(), i),
    "oai": lambda i: _request(shapes.oai_establishment(), i),
    "shared-teid": lambda i: _request(_shared_teid(), i),
    "two-downlinks": lambda i: _request(_two_downlinks(), i),
    "smf-teid-n9": lambda i: _request(_smf_teid_n9(), i),
}


class _Twins:
    """A templated path and a full-compile path, with allocators of the same history."""

    def __init__(self, **limits: int) -> None:
        self.ours = Allocator(shapes.alloc_config(**limits))
        self.full = Allocator(shapes.alloc_config(**limits))
        self.table = ShapeTable()
        self.templates = Templates(self.ours)
        self.replayed = 0
        self.seid = 0

    def establish(self, data: bytes) -> tuple[cc.Result | BaseException, cc.Result | BaseException]:
        """(our result, the full compile's) for the request ``data``, both committed."""
        from pfcp import decode_message

        self.seid += 1
        seid = self.seid
        message = decode_message(data)
        assert isinstance(message, SessionEstablishmentRequest)
        shaped = self.table.match(data)
        if shaped is None:
            self.table.learn(data, message)
        else:
            assert shaped.message == message
        ours = self._ours(seid, message, shaped)
        try:
            return ours, _compile(self.full, seid, message)
        except ControlError as exc:
            return ours, exc

    def _ours(self, seid: int, message: SessionEstablishmentRequest, shaped: Shaped | None
              ) -> cc.Result | BaseException:
        template = self.templates.get(shaped.shape) if shaped is not None else None
        if template is not None:
            txn = self.ours.begin()
            result = template.replay(seid, str(SMF), shaped, txn)  # type: ignore[arg-type]
            if result is not None:
                self.replayed += 1
                txn.commit()
                return result
        try:
            result = _compile(self.ours, seid, message)
        except ControlError as exc:
            return exc
        if shaped is not None:
            self.templates.learn(shaped, result)
        return result


def _base(seid: int, message: SessionEstablishmentRequest) -> Session:
    f = message.cp_f_seid
    return Session(local_seid=seid, remote_seid=f.seid, peer=str(SMF), remote_ipv4=f.ipv4)


def _compile(alloc: Allocator, seid: int, message: SessionEstablishmentRequest) -> cc.Result:
    rules = cc.SessionRules(create_pdr=message.create_pdr, create_far=message.create_far,
                            create_qer=message.create_qer, create_urr=message.create_urr)
    txn = alloc.begin()
    result = cc.establish(seid, _base(seid, message), rules, alloc, txn)
    txn.commit()
    return result


def _same(ours: cc.Result | BaseException, full: cc.Result | BaseException) -> None:
    if isinstance(full, BaseException) or isinstance(ours, BaseException):
        assert type(ours) is type(full) and str(ours) == str(full)
        return
    assert ours.session == full.session
    assert ours.plan == full.plan
    assert ours.created == full.created


@pytest.mark.parametrize("name", list(SHAPES))
def test_replay_is_the_full_compile(name: str) -> None:
    twins = _Twins()
    make = SHAPES[name]
    for i in range(1, 60):
        ours, full = twins.establish(make(i))
        _same(ours, full)
    assert twins.replayed == 57  # the first two are compiled in full: learnt, then templated
    assert twins.ours.key_owners == twins.full.key_owners


def test_the_template_builds_its_own_plan_where_it_can() -> None:
    fast = {}
    for name, make in SHAPES.items():
        twins = _Twins()
        for i in (1, 2):
            twins.establish(make(i))
        shaped = twins.table.match(make(3))
        assert shaped is not None
        template = twins.templates.get(shaped.shape)
        assert template is not None
        fast[name] = template._fast
    # Shared keys are grouped by render.install; every other shape here is built directly.
    assert fast == {name: name != "shared-teid" for name in SHAPES}


def test_two_downlinks_that_now_share_an_address_are_grouped_as_compiled() -> None:
    twins = _Twins()
    for i in (1, 2):
        twins.establish(_request(_two_downlinks(), i))
    same_ue = _vary(_two_downlinks(), 3)
    ul, dl, dl2 = same_ue.create_pdr
    dl2 = dataclasses.replace(dl2, pdi=dataclasses.replace(
        dl2.pdi, ue_ip_address=dl.pdi.ue_ip_address))
    data = encode_message(SessionEstablishmentRequest(
        3, NodeId(SMF), FSeid(0x9999, ipv4=SMF), create_pdr=(ul, dl, dl2),
        create_far=same_ue.create_far, seid=0))
    ours, full = twins.establish(data)
    _same(ours, full)
    assert twins.replayed == 1


def test_a_key_another_session_holds_is_answered_by_the_full_compile() -> None:
    twins = _Twins()
    for i in (1, 2, 3):
        _same(*twins.establish(_request(shapes.free5gc_establishment(), i)))
    used = (twins.ours.pdr_slots.in_use(), twins.ours.far_slots.in_use())
    ours, full = twins.establish(_request(shapes.free5gc_establishment(), 3))  # UE 3 again
    assert isinstance(full, RuleError) and full.failed_rule is not None
    _same(ours, full)
    assert twins.replayed == 1  # tried, aborted, compiled in full: nothing kept
    assert (twins.ours.pdr_slots.in_use(), twins.ours.far_slots.in_use()) == used


def test_an_smf_teid_of_zero_is_rejected_by_the_full_compile() -> None:
    twins = _Twins()
    for i in (1, 2):
        twins.establish(_request(_smf_teid_n9(), i))
    zero = _vary(_smf_teid_n9(), 3)
    ul = zero.create_pdr[0]
    ul = dataclasses.replace(ul, pdi=dataclasses.replace(
        ul.pdi, local_f_teid=dataclasses.replace(ul.pdi.local_f_teid, teid=0)))
    data = encode_message(SessionEstablishmentRequest(
        3, NodeId(SMF), FSeid(0x9999, ipv4=SMF), create_pdr=(ul, zero.create_pdr[1]),
        create_far=zero.create_far, seid=0))
    ours, full = twins.establish(data)
    assert isinstance(full, RuleError)
    _same(ours, full)


def test_an_exhausted_ue_pool_is_answered_by_the_full_compile() -> None:
    twins = _Twins()  # OAI: the UPF allocates the UE address, from a /24
    results = [twins.establish(_request(shapes.oai_establishment(), i)) for i in range(1, 260)]
    for ours, full in results:
        _same(ours, full)
    assert isinstance(results[-1][1], ResourceExhausted)  # (the pool ran out)
    assert twins.replayed > 200


def test_a_ue_prefix_the_upf_allocates_is_not_replayed() -> None:
    rules = shapes.open5gs_establishment()
    ul, dl = rules.create_pdr
    dl = dataclasses.replace(dl, pdi=dataclasses.replace(
        dl.pdi, ue_ip_address=UeIpAddress(choose_v6=True, is_destination=True)))
    twins = _Twins()
    for i in range(1, 6):
        _same(*twins.establish(_request(dataclasses.replace(rules, create_pdr=(ul, dl)), i)))
    assert twins.replayed == 0


def test_a_slot_outside_the_pdrs_and_fars_is_not_replayed() -> None:
    twins = _Twins()
    for i in (1, 2):
        twins.establish(_sim(i))
    shaped = twins.table.match(_sim(3))
    assert shaped is not None
    moved = shaped.shape.slots[1]._replace(path=(("create_urr", 0),))
    shape = shaped.shape
    slots = shape.slots
    shape.slots = (slots[0], moved, *slots[2:])
    try:
        message = shaped.message
        assert isinstance(message, SessionEstablishmentRequest)
        result = _compile(Allocator(shapes.alloc_config()), 99, message)
        assert Template.learn(shape, message, result, twins.ours) is None
    finally:
        shape.slots = slots
