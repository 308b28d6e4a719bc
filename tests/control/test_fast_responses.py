"""The accepted Session Establishment, Modification and Deletion Responses as octets
(control/responses.py) are the codec's encoding of the message objects the agent used to
build, for every shape the agent makes; and scapy.contrib.pfcp, an independent
implementation, reads them as those responses."""

from __future__ import annotations

import struct
from ipaddress import IPv4Address, IPv6Address, IPv6Network
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from control.compile import CreatedInfo
from control.layout import Counter
from control.responses import (
    EstablishmentAccepted,
    created_pdr,
    created_pdr_octets,
    deletion_accepted,
    modification_accepted,
    usage_report,
)
from control.session import LocalFTeid
from control.usage import Usage
from pfcp import (
    Cause,
    FSeid,
    NodeId,
    SessionDeletionResponse,
    SessionEstablishmentResponse,
    SessionModificationResponse,
    UsageReportSdr,
    UsageReportSmr,
    UsageReportTrigger,
    decode_message,
    encode_message,
)

v4 = st.integers(0, 2**32 - 1).map(IPv4Address)
v6 = st.integers(0, 2**128 - 1).map(IPv6Address)
u16, u24, u32, u64 = (st.integers(0, 2**n - 1) for n in (16, 24, 32, 64))
label = st.text("abcdefghijklmnopqrstuvwxyz0123456789-", min_size=1, max_size=12)
node_ids = st.one_of(
    v4.map(NodeId), v6.map(NodeId), st.lists(label, min_size=1, max_size=4).map(".".join).map(NodeId)
)
# our N4 address in the F-SEID: IPv4 (what the agent has today), IPv6, both
n4s = st.one_of(st.tuples(v4, st.none()), st.tuples(st.none(), v6), st.tuples(v4, v6))
ue_v6 = st.builds(lambda a, n: IPv6Network((a, n), strict=False), v6, st.integers(0, 128))
f_teids = st.builds(LocalFTeid, u32, st.none() | v4, st.none() | v6, st.booleans())
created_infos = st.builds(CreatedInfo, u16, st.none() | f_teids, st.none() | v4, st.none() | ue_v6)
counters = st.builds(Counter, st.integers(0, 2**63 - 1), st.integers(0, 2**63 - 1))
usages = st.lists(st.builds(Usage, u32, u32, counters, counters), max_size=3)
TERMR, IMMER = UsageReportTrigger.TERMR, UsageReportTrigger.IMMER


def reference(node_id: NodeId, n4: tuple[IPv4Address | None, IPv6Address | None],
              sequence: int, remote_seid: int, seid: int,
              created: tuple[CreatedInfo, ...]) -> bytes:
    """What the agent sent before: the message object, through the codec."""
    return encode_message(SessionEstablishmentResponse(
        sequence, node_id, Cause.REQUEST_ACCEPTED, up_f_seid=FSeid(seid, *n4),
        created_pdr=tuple(created_pdr(c) for c in created if c.f_teid or c.ue_v4 or c.ue_v6),
        seid=remote_seid))


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(node_ids, n4s, u24, u64, u64, st.lists(created_infos, max_size=5).map(tuple))
def test_octets_are_the_codecs(node_id: NodeId, n4: tuple[IPv4Address | None, IPv6Address | None],
                               sequence: int, remote_seid: int, seid: int,
                               created: tuple[CreatedInfo, ...]) -> None:
    fast = EstablishmentAccepted(node_id, *n4).encode(sequence, remote_seid, seid, created)
    assert fast == reference(node_id, n4, sequence, remote_seid, seid, created)


@given(created_infos)
def test_created_pdr_octets_are_the_codecs(c: CreatedInfo) -> None:
    ref = encode_message(SessionEstablishmentResponse(
        0, NodeId("x"), Cause.REQUEST_ACCEPTED, created_pdr=(created_pdr(c),), seid=0))
    assert ref.endswith(created_pdr_octets(c))
    assert len(ref) == len(encode_message(SessionEstablishmentResponse(
        0, NodeId("x"), Cause.REQUEST_ACCEPTED, seid=0))) + len(created_pdr_octets(c))


