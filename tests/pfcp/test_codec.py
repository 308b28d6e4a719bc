"""Unit tests of the codec: hand-written vectors from TS 29.244's figures, round trips of the
corpus, and the error contract of decode_message."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import replace
from ipaddress import IPv4Address, IPv6Address

import pytest

import pfcp
from pfcp import (
    ApplyAction,
    Cause,
    DecodeError,
    FSeid,
    FTeid,
    IEType,
    NodeId,
    UeIpAddress,
)
from tests.pfcp import corpus
from tests.pfcp.samples import establishment_request

CORPUS = corpus.messages()


def _ids(m: pfcp.Message) -> str:
    return f"{type(m).__name__}-{m.sequence}"


@pytest.mark.parametrize("msg", CORPUS, ids=[_ids(m) for m in CORPUS])
def test_round_trip(msg: pfcp.Message) -> None:
    data = pfcp.encode_message(msg)
    decoded = pfcp.decode_message(data)
    assert decoded == msg
    assert pfcp.encode_message(decoded) == data


def test_corpus_covers_every_message_type() -> None:
    assert {m.message_type for m in CORPUS} == set(pfcp.MessageType)
    assert set(pfcp.MESSAGE_CLASSES) == {int(t) for t in pfcp.MessageType}


# --- byte-exact vectors, written from the spec's figures ---------------------------------


def test_heartbeat_request_vector() -> None:
    # TS 29.244 7.2.2 node header (S=0): version 1, type 1, length 12, sequence 1, spare;
    # 8.2.65 Recovery Time Stamp (type 96, length 4).
    data = bytes.fromhex("2001000c" "00000100" "00600004" "e1234567")
    msg = pfcp.HeartbeatRequest(sequence=1, recovery_time_stamp=0xE1234567)
    assert pfcp.encode_message(msg) == data
    assert pfcp.decode_message(data) == msg


def test_session_header_vector_with_priority() -> None:
    # 7.2.2 with S=1 and MP=1: SEID, sequence, priority in the high nibble of the last octet.
    data = bytes.fromhex("2336000c" "1122334455667788" "000102" "50")
    msg = pfcp.SessionDeletionRequest(sequence=0x102, seid=0x1122334455667788, priority=5)
    assert pfcp.encode_message(msg) == data
    assert pfcp.decode_message(data) == msg


@pytest.mark.parametrize(
    ("ie_type", "value", "hexdata"),
    [
        # 8.2.38 Node ID: type 0 (IPv4)
        (IEType.NODE_ID, NodeId(IPv4Address("10.0.0.1")), "003c0005000a000001"),
        # 8.2.38 Node ID: type 2 (FQDN, DNS labels)
        (IEType.NODE_ID, NodeId("upf.ex"), "003c000802037570660265 78".replace(" ", "")),
        # 8.2.38 Node ID: type 1 (IPv6)
        (IEType.NODE_ID, NodeId(IPv6Address("2001:db8::1")), "003c00110120010db8000000000000000000000001"),
        # 8.2.3 F-TEID with CH=1 and V4=1: no TEID, no address
        (IEType.F_TEID, FTeid(choose=True, choose_v4=True), "0015000105"),
        # 8.2.3 F-TEID with CH=1, CHID=1 (CHOOSE ID 7)
        (IEType.F_TEID, FTeid(choose=True, choose_v4=True, choose_id=7), "001500020d07"),
        # 8.2.3 F-TEID with TEID and IPv4
        (IEType.F_TEID, FTeid(0x01020304, ipv4=IPv4Address("10.0.0.2")), "0015000901010203040a000002"),
        # 8.2.37 F-SEID with V4
        (IEType.F_SEID, FSeid(1, ipv4=IPv4Address("10.0.0.1")), "0039000d0200000000000000010a000001"),
        # 8.2.62 UE IP Address, S/D=1 V4=1
        (IEType.UE_IP_ADDRESS, UeIpAddress(ipv4=IPv4Address("10.45.0.7"), is_destination=True), "005d0005060a2d0007"),
        # 8.2.62 UE IP Address, CHV4=1
        (IEType.UE_IP_ADDRESS, UeIpAddress(choose_v4=True), "005d000110"),
        # 8.2.26 Apply Action, one octet (FORW) and the Rel-16 two-octet form (FORW + BDPN)
        (IEType.APPLY_ACTION, ApplyAction.FORW, "002c000102"),
        (IEType.APPLY_ACTION, ApplyAction.FORW | ApplyAction.BDPN, "002c00020202"),
        # 8.2.1 Cause
        (IEType.CAUSE, Cause.REQUEST_ACCEPTED, "0013000101"),
        # 8.2.56 Outer Header Creation GTP-U/UDP/IPv4
        (
            IEType.OUTER_HEADER_CREATION,
            pfcp.OuterHeaderCreation(
                pfcp.OuterHeaderCreationDescription.GTP_U_UDP_IPV4, teid=0x1234, ipv4=IPv4Address("192.168.1.1")
            ),
            "0054000a010000001234c0a80101",
        ),
        # 8.2.8 MBR: 5-octet UL and DL
        (IEType.MBR, pfcp.Mbr(ul=1, dl=0x0102030405), "001a000a00000000010102030405"),
        # 8.2.7 Gate Status: UL closed, DL open
        (IEType.GATE_STATUS, pfcp.GateStatus(pfcp.Gate.CLOSED, pfcp.Gate.OPEN), "0019000104"),
        # 8.2.13 Volume Threshold: DLVOL only
        (IEType.VOLUME_THRESHOLD, pfcp.VolumeThreshold(downlink=5), "001f000904" "0000000000000005"),
        # 8.2.4 Network Instance
        (IEType.NETWORK_INSTANCE, pfcp.NetworkInstance.from_text("internet"), "00160009" "08696e7465726e6574"),
        # 8.2.5 SDF Filter with FD
        (IEType.SDF_FILTER, pfcp.SdfFilter(flow_description="ab"), "0017000601000002" "6162"),
        # 8.2.19 Reporting Triggers: octet 5 VOLTH, octet 6 0
        (IEType.REPORTING_TRIGGERS, pfcp.ReportingTriggers.VOLTH, "002500020200"),
        # 8.2.31 PFCPSMReq-Flags: DROBU + QAURR
        (IEType.PFCPSMREQ_FLAGS, pfcp.PfcpsmReqFlags.DROBU | pfcp.PfcpsmReqFlags.QAURR, "0031000105"),
        # 8.2.64 Outer Header Removal GTP-U/UDP/IPv4
        (
            IEType.OUTER_HEADER_REMOVAL,
            pfcp.OuterHeaderRemoval(pfcp.OuterHeaderRemovalDescription.GTP_U_UDP_IPV4),
            "005f000100",
        ),
        # 8.2.80 Failed Rule ID: PDR 3
        (IEType.FAILED_RULE_ID, pfcp.FailedRuleId(pfcp.RuleIdType.PDR, 3), "00720003000003"),
    ],
)
def test_ie_vectors(ie_type: IEType, value: object, hexdata: str) -> None:
    data = bytes.fromhex(hexdata)
    assert pfcp.encode_ie(ie_type, value) == data
    assert pfcp.decode_ie(data) == (ie_type, value)


def test_network_instance_text_helpers() -> None:
    ni = pfcp.NetworkInstance(b"\x08internet\x03com")
    assert ni.text == "internet.com"
    assert pfcp.NetworkInstance(b"plain-text").text == "plain-text"
    assert pfcp.NetworkInstance.from_text("a.b").raw == b"\x01a\x01b"


# --- unknown and vendor IEs ---------------------------------------------------------------


def test_unknown_and_vendor_ies_are_kept_in_grouped_ies() -> None:
    msg = establishment_request()
    pdr = msg.create_pdr[0]
    odd = (pfcp.RawIe(250, b"\x00\x01"), pfcp.RawIe(0x8123, b"xyz", enterprise_id=18681))
    msg2 = replace(msg, create_pdr=(replace(pdr, extra_ies=odd),))
    data = pfcp.encode_message(msg2)
    decoded = pfcp.decode_message(data)
    assert decoded.create_pdr[0].extra_ies == odd  # type: ignore[attr-defined]
    assert pfcp.encode_message(decoded) == data


def test_unexpected_known_ie_and_repeated_single_ie_are_kept() -> None:
    base = pfcp.encode_message(pfcp.HeartbeatRequest(sequence=1, recovery_time_stamp=5))
    extra = bytes.fromhex("00600004" "00000006") + bytes.fromhex("0013000101")  # 2nd RTS, a Cause
    data = bytearray(base + extra)
    data[3] += len(extra)
    msg = pfcp.decode_message(bytes(data))
    assert isinstance(msg, pfcp.HeartbeatRequest)
    assert msg.recovery_time_stamp == 5
    assert [r.ie_type for r in msg.extra_ies] == [96, 19]
    assert pfcp.encode_message(msg) == bytes(data)


# --- the error contract -------------------------------------------------------------------


def _expect(data: bytes, cause: Cause, ie_type: int | None = None) -> DecodeError:
    with pytest.raises(DecodeError) as info:
        pfcp.decode_message(data)
    assert info.value.cause == cause, str(info.value)
    assert info.value.ie_type == ie_type
    return info.value


def test_missing_mandatory_ie() -> None:
    err = _expect(bytes.fromhex("20010004" "00000900"), Cause.MANDATORY_IE_MISSING, IEType.RECOVERY_TIME_STAMP)
    assert (err.message_type, err.sequence, err.seid) == (1, 9, None)


def test_missing_mandatory_ie_in_grouped_ie() -> None:
    msg = establishment_request()
    data = bytearray(pfcp.encode_message(msg))
    # Replace the first PDR's Precedence IE (type 29) by an unknown type: now it is missing.
    i = data.index(bytes.fromhex("001d0004000000ff"))
    data[i : i + 2] = b"\x01\x2c"
    _expect(bytes(data), Cause.MANDATORY_IE_MISSING, IEType.PRECEDENCE)


def test_invalid_ie_length() -> None:
    _expect(bytes.fromhex("2001000a" "00000100" "00600002" "e123"), Cause.INVALID_LENGTH, IEType.RECOVERY_TIME_STAMP)


def test_ie_overrunning_message() -> None:
    _expect(bytes.fromhex("2001000c" "00000100" "00600008" "e1234567"), Cause.INVALID_LENGTH, 96)


def test_mandatory_ie_incorrect() -> None:
    # Association Setup Request whose Node ID has type 7.
    data = bytes.fromhex("20050015" "00000100" "003c0005070a000001" "00600004e1234567")
    _expect(data, Cause.MANDATORY_IE_INCORRECT, IEType.NODE_ID)


def test_conditional_ie_missing_far_forwarding_parameters() -> None:
    msg = establishment_request()
    far = pfcp.CreateFar(far_id=9, apply_action=ApplyAction.FORW)
    msg2 = replace(msg, create_far=(far,))
    err = _expect(pfcp.encode_message(msg2), Cause.CONDITIONAL_IE_MISSING, IEType.FORWARDING_PARAMETERS)
    assert err.seid == 0 and err.message_type == 50


def test_conditional_ie_missing_up_f_seid() -> None:
    msg = pfcp.SessionEstablishmentResponse(
        sequence=1, seid=1, node_id=NodeId(IPv4Address("10.0.0.2")), cause=Cause.REQUEST_ACCEPTED
    )
    _expect(pfcp.encode_message(msg), Cause.CONDITIONAL_IE_MISSING, IEType.F_SEID)


def test_version_not_supported() -> None:
    with pytest.raises(pfcp.VersionNotSupportedError) as info:
        pfcp.decode_message(bytes.fromhex("4001000c" "00000100" "00600004e1234567"))
    assert info.value.version == 2
    assert isinstance(info.value, DecodeError)
    assert (info.value.message_type, info.value.sequence) == (1, 1)


@pytest.mark.parametrize(
    "hexdata",
    [
        "",
        "20",
        "200100",
        "2001000c000001",  # shorter than the node header
        "2001000c" "00000100",  # length says 12, datagram has 4 after the first 4 octets
        "2001000c" "00000100" "00600004e1234567" "00",  # one octet too many, FO=0
        "20010002" "00000100",  # length shorter than the header itself
        "21360004" "1122334455667788",  # session header cut short
    ],
)
def test_header_length_errors(hexdata: str) -> None:
    _expect(bytes.fromhex(hexdata), Cause.INVALID_LENGTH)


def test_follow_on_messages() -> None:
    a = bytearray(pfcp.encode_message(pfcp.HeartbeatRequest(sequence=1, recovery_time_stamp=5)))
    b = pfcp.encode_message(pfcp.HeartbeatResponse(sequence=2, recovery_time_stamp=6))
    a[0] |= 0x04  # FO: another message follows
    msgs = pfcp.decode_messages(bytes(a) + b)
    assert [type(m).__name__ for m in msgs] == ["HeartbeatRequest", "HeartbeatResponse"]
    assert pfcp.decode_message(bytes(a) + b) == msgs[0]  # decode_message: the first one
    with pytest.raises(DecodeError):
        pfcp.decode_messages(bytes(a))


def test_unknown_message_type() -> None:
    with pytest.raises(pfcp.UnknownMessageTypeError):
        pfcp.decode_message(bytes.fromhex("20630004" "00000100"))


def test_s_flag_must_match_message_type() -> None:
    _expect(bytes.fromhex("20360004" "00000100"), Cause.MANDATORY_IE_INCORRECT)


@pytest.mark.parametrize("msg", CORPUS, ids=[_ids(m) for m in CORPUS])
def test_every_truncation_raises_decode_error(msg: pfcp.Message) -> None:
    data = pfcp.encode_message(msg)
    for n in range(len(data)):
        cut = bytearray(data[:n])
        if n >= 4:  # also with a header length that agrees with the cut
            cut[2:4] = (n - 4).to_bytes(2, "big")
        for candidate in (data[:n], bytes(cut)):
            try:
                pfcp.decode_message(candidate)
            except DecodeError as exc:
                assert exc.cause != Cause.SYSTEM_FAILURE, exc


def test_encode_error_is_ours() -> None:
    with pytest.raises(pfcp.EncodeError):
        pfcp.encode_message(pfcp.HeartbeatRequest(sequence=1, recovery_time_stamp=1 << 40))
    with pytest.raises(pfcp.EncodeError):
        pfcp.encode_message(pfcp.AssociationReleaseRequest(sequence=1, node_id=None))  # type: ignore[arg-type]


# --- the operator tool --------------------------------------------------------------------


def _run_cli(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pfcp", *args], input=stdin, capture_output=True, text=True, timeout=60
    )


def test_cli_decodes_to_json() -> None:
    data = pfcp.encode_message(establishment_request()).hex()
    out = _run_cli("decode", "--hex", data)
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    assert doc["message_type"] == "SESSION_ESTABLISHMENT_REQUEST"
    assert doc["cp_f_seid"]["seid"] == "0x1122334455667788"
    assert doc["cp_f_seid"]["ipv4"] == "10.0.0.1"
    assert doc["create_far"][1]["forwarding_parameters"]["outer_header_creation"]["teid"] == "0x1020304"
    assert doc["create_far"][0]["apply_action"] == ["FORW"]
    assert doc["create_pdr"][0]["pdi"]["source_interface"] == "ACCESS"
    assert doc["create_pdr"][0]["pdi"]["network_instance"]["text"] == "internet"


def test_cli_reads_stdin_and_reports_errors_without_traceback() -> None:
    out = _run_cli("decode", stdin="20010004 00000900\n")
    assert out.returncode == 1
    assert "MANDATORY_IE_MISSING" in out.stderr and "Traceback" not in out.stderr
    out = _run_cli("decode", "--hex", "zz")
    assert out.returncode == 2 and "Traceback" not in out.stderr
