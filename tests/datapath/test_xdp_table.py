"""The XDP fast path as a table of packets: description, input frame, expected
verdict (XDP action + upf_reason) and expected output frame, each run once
through BPF_PROG_TEST_RUN (repeat=1) on the real kernel.

Outputs are dissected by scapy and compared layer by layer, field by field
(checksums included), then byte for byte. Every row also checks that the
xdp_stats counter of its reason moved by one, and rows that match a PDR check
pdr_stats (bytes = inner IP length).

Next hops: the module seeds nh_cache with entries of the current generation,
so no FIB lookup happens in the table; test_fib_paths runs the FIB path in a
network namespace of its own whose routes and neighbours it controls.

Also here: truncation at every byte of a GTP-U frame (with and without the
length fields agreeing), tshark reading every frame the program built, and
mutated frames (hypothesis) that must always be counted under exactly one
reason whose verdict the program returned.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import socket
import struct
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from enum import IntEnum
from pathlib import Path
from typing import Any

import pytest
from scapy.contrib.gtp import GTP_U_Header, GTPEchoResponse, IE_Recovery
from scapy.layers.inet import IP, UDP, IPOption_NOP, IPOption_Router_Alert
from scapy.layers.inet6 import IPv6
from scapy.layers.l2 import Ether
from scapy.packet import NoPayload, Packet, Raw
from scapy.utils import checksum

from tests.datapath import packets as P
from upf.datapath import abi
from upf.datapath.abi import ApplyAction, Encap, Iface, Ohr, PdrFlags, Reason
from upf.datapath.libbpf import BpfObject, prog_test_run
from upf.datapath.maps import ArrayMap, Map, PerCpuArrayMap
from upf.topology import Topology

pytestmark = pytest.mark.root

OBJ = Path(__file__).resolve().parents[2] / "build" / "xdp" / "upf.o"
LO_IFINDEX = 1  # test-run without a context: the frame arrives on the netns's loopback
NH_GEN = 3


class Xdp(IntEnum):
    ABORTED = 0
    DROP = 1
    PASS = 2
    TX = 3
    REDIRECT = 4


# ---------------------------------------------------------------------------
# The configuration every row runs against.


def be32(addr: str) -> int:
    """An IPv4 address as the native int whose memory holds it in network order."""
    return int.from_bytes(socket.inet_aton(addr), sys.byteorder)


def teid_be(teid: int) -> int:
    return int.from_bytes(teid.to_bytes(4, "big"), sys.byteorder)


def mac(s: str) -> bytes:
    return bytes.fromhex(s.replace(":", ""))


# Next hops seeded into nh_cache: destination -> (ifindex, our MAC, their MAC).
N6_HOP = (7, "02:00:00:00:06:01", "02:00:00:00:06:02")
N3_HOP = (5, "02:00:00:00:03:01", "02:00:00:00:03:02")
N9_HOP = (9, "02:00:00:00:09:01", "02:00:00:00:09:02")
UNROUTED_V4 = "203.0.113.99"  # seeded with a stale generation: always a FIB lookup
UNROUTED_PEER = "10.0.3.99"  # downlink peer with no cache entry

UE1, UE2, UE3, UE4 = "10.60.0.1", "10.60.0.2", "10.60.0.3", "10.60.0.4"
UE_DL_NOQFI, UE_EMPTY, UE_GATE, UE_FARDROP, UE_FIB = (
    "10.60.0.5",
    "10.60.0.6",
    "10.60.0.7",
    "10.60.0.8",
    "10.60.0.9",
)
N9_TEID, DL_TEID, DL_TEID_NOQFI, DL_TEID_V6, DL_TEID_FIB = 0xABCDEF, 0x5001, 0x5002, 0x5003, 0x5004
DL_TOS = 0xB8
IUPF_TEID = 0x7777

FARS: dict[int, dict[str, Any]] = {
    1: {"action": ApplyAction.FORW, "encap": Encap.NONE, "dst_iface": Iface.CORE},
    2: {
        "action": ApplyAction.FORW,
        "encap": Encap.GTPU_IPV4,
        "dst_iface": Iface.CORE,
        "teid": N9_TEID,
        "peer": P.PEER_UPF_ADDR,
        "local": P.N9_ADDR,
    },
    3: {"action": ApplyAction.DROP},
    4: {"action": ApplyAction.BUFF},
    5: {"action": ApplyAction.NOCP},
    6: {"action": ApplyAction.BUFF | ApplyAction.NOCP},
    10: {
        "action": ApplyAction.FORW,
        "encap": Encap.GTPU_IPV4,
        "dst_iface": Iface.ACCESS,
        "teid": DL_TEID,
        "peer": P.GNB_ADDR,
        "local": P.N3_ADDR,
        "tos": DL_TOS,
    },
    11: {
        "action": ApplyAction.FORW,
        "encap": Encap.GTPU_IPV4,
        "dst_iface": Iface.ACCESS,
        "teid": DL_TEID_NOQFI,
        "peer": P.GNB_ADDR,
        "local": P.N3_ADDR,
    },
    12: {
        "action": ApplyAction.FORW,
        "encap": Encap.GTPU_IPV4,
        "dst_iface": Iface.ACCESS,
        "teid": DL_TEID_V6,
        "peer": P.GNB_ADDR,
        "local": P.N3_ADDR,
    },
    13: {
        "action": ApplyAction.FORW,
        "encap": Encap.GTPU_IPV4,
        "dst_iface": Iface.ACCESS,
        "teid": DL_TEID_FIB,
        "peer": UNROUTED_PEER,
        "local": P.N3_ADDR,
    },
    14: {  # an I-UPF: from N9 back to the gNB on N3
        "action": ApplyAction.FORW,
        "encap": Encap.GTPU_IPV4,
        "dst_iface": Iface.ACCESS,
        "teid": IUPF_TEID,
        "peer": P.GNB_ADDR,
        "local": P.N3_ADDR,
    },
    # slot 99 stays empty
}
QERS = {1: (1, 0), 2: (0, 1), 3: (0, 0)}  # slot -> (gate_ul, gate_dl); 1 = closed

V4 = PdrFlags.MATCH_UE_V4
V6 = PdrFlags.MATCH_UE_V6
QFI = PdrFlags.MATCH_QFI


@dataclass(frozen=True, slots=True)
class Rule:
    pdr_slot: int
    far_slot: int
    flags: int = 0
    ue: str = ""
    qfi: int = 0
    ohr: int = Ohr.GTPU_UDP_IPV4
    qer_slot: int = 0
    precedence: int = 100
    sdf_id: int = 0


UPLINK: dict[int, list[Rule]] = {
    0x100: [Rule(1, 1, V4, UE1, qer_slot=3)],
    0x101: [Rule(2, 1, V4, UE2, ohr=Ohr.GTPU_UDP_IP)],
    # two PDRs on one TEID: QFI 5 (precedence 10) before the catch-all (precedence 20)
    0x102: [Rule(3, 1, V4 | QFI, UE3, qfi=5, precedence=10), Rule(4, 1, V4, UE3, precedence=20)],
    0x103: [Rule(5, 1, V6, P.UE_V6_PREFIX)],
    0x104: [Rule(6, 2, V4, UE4)],
    0x105: [Rule(7, 3, V4, UE1)],
    0x106: [Rule(8, 4, V4, UE1)],
    0x107: [Rule(9, 5, V4, UE1)],
    0x108: [Rule(10, 99, V4, UE1)],
    0x109: [Rule(11, 1, V4, UE1, qer_slot=1)],
    0x10A: [Rule(12, 1, V4, UE1, ohr=Ohr.NONE)],
    0x10B: [Rule(13, 1, V4, UE1)],
    0x10C: [Rule(14, 1, QFI, qfi=7)],
    0x10D: [Rule(15, 6, V4, UE1)],
    0x10E: [],
    0x10F: [Rule(16, 14, V4, UE1)],
    0x110: [Rule(17, 2, V6, P.UE_V6_PREFIX)],
    0x00000005: [Rule(41, 1, V4, UE2)],  # SMF TEID whose index bits hit BY_INDEX slot 5
    0x01FFFFFF: [Rule(42, 1, V4, UE1)],  # index beyond uplink_by_teid: hash only
}


def ch_teid(gen: int, index: int) -> int:
    """A TEID the UPF allocated (F-TEID CHOOSE): generation << 24 | array index."""
    return (gen << abi.Limits.TEID_INDEX_BITS) | index


CH_GEN = 0x2A
BY_INDEX_SIZE = 4096  # uplink_by_teid max_entries in the table
# uplink_by_teid slots: index -> (TEID the slot holds, rules). Slot 6 keeps its TEID
# with count 0 (a slot being emptied); slot 0, which the control plane never uses, is
# written anyway to show that the fast path never reads it.
BY_INDEX: dict[int, tuple[int, list[Rule]]] = {
    5: (ch_teid(CH_GEN, 5), [Rule(40, 1, V4, UE1)]),
    6: (ch_teid(CH_GEN, 6), []),
    7: (ch_teid(CH_GEN, 7), [Rule(43, 2, V4, UE4)]),
    0: (ch_teid(CH_GEN, 0), [Rule(44, 1, V4, UE1)]),
}
DOWNLINK_V4: dict[str, list[Rule]] = {
    UE1: [Rule(20, 10, PdrFlags.SET_QFI, qfi=9)],
    UE_DL_NOQFI: [Rule(21, 11)],
    UE_EMPTY: [],
    UE_GATE: [Rule(23, 10, qer_slot=2)],
    UE_FARDROP: [Rule(24, 3)],
    UE_FIB: [Rule(25, 13)],
    "10.60.0.10": [Rule(26, 11, sdf_id=1)],
    "10.60.0.11": [Rule(27, 1)],
}
DOWNLINK_V6: dict[str, list[Rule]] = {P.UE_V6_PREFIX: [Rule(22, 12, PdrFlags.SET_QFI, qfi=6)]}


def pdr_set(rules: list[Rule], teid: int = 0) -> abi.PdrSet:
    s = abi.PdrSet()
    s.count = len(rules)
    s.teid = teid_be(teid)
    for i, r in enumerate(rules):
        o = s.rules[i]
        o.pdr_slot, o.far_slot, o.qer_slot = r.pdr_slot, r.far_slot, r.qer_slot
        o.precedence, o.pdr_id, o.flags, o.qfi = r.precedence, r.pdr_slot, r.flags, r.qfi
        o.ohr, o.sdf_id = r.ohr, r.sdf_id
        if r.flags & V6:
            ctypes.memmove(o.ue_v6, socket.inet_pton(socket.AF_INET6, r.ue)[:8], 8)
        elif r.ue:
            o.ue_v4 = be32(r.ue)
    return s


def nh_key(addr: str) -> abi.NhKey:
    k = abi.NhKey()
    if ":" in addr:
        k.family = socket.AF_INET6
        ctypes.memmove(k.addr, socket.inet_pton(socket.AF_INET6, addr), 16)
    else:
        k.family = socket.AF_INET
        k.addr[0] = be32(addr)
    return k


def nh_entry(hop: tuple[int, str, str], gen: int) -> abi.NhEntry:
    e = abi.NhEntry()
    e.gen, e.ifindex = gen, hop[0]
    ctypes.memmove(e.smac, mac(hop[1]), 6)
    ctypes.memmove(e.dmac, mac(hop[2]), 6)
    return e


@dataclass
class Dut:
    """The loaded object and typed handles on its maps."""

    obj: BpfObject
    prog_fd: int
    maps: dict[str, Any] = field(default_factory=dict)
    gen: int = NH_GEN  # runtime.nh_gen; like the control plane, tests only ever increase it

    def set_gen(self, gen: int) -> None:
        """Move runtime.nh_gen (invalidating every cached next hop) and re-seed the cache."""
        rt = abi.Runtime()
        rt.nh_gen = self.gen = gen
        self.maps["runtime"].set(0, rt)
        seed_cache(self)

    def run(self, frame: bytes) -> tuple[int, bytes]:
        res = prog_test_run(self.prog_fd, frame, repeat=1)
        return res.retval, res.data

    def reason_count(self, reason: Reason) -> int:
        c = self.maps["xdp_stats"].get_sum((LO_IFINDEX & 255) * Reason.REASON_MAX + reason)
        return int(c.packets) if c is not None else 0

    def pdr_count(self, slot: int) -> tuple[int, int]:
        c = self.maps["pdr_stats"].get_sum(slot)
        return (int(c.packets), int(c.bytes)) if c is not None else (0, 0)


def configure(d: Dut) -> None:
    m = d.maps
    for addr, iface in ((P.N3_ADDR, Iface.ACCESS), (P.N9_ADDR, Iface.N9)):
        k = abi.LocalAddrKey()
        k.addr = be32(addr)
        v = abi.LocalAddr()
        v.iface = iface
        m["local_addrs"].set(k, v)
    for slot, f in FARS.items():
        far = abi.Far()
        far.action = int(f["action"])
        far.encap = int(f.get("encap", Encap.NONE))
        far.dst_iface = int(f.get("dst_iface", Iface.CORE))
        far.tos = f.get("tos", 0)
        far.teid = teid_be(f.get("teid", 0))
        far.peer_v4 = be32(f.get("peer", "0.0.0.0"))
        far.local_v4 = be32(f.get("local", "0.0.0.0"))
        m["fars"].set(slot, far)
    for slot, (ul, dl) in QERS.items():
        q = abi.Qer()
        q.gate_ul, q.gate_dl = ul, dl
        m["qers"].set(slot, q)
    for teid, rules in UPLINK.items():
        kt = abi.TeidKey()
        kt.teid = teid_be(teid)
        m["uplink_pdrs"].set(kt, pdr_set(rules))
    for index, (teid, rules) in BY_INDEX.items():
        m["uplink_by_teid"].set(index, pdr_set(rules, teid))
    for ue, rules in DOWNLINK_V4.items():
        k4 = abi.UeV4Key()
        k4.addr = be32(ue)
        m["downlink_pdrs_v4"].set(k4, pdr_set(rules))
    for prefix, rules in DOWNLINK_V6.items():
        k6 = abi.UeV6Key()
        ctypes.memmove(k6.prefix, socket.inet_pton(socket.AF_INET6, prefix)[:8], 8)
        m["downlink_pdrs_v6"].set(k6, pdr_set(rules))
    d.set_gen(NH_GEN)


def seed_cache(d: Dut) -> None:
    nh = d.maps["nh_cache"]
    for addr, hop in (
        (P.SERVER_V4, N6_HOP),
        (P.SERVER_V6, N6_HOP),
        (P.GNB_ADDR, N3_HOP),
        (P.PEER_UPF_ADDR, N9_HOP),
    ):
        nh.set(nh_key(addr), nh_entry(hop, d.gen))
    nh.set(nh_key(UNROUTED_V4), nh_entry(N6_HOP, d.gen - 1))  # stale


@pytest.fixture(scope="module")
def dut() -> Iterator[Dut]:
    if os.geteuid() != 0:
        pytest.skip("needs root (BPF)")
    if not OBJ.exists():
        pytest.skip(f"{OBJ} not built (make bpf)")
    with BpfObject.open(OBJ) as obj:
        for name, size in (
            ("uplink_pdrs", 256),
            ("uplink_by_teid", BY_INDEX_SIZE),
            ("downlink_pdrs_v4", 256),
            ("downlink_pdrs_v6", 256),
            ("fars", 256),
            ("qers", 256),
            ("pdr_stats", 256),
            ("nh_cache", 256),
        ):
            obj.map(name).set_max_entries(size)
        obj.load()
        d = Dut(obj, obj.program_fd("upf_xdp"))
        for name, spec in abi.MAPS.items():
            fd = obj.map(name).fd
            if spec.map_type == 6:  # PERCPU_ARRAY
                d.maps[name] = PerCpuArrayMap(fd, spec.value)
            elif spec.map_type == 2:  # ARRAY
                d.maps[name] = ArrayMap(fd, spec.value)
            else:
                d.maps[name] = Map(fd, spec.key, spec.value)
        configure(d)
        yield d


# ---------------------------------------------------------------------------
# Frame helpers


def ether(dst: str, src: str, payload: bytes, ethertype: int = 0x0800) -> bytes:
    return mac(dst) + mac(src) + struct.pack("!H", ethertype) + payload


def decapped(inner: Packet, hop: tuple[int, str, str] = N6_HOP, ttl_dec: int = 1) -> bytes:
    """The inner packet behind the next hop's Ethernet header, TTL decremented."""
    if IP in inner:
        return ether(hop[2], hop[1], P.with_ttl(inner, inner[IP].ttl - ttl_dec))
    return ether(hop[2], hop[1], P.with_ttl(inner, inner[IPv6].hlim - ttl_dec), 0x86DD)


