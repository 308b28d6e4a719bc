"""Scapy builders for the datapath packet tables: the addresses of a small test
world and frames as a gNB, a peer UPF or a data network would send them.

GTP-U headers of the *input* frames are assembled here byte by byte (TS 29.281
5.1/5.2), so that a test can build any flag combination, extension-header chain
or lying length field; the *expected* output frames are built with scapy's own
GTP classes (scapy.contrib.gtp), an implementation independent of ours.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from dataclasses import dataclass

from scapy.contrib.gtp import GTP_U_Header, GTPPDUSessionContainer
from scapy.layers.inet import ICMP, IP, UDP
from scapy.layers.inet6 import IPv6
from scapy.layers.l2 import ARP, Ether
from scapy.packet import Packet, Raw

GTPU_PORT = 2152

# GTP-U message types (TS 29.281 6.1) and extension header types (5.2.1).
ECHO_REQUEST = 1
ECHO_RESPONSE = 2
ERROR_INDICATION = 26
END_MARKER = 254
G_PDU = 255
EXT_UDP_PORT = 0x40
EXT_PDU_SESSION = 0x85

# PDU Session Container PDU types (TS 38.415 5.5.2).
PDU_TYPE_DL = 0
PDU_TYPE_UL = 1

# The test world: MACs of the wire the frame arrived on, our GTP-U addresses,
# the gNB, a peer UPF on N9, a server on N6 and the UEs.
MAC_UPF = "02:00:00:00:00:01"  # our own interface: the received frame's destination
MAC_PEER = "02:00:00:00:00:02"  # the sender of the received frame
N3_ADDR = "10.0.3.1"
N9_ADDR = "10.0.9.1"
GNB_ADDR = "10.0.3.2"
PEER_UPF_ADDR = "10.0.9.2"
SERVER_V4 = "198.51.100.10"
SERVER_V6 = "2001:db8:100::10"
UE_V6_PREFIX = "2001:db8:60:1::"


@dataclass(frozen=True, slots=True)
class GtpExt:
    """One GTP-U extension header: its type and content (without the length
    octet and the next-type octet); content is zero-padded to 4n - 2 octets.
    length overrides the length octet (in 4-octet units) to build broken chains."""

    ext_type: int
    content: bytes
    length: int | None = None


def ext_pdu_session(qfi: int, pdu_type: int = PDU_TYPE_UL) -> GtpExt:
    """PDU Session Container (TS 38.415 5.5.2): PDU type, then QFI in the low 6 bits."""
    return GtpExt(EXT_PDU_SESSION, bytes([pdu_type << 4, qfi & 0x3F]))


def ext_udp_port(port: int) -> GtpExt:
    """UDP Port extension header (TS 29.281 5.2.2.1)."""
    return GtpExt(EXT_UDP_PORT, struct.pack("!H", port))


def gtpu(
    teid: int,
    payload: bytes = b"",
    *,
    msg_type: int = G_PDU,
    seq: int | None = None,
    exts: Sequence[GtpExt] = (),
    flags: int | None = None,
    length: int | None = None,
) -> bytes:
    """A GTP-U header (+ payload). The optional 4 octets are present when seq is
    given or there are extension headers; flags and length override the computed ones."""
    opt = b""
    ext_bytes = b""
    f = 0x30  # version 1, PT 1
    if seq is not None or exts:
        if seq is not None:
            f |= 0x02
        if exts:
            f |= 0x04
        opt = struct.pack("!HBB", seq or 0, 0, exts[0].ext_type if exts else 0)
        for i, ext in enumerate(exts):
            nxt = exts[i + 1].ext_type if i + 1 < len(exts) else 0
            body = ext.content + b"\x00" * ((-(len(ext.content) + 2)) % 4)
            units = ext.length if ext.length is not None else (len(body) + 2) // 4
            ext_bytes += bytes([units]) + body + bytes([nxt])
    rest = opt + ext_bytes + payload
    hdr = struct.pack(
        "!BBHI",
        f if flags is None else flags,
        msg_type,
        len(rest) if length is None else length,
        teid,
    )
    return hdr + rest


def inner_v4(src: str = "10.60.0.1", dst: str = SERVER_V4, ttl: int = 64, size: int = 64) -> Packet:
    """A UE's IPv4 packet (UDP with a recognisable payload of `size` bytes)."""
    return (
        IP(src=src, dst=dst, ttl=ttl, id=0x4242)
        / UDP(sport=40000, dport=5001)
        / Raw(bytes((i * 7) & 0xFF for i in range(size)))
    )


