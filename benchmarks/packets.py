"""Test frames for the benchmarks and the end-to-end tests (built with scapy)."""

from __future__ import annotations

import ipaddress
from typing import Any, Final

from scapy.contrib.gtp import GTP_U_Header, GTPPDUSessionContainer
from scapy.layers.inet import IP, UDP
from scapy.layers.l2 import Ether

from benchmarks.sessions import SessionPlan
from upf.topology import Addresses

GTPU_PORT: Final = 2152
PDU_TYPE_DL: Final = 0
PDU_TYPE_UL: Final = 1
# The address plan of the benchmarks' and datapath tests' UpfTopology: its gNB and N3
# addresses are SessionPlan's defaults (benchmarks/sessions.py).
ADDRESSES: Final = Addresses(
    gnb="10.200.3.2",
    gnb2="10.200.3.3",
    upf_n3="10.200.3.1",
    upf_n6="10.200.6.1",
    dn="10.200.6.2",
)
DN_ADDR: Final = ADDRESSES.dn
# A small inner packet: 46-byte IPv4/UDP, so the uplink frame is 104 bytes and the
# downlink frame 60 bytes (64 on the wire with the FCS).
PAYLOAD: Final = b"upf-bench-payload!"
# Hosts behind the DN for multi-flow runs (RFC 2544 benchmarking range); the benchmarks
# route it via the DN in the UPF namespace.
BENCH_NET: Final = "198.18.0.0"
BENCH_NET_PREFIXLEN: Final = 15


def bench_host(k: int) -> str:
    """DN host of flow k (k < 2**17 - 2)."""
    return str(ipaddress.IPv4Address(BENCH_NET) + 1 + k)


def uplink_packet(
    plan: SessionPlan,
    i: int,
    *,
    src_mac: str,
    dst_mac: str,
    dn_addr: str = DN_ADDR,
    payload: bytes = PAYLOAD,
    sport: int = 40000,
    dport: int = 9,
    ttl: int = 64,
) -> Any:
    """G-PDU from the gNB to our N3 address, TEID of session i, QFI in a PDU Session Container."""
    return (
        Ether(src=src_mac, dst=dst_mac)
        / IP(src=plan.gnb_addr, dst=plan.n3_addr, flags="DF")
        / UDP(sport=GTPU_PORT, dport=GTPU_PORT)
        / GTP_U_Header(teid=plan.teid(i), next_ex=0x85)
        / GTPPDUSessionContainer(type=PDU_TYPE_UL, QFI=plan.qfi)
        / IP(src=plan.ue(i), dst=dn_addr, ttl=ttl)
        / UDP(sport=sport, dport=dport)
        / payload
    )


def downlink_packet(
    plan: SessionPlan,
    i: int,
    *,
    src_mac: str,
    dst_mac: str,
    dn_addr: str = DN_ADDR,
    payload: bytes = PAYLOAD,
    sport: int = 9,
    dport: int = 40000,
    ttl: int = 64,
) -> Any:
    """A plain IPv4/UDP packet from the DN to the UE of session i."""
    return (
        Ether(src=src_mac, dst=dst_mac)
        / IP(src=dn_addr, dst=plan.ue(i), ttl=ttl)
        / UDP(sport=sport, dport=dport)
        / payload
    )


def frame(pkt: Any) -> bytes:
    return bytes(pkt)