def to_kernel(inner: Packet) -> bytes:
    """The inner packet, untouched, behind the received frame's own MACs."""
    return ether(P.MAC_UPF, P.MAC_PEER, bytes(inner), 0x0800 if IP in inner else 0x86DD)


def dl_expected(
    inner: Packet, teid: int, qfi: int | None, tos: int = 0, hop: tuple[int, str, str] = N3_HOP
) -> bytes:
    ttl = inner[IP].ttl if IP in inner else inner[IPv6].hlim
    return bytes(
        P.expected_gtpu_v4(
            eth_dst=hop[2],
            eth_src=hop[1],
            src=P.N3_ADDR,
            dst=P.GNB_ADDR,
            teid=teid,
            inner=P.with_ttl(inner, ttl - 1),
            qfi=qfi,
            pdu_type=P.PDU_TYPE_DL,
            tos=tos,
        )
    )


def patch(frame: bytes, offset: int, fmt: str, value: int) -> bytes:
    b = bytearray(frame)
    struct.pack_into(fmt, b, offset, value)
    return bytes(b)


def fix_ip_csum(frame: bytes, ip_off: int = 14) -> bytes:
    ihl = (frame[ip_off] & 0x0F) * 4
    b = bytearray(frame)
    b[ip_off + 10 : ip_off + 12] = b"\0\0"
    struct.pack_into("!H", b, ip_off + 10, checksum(bytes(b[ip_off : ip_off + ihl])))
    return bytes(b)