def inner_v6(src: str = UE_V6_PREFIX + "1", dst: str = SERVER_V6, hlim: int = 64) -> Packet:
    """A UE's IPv6 packet."""
    return IPv6(src=src, dst=dst, hlim=hlim) / UDP(sport=40000, dport=5001) / Raw(b"v6-payload" * 4)


def n3_frame(
    gtp: bytes,
    *,
    dst: str = N3_ADDR,
    src: str = GNB_ADDR,
    sport: int = GTPU_PORT,
    dport: int = GTPU_PORT,
    ip_options: Sequence[Packet] | None = None,
    ip_flags: int = 0,
    frag: int = 0,
    ttl: int = 60,
) -> bytes:
    """Ether / IPv4 / UDP / GTP-U as a gNB (or peer UPF) sends it."""
    ip = IP(src=src, dst=dst, ttl=ttl, id=7, flags=ip_flags, frag=frag)
    if ip_options:
        ip.options = list(ip_options)
    udp = UDP(sport=sport, dport=dport, chksum=0)
    return bytes(Ether(dst=MAC_UPF, src=MAC_PEER) / ip / udp / Raw(gtp))


def n3_frame_v6(gtp: bytes, dst: str = "2001:db8:3::1", src: str = "2001:db8:3::2") -> bytes:
    """GTP-U over an IPv6 transport."""
    return bytes(
        Ether(dst=MAC_UPF, src=MAC_PEER)
        / IPv6(src=src, dst=dst)
        / UDP(sport=GTPU_PORT, dport=GTPU_PORT)
        / Raw(gtp)
    )


def n6_frame(inner: Packet) -> bytes:
    """An IP packet from the data network to a UE."""
    return bytes(Ether(dst=MAC_UPF, src=MAC_PEER) / inner)


def arp_frame() -> bytes:
    return bytes(Ether(dst="ff:ff:ff:ff:ff:ff", src=MAC_PEER) / ARP(pdst=N3_ADDR))


def echo_request(seq: int = 0x1234) -> bytes:
    """GTP-U Echo Request (TS 29.281 7.2.1): TEID 0, S flag set, no IEs."""
    return n3_frame(gtpu(0, msg_type=ECHO_REQUEST, seq=seq), sport=33333)


def ping_to_ue(ue: str = "10.60.0.1", ttl: int = 64) -> Packet:
    """A small ICMP echo to a UE (its frame gets Ethernet padding)."""
    return IP(src=SERVER_V4, dst=ue, ttl=ttl, id=0x99) / ICMP(id=1, seq=1)


def expected_gtpu_v4(
    *,
    eth_dst: str,
    eth_src: str,
    src: str,
    dst: str,
    teid: int,
    inner: bytes,
    qfi: int | None = None,
    pdu_type: int = PDU_TYPE_DL,
    tos: int = 0,
) -> Packet:
    """What the fast path should emit: scapy's GTP-U classes, outer IPv4 ID 0 + DF,
    TTL 64, UDP 2152 -> 2152 with checksum 0."""
    outer = (
        Ether(dst=eth_dst, src=eth_src)
        / IP(src=src, dst=dst, tos=tos, ttl=64, id=0, flags="DF")
        / UDP(sport=GTPU_PORT, dport=GTPU_PORT, chksum=0)
    )
    if qfi is None:
        return outer / GTP_U_Header(teid=teid, gtp_type=G_PDU) / Raw(inner)
    return (
        outer
        / GTP_U_Header(teid=teid, gtp_type=G_PDU, E=1, next_ex=EXT_PDU_SESSION)
        / GTPPDUSessionContainer(type=pdu_type, QFI=qfi, NextExtHdr=0)
        / Raw(inner)
    )


def with_ttl(pkt: Packet, ttl: int) -> bytes:
    """The bytes of an IP packet with its TTL / hop limit changed (checksum redone)."""
    p = pkt.copy()
    if IP in p:
        p[IP].ttl = ttl
        p[IP].chksum = None
    else:
        p[IPv6].hlim = ttl
    return bytes(p)
