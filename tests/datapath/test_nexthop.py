"""nh_gen follows route, neighbour and link changes in a namespace the test owns."""

from __future__ import annotations

import asyncio
import os
import socket
import struct
import subprocess
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.datapath.dp_support import netns, upf_object
from upf.datapath import abi
from upf.datapath.loader import Datapath, DatapathLimits
from upf.datapath.nexthop import (
    RTM_DELNEIGH,
    RTM_NEWLINK,
    RTM_NEWNEIGH,
    RTM_NEWROUTE,
    NexthopWatcher,
)

needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="needs root")


class FakeRuntime:
    """Stands in for ArrayMap[Runtime] in the classification tests (no kernel)."""

    def __init__(self) -> None:
        self.rt = abi.Runtime()

    def get(self, key: int) -> abi.Runtime:
        return abi.Runtime.from_buffer_copy(self.rt)

    def set(self, key: int, value: abi.Runtime) -> None:
        self.rt = value


def nlmsg(mtype: int, body: bytes) -> bytes:
    return struct.pack("=IHHII", 16 + len(body), mtype, 0, 0, 0) + body


def rtattr(atype: int, payload: bytes) -> bytes:
    pad = b"\0" * (-(4 + len(payload)) % 4)
    return struct.pack("=HH", 4 + len(payload), atype) + payload + pad


def neigh(mtype: int, state: int, mac: bytes, dst: str = "10.0.0.1") -> bytes:
    body = struct.pack("=BxxxiHBB", socket.AF_INET, 3, state, 0, 1)
    body += rtattr(1, socket.inet_aton(dst)) + rtattr(2, mac)
    return nlmsg(mtype, body)


def route(flags: int = 0) -> bytes:
    return nlmsg(
        RTM_NEWROUTE, struct.pack("=BBBBBBBBI", socket.AF_INET, 24, 0, 0, 254, 4, 0, 1, flags)
    )


NUD_REACHABLE, NUD_STALE, NUD_FAILED = 0x02, 0x04, 0x20
MAC1, MAC2 = bytes.fromhex("020000000001"), bytes.fromhex("020000000002")


def test_classification() -> None:
    w = NexthopWatcher(FakeRuntime())  # type: ignore[arg-type]
    assert w.relevant(neigh(RTM_NEWNEIGH, NUD_REACHABLE, MAC1))  # new neighbour
    assert not w.relevant(neigh(RTM_NEWNEIGH, NUD_STALE, MAC1))  # still usable, same MAC
    assert not w.relevant(neigh(RTM_NEWNEIGH, NUD_REACHABLE, MAC1))
    assert w.relevant(neigh(RTM_NEWNEIGH, NUD_REACHABLE, MAC2))  # MAC changed
    assert w.relevant(neigh(RTM_NEWNEIGH, NUD_FAILED, MAC2))  # no longer usable
    assert w.relevant(neigh(RTM_DELNEIGH, NUD_FAILED, MAC2))
    assert w.relevant(neigh(RTM_NEWNEIGH, NUD_REACHABLE, MAC1, dst="10.0.0.2"))  # another one
    assert w.relevant(route())
    assert not w.relevant(route(flags=0x200))  # RTM_F_CLONED: a cache entry
    assert w.relevant(nlmsg(RTM_NEWLINK, bytes(16)))
    # several messages in one datagram: relevant if any is
    assert w.relevant(route(flags=0x200) + route())
    assert not w.relevant(b"")


def test_bump_wraps() -> None:
    rt = FakeRuntime()
    rt.rt.nh_gen = 0xFFFFFFFF
    seen: list[int] = []
    w = NexthopWatcher(rt, on_bump=seen.append)  # type: ignore[arg-type]
    assert w.bump() == 0 and rt.rt.nh_gen == 0 and seen == [0]


# ---------------------------------------------------------------------------
# The real thing, in a namespace