# ---------------------------------------------------------------------------
# The table

UNTOUCHED = b""  # expect: the output frame equals the input frame


@dataclass(frozen=True, slots=True)
class Row:
    desc: str
    frame: bytes
    verdict: Xdp
    reason: Reason
    expect: bytes = UNTOUCHED
    pdr_slot: int | None = None  # pdr_stats slot that must count the packet
    pdr_bytes: int = 0


def up(teid: int, inner: Packet, **kw: Any) -> bytes:
    """An N3 frame carrying inner to TEID teid; kw go to packets.gtpu."""
    return P.n3_frame(P.gtpu(teid, bytes(inner), **kw))


def rows() -> list[Row]:
    i1 = P.inner_v4(src=UE1)
    i2 = P.inner_v4(src=UE2)
    i3 = P.inner_v4(src=UE3)
    i4 = P.inner_v4(src=UE4)
    i6 = P.inner_v6()
    n1 = len(i1)
    qfi5 = P.ext_pdu_session(5)
    r: list[Row] = []

    def fwd(desc: str, frame: bytes, inner: Packet, slot: int) -> None:
        r.append(
            Row(desc, frame, Xdp.REDIRECT, Reason.FWD_UPLINK, decapped(inner), slot, len(inner))
        )

    # --- uplink decap, outer header removal flavours and extension header chains
    fwd("uplink OHR 0, no optional fields", up(0x100, i1), i1, 1)
    fwd("uplink OHR 6 (GTP-U/UDP/IP)", up(0x101, i2), i2, 2)
    fwd("uplink, S flag: optional fields but no extension", up(0x100, i1, seq=77), i1, 1)
    fwd("uplink, 1 ext header (PDU Session Container)", up(0x100, i1, exts=[qfi5]), i1, 1)
    fwd(
        "uplink, 2 ext headers (UDP Port, PDU Session Container)",
        up(0x100, i1, exts=[P.ext_udp_port(2152), qfi5]),
        i1,
        1,
    )
    fwd(
        "uplink, 4 ext headers (the most the fast path walks)",
        up(0x100, i1, exts=[P.ext_udp_port(1), P.ext_udp_port(2), P.ext_udp_port(3), qfi5]),
        i1,
        1,
    )
    fwd(
        "uplink, a 3-unit (12 octet) extension header is skipped by its length",
        up(0x100, i1, exts=[P.GtpExt(0x81, bytes(range(10))), qfi5]),
        i1,
        1,
    )
    fwd("uplink IPv6 UE (/64 source match), hop limit decremented", up(0x103, i6), i6, 5)
    fwd(
        "outer IPv4 options (Router Alert, IHL 6)",
        P.n3_frame(P.gtpu(0x100, bytes(i1)), ip_options=[IPOption_Router_Alert()]),
        i1,
        1,
    )
    fwd(
        "outer IPv4 options (40 octets, IHL 15)",
        P.n3_frame(P.gtpu(0x100, bytes(i1)), ip_options=[IPOption_NOP()] * 40),
        i1,
        1,
    )
    fwd("uplink with the QER gate open", up(0x100, i1, exts=[qfi5]), i1, 1)
    padded = up(0x100, P.inner_v4(src=UE1, size=0)) + b"\0" * 20
    r.append(
        Row(
            "uplink frame with Ethernet padding after the outer packet",
            padded,
            Xdp.REDIRECT,
            Reason.FWD_UPLINK,
            decapped(P.inner_v4(src=UE1, size=0)) + b"\0" * 20,
            1,
            28,
        )
    )

    # --- two PDRs on one TEID: precedence and QFI
    fwd(
        "QFI 5 matches both PDRs: the higher precedence one wins", up(0x102, i3, exts=[qfi5]), i3, 3
    )
    fwd(
        "QFI 5 after a UDP Port ext header still selects the QFI PDR",
        up(0x102, i3, exts=[P.ext_udp_port(9), qfi5]),
        i3,
        3,
    )
    fwd(
        "DL-type container with PPP/RQI bits: QFI is the low 6 bits",
        up(0x102, i3, exts=[P.GtpExt(P.EXT_PDU_SESSION, bytes([0x00, 0xC5]))]),
        i3,
        3,
    )
    fwd(
        "QFI 9: the QFI PDR fails, the catch-all matches",
        up(0x102, i3, exts=[P.ext_pdu_session(9)]),
        i3,
        4,
    )
    fwd("no PDU Session Container: the catch-all matches", up(0x102, i3), i3, 4)

    # --- N9 re-encapsulation
    for desc, kw, qfi in (
        (
            "N9 re-encap keeps the QFI in a fresh UL container",
            {"exts": [P.ext_udp_port(5), qfi5]},
            5,
        ),
        ("N9 re-encap without a container: plain G-PDU", {"seq": 9}, None),
    ):
        r.append(
            Row(
                desc,
                up(0x104, i4, **kw),
                Xdp.REDIRECT,
                Reason.FWD_UPLINK_N9,
                bytes(
                    P.expected_gtpu_v4(
                        eth_dst=N9_HOP[2],
                        eth_src=N9_HOP[1],
                        src=P.N9_ADDR,
                        dst=P.PEER_UPF_ADDR,
                        teid=N9_TEID,
                        inner=P.with_ttl(i4, 63),
                        qfi=qfi,
                        pdu_type=P.PDU_TYPE_UL,
                    )
                ),
                6,
                len(i4),
            )
        )

    r.append(
        Row(
            "N9 in, N3 out (I-UPF): the new container is a DL one",
            up(0x10F, i1, exts=[qfi5]),
            Xdp.REDIRECT,
            Reason.FWD_UPLINK_N9,
            bytes(
                P.expected_gtpu_v4(
                    eth_dst=N3_HOP[2],
                    eth_src=N3_HOP[1],
                    src=P.N3_ADDR,
                    dst=P.GNB_ADDR,
                    teid=IUPF_TEID,
                    inner=P.with_ttl(i1, 63),
                    qfi=5,
                    pdu_type=P.PDU_TYPE_DL,
                )
            ),
            16,
            n1,
        )
    )
    r.append(
        Row(
            "N9 re-encap of an IPv6 UE packet (hop limit decremented)",
            up(0x110, i6),
            Xdp.REDIRECT,
            Reason.FWD_UPLINK_N9,
            bytes(
                P.expected_gtpu_v4(
                    eth_dst=N9_HOP[2],
                    eth_src=N9_HOP[1],
                    src=P.N9_ADDR,
                    dst=P.PEER_UPF_ADDR,
                    teid=N9_TEID,
                    inner=P.with_ttl(i6, 63),
                )
            ),
            17,
            len(i6),
        )
    )
    fwd(
        "uplink, PN flag only: optional fields present",
        up(0x100, i1, flags=0x31, length=n1 + 4, seq=0),
        i1,
        1,
    )

    # --- TTL
    for ttl in (1, 0):
        t = P.inner_v4(src=UE1, ttl=ttl)
        r.append(
            Row(
                f"uplink inner TTL {ttl}: decapsulated, untouched, to the kernel",
                up(0x100, t),
                Xdp.PASS,
                Reason.PASS_TTL_EXPIRED,
                to_kernel(t),
                1,
                len(t),
            )
        )
    t6 = P.inner_v6(hlim=1)
    r.append(
        Row(
            "uplink IPv6 hop limit 1",
            up(0x103, t6),
            Xdp.PASS,
            Reason.PASS_TTL_EXPIRED,
            to_kernel(t6),
            5,
            len(t6),
        )
    )
    t4 = P.inner_v4(src=UE4, ttl=1)
    r.append(
        Row(
            "N9 inner TTL 1: decapsulated to the kernel",
            up(0x104, t4),
            Xdp.PASS,
            Reason.PASS_TTL_EXPIRED,
            to_kernel(t4),
            6,
            len(t4),
        )
    )

    # --- rule and FAR outcomes
    def drop(
        desc: str, frame: bytes, reason: Reason, slot: int | None = None, nbytes: int = n1
    ) -> None:
        r.append(Row(desc, frame, Xdp.DROP, reason, UNTOUCHED, slot, nbytes if slot else 0))

    drop("unknown TEID", up(0x999, i1), Reason.DROP_UNKNOWN_TEID)
    drop(
        "spoofed inner IPv4 source",
        up(0x100, P.inner_v4(src="10.60.0.99")),
        Reason.DROP_SPOOFED_SRC,
    )
    drop(
        "spoofed source on a TEID with two PDRs (QFI PDR first)",
        up(0x102, P.inner_v4(src="10.60.9.9"), exts=[qfi5]),
        Reason.DROP_SPOOFED_SRC,
    )
    drop(
        "spoofed inner IPv6 /64",
        up(0x103, P.inner_v6(src="2001:db8:99::1")),
        Reason.DROP_SPOOFED_SRC,
    )
    drop("IPv4 packet on an IPv6-only PDR", up(0x103, i1), Reason.DROP_SPOOFED_SRC)
    drop(
        "QFI-only PDR, other QFI: no PDR match",
        up(0x10C, i1, exts=[qfi5]),
        Reason.DROP_NO_PDR_MATCH,
    )
    drop("TEID with an empty rule set", up(0x10E, i1), Reason.DROP_NO_PDR_MATCH)

    # --- TEIDs we allocated: uplink_by_teid[index], valid only for the TEID it holds
    fwd("our TEID (CHOOSE), found in uplink_by_teid", up(ch_teid(CH_GEN, 5), i1), i1, 40)
    drop(
        "our TEID, spoofed source: same checks as the hash path",
        up(ch_teid(CH_GEN, 5), i2),
        Reason.DROP_SPOOFED_SRC,
    )
    drop(
        "stale TEID (older generation, same index): slot ignored, not in the hash",
        up(ch_teid(CH_GEN - 1, 5), i1),
        Reason.DROP_UNKNOWN_TEID,
    )
    fwd("SMF TEID whose index bits hit a slot of another TEID: hash", up(0x5, i2), i2, 41)
    drop(
        "slot with its TEID but count 0: ignored, not in the hash",
        up(ch_teid(CH_GEN, 6), i1),
        Reason.DROP_UNKNOWN_TEID,
    )
    drop(
        "index 0 is never read, even when the slot holds the TEID",
        up(ch_teid(CH_GEN, 0), i1),
        Reason.DROP_UNKNOWN_TEID,
    )
    drop("G-PDU on TEID 0", up(0, i1), Reason.DROP_UNKNOWN_TEID)
    drop(
        "index of an empty slot, not in the hash",
        up(ch_teid(CH_GEN, 9), i1),
        Reason.DROP_UNKNOWN_TEID,
    )
    fwd("index beyond uplink_by_teid: the hash answers", up(0x01FFFFFF, i1), i1, 42)
    r.append(
        Row(
            "our TEID to an N9 FAR: re-encapsulated",
            up(ch_teid(CH_GEN, 7), i4, exts=[qfi5]),
            Xdp.REDIRECT,
            Reason.FWD_UPLINK_N9,
            bytes(
                P.expected_gtpu_v4(
                    eth_dst=N9_HOP[2],
                    eth_src=N9_HOP[1],
                    src=P.N9_ADDR,
                    dst=P.PEER_UPF_ADDR,
                    teid=N9_TEID,
                    inner=P.with_ttl(i4, 63),
                    qfi=5,
                    pdu_type=P.PDU_TYPE_UL,
                )
            ),
            43,
            len(i4),
        )
    )
    drop("FAR DROP", up(0x105, i1), Reason.DROP_FAR_DROP, 7)
    drop("FAR BUFF", up(0x106, i1), Reason.DROP_FAR_BUFF, 8)
    drop("FAR NOCP", up(0x107, i1), Reason.DROP_FAR_NOCP, 9)
    drop("FAR BUFF+NOCP counts as BUFF", up(0x10D, i1), Reason.DROP_FAR_BUFF, 15)
    drop("PDR pointing at an empty FAR slot", up(0x108, i1), Reason.DROP_NO_FAR, 10)
    drop("uplink QER gate closed", up(0x109, i1), Reason.DROP_GATE_CLOSED, 11)
    drop("FORW without encap and no GTP-U OHR", up(0x10A, i1), Reason.DROP_UNSUPPORTED, 12)
    drop(
        "G-PDU carrying a non-IP PDU",
        P.n3_frame(P.gtpu(0x100, b"\x01\x02\x03\x04" * 8)),
        Reason.DROP_UNSUPPORTED,
    )

    # --- GTP-U signalling and broken GTP-U
    r.append(
        Row(
            "Echo Request answered with an Echo Response (Recovery IE)",
            P.echo_request(0x1234),
            Xdp.TX,
            Reason.TX_ECHO_RESPONSE,
            bytes(
                Ether(dst=P.MAC_PEER, src=P.MAC_UPF)
                / IP(src=P.N3_ADDR, dst=P.GNB_ADDR, ttl=64, id=7)
                / UDP(sport=P.GTPU_PORT, dport=33333, chksum=0)
                / GTP_U_Header(gtp_type=P.ECHO_RESPONSE, S=1, seq=0x1234, teid=0)
                / GTPEchoResponse(IE_list=[IE_Recovery(restart_counter=0)])
            ),
        )
    )
    r.append(
        Row(
            "Echo Request to the N9 address with IP options and a Private Extension",
            P.n3_frame(
                P.gtpu(0, b"\xff\x00\x06\x00\x01abcd", msg_type=P.ECHO_REQUEST, seq=0xBEEF),
                dst=P.N9_ADDR,
                src=P.PEER_UPF_ADDR,
                ip_options=[IPOption_Router_Alert()],
            ),
            Xdp.TX,
            Reason.TX_ECHO_RESPONSE,
            bytes(
                Ether(dst=P.MAC_PEER, src=P.MAC_UPF)
                / IP(
                    src=P.N9_ADDR,
                    dst=P.PEER_UPF_ADDR,
                    ttl=64,
                    id=7,
                    options=[IPOption_Router_Alert()],
                )
                / UDP(sport=P.GTPU_PORT, dport=P.GTPU_PORT, chksum=0)
                / GTP_U_Header(gtp_type=P.ECHO_RESPONSE, S=1, seq=0xBEEF, teid=0)
                / GTPEchoResponse(IE_list=[IE_Recovery(restart_counter=0)])
            ),
        )
    )
    for desc, mt in (
        ("Echo Response", P.ECHO_RESPONSE),
        ("Error Indication", P.ERROR_INDICATION),
        ("End Marker", P.END_MARKER),
        ("unknown message type 31", 31),
    ):
        r.append(
            Row(
                f"{desc} goes to the kernel",
                P.n3_frame(P.gtpu(0x100, b"", msg_type=mt, seq=1)),
                Xdp.PASS,
                Reason.PASS_GTPU_SIGNALLING,
            )
        )
    r.append(
        Row(
            "Echo Request without the S flag: answered with sequence 0",
            P.n3_frame(P.gtpu(0, msg_type=P.ECHO_REQUEST), sport=40001),
            Xdp.TX,
            Reason.TX_ECHO_RESPONSE,
            bytes(
                Ether(dst=P.MAC_PEER, src=P.MAC_UPF)
                / IP(src=P.N3_ADDR, dst=P.GNB_ADDR, ttl=64, id=7)
                / UDP(sport=P.GTPU_PORT, dport=40001, chksum=0)
                / GTP_U_Header(gtp_type=P.ECHO_RESPONSE, S=1, seq=0, teid=0)
                / GTPEchoResponse(IE_list=[IE_Recovery(restart_counter=0)])
            ),
        )
    )
    drop("GTP version 2", up(0x100, i1, flags=0x48), Reason.DROP_BAD_GTPU)
    drop("GTP' (PT 0)", up(0x100, i1, flags=0x20), Reason.DROP_BAD_GTPU)
    drop(
        "extension header of length 0",
        up(0x100, i1, exts=[P.GtpExt(P.EXT_UDP_PORT, b"\0\0", length=0)]),
        Reason.DROP_BAD_GTPU,
    )
    drop(
        "5 extension headers: longer than the fast path walks",
        up(0x100, i1, exts=[P.ext_udp_port(n) for n in range(4)] + [qfi5]),
        Reason.DROP_BAD_GTPU,
    )

    # --- lengths that lie
    base = up(0x100, i1)
    drop(
        "GTP-U length larger than the UDP payload",
        up(0x100, i1, length=n1 + 1),
        Reason.DROP_BAD_LENGTH,
    )
    drop(
        "GTP-U length shorter than its optional fields",
        up(0x100, i1, seq=1, length=3),
        Reason.DROP_BAD_LENGTH,
    )
    drop(
        "UDP length larger than the IP payload",
        patch(base, 38, "!H", len(base) - 34 + 1),
        Reason.DROP_BAD_LENGTH,
    )
    drop("UDP length below 8", patch(base, 38, "!H", 7), Reason.DROP_BAD_LENGTH)
    drop(
        "IPv4 total length larger than the frame",
        fix_ip_csum(patch(base, 16, "!H", len(base) - 14 + 1)),
        Reason.DROP_BAD_LENGTH,
    )
    drop(
        "IPv4 total length below the header",
        fix_ip_csum(patch(base, 16, "!H", 19)),
        Reason.DROP_BAD_LENGTH,
    )
    long_inner = fix_ip_csum(patch(bytes(i1), 2, "!H", n1 + 4), ip_off=0)
    drop(
        "inner IPv4 total length larger than the T-PDU",
        P.n3_frame(P.gtpu(0x100, long_inner)),
        Reason.DROP_BAD_LENGTH,
    )
    drop("IPv4 IHL below 5", patch(base, 14, "!B", 0x44), Reason.DROP_MALFORMED)

    # --- fragments, foreign traffic
    drop(
        "outer fragment (MF)",
        P.n3_frame(P.gtpu(0x100, bytes(i1)), ip_flags=1),
        Reason.DROP_FRAGMENT,
    )
    drop(
        "outer fragment (offset 185)",
        P.n3_frame(P.gtpu(0x100, bytes(i1)), frag=185),
        Reason.DROP_FRAGMENT,
    )
    for desc, frame, reason in (
        ("ARP", P.arp_frame(), Reason.PASS_NOT_IP),
        (
            "PFCP to our N3 address (UDP 8805)",
            P.n3_frame(b"\x21\x01\x00\x0c" + b"\0" * 12, dport=8805, sport=8805),
            Reason.PASS_NOT_UPF,
        ),
        (
            "GTP-U to an address that is not ours",
            P.n3_frame(P.gtpu(0x100, bytes(i1)), dst="10.0.3.77"),
            Reason.PASS_NOT_UPF,
        ),
        (
            "fragment to an address that is not ours",
            P.n3_frame(P.gtpu(0x100, bytes(i1)), dst="10.0.3.77", ip_flags=1),
            Reason.PASS_NOT_UPF,
        ),
        (
            "IPv4 to nobody we know",
            P.n6_frame(P.inner_v4(src=P.SERVER_V4, dst="192.0.2.77")),
            Reason.PASS_NOT_UPF,
        ),
        (
            "IPv6 to nobody we know",
            P.n6_frame(P.inner_v6(src=P.SERVER_V6, dst="2001:db8:77::1")),
            Reason.PASS_NOT_UPF,
        ),
        ("GTP-U over IPv6", P.n3_frame_v6(P.gtpu(0x100, bytes(i1))), Reason.PASS_OUTER_IPV6),
    ):
        r.append(Row(desc, frame, Xdp.PASS, reason))

    # --- downlink
    p1 = P.inner_v4(src=P.SERVER_V4, dst=UE1)
    p5 = P.inner_v4(src=P.SERVER_V4, dst=UE_DL_NOQFI)
    p6 = P.inner_v6(src=P.SERVER_V6, dst=P.UE_V6_PREFIX + "1")
    ping = P.ping_to_ue(UE1)
    dl = Reason.FWD_DOWNLINK
    r += [
        Row(
            "downlink IPv4 UE, QFI 9 in a DL container, TOS from the FAR",
            P.n6_frame(p1),
            Xdp.REDIRECT,
            dl,
            dl_expected(p1, DL_TEID, 9, DL_TOS),
            20,
            len(p1),
        ),
        Row(
            "downlink IPv4 UE without a container",
            P.n6_frame(p5),
            Xdp.REDIRECT,
            dl,
            dl_expected(p5, DL_TEID_NOQFI, None),
            21,
            len(p5),
        ),
        Row(
            "downlink IPv6 UE (/64), QFI 6",
            P.n6_frame(p6),
            Xdp.REDIRECT,
            dl,
            dl_expected(p6, DL_TEID_V6, 6),
            22,
            len(p6),
        ),
        Row(
            "downlink 28-byte ping in a padded 60-byte frame: lengths from the IP header",
            P.n6_frame(ping) + b"\0" * 18,
            Xdp.REDIRECT,
            dl,
            dl_expected(ping, DL_TEID, 9, DL_TOS) + b"\0" * 18,
            20,
            len(ping),
        ),
        Row(
            "downlink inner TTL 1: untouched to the kernel",
            P.n6_frame(P.inner_v4(src=P.SERVER_V4, dst=UE1, ttl=1)),
            Xdp.PASS,
            Reason.PASS_TTL_EXPIRED,
            UNTOUCHED,
            20,
            len(p1),
        ),
        Row(
            "downlink IPv6 hop limit 1",
            P.n6_frame(P.inner_v6(src=P.SERVER_V6, dst=P.UE_V6_PREFIX + "1", hlim=1)),
            Xdp.PASS,
            Reason.PASS_TTL_EXPIRED,
            UNTOUCHED,
            22,
            len(p6),
        ),
    ]
    drop(
        "downlink to a UE address with no PDR (empty set)",
        P.n6_frame(P.inner_v4(src=P.SERVER_V4, dst=UE_EMPTY)),
        Reason.DROP_UNKNOWN_UE,
    )
    drop(
        "downlink QER gate closed",
        P.n6_frame(P.inner_v4(src=P.SERVER_V4, dst=UE_GATE)),
        Reason.DROP_GATE_CLOSED,
        23,
    )
    drop(
        "downlink FAR DROP",
        P.n6_frame(P.inner_v4(src=P.SERVER_V4, dst=UE_FARDROP)),
        Reason.DROP_FAR_DROP,
        24,
    )
    drop(
        "downlink: only an SDF-filtered PDR (SDF not in the fast path)",
        P.n6_frame(P.inner_v4(src=P.SERVER_V4, dst="10.60.0.10")),
        Reason.DROP_NO_PDR_MATCH,
    )
    drop(
        "downlink FAR without encapsulation (N6 to N6 is not in the fast path)",
        P.n6_frame(P.inner_v4(src=P.SERVER_V4, dst="10.60.0.11")),
        Reason.DROP_UNSUPPORTED,
        27,
    )
    p6gtp = (
        IPv6(src=P.SERVER_V6, dst=P.UE_V6_PREFIX + "2")
        / UDP(sport=P.GTPU_PORT, dport=P.GTPU_PORT)
        / Raw(b"to-a-ue" * 4)
    )
    r.append(
        Row(
            "IPv6 UDP 2152 to a UE prefix is downlink traffic, not outer GTP-U",
            P.n6_frame(p6gtp),
            Xdp.REDIRECT,
            dl,
            dl_expected(p6gtp, DL_TEID_V6, 6),
            22,
            len(p6gtp),
        )
    )
    drop(
        "downlink IPv4 total length larger than the frame",
        fix_ip_csum(patch(P.n6_frame(p1), 16, "!H", len(p1) + 1)),
        Reason.DROP_BAD_LENGTH,
    )
    return r


