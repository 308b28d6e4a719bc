"""Our encodings checked by Wireshark's PFCP dissector (tshark): no malformed frames, and the
fields tshark reads are the values we encoded."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

import pfcp
from tests.pfcp import corpus

pytestmark = pytest.mark.skipif(shutil.which("tshark") is None, reason="tshark not installed")

scapy_all = pytest.importorskip("scapy.all")


def _write_pcap(path: Path, payloads: list[bytes]) -> None:
    from scapy.layers.inet import IP, UDP
    from scapy.layers.l2 import Ether

    frames = [
        Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02")
        / IP(src="10.0.0.1", dst="10.0.0.2")
        / UDP(sport=8805, dport=8805)
        / p
        for p in payloads
    ]
    scapy_all.wrpcap(str(path), frames)


def _tshark(path: Path, *args: str) -> str:
    out = subprocess.run(
        ["tshark", "-n", "-r", str(path), *args], capture_output=True, text=True, timeout=120, check=True
    )
    return out.stdout


@pytest.fixture(scope="module")
def capture(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[pfcp.Message]]:
    msgs = corpus.messages()
    path = tmp_path_factory.mktemp("pfcp") / "corpus.pcap"
    _write_pcap(path, [pfcp.encode_message(m) for m in msgs])
    return path, msgs


def test_no_malformed_frames(capture: tuple[Path, list[pfcp.Message]]) -> None:
    path, msgs = capture
    assert _tshark(path, "-Y", "pfcp", "-T", "fields", "-e", "frame.number").split() == [
        str(i + 1) for i in range(len(msgs))
    ]
    assert _tshark(path, "-Y", "_ws.malformed", "-T", "fields", "-e", "frame.number").strip() == ""


def test_no_expert_errors(capture: tuple[Path, list[pfcp.Message]]) -> None:
    """Only the frame carrying deliberately unknown/vendor IEs may have "IE not decoded" notes."""
    path, msgs = capture
    out = _tshark(path, "-Y", "_ws.expert.severity == error", "-T", "fields", "-e", "frame.number", "-e",
                  "_ws.expert.message")
    for line in out.splitlines():
        frame, text = line.split("\t", 1)
        assert msgs[int(frame) - 1].extra_ies, line
        assert all(part.startswith("IE not decoded yet") for part in text.split(",")), line


def _fields(path: Path, *names: str) -> list[list[str]]:
    args = ["-Y", "pfcp", "-T", "fields", "-E", "separator=|", "-E", "occurrence=a", "-E", "aggregator=,"]
    for n in names:
        args += ["-e", n]
    return [line.split("|") for line in _tshark(path, *args).splitlines()]


def test_header_fields_match(capture: tuple[Path, list[pfcp.Message]]) -> None:
    path, msgs = capture
    rows = _fields(path, "pfcp.msg_type", "pfcp.seqno", "pfcp.seid")
    for msg, (mtype, seq, seid) in zip(msgs, rows, strict=True):
        assert int(mtype) == msg.message_type
        assert int(seq) == msg.sequence
        if msg.is_session:
            assert int(seid.split(",")[0], 16) == (msg.seid or 0)
        else:
            assert seid == ""


def test_ie_fields_match(capture: tuple[Path, list[pfcp.Message]]) -> None:
    path, msgs = capture
    rows = _fields(
        path,
        "pfcp.f_teid.teid",
        "pfcp.outer_hdr_creation.teid",
        "pfcp.outer_hdr_creation.ipv4",
        "pfcp.ue_ip_addr_ipv4",
        "pfcp.pdr_id",
        "pfcp.far_id",
        "pfcp.recovery_time_stamp",
        "pfcp.node_id_ipv4",
        "pfcp.node_id_fqdn",
        "pfcp.cause",
    )
    checked = 0
    for msg, row in zip(msgs, rows, strict=True):
        fteid, ohc_teid, ohc_v4, ue_v4, pdr_ids, far_ids, rts, node_v4, node_fqdn, cause = row
        if isinstance(msg, pfcp.SessionEstablishmentResponse) and msg.created_pdr:
            teid = msg.created_pdr[0].local_f_teid
            assert teid is not None and int(fteid.split(",")[0], 16) == teid.teid
            checked += 1
        if isinstance(msg, pfcp.SessionEstablishmentRequest):
            want_pdrs = [p.pdr_id for p in msg.create_pdr]
            assert [int(x) for x in pdr_ids.split(",")] == want_pdrs
            want_fars = [f.far_id for f in msg.create_far]
            assert [int(x) for x in far_ids.split(",")][: len(want_fars)] == want_fars
            ohcs = [
                f.forwarding_parameters.outer_header_creation
                for f in msg.create_far
                if f.forwarding_parameters is not None and f.forwarding_parameters.outer_header_creation
            ]
            v4 = [o for o in ohcs if o.ipv4 is not None]
            if v4:
                assert int(ohc_teid.split(",")[0], 16) == v4[0].teid
                assert ohc_v4.split(",")[0] == str(v4[0].ipv4)
            ues = [p.pdi.ue_ip_address for p in msg.create_pdr if p.pdi.ue_ip_address is not None]
            if ues and ues[0].ipv4 is not None:
                assert ue_v4.split(",")[0] == str(ues[0].ipv4)
            checked += 1
        if isinstance(msg, pfcp.HeartbeatRequest | pfcp.AssociationSetupRequest):
            assert rts != ""  # tshark prints the time stamp as a date
            checked += 1
        node = getattr(msg, "node_id", None)
        if isinstance(node, pfcp.NodeId):
            if node.node_id_type == pfcp.NodeIdType.IPV4:
                assert node_v4.split(",")[0] == str(node.value)
            elif node.node_id_type == pfcp.NodeIdType.FQDN:
                assert node_fqdn == node.value
        c = getattr(msg, "cause", None)
        if c is not None:
            assert int(cause) == c
    assert checked >= 6


def test_json_view_of_session_establishment(capture: tuple[Path, list[pfcp.Message]]) -> None:
    path, msgs = capture
    i = next(i for i, m in enumerate(msgs) if isinstance(m, pfcp.SessionEstablishmentRequest))
    doc: list[dict[str, Any]] = json.loads(_tshark(path, "-Y", f"frame.number == {i + 1}", "-T", "json"))
    text = json.dumps(doc[0]["_source"]["layers"]["pfcp"])
    msg = msgs[i]
    assert isinstance(msg, pfcp.SessionEstablishmentRequest)
    assert f"{msg.cp_f_seid.seid:#018x}" in text or f"{msg.cp_f_seid.seid:#x}" in text
    assert "internet" in text