N3 = IPv4Address("192.0.2.1")
N3_V6 = IPv6Address("2001:db8::1")
# Every shape, once: F-TEID v4 / v6 / both / neither address, UE IP v4 / v6 / both, nothing.
SHAPES = (
    CreatedInfo(1, LocalFTeid(0x11, N3, None, True)),
    CreatedInfo(2),  # chose nothing: no Created PDR
    CreatedInfo(3, None, IPv4Address("10.45.0.7")),
    CreatedInfo(4, LocalFTeid(0x44, None, N3_V6, True), None, IPv6Network("2001:db8:7::/64")),
    CreatedInfo(5, LocalFTeid(0x55, N3, N3_V6, True), IPv4Address("10.45.0.8"),
                IPv6Network("2001:db8:8::/64")),
    CreatedInfo(6, LocalFTeid(0x66, None, None, False)),
)


@pytest.mark.parametrize("node_id", [
    NodeId(IPv4Address("127.0.0.1")), NodeId(IPv6Address("::1")), NodeId("upf.example.org"),
])  # fmt: skip
@pytest.mark.parametrize("n4", [(IPv4Address("192.0.2.9"), None), (None, N3_V6), (N3, N3_V6)])
@pytest.mark.parametrize("created", [(), SHAPES[:1], SHAPES[2:3], SHAPES])
def test_every_shape(node_id: NodeId, n4: tuple[Any, Any], created: tuple[CreatedInfo, ...]) -> None:
    fast = EstablishmentAccepted(node_id, *n4).encode(0xABCDEF, 2**64 - 1, 0x1234, created)
    assert fast == reference(node_id, n4, 0xABCDEF, 2**64 - 1, 0x1234, created)
    msg = decode_message(fast)
    assert isinstance(msg, SessionEstablishmentResponse)
    assert (msg.sequence, msg.seid, msg.cause) == (0xABCDEF, 2**64 - 1, Cause.REQUEST_ACCEPTED)
    assert msg.up_f_seid == FSeid(0x1234, *n4)


def test_scapy_reads_the_octets() -> None:
    """An independent check of the layout: scapy.contrib.pfcp parses every field."""
    sp = pytest.importorskip("scapy.contrib.pfcp")
    fast = EstablishmentAccepted(NodeId("upf.example.org"), IPv4Address("192.0.2.9")).encode(
        0x123456, 0x0102030405060708, 0x42, SHAPES)
    pkt = sp.PFCP(fast)
    assert (pkt.version, pkt.S, pkt.MP) == (1, 1, 0)
    assert (pkt.message_type, pkt.seid, pkt.seq, pkt.length) == (
        51, 0x0102030405060708, 0x123456, len(fast) - 4)
    ies = pkt[sp.PFCPSessionEstablishmentResponse].IE_list
    assert [type(ie).__name__ for ie in ies] == [
        "IE_NodeId", "IE_Cause", "IE_FSEID"] + ["IE_CreatedPDR"] * 5
    node_id, cause, f_seid, *pdrs = ies
    assert (node_id.id_type, node_id.id) == (2, b"upf.example.org")
    assert cause.cause == 1
    assert (f_seid.v4, f_seid.v6, f_seid.seid, f_seid.ipv4) == (1, 0, 0x42, "192.0.2.9")

    def fields(pdr: Any) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for ie in pdr.IE_list:
            name = type(ie).__name__
            if name == "IE_PDR_Id":
                out["pdr"] = ie.id
            elif name == "IE_FTEID":
                assert (ie.CH, ie.CHID) == (0, 0)
                out["f_teid"] = (ie.TEID, ie.ipv4 if ie.V4 else None, ie.ipv6 if ie.V6 else None)
            elif name == "IE_UE_IP_Address":
                assert ie.SD == 1
                out["ue"] = (ie.ipv4 if ie.V4 else None, ie.ipv6 if ie.V6 else None)
            else:
                raise AssertionError(f"unexpected {name} in Created PDR")
            assert not ie.extra_data
        return out

    assert [fields(p) for p in pdrs] == [
        {"pdr": 1, "f_teid": (0x11, "192.0.2.1", None)},
        {"pdr": 3, "ue": ("10.45.0.7", None)},
        {"pdr": 4, "f_teid": (0x44, None, "2001:db8::1"), "ue": (None, "2001:db8:7::")},
        {"pdr": 5, "f_teid": (0x55, "192.0.2.1", "2001:db8::1"),
         "ue": ("10.45.0.8", "2001:db8:8::")},
        {"pdr": 6, "f_teid": (0x66, None, None)},
    ]
    assert bytes(pkt) == fast  # and scapy builds the same octets back