TABLE = rows()


def _fields(layer: Packet) -> dict[str, Any]:
    return {k: v for k, v in layer.fields.items() if not isinstance(v, Packet)}


def assert_same_frame(actual: bytes, expected: bytes, *, checksums: bool = True) -> None:
    """Dissect both with scapy and compare layer by layer, field by field; then
    check every IPv4 header checksum of the output; then the bytes."""
    a: Packet | NoPayload = Ether(actual)
    e: Packet | NoPayload = Ether(expected)
    depth = 0
    while not isinstance(e, NoPayload):
        assert type(a) is type(e), f"layer {depth}: {a.name} != {e.name}"
        assert isinstance(a, Packet)
        assert _fields(a) == _fields(e), f"layer {depth} ({e.name}): {_fields(a)} != {_fields(e)}"
        a, e = a.payload, e.payload
        depth += 1
    assert isinstance(a, NoPayload), f"output has extra layers: {a!r}"
    layer: Packet | NoPayload = Ether(actual)
    while checksums and not isinstance(layer, NoPayload):
        if isinstance(layer, IP):
            hdr = bytes(layer)[: layer.ihl * 4]
            assert checksum(hdr) == 0, f"bad IPv4 header checksum in {layer.summary()}"
        layer = layer.payload
    assert actual == expected


