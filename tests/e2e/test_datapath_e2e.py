"""The XDP fast path end to end: real frames through a gNB ns <-> UPF ns <-> DN ns topology.

The UPF program (build/xdp/upf.o, upf_xdp) is attached to the UPF's N3 and N6 veths and
its maps are written directly through the typed map handles (no PFCP agent).  The far
veth ends (gNB, DN) carry an XDP_PASS program so XDP_REDIRECT into them delivers.
Frames are sent with AF_PACKET sockets inside the gNB/DN namespaces and captured the
same way at the other end; each capture is checked field by field (scapy) and by an
independent dissector (tshark: fields, and no `_ws.malformed` frame).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from scapy.contrib.gtp import GTP_U_Header, GTPPDUSessionContainer
from scapy.layers.inet import IP, UDP
from scapy.layers.l2 import Ether

from benchmarks import bpfbench as bb
from benchmarks.packets import (
    ADDRESSES,
    DN_ADDR,
    PDU_TYPE_DL,
    downlink_packet,
    frame,
    uplink_packet,
)
from benchmarks.sessions import SessionPlan, UpfMaps, program_sessions
from tests.e2e.capture import Capture, write_pcap
from upf.datapath import abi
from upf.datapath.loader import Datapath, DatapathLimits
from upf.datapath.nexthop import NexthopWatcher
from upf.topology import (
    DN_IF,
    GNB_IF,
    NETNS_RUN_DIR,
    UPF_N3_IF,
    UPF_N6_IF,
    UpfTopology,
    veth,
)

pytestmark = [
    pytest.mark.root,
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root (BPF, network namespaces)"),
    pytest.mark.skipif(not bb.UPF_OBJ.exists(), reason="build/xdp/upf.o missing: make bpf"),
]

PLAN = SessionPlan(count=8, ue_base="10.45.0.2")
SESSION = 5  # not the first: the tables hold other sessions around it
DN2_N6B_ADDR = "10.200.7.2"
UPF_N6B_ADDR = "10.200.7.1"
UPF_N6B_IF = "n6b"
DN2_IF = "dn1"


@dataclass(slots=True)
class Upf:
    """A running fast path on a topology, its maps and the next-hop watcher."""

    topo: UpfTopology
    dp: Datapath
    maps: UpfMaps
    watcher: NexthopWatcher
    pass_fd: int
    n3: int
    n6: int

    def uplink(self, marker: bytes, ttl: int = 64) -> bytes:
        t = self.topo
        return frame(
            uplink_packet(
                PLAN,
                SESSION,
                src_mac=t.gnb.mac(GNB_IF),
                dst_mac=t.upf.mac(UPF_N3_IF),
                payload=marker,
                ttl=ttl,
            )
        )

    def downlink(self, marker: bytes) -> bytes:
        t = self.topo
        return frame(
            downlink_packet(
                PLAN,
                SESSION,
                src_mac=t.dn.mac(DN_IF),
                dst_mac=t.upf.mac(UPF_N6_IF),
                payload=marker,
            )
        )

    def verdicts(self, ifindex: int) -> dict[str, int]:
        """Reason counters of an interface, minus what the kernel's own chatter causes
        (ICMP errors and ARP between the namespaces: PASS_NOT_UPF, PASS_NOT_IP)."""
        noise = {"PASS_NOT_UPF", "PASS_NOT_IP"}
        return {k: v for k, v in self.maps.reasons(ifindex).items() if k not in noise}

    def count(self, ifindex: int, reason: abi.Reason) -> int:
        return self.maps.reason_count(ifindex, reason)

    def settled_gen(self, quiet: float = 0.2, timeout: float = 3.0) -> int:
        """nh_gen once the watcher has been quiet for `quiet` s (earlier events handled)."""
        deadline = time.monotonic() + timeout
        gen = self.watcher.gen
        while time.monotonic() < deadline:
            time.sleep(quiet)
            now = self.watcher.gen
            if now == gen:
                break
            gen = now
        return gen

    def wait_gen_above(self, gen: int, timeout: float = 3.0) -> int:
        """Wait until the watcher has bumped nh_gen past `gen` (netlink is asynchronous)."""
        deadline = time.monotonic() + timeout
        while self.watcher.gen <= gen and time.monotonic() < deadline:
            time.sleep(0.01)
        return self.watcher.gen


@contextlib.contextmanager
def running_upf(static_neigh: bool = True) -> Iterator[Upf]:
    with contextlib.ExitStack() as stack:
        topo = stack.enter_context(UpfTopology("upft", ADDRESSES, static_neigh=static_neigh))
        # Endpoints that swallow the test traffic, so no ICMP port unreachable comes back
        # through the UPF and muddles the counters (UDP 9 in the DN, GTP-U 2152 at the gNB).
        for ns, port in ((topo.dn, 9), (topo.gnb, 2152)):
            with ns.entered():
                sink = stack.enter_context(socket.socket(socket.AF_INET, socket.SOCK_DGRAM))
                sink.bind(("0.0.0.0", port))
        pass_obj, pass_fd = bb.load_single("pass", "bench_pass")
        stack.callback(pass_obj.close)
        topo.gnb.set_xdp(GNB_IF, pass_fd)
        topo.dn.set_xdp(DN_IF, pass_fd)
        limits = DatapathLimits(sessions=1024, pdrs=1024, fars=1024, qers=1024, nexthops=1024)
        dp = stack.enter_context(Datapath(bb.UPF_OBJ, limits=limits))
        maps = UpfMaps.from_datapath(dp)
        program_sessions(maps, PLAN)
        n3 = dp.attach(UPF_N3_IF, netns=topo.upf.name)
        n6 = dp.attach(UPF_N6_IF, netns=topo.upf.name)
        watcher = stack.enter_context(NexthopWatcher(dp.runtime, netns=topo.upf.name))
        yield Upf(topo, dp, maps, watcher, pass_fd, n3, n6)


@pytest.fixture
def upf() -> Iterator[Upf]:
    with running_upf() as u:
        yield u


@pytest.fixture
def upf_no_neigh() -> Iterator[Upf]:
    with running_upf(static_neigh=False) as u:
        yield u


# ---------------------------------------------------------------------------
# Helpers: matching, pcap + tshark


def _udp_payload_is(marker: bytes) -> Callable[[bytes], bool]:
    def match(f: bytes) -> bool:
        return marker in f

    return match


def tshark(pcap: Path, *args: str) -> str:
    res = subprocess.run(
        ["tshark", "-r", str(pcap), *args], capture_output=True, text=True, timeout=60, check=True
    )
    return res.stdout


def tshark_fields(pcap: Path, *fields: str) -> str:
    """One line per frame, the fields comma-separated (repeated fields too)."""
    args = [a for f in fields for a in ("-e", f)]
    return tshark(pcap, "-T", "fields", "-E", "separator=,", *args)


def assert_not_malformed(tmp_path: Path, name: str, frames: list[bytes]) -> Path:
    pcap = tmp_path / f"{name}.pcap"
    write_pcap(str(pcap), frames)
    assert tshark(pcap, "-T", "fields", "-e", "frame.number").split() == [
        str(i + 1) for i in range(len(frames))
    ]
    malformed = tshark(pcap, "-Y", "_ws.malformed", "-T", "fields", "-e", "frame.number")
    assert malformed.strip() == "", f"tshark finds malformed frames in {name}: {malformed}"
    return pcap


needs_tshark = pytest.mark.skipif(shutil.which("tshark") is None, reason="tshark missing")


def check_uplink_frame(u: Upf, got: bytes, sent: bytes, dst_mac: str, src_mac: str) -> None:
    """A decapsulated uplink frame: the inner packet as sent, TTL - 1, new MACs."""
    pkt: Any = Ether(got)
    inner_sent: Any = Ether(sent)[GTPPDUSessionContainer].payload
    assert (pkt.dst, pkt.src, pkt.type) == (dst_mac, src_mac, 0x0800)
    ip = pkt[IP]
    assert (ip.src, ip.dst, ip.proto) == (PLAN.ue(SESSION), DN_ADDR, 17)
    assert ip.ttl == inner_sent.ttl - 1
    assert ip.len == len(bytes(inner_sent))
    ip_check: Any = IP(bytes(ip))
    del ip_check.chksum
    assert IP(bytes(ip_check)).chksum == ip.chksum, "inner IPv4 checksum not updated"
    assert GTP_U_Header not in pkt
    assert (ip[UDP].sport, ip[UDP].dport) == (inner_sent[UDP].sport, inner_sent[UDP].dport)
    assert bytes(ip[UDP].payload) == bytes(inner_sent[UDP].payload)
    assert len(got) >= 14 + ip.len


# ---------------------------------------------------------------------------
# Tests


@needs_tshark
def test_uplink_arrives_decapsulated_at_dn(upf: Upf, tmp_path: Path) -> None:
    t = upf.topo
    sent = upf.uplink(b"e2e-uplink-0001")
    with Capture(t.dn, DN_IF) as cap:
        t.gnb.send_frames(GNB_IF, [sent])
        got = cap.wait(_udp_payload_is(b"e2e-uplink-0001"))
    assert len(got) == 1, f"uplink not delivered; UPF reasons on n3: {upf.maps.reasons(upf.n3)}"
    check_uplink_frame(upf, got[0], sent, t.dn.mac(DN_IF), t.upf.mac(UPF_N6_IF))
    pcap = assert_not_malformed(tmp_path, "dn", got)
    fields = tshark_fields(pcap, "ip.src", "ip.dst", "ip.ttl", "udp.dstport", "gtp.teid")
    assert fields.strip() == f"{PLAN.ue(SESSION)},{DN_ADDR},63,9,"
    assert upf.count(upf.n3, abi.Reason.FWD_UPLINK) == 1
    assert upf.verdicts(upf.n3) == {"FWD_UPLINK": 1}
    ul_stats = upf.maps.pdr_stats.get_sum(PLAN.ul_far(SESSION))
    assert ul_stats is not None
    assert (ul_stats.packets, ul_stats.bytes) == (1, len(sent) - 14 - 20 - 8 - 16)


@needs_tshark
def test_downlink_arrives_encapsulated_at_gnb(upf: Upf, tmp_path: Path) -> None:
    t = upf.topo
    sent = upf.downlink(b"e2e-downlink-0001")
    with Capture(t.gnb, GNB_IF) as cap:
        t.dn.send_frames(DN_IF, [sent])
        got = cap.wait(_udp_payload_is(b"e2e-downlink-0001"))
    assert len(got) == 1, f"downlink not delivered; UPF reasons on n6: {upf.maps.reasons(upf.n6)}"
    pkt: Any = Ether(got[0])
    inner_sent: Any = Ether(sent)[IP]
    assert (pkt.dst, pkt.src, pkt.type) == (
        t.gnb.mac(GNB_IF),
        t.upf.mac(UPF_N3_IF),
        0x0800,
    )
    outer = pkt[IP]
    assert (outer.src, outer.dst, outer.proto, outer.ttl) == (PLAN.n3_addr, PLAN.gnb_addr, 17, 64)
    assert (outer.version, outer.ihl, outer.flags.DF, outer.frag, outer.id) == (4, 5, True, 0, 0)
    inner_len = len(bytes(inner_sent))
    gtp_len = 8 + 8 + inner_len  # optional fields + PDU Session Container (4 + 4) ...
    assert outer.len == 20 + 8 + gtp_len
    again: Any = IP(bytes(outer))
    del again.chksum
    assert IP(bytes(again)).chksum == outer.chksum, "outer IPv4 checksum wrong"
    udp = pkt[UDP]
    assert (udp.sport, udp.dport, udp.len, udp.chksum) == (2152, 2152, 8 + gtp_len, 0)
    gtp = pkt[GTP_U_Header]
    assert (gtp.version, gtp.PT, gtp.E, gtp.S, gtp.PN) == (1, 1, 1, 0, 0)
    assert (gtp.gtp_type, gtp.length, gtp.teid) == (255, 8 + inner_len, PLAN.gnb_teid(SESSION))
    assert gtp.next_ex == 0x85
    psc = pkt[GTPPDUSessionContainer]
    assert (psc.ExtHdrLen, psc.type, psc.QFI, psc.NextExtHdr) == (1, PDU_TYPE_DL, PLAN.qfi, 0)
    inner = psc[IP]
    assert (inner.src, inner.dst, inner.ttl) == (DN_ADDR, PLAN.ue(SESSION), inner_sent.ttl - 1)
    assert bytes(inner[UDP]) == bytes(inner_sent[UDP])
    pcap = assert_not_malformed(tmp_path, "gnb", got)
    fields = tshark_fields(
        pcap,
        "gtp.teid",
        "gtp.ext_hdr.pdu_ses_con.pdu_type",
        "gtp.ext_hdr.pdu_ses_con.qos_flow_id",
        "ip.dst",
    )
    teid, pdu_type, qfi, ip_dsts = fields.strip().split(",", 3)
    assert (int(teid, 0), int(pdu_type, 0), int(qfi, 0)) == (PLAN.gnb_teid(SESSION), 0, PLAN.qfi)
    assert ip_dsts.split(",") == [PLAN.gnb_addr, PLAN.ue(SESSION)]
    assert upf.verdicts(upf.n6) == {"FWD_DOWNLINK": 1}


@needs_tshark
def test_nexthop_follows_neighbour_mac_change(upf: Upf, tmp_path: Path) -> None:
    t = upf.topo
    old_mac = t.dn.mac(DN_IF)
    with Capture(t.dn, DN_IF) as cap:
        t.gnb.send_frames(GNB_IF, [upf.uplink(b"e2e-nh-mac-1")])
        first = cap.wait(_udp_payload_is(b"e2e-nh-mac-1"))
    assert [Ether(f).dst for f in first] == [old_mac]

    new_mac = "02:00:5e:10:00:66"
    gen = upf.settled_gen()
    t.dn.set_mac(DN_IF, new_mac)
    t.upf.set_neigh(UPF_N6_IF, DN_ADDR, new_mac)  # RTM_NEWNEIGH, new lladdr
    assert upf.wait_gen_above(gen) > gen, "the netlink watcher did not invalidate next hops"

    with Capture(t.dn, DN_IF) as cap:
        sent = upf.uplink(b"e2e-nh-mac-2")
        t.gnb.send_frames(GNB_IF, [sent])
        second = cap.wait(_udp_payload_is(b"e2e-nh-mac-2"))
    assert len(second) == 1
    check_uplink_frame(upf, second[0], sent, new_mac, t.upf.mac(UPF_N6_IF))
    assert_not_malformed(tmp_path, "dn-mac", first + second)
    assert upf.verdicts(upf.n3) == {"FWD_UPLINK": 2}


@needs_tshark
def test_nexthop_follows_more_specific_route(upf: Upf, tmp_path: Path) -> None:
    t = upf.topo
    veth(t.upf, UPF_N6B_IF, t.dn, DN2_IF)
    t.upf.add_addr(UPF_N6B_IF, UPF_N6B_ADDR, 24)
    t.dn.add_addr(DN2_IF, DN2_N6B_ADDR, 24)
    t.dn.set_xdp(DN2_IF, upf.pass_fd)
    t.upf.set_neigh(UPF_N6B_IF, DN2_N6B_ADDR, t.dn.mac(DN2_IF))

    with Capture(t.dn, DN_IF) as cap:
        t.gnb.send_frames(GNB_IF, [upf.uplink(b"e2e-nh-route-1")])
        assert len(cap.wait(_udp_payload_is(b"e2e-nh-route-1"))) == 1

    gen = upf.settled_gen()
    with t.upf.ipr() as ipr:  # the DN host's /32 via the second link: more specific than /24
        ipr.route("add", dst=DN_ADDR, dst_len=32, gateway=DN2_N6B_ADDR)
    assert upf.wait_gen_above(gen) > gen, "the netlink watcher did not invalidate next hops"

    with Capture(t.dn, DN2_IF) as cap2, Capture(t.dn, DN_IF) as cap1:
        sent = upf.uplink(b"e2e-nh-route-2")
        t.gnb.send_frames(GNB_IF, [sent])
        via_new = cap2.wait(_udp_payload_is(b"e2e-nh-route-2"))
        via_old = cap1.wait(_udp_payload_is(b"e2e-nh-route-2"), timeout=0.3)
    assert (len(via_new), len(via_old)) == (1, 0)
    check_uplink_frame(upf, via_new[0], sent, t.dn.mac(DN2_IF), t.upf.mac(UPF_N6B_IF))
    assert_not_malformed(tmp_path, "dn-route", via_new)
    assert upf.verdicts(upf.n3) == {"FWD_UPLINK": 2}


@needs_tshark
def test_unknown_neighbour_handed_to_kernel(upf_no_neigh: Upf, tmp_path: Path) -> None:
    u = upf_no_neigh
    t = u.topo
    assert DN_ADDR not in t.upf.run(["ip", "neigh", "show"]).stdout
    with Capture(t.dn, DN_IF) as cap:
        sent = u.uplink(b"e2e-noneigh-ul")
        t.gnb.send_frames(GNB_IF, [sent])
        got = cap.wait(_udp_payload_is(b"e2e-noneigh-ul"))
    assert len(got) == 1, f"not delivered by the kernel; reasons on n3: {u.maps.reasons(u.n3)}"
    # The kernel forwarded it (and decremented the TTL itself): same checks as the fast path.
    check_uplink_frame(u, got[0], sent, t.dn.mac(DN_IF), t.upf.mac(UPF_N6_IF))
    assert u.verdicts(u.n3) == {"PASS_NO_NEIGH": 1}

    with Capture(t.gnb, GNB_IF) as cap:
        t.dn.send_frames(DN_IF, [u.downlink(b"e2e-noneigh-dl")])
        got_dl = cap.wait(_udp_payload_is(b"e2e-noneigh-dl"))
    assert len(got_dl) == 1, f"not delivered by the kernel; reasons on n6: {u.maps.reasons(u.n6)}"
    pkt: Any = Ether(got_dl[0])
    assert (pkt[GTP_U_Header].teid, pkt[GTPPDUSessionContainer].QFI) == (
        PLAN.gnb_teid(SESSION),
        PLAN.qfi,
    )
    assert pkt[IP].ttl == 63  # outer TTL 64, forwarded once by the kernel
    assert u.verdicts(u.n6) == {"PASS_NO_NEIGH": 1}
    assert_not_malformed(tmp_path, "noneigh", got + got_dl)

    # The kernel has resolved both neighbours now: the next packets take the fast path.
    with Capture(t.dn, DN_IF) as cap:
        t.gnb.send_frames(GNB_IF, [u.uplink(b"e2e-noneigh-ul2")])
        assert len(cap.wait(_udp_payload_is(b"e2e-noneigh-ul2"))) == 1
    assert u.count(u.n3, abi.Reason.FWD_UPLINK) == 1


def test_namespaces_removed_on_failure() -> None:
    names: list[str] = []
    with pytest.raises(RuntimeError, match="boom"), running_upf() as u:
        names = [ns.name for ns in u.topo.namespaces]
        raise RuntimeError("boom")
    assert names
    left = set(os.listdir(NETNS_RUN_DIR)) if os.path.isdir(NETNS_RUN_DIR) else set()
    assert left.isdisjoint(names)