@pytest.fixture
def ns_dp() -> Iterator[tuple[str, Datapath]]:
    from pyroute2 import IPRoute

    with netns() as ns:
        # A new namespace copies the host's forwarding setting: start from off, so that
        # the "forwarding on" step below is a change (and a netconf event) on every host.
        sysctl(ns, "net.ipv4.conf.all.forwarding=0")
        with IPRoute(netns=ns) as ipr:
            ipr.link("add", ifname="nh0", kind="veth", peer={"ifname": "nh1"})
            for name in ("nh0", "nh1"):
                ipr.link("set", index=ipr.link_lookup(ifname=name)[0], state="up")
            ipr.addr(
                "add", index=ipr.link_lookup(ifname="nh0")[0], address="10.77.0.1", prefixlen=24
            )
        time.sleep(0.05)  # let the kernel's own events of the setup pass
        limits = DatapathLimits(sessions=16, pdrs=16, fars=16, qers=16, nexthops=16)
        with Datapath(upf_object(), limits=limits) as dp:
            yield ns, dp


def wait_for(cond: Callable[[], bool], timeout: float = 3.0) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if cond():
            return True
        time.sleep(0.01)
    return cond()


def gen(dp: Datapath) -> int:
    rt = dp.runtime.get(0)
    assert rt is not None
    return int(rt.nh_gen)


def changes(ns: str) -> list[tuple[str, Callable[[Any], object]]]:
    idx: dict[str, int] = {}

    def ix(ipr: Any) -> int:
        if "nh0" not in idx:
            idx["nh0"] = ipr.link_lookup(ifname="nh0")[0]
        return idx["nh0"]

    return [
        ("route add", lambda ipr: ipr.route("add", dst="10.88.0.0/16", gateway="10.77.0.2")),
        ("route del", lambda ipr: ipr.route("del", dst="10.88.0.0/16", gateway="10.77.0.2")),
        (
            "neigh add",
            lambda ipr: ipr.neigh(
                "add", dst="10.77.0.9", lladdr="02:00:00:00:00:09", ifindex=ix(ipr), state=0x80
            ),
        ),
        (
            "neigh change mac",
            lambda ipr: ipr.neigh(
                "replace", dst="10.77.0.9", lladdr="02:00:00:00:00:0a", ifindex=ix(ipr), state=0x80
            ),
        ),
        ("neigh del", lambda ipr: ipr.neigh("del", dst="10.77.0.9", ifindex=ix(ipr))),
        ("rule add", lambda ipr: ipr.rule("add", table=100, priority=100)),
        ("forwarding on", lambda ipr: sysctl(ns, "net.ipv4.conf.all.forwarding=1")),
        ("link down", lambda ipr: ipr.link("set", index=ix(ipr), state="down")),
    ]


def sysctl(ns: str, setting: str) -> None:
    subprocess.run(
        ["nsenter", f"--net=/run/netns/{ns}", "sysctl", "-qw", setting],
        check=True,
        capture_output=True,
    )


@pytest.mark.root
@needs_root
def test_thread_watcher_bumps_on_changes(ns_dp: tuple[str, Datapath]) -> None:
    from pyroute2 import IPRoute

    ns, dp = ns_dp
    with NexthopWatcher(dp.runtime, netns=ns) as w, IPRoute(netns=ns) as ipr:
        assert gen(dp) == 1  # bumped once when subscribing
        for what, change in changes(ns):
            before = gen(dp)
            change(ipr)
            assert wait_for(lambda: gen(dp) > before), f"no bump after {what}"  # noqa: B023
        assert w.bumps >= 7 and w.events >= 6


@pytest.mark.root
@needs_root
def test_asyncio_watcher_bumps_on_route_change(ns_dp: tuple[str, Datapath]) -> None:
    from pyroute2 import IPRoute

    ns, dp = ns_dp

    async def scenario() -> None:
        w = NexthopWatcher(dp.runtime, netns=ns)
        task = asyncio.create_task(w.run_async())
        await asyncio.sleep(0.05)
        before = gen(dp)

        def add_route() -> None:  # sync pyroute2 runs its own loop: keep it off ours
            with IPRoute(netns=ns) as ipr:
                ipr.route("add", dst="10.99.0.0/16", gateway="10.77.0.2")

        await asyncio.to_thread(add_route)
        for _ in range(300):
            if gen(dp) > before:
                break
            await asyncio.sleep(0.01)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert gen(dp) > before

    asyncio.run(scenario())


# ---------------------------------------------------------------------------
# End to end with the real program: the FIB of a namespace, the cache, the watcher

N3_ADDR, GNB_ADDR, UE_ADDR, SERVER = "10.60.0.1", "10.60.0.2", "10.45.0.7", "10.62.0.10"
GW1, GW2 = "10.61.0.2", "10.61.0.3"
MAC_A, MAC_B, MAC_C = "02:00:00:00:0a:0a", "02:00:00:00:0b:0b", "02:00:00:00:0c:0c"
TEID = 0x1234
XDP_REDIRECT = 4