def run_row(dut: Dut, row: Row) -> None:
    before = {r: dut.reason_count(r) for r in Reason if r != Reason.REASON_MAX}
    pdr_before = dut.pdr_count(row.pdr_slot) if row.pdr_slot is not None else (0, 0)
    retval, out = dut.run(row.frame)
    moved = [r for r, n in before.items() if dut.reason_count(r) != n]
    assert (Xdp(retval), moved) == (row.verdict, [row.reason]), row.desc
    if row.pdr_slot is not None:
        pk, by = dut.pdr_count(row.pdr_slot)
        assert (pk - pdr_before[0], by - pdr_before[1]) == (1, row.pdr_bytes), "pdr_stats"
    if row.expect == UNTOUCHED:
        assert_same_frame(out, row.frame, checksums=False)
    else:
        assert_same_frame(out, row.expect)


@pytest.mark.parametrize("row", TABLE, ids=[r.desc for r in TABLE])
def test_table(dut: Dut, row: Row) -> None:
    run_row(dut, row)


# ---------------------------------------------------------------------------
# Truncation at every layer

# The base: Eth 14 | IPv4 20 | UDP 8 | GTP-U 8 | opt 4 | ext 4 | ext 4 | inner IPv4 20 + 8 + 16
TRUNC_BASE = up(0x100, P.inner_v4(src=UE1, size=16), exts=[P.ext_udp_port(1), P.ext_pdu_session(5)])
INNER_OFF = 62
LAYER_AT = [
    (14, "IPv4"),
    (34, "UDP"),
    (42, "GTP-U"),
    (50, "GTP-U optional"),
    (54, "ext 1"),
    (58, "ext 2"),
    (62, "inner IPv4"),
    (82, "inner payload"),
]


