"""Network-namespace topologies for tests and benchmarks.

Everything lives in namespaces this module creates; nothing touches an interface of
the root namespace and no namespace has a route out of the machine.

    with topology() as topo:                   # gNB ns <-> UPF ns <-> DN ns
        topo.far_ends_xdp_pass()                 # XDP_PASS on gnb0/dn0 (RIG.md: redirect)
        with topo.upf.entered():                 # setns() on this thread only
            ...                                  # bpf test runs, sockets, pyroute2 ...
        topo.dn.run(["ip", "neigh"])             # nsenter --net=/run/netns/NAME ...
        with Capture(topo.dn, DN_IF) as cap:     # AF_PACKET capture inside the DN ns
            topo.gnb.send_frames(GNB_IF, [frame])
            got = cap.wait(lambda f: b"marker" in f)

    def test_x(netns_topology): ...             # pytest fixture (import it from here)

Namespace names are unique: ``<prefix><pid>-<random>-<role>``.  They are removed when
the `with` block ends (also on an exception), at interpreter exit (atexit) for
anything still alive, and namespaces left behind by a killed process (its pid no
longer exists) are reaped the next time this module creates one.

`ip netns exec` is never used: it remounts /sys and hides /sys/fs/bpf.  Work that
needs another namespace either enters it on the current thread (`Netns.entered`) or
runs as a subprocess under `nsenter --net=/run/netns/NAME`.
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import ctypes.util
import logging
import os
import secrets
import select
import socket
import struct
import subprocess
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

import pytest
from pyroute2 import IPRoute, netns

log = logging.getLogger("tests.netns")

NETNS_RUN_DIR: Final = "/run/netns"
DEFAULT_PREFIX: Final = "upft"
_CLONE_NEWNET: Final = 0x40000000
ETH_P_ALL: Final = 0x0003
PACKET_OUTGOING: Final = 4

# The standard topology's addresses (TS 23.501 reference points N3 and N6).
GNB_N3_ADDR: Final = "10.200.3.2"
UPF_N3_ADDR: Final = "10.200.3.1"
UPF_N6_ADDR: Final = "10.200.6.1"
DN_N6_ADDR: Final = "10.200.6.2"
PREFIXLEN: Final = 24
UE_POOL: Final = "10.45.0.0"
UE_POOL_PREFIXLEN: Final = 16

# Interface names inside the namespaces (names are per namespace, so fixed).
GNB_IF: Final = "gnb0"
UPF_N3_IF: Final = "n3"
UPF_N6_IF: Final = "n6"
DN_IF: Final = "dn0"

_libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
_libc.setns.argtypes = [ctypes.c_int, ctypes.c_int]
_libc.setns.restype = ctypes.c_int

_lock = threading.Lock()
_live: set[str] = set()  # namespaces this process created and has not removed yet


class NetnsError(RuntimeError):
    """A namespace operation failed (our test rig, not the code under test)."""


def _setns(fd: int) -> None:
    if _libc.setns(fd, _CLONE_NEWNET) != 0:
        err = ctypes.get_errno()
        raise NetnsError(f"setns: {os.strerror(err)}")


def unique_name(prefix: str = DEFAULT_PREFIX) -> str:
    """`<prefix><pid>-<6 hex>`: unique across processes and within one."""
    return f"{prefix}{os.getpid()}-{secrets.token_hex(3)}"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def reap_stale(prefix: str = DEFAULT_PREFIX) -> list[str]:
    """Remove namespaces named by this module whose creating process is gone."""
    removed: list[str] = []
    try:
        names = os.listdir(NETNS_RUN_DIR)
    except FileNotFoundError:
        return removed
    for name in names:
        if not name.startswith(prefix):
            continue
        pid_text = name[len(prefix) :].split("-", 1)[0]
        if not pid_text.isdigit() or int(pid_text) == os.getpid() or _pid_alive(int(pid_text)):
            continue
        with contextlib.suppress(OSError):
            netns.remove(name)
            removed.append(name)
    if removed:
        log.warning("removed %d stale namespaces: %s", len(removed), ", ".join(removed))
    return removed


def _remove(name: str) -> None:
    with _lock:
        _live.discard(name)
    try:
        netns.remove(name)
    except FileNotFoundError:
        pass
    except OSError as exc:  # still report, but never mask the test's own failure
        log.error("could not remove namespace %s: %s", name, exc)


@atexit.register
def _remove_all_live() -> None:
    with _lock:
        names = sorted(_live)
    for name in names:
        _remove(name)


@dataclass(slots=True)
class Netns:
    """One network namespace (a /run/netns entry) and the processes started in it."""

    name: str
    _procs: list[subprocess.Popen[bytes]] = field(default_factory=list)

    @classmethod
    def create(cls, name: str) -> Netns:
        if len(name) > 64 or "/" in name:
            raise NetnsError(f"bad namespace name {name!r}")
        with _lock:
            _live.add(name)
        try:
            netns.create(name)
        except Exception:
            _remove(name)
            raise
        ns = cls(name)
        # No IPv6 on test links: no router solicitations, MLD or DAD chatter in captures.
        ns.sysctl("net.ipv6.conf.default.disable_ipv6", "1")
        ns.sysctl("net.ipv6.conf.all.disable_ipv6", "1")
        with ns.ipr() as ipr:
            lo = ipr.link_lookup(ifname="lo")[0]
            ipr.link("set", index=lo, state="up")
        return ns

    @property
    def path(self) -> str:
        return f"{NETNS_RUN_DIR}/{self.name}"

    def ipr(self) -> Any:
        """A pyroute2 IPRoute bound to this namespace (close it, or use `with`)."""
        return IPRoute(netns=self.name)

    # -- running work inside --------------------------------------------------

    @contextlib.contextmanager
    def entered(self) -> Iterator[None]:
        """Switch the current thread into this namespace for the block (setns)."""
        own = os.open("/proc/thread-self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
        try:
            target = os.open(self.path, os.O_RDONLY | os.O_CLOEXEC)
            try:
                _setns(target)
            finally:
                os.close(target)
            try:
                yield
            finally:
                _setns(own)
        finally:
            os.close(own)

    def argv(self, argv: Sequence[str]) -> list[str]:
        return ["nsenter", f"--net={self.path}", "--", *argv]

    def run(
        self, argv: Sequence[str], *, check: bool = True, timeout: float = 30.0
    ) -> subprocess.CompletedProcess[str]:
        """Run a command in this namespace (nsenter, /sys/fs/bpf stays visible)."""
        return subprocess.run(
            self.argv(argv), check=check, timeout=timeout, capture_output=True, text=True
        )

    def popen(self, argv: Sequence[str], **kwargs: Any) -> subprocess.Popen[bytes]:
        """Start a process in this namespace; it is killed when the namespace goes."""
        proc: subprocess.Popen[bytes] = subprocess.Popen(self.argv(argv), **kwargs)
        self._procs.append(proc)
        return proc

    def sysctl(self, key: str, value: str) -> None:
        """Write a net.* sysctl of this namespace (e.g. 'net.ipv4.ip_forward', '1')."""
        path = "/proc/sys/" + key.replace(".", "/")
        with self.entered(), open(path, "w") as f:
            f.write(value)

    # -- links ------------------------------------------------------------------

    def ifindex(self, ifname: str) -> int:
        with self.ipr() as ipr:
            found = ipr.link_lookup(ifname=ifname)
        if not found:
            raise NetnsError(f"{self.name}: no interface {ifname}")
        return int(found[0])

    def mac(self, ifname: str) -> str:
        with self.ipr() as ipr:
            link = ipr.get_links(self.ifindex(ifname))[0]
        return str(link.get("IFLA_ADDRESS"))

    def set_mac(self, ifname: str, mac: str) -> None:
        with self.ipr() as ipr:
            ipr.link("set", index=self.ifindex(ifname), address=mac)

    def add_addr(self, ifname: str, addr: str, prefixlen: int) -> None:
        with self.ipr() as ipr:
            ipr.addr("add", index=self.ifindex(ifname), address=addr, prefixlen=prefixlen)

    def up(self, ifname: str) -> None:
        with self.ipr() as ipr:
            ipr.link("set", index=self.ifindex(ifname), state="up")

    def add_route(self, dst: str, prefixlen: int, gateway: str) -> None:
        with self.ipr() as ipr:
            ipr.route("add", dst=dst, dst_len=prefixlen, gateway=gateway)

    def replace_route(self, dst: str, prefixlen: int, gateway: str) -> None:
        with self.ipr() as ipr:
            ipr.route("replace", dst=dst, dst_len=prefixlen, gateway=gateway)

    def set_neigh(self, ifname: str, addr: str, mac: str) -> None:
        """A permanent neighbour entry (replaces any existing one)."""
        with self.ipr() as ipr:
            ipr.neigh(
                "replace", dst=addr, lladdr=mac, ifindex=self.ifindex(ifname), state="permanent"
            )

    def flush_neigh(self, ifname: str) -> None:
        with self.ipr() as ipr:
            idx = self.ifindex(ifname)
            for n in ipr.get_neighbours(ifindex=idx):
                dst = n.get("NDA_DST")
                if dst is not None:
                    with contextlib.suppress(Exception):
                        ipr.neigh("del", dst=dst, ifindex=idx)

    def set_xdp(self, ifname: str, prog_fd: int) -> None:
        """Attach (prog_fd >= 0) or detach (-1) an XDP program in native mode."""
        with self.ipr() as ipr:
            ipr.link("set", index=self.ifindex(ifname), xdp_fd=prog_fd)

    def set_gro(self, ifname: str, on: bool = True) -> None:
        self.run(["ethtool", "-K", ifname, "gro", "on" if on else "off"])

    # -- frames -------------------------------------------------------------------

    def packet_socket(self, ifname: str) -> socket.socket:
        """An AF_PACKET socket of this namespace bound to ifname (all protocols)."""
        with self.entered():
            sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
            try:
                sock.bind((ifname, ETH_P_ALL))
            except BaseException:
                sock.close()
                raise
        return sock

    def send_frames(self, ifname: str, frames: Sequence[bytes]) -> None:
        """Transmit raw Ethernet frames out of ifname (no routing involved)."""
        with contextlib.closing(self.packet_socket(ifname)) as sock:
            for f in frames:
                sock.send(f)

    # -- teardown -----------------------------------------------------------------

    def close(self) -> None:
        for proc in self._procs:
            if proc.poll() is None:
                proc.kill()
                with contextlib.suppress(subprocess.TimeoutExpired):
                    proc.wait(timeout=5)
        self._procs.clear()
        _remove(self.name)


class Capture:
    """Frames received on one interface of a namespace (AF_PACKET), from creation on.

    Outgoing frames are ignored.  Use as a context manager or close() it.
    """

    def __init__(self, ns: Netns, ifname: str) -> None:
        self.ns = ns
        self.ifname = ifname
        self.sock = ns.packet_socket(ifname)
        self.sock.setblocking(False)
        self.seen: list[bytes] = []

    def _drain(self, timeout: float) -> None:
        ready, _, _ = select.select([self.sock], [], [], max(0.0, timeout))
        if not ready:
            return
        while True:
            try:
                data, addr = self.sock.recvfrom(65535)
            except BlockingIOError:
                return
            if addr[2] != PACKET_OUTGOING:
                self.seen.append(data)

    def wait(
        self, match: Callable[[bytes], bool], count: int = 1, timeout: float = 3.0
    ) -> list[bytes]:
        """Frames seen so far or within `timeout` that match, once `count` have; else all found."""
        deadline = time.monotonic() + timeout
        while True:
            found = [f for f in self.seen if match(f)]
            left = deadline - time.monotonic()
            if len(found) >= count or left <= 0:
                return found
            self._drain(min(left, 0.1))

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> Capture:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def write_pcap(path: str, frames: Sequence[bytes]) -> None:
    """A classic pcap file (Ethernet link type) of the given frames."""
    with open(path, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
        now = time.time()
        for fr in frames:
            sec, usec = int(now), int((now % 1) * 1e6)
            f.write(struct.pack("<IIII", sec, usec, len(fr), len(fr)))
            f.write(fr)


def veth(a: Netns, a_if: str, b: Netns, b_if: str) -> None:
    """A veth pair created inside `a`, its peer end placed directly in `b`."""
    with a.ipr() as ipr:
        ipr.link("add", ifname=a_if, kind="veth", peer={"ifname": b_if, "net_ns_fd": b.name})


@dataclass(slots=True)
class Topology:
    """gNB ns --(gnb0 / n3)-- UPF ns --(n6 / dn0)-- DN ns.

    Addresses: gNB 10.200.3.2/24, UPF N3 10.200.3.1/24, UPF N6 10.200.6.1/24,
    DN 10.200.6.2/24; the DN routes the UE pool 10.45.0.0/16 via the UPF's N6 and
    the gNB routes it via the UPF's N3 (so it can also send plain IP); ip_forward is on
    in the UPF ns only.  No default route anywhere.  Before the UPF redirects into
    gnb0/dn0 call far_ends_xdp_pass() (or attach your own programs there).
    """

    name: str
    gnb: Netns
    upf: Netns
    dn: Netns
    _closers: list[Callable[[], None]] = field(default_factory=list)

    @classmethod
    def create(cls, prefix: str = DEFAULT_PREFIX, *, static_neigh: bool = True) -> Topology:
        """Build the namespaces; with static_neigh the UPF knows both peers' MACs."""
        reap_stale(prefix)
        base = unique_name(prefix)
        made: list[Netns] = []
        try:
            for role in ("gnb", "upf", "dn"):
                made.append(Netns.create(f"{base}-{role}"))
            topo = cls(base, made[0], made[1], made[2])
            topo._wire(static_neigh)
        except BaseException:
            for ns in reversed(made):
                ns.close()
            raise
        return topo

    def _wire(self, static_neigh: bool) -> None:
        gnb, upf, dn = self.gnb, self.upf, self.dn
        veth(upf, UPF_N3_IF, gnb, GNB_IF)
        veth(upf, UPF_N6_IF, dn, DN_IF)
        for ns, ifname, addr in (
            (gnb, GNB_IF, GNB_N3_ADDR),
            (upf, UPF_N3_IF, UPF_N3_ADDR),
            (upf, UPF_N6_IF, UPF_N6_ADDR),
            (dn, DN_IF, DN_N6_ADDR),
        ):
            ns.add_addr(ifname, addr, PREFIXLEN)
            ns.up(ifname)
        dn.add_route(UE_POOL, UE_POOL_PREFIXLEN, UPF_N6_ADDR)
        gnb.add_route(UE_POOL, UE_POOL_PREFIXLEN, UPF_N3_ADDR)
        upf.sysctl("net.ipv4.ip_forward", "1")
        # A downlink packet the fast path encapsulates but cannot redirect (neighbour
        # unresolved: PASS_NO_NEIGH) reaches the kernel on N6 with our own N3 address as
        # its source; without accept_local the kernel drops it as a martian.
        upf.sysctl(f"net.ipv4.conf.{UPF_N6_IF}.accept_local", "1")
        if static_neigh:
            upf.set_neigh(UPF_N3_IF, GNB_N3_ADDR, gnb.mac(GNB_IF))
            upf.set_neigh(UPF_N6_IF, DN_N6_ADDR, dn.mac(DN_IF))
            gnb.set_neigh(GNB_IF, UPF_N3_ADDR, upf.mac(UPF_N3_IF))
            dn.set_neigh(DN_IF, UPF_N6_ADDR, upf.mac(UPF_N6_IF))

    def far_ends_xdp_pass(self) -> None:
        """Attach an XDP_PASS program (xdp/bench/pass.c) to gnb0 and dn0.

        Needed before the UPF redirects into them: XDP_REDIRECT into a veth delivers
        nothing unless the peer end runs an XDP program (or has GRO on; RIG.md).
        """
        from benchmarks.bpfbench import load_single  # builds the object when stale

        obj, fd = load_single("pass", "bench_pass")
        self._closers.append(obj.close)
        self.gnb.set_xdp(GNB_IF, fd)
        self.dn.set_xdp(DN_IF, fd)

    def close(self) -> None:
        for ns in (self.dn, self.upf, self.gnb):
            ns.close()
        while self._closers:
            with contextlib.suppress(Exception):
                self._closers.pop()()

    def __enter__(self) -> Topology:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@contextlib.contextmanager
def topology(prefix: str = DEFAULT_PREFIX, *, static_neigh: bool = True) -> Iterator[Topology]:
    topo = Topology.create(prefix, static_neigh=static_neigh)
    try:
        yield topo
    finally:
        topo.close()


@pytest.fixture
def netns_topology() -> Iterator[Topology]:
    """pytest fixture: the standard topology, removed after the test (pass or fail).

    Use it from another test module with `from tests.netns import netns_topology`.
    """
    with topology() as topo:
        yield topo
