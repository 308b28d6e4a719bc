"""upf/wiring.py counts the agent's PFCP messages (upf_pfcp_messages_total) the same way
whether a response reaches the node as a message object or as octets the agent encoded."""

from __future__ import annotations

from collections import Counter

import asyncio_dgram
import pytest

from control.agent import Agent
from control.layout import MapName
from control.memory import MemoryMaps
from pfcp import (
    AssociationSetupResponse,
    Cause,
    FSeid,
    HeartbeatResponse,
    Message,
    NodeId,
    SessionDeletionRequest,
    SessionDeletionResponse,
    SessionEstablishmentRequest,
    SessionEstablishmentResponse,
    SessionModificationRequest,
    encode_message,
)
from pfcp.node import NodeUsageError, RequestReceived
from tests.control import shapes
from tests.control.test_agent import LOOP, SMF_NODE, Smf, config, run
from upf.wiring import _encoded_cause, count_messages

UPF = NodeId("upf.example.org")


@pytest.mark.parametrize("message", [
    SessionEstablishmentResponse(1, UPF, Cause.REQUEST_ACCEPTED, seid=2),
    SessionDeletionResponse(1, Cause.SESSION_CONTEXT_NOT_FOUND, seid=0),
    AssociationSetupResponse(1, UPF, Cause.REQUEST_REJECTED, 7),
    HeartbeatResponse(1, 7),  # no Cause
])  # fmt: skip
def test_encoded_cause_is_the_objects(message: Message) -> None:
    cause = getattr(message, "cause", None)
    assert _encoded_cause(encode_message(message)) == (cause.name if cause is not None else "")


@pytest.mark.parametrize(("maps", "cause"), [
    ({}, Cause.REQUEST_ACCEPTED),  # answered with the agent's own octets
    ({MapName.DOWNLINK_PDRS_V4: 0}, Cause.NO_RESOURCES_AVAILABLE),  # with a message object
])  # fmt: skip
def test_counts_encoded_and_object_responses_alike(maps: dict[str, int], cause: Cause) -> None:
    async def body() -> None:
        agent = Agent(config(), MemoryMaps(maps))
        messages = count_messages(agent)
        assert agent.pfcp_messages is messages  # type: ignore[attr-defined]
        await agent.start()
        sock = await asyncio_dgram.bind(("127.0.0.1", 0))
        try:
            smf = Smf(sock, agent.address)
            await smf.associate()
            est = await smf.establish()
            assert est.cause is cause
            if est.up_f_seid is not None:  # accepted: modified and deleted, as octets too
                seid = est.up_f_seid.seid
                for request in (SessionModificationRequest(
                        0, update_far=(shapes.gnb_far_update(0x42, LOOP),), seid=seid),
                        SessionDeletionRequest(0, seid=seid)):
                    answer = await smf.request(request)
                    assert getattr(answer, "cause", None) is Cause.REQUEST_ACCEPTED
            smf.seq += 1
            deletion = encode_message(SessionDeletionRequest(smf.seq, seid=0xDEAD))
            for _ in range(2):  # the retransmission is answered by the node: not counted
                await smf.send_raw(deletion)
                assert isinstance(await smf.recv(), SessionDeletionResponse)
        finally:
            sock.close()
            await agent.stop()
        accepted = int(cause is Cause.REQUEST_ACCEPTED)
        assert +messages == +Counter({
            ("rx", "ASSOCIATION_SETUP_REQUEST", ""): 1,
            ("tx", "ASSOCIATION_SETUP_RESPONSE", "REQUEST_ACCEPTED"): 1,
            ("rx", "SESSION_ESTABLISHMENT_REQUEST", ""): 1,
            ("tx", "SESSION_ESTABLISHMENT_RESPONSE", cause.name): 1,
            ("rx", "SESSION_MODIFICATION_REQUEST", ""): accepted,
            ("tx", "SESSION_MODIFICATION_RESPONSE", "REQUEST_ACCEPTED"): accepted,
            ("rx", "SESSION_DELETION_REQUEST", ""): 1 + accepted,
            ("tx", "SESSION_DELETION_RESPONSE", "REQUEST_ACCEPTED"): accepted,
            ("tx", "SESSION_DELETION_RESPONSE", "SESSION_CONTEXT_NOT_FOUND"): 1,
        })
    run(body)