def layer_of(cut: int) -> str:
    return [name for off, name in LAYER_AT if cut >= off][-1]


def consistent_cut(cut: int) -> bytes:
    """Cut the frame and make every enclosing length field agree with the cut."""
    f = TRUNC_BASE[:cut]
    if cut >= 34:
        f = fix_ip_csum(patch(f, 16, "!H", cut - 14))
    if cut >= 42:
        f = patch(f, 38, "!H", cut - 34)
    if cut >= 50:
        f = patch(f, 44, "!H", cut - 50)
    return f


@pytest.mark.parametrize("cut", range(14, len(TRUNC_BASE)), ids=lambda c: f"cut{c}-{layer_of(c)}")
def test_truncated_consistent_lengths(dut: Dut, cut: int) -> None:
    """Lengths agree with the cut: a header cut short is MALFORMED; a cut inside
    the inner packet leaves its IP total length lying: BAD_LENGTH."""
    reason = Reason.DROP_MALFORMED if cut < INNER_OFF + 20 else Reason.DROP_BAD_LENGTH
    frame = consistent_cut(cut)
    run_row(dut, Row(f"cut {cut}", frame, Xdp.DROP, reason))


@pytest.mark.parametrize("cut", range(14, len(TRUNC_BASE)), ids=lambda c: f"cut{c}-{layer_of(c)}")
def test_truncated_frame(dut: Dut, cut: int) -> None:
    """Only the frame is cut: inside the IPv4 header MALFORMED, after it the
    IPv4 total length lies: BAD_LENGTH."""
    reason = Reason.DROP_MALFORMED if cut < 34 else Reason.DROP_BAD_LENGTH
    run_row(dut, Row(f"cut {cut}", TRUNC_BASE[:cut], Xdp.DROP, reason))