def _be32(addr: str) -> int:
    return int.from_bytes(socket.inet_aton(addr), "little")


def _configure_uplink(dp: Datapath) -> None:
    dp.local_addrs.set(abi.LocalAddrKey(addr=_be32(N3_ADDR)), abi.LocalAddr(iface=abi.Iface.ACCESS))
    rules = abi.PdrSet(count=1)
    r = rules.rules[0]
    r.pdr_slot, r.far_slot, r.ohr = 1, 1, abi.Ohr.GTPU_UDP_IPV4
    dp.uplink_pdrs.set(abi.TeidKey(teid=socket.htonl(TEID)), rules)
    dp.fars.set(
        1, abi.Far(action=abi.ApplyAction.FORW, encap=abi.Encap.NONE, dst_iface=abi.Iface.CORE)
    )


def _uplink_frame() -> bytes:
    from scapy.contrib.gtp import GTP_U_Header
    from scapy.layers.inet import IP, UDP
    from scapy.layers.l2 import Ether

    inner = IP(src=UE_ADDR, dst=SERVER, ttl=64) / UDP(sport=1000, dport=2000) / (b"x" * 16)
    outer = (
        Ether(src="02:00:00:00:00:02", dst="02:00:00:00:00:01")
        / IP(src=GNB_ADDR, dst=N3_ADDR)
        / UDP(sport=2152, dport=2152)
        / GTP_U_Header(teid=TEID, gtp_type=255)
        / inner
    )
    return bytes(outer)


@pytest.mark.root
@needs_root
def test_route_and_neighbour_changes_reach_the_next_packet() -> None:
    """Uplink through the real program: the next hop's MAC follows neighbour and route
    changes on the very next packet once the watcher runs, and goes stale without it."""
    from pyroute2 import IPRoute

    with netns() as ns:
        sysctl(ns, "net.ipv4.conf.all.forwarding=1")
        with IPRoute(netns=ns) as ipr:
            ipr.link("add", ifname="n3a", kind="veth", peer={"ifname": "n3b"})
            ipr.link("add", ifname="n6a", kind="veth", peer={"ifname": "n6b"})
            ix = {n: ipr.link_lookup(ifname=n)[0] for n in ("n3a", "n3b", "n6a", "n6b")}
            for i in ix.values():
                ipr.link("set", index=i, state="up")
            ipr.addr("add", index=ix["n3a"], address=N3_ADDR, prefixlen=24)
            ipr.addr("add", index=ix["n6a"], address="10.61.0.1", prefixlen=24)
            for gw, mac in ((GW1, MAC_A), (GW2, MAC_C)):
                ipr.neigh("add", dst=gw, lladdr=mac, ifindex=ix["n6a"], state=0x80)
            ipr.route("add", dst="10.62.0.0/16", gateway=GW1)
        limits = DatapathLimits(sessions=16, pdrs=16, fars=16, qers=16, nexthops=16)
        with Datapath(upf_object(), limits=limits) as dp, IPRoute(netns=ns) as ipr:
            _configure_uplink(dp)
            frame = _uplink_frame()

            def next_hop_mac() -> str:
                verdict, out = dp.test_run(frame, ix["n3a"], netns=ns)
                assert verdict == XDP_REDIRECT, verdict
                return out[:6].hex(":")

            with NexthopWatcher(dp.runtime, netns=ns):
                assert next_hop_mac() == MAC_A
                assert next_hop_mac() == MAC_A  # from the cache now
                g = gen(dp)
                ipr.neigh("replace", dst=GW1, lladdr=MAC_B, ifindex=ix["n6a"], state=0x80)
                assert wait_for(lambda: gen(dp) > g)
                assert next_hop_mac() == MAC_B
                g = gen(dp)
                ipr.route("replace", dst="10.62.0.0/16", gateway=GW2)
                assert wait_for(lambda: gen(dp) > g)
                assert next_hop_mac() == MAC_C
            # without the watcher the cache keeps serving what it resolved
            ipr.route("replace", dst="10.62.0.0/16", gateway=GW1)
            time.sleep(0.05)
            assert next_hop_mac() == MAC_C
