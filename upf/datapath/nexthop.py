"""Next-hop cache invalidation: bump runtime[0].nh_gen on every relevant netlink event.

The fast path caches bpf_fib_lookup results in nh_cache, each stamped with the nh_gen it
was resolved under; an entry is valid only while its gen equals runtime[0].nh_gen. So one
write here invalidates every cached next hop, and the next packet re-resolves.

Relevant events (rtnetlink groups LINK, NEIGH, IPV4/IPV6_ROUTE, IPV4/IPV6_RULE,
IPV4/IPV6_NETCONF, NEXTHOP: everything bpf_fib_lookup's answer depends on):
  - any route added or removed (cloned/cache routes ignored), any link change, any
    policy rule, nexthop object or forwarding-sysctl (netconf) change;
  - a neighbour that appears, disappears, changes its MAC, or turns usable/unusable
    (the kernel's NUD_VALID, what bpf_fib_lookup checks). REACHABLE <-> STALE churn with
    the same MAC is ignored: it changes nothing a cached entry holds;
  - a lost event (ENOBUFS): we cannot know what changed, so we bump.
All events read in one wakeup cause a single bump, done before the next packet could see
the change complete (netlink notifies after the kernel tables are updated).

    watcher = NexthopWatcher(dp.runtime)            # netns="name" to watch another netns
    watcher.start(); ...; watcher.stop()            # thread runner
    await watcher.run_async()                       # asyncio (add_reader), cancel to stop

The socket is a plain NETLINK_ROUTE socket: the messages are only classified here, never
fully decoded, so this stays cheap and independent of pyroute2's event loop.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import os
import select
import socket
import struct
import threading
from collections.abc import Callable
from typing import Any, Final

from upf.datapath import abi
from upf.datapath.maps import ArrayMap
from upf.datapath.netns import run_in_netns

__all__ = ["NexthopWatcher", "netlink_socket"]

log = logging.getLogger("upf.datapath.nexthop")

# rtnetlink groups (linux/rtnetlink.h, legacy bitmask form)
RTMGRP_LINK: Final = 0x1
RTMGRP_NEIGH: Final = 0x4
RTMGRP_IPV4_ROUTE: Final = 0x40
RTMGRP_IPV6_ROUTE: Final = 0x400
# groups past the named RTMGRP_* masks: bit (RTNLGRP_x - 1)
RTMGRP_IPV4_RULE: Final = 1 << (8 - 1)
RTMGRP_IPV6_RULE: Final = 1 << (19 - 1)
RTMGRP_IPV4_NETCONF: Final = 1 << (24 - 1)
RTMGRP_IPV6_NETCONF: Final = 1 << (25 - 1)
RTMGRP_NEXTHOP: Final = 1 << (32 - 1)
GROUPS: Final = (
    RTMGRP_LINK
    | RTMGRP_NEIGH
    | RTMGRP_IPV4_ROUTE
    | RTMGRP_IPV6_ROUTE
    | RTMGRP_IPV4_RULE
    | RTMGRP_IPV6_RULE
    | RTMGRP_IPV4_NETCONF
    | RTMGRP_IPV6_NETCONF
    | RTMGRP_NEXTHOP
)

RTM_NEWLINK: Final = 16
RTM_DELLINK: Final = 17
RTM_NEWROUTE: Final = 24
RTM_DELROUTE: Final = 25
RTM_NEWNEIGH: Final = 28
RTM_DELNEIGH: Final = 29
RTM_NEWRULE: Final = 32
RTM_DELRULE: Final = 33
RTM_NEWNETCONF: Final = 80
RTM_DELNETCONF: Final = 81
RTM_NEWNEXTHOP: Final = 104
RTM_DELNEXTHOP: Final = 105
_ALWAYS: Final = frozenset(
    {
        RTM_NEWLINK,
        RTM_DELLINK,
        RTM_NEWRULE,
        RTM_DELRULE,
        RTM_NEWNETCONF,
        RTM_DELNETCONF,
        RTM_NEWNEXTHOP,
        RTM_DELNEXTHOP,
    }
)
NLMSG_OVERRUN: Final = 4
RTM_F_CLONED: Final = 0x200
NDA_DST: Final = 1
NDA_LLADDR: Final = 2
# NUD_VALID = PERMANENT | NOARP | REACHABLE | PROBE | STALE | DELAY
NUD_VALID: Final = 0x80 | 0x40 | 0x02 | 0x10 | 0x04 | 0x08

_NLMSGHDR: Final = struct.Struct("=IHHII")
_NDMSG: Final = struct.Struct("=BxxxiHBB")
_RTMSG: Final = struct.Struct("=BBBBBBBBI")
_RCVBUF: Final = 4 << 20


def _open_socket() -> socket.socket:
    sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW | socket.SOCK_CLOEXEC, 0)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, _RCVBUF)
        sock.bind((0, GROUPS))
    except BaseException:
        sock.close()
        raise
    return sock


def netlink_socket(netns: str | None = None) -> socket.socket:
    """A NETLINK_ROUTE socket subscribed to our groups, created in `netns` (an `ip netns`
    name or a path) if given; only a short-lived helper thread enters the namespace."""
    return _open_socket() if netns is None else run_in_netns(netns, _open_socket)


class NexthopWatcher:
    """Bumps runtime[0].nh_gen when routes, neighbours or links change."""

    def __init__(
        self,
        runtime: ArrayMap[abi.Runtime],
        *,
        netns: str | None = None,
        on_bump: Callable[[int], None] | None = None,
    ) -> None:
        self.runtime = runtime
        self.netns = netns
        self.on_bump = on_bump
        self.bumps = 0
        self.events = 0
        self._neigh: dict[tuple[int, int, bytes], tuple[bool, bytes]] = {}
        self._sock: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self._stop_r = -1
        self._stop_w = -1
        self._lock = threading.Lock()

    # -- the generation counter -------------------------------------------

    @property
    def gen(self) -> int:
        rt = self.runtime.get(0)
        return 0 if rt is None else int(rt.nh_gen)

    def bump(self) -> int:
        """Invalidate every cached next hop; returns the new generation."""
        with self._lock:
            rt = self.runtime.get(0) or abi.Runtime()
            rt.nh_gen = (rt.nh_gen + 1) & 0xFFFFFFFF
            self.runtime.set(0, rt)
            self.bumps += 1
            gen = int(rt.nh_gen)
        log.debug("nh_gen -> %d", gen)
        if self.on_bump is not None:
            self.on_bump(gen)
        return gen

    # -- event classification -------------------------------------------

    def relevant(self, data: bytes) -> bool:
        """Whether a datagram of netlink messages holds anything that invalidates next hops."""
        hit = False
        off = 0
        while off + _NLMSGHDR.size <= len(data):
            length, mtype, _flags, _seq, _pid = _NLMSGHDR.unpack_from(data, off)
            if length < _NLMSGHDR.size:
                break
            body = data[off + _NLMSGHDR.size : off + length]
            self.events += 1
            if self._classify(mtype, body):
                hit = True
            off += (length + 3) & ~3
        return hit

    def _classify(self, mtype: int, body: bytes) -> bool:
        if mtype in _ALWAYS:
            return True
        if mtype in (RTM_NEWROUTE, RTM_DELROUTE):
            if len(body) < _RTMSG.size:
                return True
            flags = _RTMSG.unpack_from(body)[8]
            return not flags & RTM_F_CLONED
        if mtype in (RTM_NEWNEIGH, RTM_DELNEIGH):
            return self._neigh_changed(mtype, body)
        return mtype == NLMSG_OVERRUN

    def _neigh_changed(self, mtype: int, body: bytes) -> bool:
        if len(body) < _NDMSG.size:
            return True
        family, ifindex, state, _flags, _type = _NDMSG.unpack_from(body)
        attrs = _attrs(body[_NDMSG.size :])
        key = (family, ifindex, attrs.get(NDA_DST, b""))
        if mtype == RTM_DELNEIGH:
            self._neigh.pop(key, None)
            return True
        now = (bool(state & NUD_VALID), attrs.get(NDA_LLADDR, b""))
        before = self._neigh.get(key)
        self._neigh[key] = now
        return before != now

    # -- runners ----------------------------------------------------------

    def _drain(self, sock: socket.socket) -> bool:
        """Read every pending datagram; True if any was relevant (or events were lost)."""
        hit = False
        while True:
            try:
                data = sock.recv(1 << 16, socket.MSG_DONTWAIT)
            except BlockingIOError:
                return hit
            except OSError as e:
                if e.errno == errno.ENOBUFS:
                    log.warning("netlink overrun: events lost, invalidating every next hop")
                    hit = True
                    continue
                raise
            if not data:
                return hit
            if self.relevant(data):
                hit = True

    def open(self) -> socket.socket:
        """Subscribe (idempotent). Events from here on are seen; bumps once to start clean."""
        if self._sock is None:
            self._sock = netlink_socket(self.netns)
            self.bump()
        return self._sock

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    def run(self, stop: threading.Event | None = None, poll_interval: float = 0.5) -> None:
        """Blocking loop: until stop is set (checked every poll_interval) or stop() is called."""
        sock = self.open()
        fds: list[Any] = [sock]
        if self._stop_r >= 0:
            fds.append(self._stop_r)
        while stop is None or not stop.is_set():
            ready, _, _ = select.select(fds, [], [], poll_interval)
            if self._stop_r >= 0 and self._stop_r in ready:
                return
            if sock in ready and self._drain(sock):
                self.bump()

    def start(self) -> threading.Thread:
        """Run in a daemon thread; stop() ends it. The subscription is live on return."""
        if self._thread is not None:
            raise RuntimeError("watcher already started")
        self.open()
        self._stop_r, self._stop_w = os.pipe2(os.O_CLOEXEC)
        self._thread = threading.Thread(target=self.run, name="nexthop-watcher", daemon=True)
        self._thread.start()
        return self._thread

    def stop(self) -> None:
        if self._thread is not None:
            os.write(self._stop_w, b"x")
            self._thread.join()
            self._thread = None
            os.close(self._stop_r)
            os.close(self._stop_w)
            self._stop_r = self._stop_w = -1
        self.close()

    async def run_async(self) -> None:
        """asyncio runner: the socket is watched with loop.add_reader; cancel the task to stop."""
        loop = asyncio.get_running_loop()
        sock = self.open()
        sock.setblocking(False)

        def on_readable() -> None:
            try:
                if self._drain(sock):
                    self.bump()
            except Exception:
                log.exception("nexthop watcher: reading netlink failed")

        loop.add_reader(sock.fileno(), on_readable)
        try:
            await asyncio.Event().wait()
        finally:
            loop.remove_reader(sock.fileno())
            self.close()

    def __enter__(self) -> NexthopWatcher:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _attrs(buf: bytes) -> dict[int, bytes]:
    """rtattrs of a message body: {type: payload} (nested flag bit cleared)."""
    out: dict[int, bytes] = {}
    off = 0
    while off + 4 <= len(buf):
        alen, atype = struct.unpack_from("=HH", buf, off)
        if alen < 4:
            break
        out[atype & 0x3FFF] = buf[off + 4 : off + alen]
        off += (alen + 3) & ~3
    return out