def test_complete_trunc_base_forwards(dut: Dut) -> None:
    """The uncut base of the truncation tests is a good packet."""
    assert consistent_cut(len(TRUNC_BASE)) == TRUNC_BASE
    retval, _ = dut.run(TRUNC_BASE)
    assert retval == Xdp.REDIRECT


# ---------------------------------------------------------------------------
# The FIB path, in a namespace of our own


@contextlib.contextmanager
def own_netns() -> Iterator[str]:
    """This thread in a fresh namespace for the block (sysctl writes land there)."""
    with Topology("upfxdp") as topo:
        ns = topo.netns("fib")
        outer = os.stat("/proc/thread-self/ns/net").st_ino
        with ns.entered():
            # sysctl writes below must land in the new namespace, never the host's
            assert os.stat("/proc/thread-self/ns/net").st_ino != outer
            yield ns.name


def set_forwarding(on: bool) -> None:
    for dev in ("all", "lo"):
        Path(f"/proc/sys/net/ipv4/conf/{dev}/forwarding").write_text("1" if on else "0")


def test_fib_paths(dut: Dut) -> None:
    """nh_cache miss -> bpf_fib_lookup, per result; a SUCCESS is cached and used
    until runtime.nh_gen moves."""
    from pyroute2 import IPRoute

    inner = P.inner_v4(src=UE1, dst=UNROUTED_V4)
    frame = up(0x10B, inner)
    nh = dut.maps["nh_cache"]
    with own_netns(), IPRoute() as ipr:
        # forwarding off on the ingress device: the kernel decides (PASS, TTL untouched)
        set_forwarding(False)
        run_row(
            dut,
            Row(
                "fwd disabled",
                frame,
                Xdp.PASS,
                Reason.PASS_NO_NEIGH,
                to_kernel(inner),
                13,
                len(inner),
            ),
        )
        # forwarding on, no route at all
        set_forwarding(True)
        run_row(dut, Row("no route", frame, Xdp.DROP, Reason.DROP_NO_ROUTE))
        # a route via a gateway whose neighbour is unresolved
        ipr.link("add", ifname="upfv0", kind="veth", peer={"ifname": "upfv1"})
        idx = ipr.link_lookup(ifname="upfv0")[0]
        ipr.link("set", index=idx, state="up", address="02:00:00:00:aa:01")
        ipr.addr("add", index=idx, address="192.0.2.1", prefixlen=24)
        ipr.route("add", dst="203.0.113.0/24", gateway="192.0.2.2")
        ipr.route("add", dst="10.0.3.99/32", gateway="192.0.2.2")
        run_row(
            dut,
            Row(
                "no neigh", frame, Xdp.PASS, Reason.PASS_NO_NEIGH, to_kernel(inner), 13, len(inner)
            ),
        )
        ipr.route("add", dst="203.0.113.128/25", type="blackhole")
        bh = P.inner_v4(src=UE1, dst="203.0.113.200")
        run_row(dut, Row("blackhole", up(0x10B, bh), Xdp.DROP, Reason.DROP_NO_ROUTE))
        # downlink with an unresolved gNB: encapsulated (inner TTL decremented), to the kernel
        dlp = P.inner_v4(src=P.SERVER_V4, dst=UE_FIB)
        dl_pass = bytes(
            P.expected_gtpu_v4(
                eth_dst=P.MAC_UPF,
                eth_src=P.MAC_PEER,
                src=P.N3_ADDR,
                dst=UNROUTED_PEER,
                teid=DL_TEID_FIB,
                inner=P.with_ttl(dlp, 63),
                qfi=None,
            )
        )
        run_row(
            dut,
            Row(
                "dl no neigh",
                P.n6_frame(dlp),
                Xdp.PASS,
                Reason.PASS_NO_NEIGH,
                dl_pass,
                25,
                len(dlp),
            ),
        )
        # resolved: redirected, and the result cached under the current generation
        ipr.neigh("add", dst="192.0.2.2", lladdr="02:00:00:00:aa:02", ifindex=idx, state=0x80)
        hop = (idx, "02:00:00:00:aa:01", "02:00:00:00:aa:02")
        run_row(
            dut,
            Row(
                "resolved",
                frame,
                Xdp.REDIRECT,
                Reason.FWD_UPLINK,
                decapped(inner, hop),
                13,
                len(inner),
            ),
        )
        cached = nh.get(nh_key(UNROUTED_V4))
        assert cached is not None
        assert (cached.gen, cached.ifindex, bytes(cached.dmac)) == (dut.gen, idx, mac(hop[2]))
        # the cache answers while the generation holds, even after the neighbour is gone
        ipr.neigh("del", dst="192.0.2.2", ifindex=idx)
        run_row(
            dut,
            Row(
                "cached",
                frame,
                Xdp.REDIRECT,
                Reason.FWD_UPLINK,
                decapped(inner, hop),
                13,
                len(inner),
            ),
        )
        # a new generation invalidates it: back to the FIB, which has no neighbour now
        try:
            dut.set_gen(dut.gen + 1)
            run_row(
                dut,
                Row(
                    "stale", frame, Xdp.PASS, Reason.PASS_NO_NEIGH, to_kernel(inner), 13, len(inner)
                ),
            )
        finally:
            dut.set_gen(dut.gen + 1)