def test_ue_prefix_is_its_network_address() -> None:
    """The UE IPv6 prefix goes out as its first address (created_pdr() does the same)."""
    c = CreatedInfo(1, None, None, IPv6Network("2001:db8:9::/48"))
    assert created_pdr_octets(c).endswith(IPv6Address("2001:db8:9::").packed)


@settings(max_examples=300, deadline=None)
@given(u24, u64, st.lists(created_infos, max_size=3), usages, usages)
def test_modification_octets_are_the_codecs(sequence: int, remote_seid: int,
                                            created: list[CreatedInfo], final: list[Usage],
                                            current: list[Usage]) -> None:
    reports = tuple([usage_report(UsageReportSmr, u, TERMR) for u in final]
                    + [usage_report(UsageReportSmr, u, IMMER) for u in current])
    assert modification_accepted(sequence, remote_seid, created, final, current) == \
        encode_message(SessionModificationResponse(
            sequence, Cause.REQUEST_ACCEPTED,
            created_pdr=tuple(created_pdr(c) for c in created if c.f_teid or c.ue_v4 or c.ue_v6),
            usage_report=reports, seid=remote_seid))


@settings(max_examples=300, deadline=None)
@given(u24, u64, usages)
def test_deletion_octets_are_the_codecs(sequence: int, remote_seid: int,
                                        usages: list[Usage]) -> None:
    reports = tuple(usage_report(UsageReportSdr, u, TERMR) for u in usages)
    assert deletion_accepted(sequence, remote_seid, usages) == encode_message(
        SessionDeletionResponse(sequence, Cause.REQUEST_ACCEPTED, usage_report=reports,
                                seid=remote_seid))


def test_scapy_reads_modification_and_deletion_octets() -> None:
    sp = pytest.importorskip("scapy.contrib.pfcp")
    u = Usage(7, 2, Counter(3, 300), Counter(5, 5000))

    def volume(report: Any) -> tuple[int, ...]:
        names = [type(ie).__name__ for ie in report.IE_list]
        assert names == ["IE_URR_Id", "IE_UR_SEQN", "IE_UsageReportTrigger",
                         "IE_VolumeMeasurement"]
        urr, seqn, trigger, vm = report.IE_list
        assert (urr.id, seqn.number) == (7, 2)
        # scapy (Rel-15.6) knows the volumes; the packet counts (TONOP, ULNOP, DLNOP in its
        # "spare" bits) it leaves in extra_data
        assert (vm.TOVOL, vm.ULVOL, vm.DLVOL, vm.spare) == (1, 1, 1, 0b111)
        packets = struct.unpack("!3Q", vm.extra_data)
        return (trigger.TERMR, trigger.IMMER, vm.total, vm.uplink, vm.downlink, *packets)

    mod = sp.PFCP(modification_accepted(0x10203, 0xAB, SHAPES[:1], [u], [u]))
    assert (mod.message_type, mod.seid, mod.seq) == (53, 0xAB, 0x10203)
    cause, pdr, final, current = mod[sp.PFCPSessionModificationResponse].IE_list
    assert cause.cause == 1 and type(pdr).__name__ == "IE_CreatedPDR"
    assert [type(r).__name__ for r in (final, current)] == ["IE_UsageReport_SMR"] * 2
    assert volume(final) == (1, 0, 5300, 300, 5000, 8, 3, 5)
    assert volume(current) == (0, 1, 5300, 300, 5000, 8, 3, 5)

    dele = sp.PFCP(deletion_accepted(0x10204, 0xAC, [u]))
    assert (dele.message_type, dele.seid, dele.seq) == (55, 0xAC, 0x10204)
    cause, report = dele[sp.PFCPSessionDeletionResponse].IE_list
    assert cause.cause == 1 and type(report).__name__ == "IE_UsageReport_SDR"
    assert volume(report) == (1, 0, 5300, 300, 5000, 8, 3, 5)