def test_a_refused_encoded_response_is_not_counted() -> None:
    agent = Agent(config(), MemoryMaps())
    messages = count_messages(agent)
    r = shapes.open5gs_establishment()
    agent.node.receive_datagram(encode_message(SessionEstablishmentRequest(
        9, SMF_NODE, FSeid(1, ipv4=LOOP), r.create_pdr, r.create_far, seid=0)),
        ("127.0.0.1", 8805), 0.0)
    event = agent.node.next_event()
    assert isinstance(event, RequestReceived)
    other = encode_message(SessionEstablishmentResponse(8, UPF, Cause.REQUEST_ACCEPTED, seid=1))
    with pytest.raises(NodeUsageError):
        agent.node.send_encoded_response(event, other, 0.0)
    assert messages == Counter({("rx", "SESSION_ESTABLISHMENT_REQUEST", ""): 1})


@pytest.mark.parametrize(("count", "shared"), [(1, False), (2, True), (3, True)])
def test_workers_have_the_kernel_check_new_keys(count: int, shared: bool) -> None:
    """With more than one N4 worker, each agent's KernelMaps writes new PDR keys with
    BPF_NOEXIST (another worker may hold the key); one agent alone batches them."""
    import dataclasses

    from upf.wiring import kernel_writer

    cfg = config()
    for index in range(count):
        acfg = dataclasses.replace(
            cfg, alloc=dataclasses.replace(cfg.alloc, shard=(index, count)))
        assert kernel_writer(acfg, {}).shared is shared


def test_encoded_responses_are_counted_by_their_own_cause_whatever_came_before() -> None:
    """The Cause offset is remembered per type: responses whose IEs before the Cause differ
    (another Node ID), or that have none, must still be counted by their own."""
    import ipaddress
    import itertools
    from types import SimpleNamespace

    def nothing(*_: object) -> None:
        return None

    v4 = NodeId(ipaddress.IPv4Address("192.0.2.1"))
    # After v4's, the offset of v4's Cause falls in this address: 00 13 00 01 40 (a "Cause")
    v6 = NodeId(ipaddress.IPv6Address("2001:db8:13:1:4000::"))
    responses: list[Message] = [
        SessionEstablishmentResponse(1, UPF, Cause.REQUEST_ACCEPTED, seid=2),
        SessionEstablishmentResponse(1, UPF, Cause.NO_RESOURCES_AVAILABLE, seid=2),
        SessionEstablishmentResponse(1, v4, Cause.MANDATORY_IE_MISSING, seid=2),
        SessionEstablishmentResponse(1, NodeId("a"), Cause.REQUEST_ACCEPTED, seid=2),
        SessionEstablishmentResponse(1, v6, Cause.REQUEST_ACCEPTED, seid=2),
        SessionEstablishmentResponse(1, v6, Cause.REQUEST_REJECTED, seid=2),
        SessionDeletionResponse(1, Cause.SESSION_CONTEXT_NOT_FOUND, seid=0),
        AssociationSetupResponse(1, UPF, Cause.REQUEST_REJECTED, 7),
        HeartbeatResponse(1, 7),  # no Cause
    ]
    want: Counter[tuple[str, str, str]] = Counter()
    for r in responses:
        cause = getattr(r, "cause", None)
        want[("tx", r.message_type.name, cause.name if cause is not None else "")] += 1
    for order in itertools.islice(itertools.permutations(responses), 0, None, 997):
        node = SimpleNamespace(send_response=nothing, send_encoded_response=nothing,
                               next_event=nothing)
        messages = count_messages(SimpleNamespace(node=node))
        for r in order * 2:
            node.send_encoded_response(None, encode_message(r), 0.0)
        assert messages == want + want, order