def test_local_addr_removal_takes_effect_with_a_gen_bump(dut: Dut) -> None:
    """A removed local address stops being ours once nh_gen moves, although
    the per-CPU memo had just seen it."""
    frame = P.n3_frame(P.gtpu(0x100, bytes(P.inner_v4(src=UE1))), dst=P.N9_ADDR)
    la = dut.maps["local_addrs"]
    k = abi.LocalAddrKey()
    k.addr = be32(P.N9_ADDR)
    saved = la.get(k)
    assert saved is not None
    assert dut.run(frame)[0] == Xdp.REDIRECT  # memoized as local
    la.delete(k)
    try:
        dut.set_gen(dut.gen + 1)
        run_row(dut, Row("no longer local", frame, Xdp.PASS, Reason.PASS_NOT_UPF))
    finally:
        la.set(k, saved)


def test_every_struct_and_enum_in_btf() -> None:
    """upf_shared.h's types all reach the object's BTF (the ABI mirror needs them)."""
    import subprocess

    if not OBJ.exists():
        pytest.skip("not built")
    out = subprocess.run(
        ["bpftool", "btf", "dump", "file", str(OBJ)], capture_output=True, text=True, check=True
    ).stdout
    for name in (
        "upf_reason",
        "upf_limits",
        "upf_apply_action",
        "upf_ohr",
        "upf_encap",
        "upf_iface",
        "upf_pdr_flags",
    ):
        assert f"ENUM '{name}'" in out
    for name in (
        "pdr_rule",
        "pdr_set",
        "teid_key",
        "ue_v4_key",
        "ue_v6_key",
        "far",
        "qer",
        "local_addr_key",
        "local_addr",
        "counter",
        "nh_key",
        "nh_entry",
        "runtime",
    ):
        assert f"STRUCT '{name}'" in out


def test_outputs_dissect_cleanly_in_tshark(dut: Dut, tmp_path: Path) -> None:
    """Wireshark's dissector, independent of scapy and of us, reads every frame
    the fast path built (forwarded, re-encapsulated, echoed) without a malformed
    flag and finds the TEIDs and QFIs we meant."""
    import shutil
    import subprocess

    from scapy.utils import wrpcap

    if shutil.which("tshark") is None:
        pytest.skip("tshark not installed")
    built = [r for r in TABLE if r.verdict in (Xdp.REDIRECT, Xdp.TX)]
    outs = [Ether(dut.run(r.frame)[1]) for r in built]
    pcap = tmp_path / "out.pcap"
    wrpcap(str(pcap), outs)
    malformed = subprocess.run(
        ["tshark", "-r", str(pcap), "-Y", "_ws.malformed || _ws.expert.severity >= error"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert malformed == ""
    fields = subprocess.run(
        [
            "tshark",
            "-r",
            str(pcap),
            "-T",
            "fields",
            "-e",
            "gtp.teid",
            "-e",
            "gtp.ext_hdr.pdu_ses_con.qos_flow_id",
            "-e",
            "gtp.message",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()
    seen = {tuple(line.split("\t")) for line in fields}
    assert (f"0x{DL_TEID:08x}", "9", "0xff") in seen
    assert (f"0x{DL_TEID_NOQFI:08x}", "", "0xff") in seen
    assert (f"0x{DL_TEID_V6:08x}", "6", "0xff") in seen
    assert (f"0x{N9_TEID:08x}", "5", "0xff") in seen
    assert ("0x00000000", "", "0x02") in seen  # Echo Response


def verdict_of(reason: Reason) -> Xdp:
    """The XDP action every reason must come with (the enum's own grouping)."""
    if reason in (Reason.FWD_UPLINK, Reason.FWD_UPLINK_N9, Reason.FWD_DOWNLINK):
        return Xdp.REDIRECT
    if reason == Reason.TX_ECHO_RESPONSE:
        return Xdp.TX
    return Xdp.DROP if reason >= Reason.DROP_MALFORMED else Xdp.PASS


def test_mutated_frames_are_always_counted(dut: Dut) -> None:
    """Frames of the table with bytes overwritten and tails cut: the program never
    aborts, and every run moves exactly one reason counter, whose verdict it returns.
    Runs in a namespace of its own, forwarding off, so any FIB lookup stays there."""
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    bases = [r.frame for r in TABLE]

    @settings(max_examples=400, deadline=None, suppress_health_check=list(HealthCheck))
    @given(
        base=st.sampled_from(bases),
        edits=st.lists(st.tuples(st.integers(0, 127), st.integers(0, 255)), max_size=4),
        cut=st.integers(0, 40),
    )
    def check(base: bytes, edits: list[tuple[int, int]], cut: int) -> None:
        b = bytearray(base)
        for off, val in edits:
            if off < len(b):
                b[off] = val
        frame = bytes(b[: max(14, len(b) - cut)])
        before = {r: dut.reason_count(r) for r in Reason if r != Reason.REASON_MAX}
        retval, _ = dut.run(frame)
        moved = {r: dut.reason_count(r) - n for r, n in before.items() if dut.reason_count(r) != n}
        assert len(moved) == 1, moved
        ((reason, n),) = moved.items()
        assert (n, Xdp(retval)) == (1, verdict_of(reason)), frame.hex()

    with own_netns():
        set_forwarding(False)
        check()
