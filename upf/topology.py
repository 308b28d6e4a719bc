"""Network namespaces for the demo, the end-to-end and datapath tests and the benchmarks.

A `Topology` owns uniquely named namespaces and removes every one of them, with whatever
still runs inside: when its `with` block ends (also on an exception or Ctrl-C), at
interpreter exit for any still alive, and the next `Topology` of the same prefix removes
the ones a killed process left (its pid is gone). Nothing is created in the root
namespace except the /run/netns entries, and no namespace has a route out of the machine::

    with UpfTopology("demo") as topo:                 # gNB, UPF, DN and SMF namespaces
        with topo.smf.entered():                      # this thread only (setns)
            sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)  # lives in smf
        topo.upf.run(["ip", "neigh"])                 # nsenter --net=/run/netns/NAME ...

    with Topology("upfdp") as t:                      # namespaces of your own
        a, b = t.netns("a"), t.netns("b")
        veth(a, "a0", b, "b0")

Work in another namespace either enters it on the current thread (`Netns.entered`: to
open sockets or BPF fds there, which keep that namespace) or runs as a subprocess under
`nsenter --net=/run/netns/NAME`. Never `ip netns exec`: it remounts /sys and hides the
bpffs pins (RIG.md).
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import ctypes.util
import logging
import os
import secrets
import signal
import socket
import subprocess
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Final, Self

from pyroute2 import IPRoute, netns

log = logging.getLogger("upf.topology")

NETNS_RUN_DIR: Final = "/run/netns"
_CLONE_NEWNET: Final = 0x40000000
ETH_P_ALL: Final = 0x0003

_libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
_libc.setns.argtypes = [ctypes.c_int, ctypes.c_int]
_libc.setns.restype = ctypes.c_int

_lock = threading.Lock()
_live: set[str] = set()  # namespaces this process created and has not removed yet


class TopologyError(RuntimeError):
    """A namespace operation failed (the rig, not the code under test)."""


def _setns(fd: int) -> None:
    if _libc.setns(fd, _CLONE_NEWNET) != 0:
        raise TopologyError(f"setns: {os.strerror(ctypes.get_errno())}")


def unique_name(prefix: str) -> str:
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


def reap_stale(prefix: str) -> list[str]:
    """Remove namespaces named by `unique_name(prefix)` whose creating process is gone."""
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
        Netns(name).close()
        removed.append(name)
    if removed:
        log.warning("removed %d stale namespaces: %s", len(removed), ", ".join(removed))
    return removed


@atexit.register
def _remove_all_live() -> None:
    with _lock:
        names = sorted(_live)
    for name in names:
        Netns(name).close()


@dataclass(frozen=True, slots=True)
class Netns:
    """One network namespace: a /run/netns entry."""

    name: str

    @classmethod
    def create(cls, name: str) -> Netns:
        """A new namespace with lo up and IPv6 off (no RS, MLD or DAD chatter in captures)."""
        if len(name) > 64 or "/" in name:
            raise TopologyError(f"bad namespace name {name!r}")
        with _lock:
            _live.add(name)
        # `ip netns add` rather than pyroute2's netns.create, which forks this process
        # (a fork that inherits our signal handlers and atexit state).
        proc = subprocess.run(["ip", "netns", "add", name], capture_output=True, text=True)
        if proc.returncode != 0:
            with _lock:
                _live.discard(name)
            raise TopologyError(f"ip netns add {name}: {proc.stderr.strip()}")
        ns = cls(name)
        try:
            ns.sysctl("net.ipv6.conf.default.disable_ipv6", "1")
            ns.sysctl("net.ipv6.conf.all.disable_ipv6", "1")
            ns.up("lo")
        except BaseException:
            ns.close()
            raise
        return ns

    @property
    def path(self) -> str:
        return f"{NETNS_RUN_DIR}/{self.name}"

    @contextlib.contextmanager
    def ipr(self) -> Iterator[Any]:
        """A pyroute2 IPRoute of this namespace, for the block.

        Its socket is opened with this thread in the namespace, not with
        `IPRoute(netns=...)`, which forks this process for every socket.
        """
        with self.entered():
            ipr = IPRoute()
        with ipr:
            yield ipr

    # -- running work inside --------------------------------------------------------

    @contextlib.contextmanager
    def entered(self) -> Iterator[None]:
        """Run the block with the calling thread in this namespace (setns), then back.

        Sockets and BPF fds opened in the block keep this namespace.
        """
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
        """`argv` wrapped to run in this namespace (nsenter: /sys/fs/bpf stays visible)."""
        return ["nsenter", f"--net={self.path}", "--", *argv]

    def run(
        self, argv: Sequence[str], *, check: bool = True, timeout: float = 30.0
    ) -> subprocess.CompletedProcess[str]:
        """Run a command in this namespace; with `check`, a failure raises with its stderr."""
        proc = subprocess.run(
            self.argv(argv), capture_output=True, text=True, timeout=timeout, check=False
        )
        if check and proc.returncode != 0:
            err = proc.stderr.strip() or f"exit {proc.returncode}"
            raise TopologyError(f"{self.name}: {' '.join(argv)}: {err}")
        return proc

    def sysctl(self, key: str, value: str) -> None:
        """Write a net.* sysctl of this namespace (e.g. 'net.ipv4.ip_forward', '1')."""
        path = "/proc/sys/" + key.replace(".", "/")
        with self.entered(), open(path, "w") as f:
            f.write(value)

    def pids(self) -> list[int]:
        """Processes (other than this one) whose network namespace this is."""
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            return []
        found: list[int] = []
        for entry in os.listdir("/proc"):
            if not entry.isdigit() or int(entry) == os.getpid():
                continue
            with contextlib.suppress(OSError):
                s = os.stat(f"/proc/{entry}/ns/net")
                if (s.st_dev, s.st_ino) == (st.st_dev, st.st_ino):
                    found.append(int(entry))
        return found

    # -- links ----------------------------------------------------------------------

    def ifindex(self, ifname: str) -> int:
        with self.ipr() as ipr:
            return _lookup(ipr, self, ifname)

    def mac(self, ifname: str) -> str:
        with self.ipr() as ipr:
            link = ipr.get_links(_lookup(ipr, self, ifname))[0]
        return str(link.get("IFLA_ADDRESS"))

    def set_mac(self, ifname: str, mac: str) -> None:
        with self.ipr() as ipr:
            ipr.link("set", index=_lookup(ipr, self, ifname), address=mac)

    def up(self, ifname: str) -> None:
        with self.ipr() as ipr:
            ipr.link("set", index=_lookup(ipr, self, ifname), state="up")

    def add_addr(self, ifname: str, addr: str, prefixlen: int) -> None:
        with self.ipr() as ipr:
            ipr.addr("add", index=_lookup(ipr, self, ifname), address=addr, prefixlen=prefixlen)

    def add_route(self, dst: str, prefixlen: int, gateway: str) -> None:
        with self.ipr() as ipr:
            ipr.route("add", dst=dst, dst_len=prefixlen, gateway=gateway)

    def set_neigh(self, ifname: str, addr: str, mac: str) -> None:
        """A permanent neighbour entry (replaces any existing one)."""
        with self.ipr() as ipr:
            index = _lookup(ipr, self, ifname)
            ipr.neigh("replace", dst=addr, lladdr=mac, ifindex=index, state="permanent")

    def set_xdp(self, ifname: str, prog_fd: int) -> None:
        """Attach (prog_fd >= 0) or detach (-1) an XDP program in native mode."""
        with self.ipr() as ipr:
            ipr.link("set", index=_lookup(ipr, self, ifname), xdp_fd=prog_fd)

    # -- frames ---------------------------------------------------------------------

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

    # -- teardown -------------------------------------------------------------------

    def close(self) -> None:
        """Kill what still runs inside (a crashed UPF, say), then remove the namespace.

        Never raises: a failure is logged, so the caller's own error is not masked.
        """
        for pid in self.pids():
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
                log.debug("killed pid %d left in %s", pid, self.name)
        with _lock:
            _live.discard(self.name)
        try:
            netns.remove(self.name)
        except FileNotFoundError:
            pass
        except OSError as exc:
            log.error("could not remove namespace %s: %s", self.name, exc)


def _lookup(ipr: Any, ns: Netns, ifname: str) -> int:
    found = ipr.link_lookup(ifname=ifname)
    if not found:
        raise TopologyError(f"{ns.name}: no interface {ifname}")
    return int(found[0])


def veth(a: Netns, a_if: str, b: Netns, b_if: str) -> None:
    """A veth pair made inside `a`, its peer end created straight in `b`; both ends up.

    Checksum offload is off, so frames carry real checksums when XDP sees them, and GRO
    is on, so XDP_REDIRECT into either end delivers even without an XDP program on it
    (RIG.md: otherwise the frames are lost as rx_queue drops).
    """
    with a.ipr() as ipr:
        ipr.link("add", ifname=a_if, kind="veth", peer={"ifname": b_if, "net_ns_fd": b.name})
    for ns, ifname in ((a, a_if), (b, b_if)):
        ns.up(ifname)
        ns.run(["ethtool", "-K", ifname, "tx", "off", "rx", "off", "gro", "on"])


class Topology:
    """Namespaces named `<name>-<role>`, `name` being `<prefix><pid>-<6 hex>`."""

    def __init__(self, prefix: str = "upf") -> None:
        reap_stale(prefix)
        self.name = unique_name(prefix)
        self.namespaces: list[Netns] = []

    def netns(self, role: str) -> Netns:
        ns = Netns.create(f"{self.name}-{role}")
        self.namespaces.append(ns)
        return ns

    def close(self) -> None:
        while self.namespaces:
            self.namespaces.pop().close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# ---------------------------------------------------------------------------------------
# The standard topology of the demo, the tests and the benchmarks

GNB_IF: Final = "gnb0"
UPF_N3_IF: Final = "n3"
UPF_N6_IF: Final = "n6"
DN_IF: Final = "dn0"
UPF_N4_IF: Final = "n4"
SMF_IF: Final = "smf0"


@dataclass(frozen=True, slots=True)
class Addresses:
    gnb: str = "10.100.0.1"  # gNB N3 address
    gnb2: str = "10.100.0.3"  # a second gNB on the same link (handover target)
    upf_n3: str = "10.100.0.2"
    upf_n6: str = "10.200.0.2"
    dn: str = "10.200.0.1"  # a host in the data network
    upf_n4: str = "10.50.0.2"
    smf: str = "10.50.0.1"
    ue_pool: str = "10.45.0.0/16"
    prefixlen: int = 24  # of every link


class UpfTopology(Topology):
    """gNB --(gnb0/n3)-- UPF --(n6/dn0)-- DN, and SMF --(smf0/n4)-- UPF.

    The DN routes the UE pool via the UPF's N6 address and the gNB via its N3 address (so
    it can also send plain IP); forwarding is on in the UPF namespace only (bpf_fib_lookup
    needs it). With `static_neigh` the neighbours on N3 and N6 are permanent entries, so
    the first packets are not lost to ARP. No default route anywhere.
    """

    def __init__(
        self, prefix: str = "upf", addr: Addresses | None = None, *, static_neigh: bool = True
    ) -> None:
        super().__init__(prefix)
        self.addr = addr or Addresses()
        try:
            self.gnb, self.upf, self.dn, self.smf = (
                self.netns(role) for role in ("gnb", "upf", "dn", "smf")
            )
            self._wire(static_neigh)
        except BaseException:
            self.close()
            raise

    def _wire(self, static_neigh: bool) -> None:
        a, plen = self.addr, self.addr.prefixlen
        gnb, upf, dn, smf = self.gnb, self.upf, self.dn, self.smf
        veth(upf, UPF_N3_IF, gnb, GNB_IF)
        veth(upf, UPF_N6_IF, dn, DN_IF)
        veth(upf, UPF_N4_IF, smf, SMF_IF)
        for ns, ifname, address in (
            (gnb, GNB_IF, a.gnb),
            (gnb, GNB_IF, a.gnb2),
            (upf, UPF_N3_IF, a.upf_n3),
            (upf, UPF_N6_IF, a.upf_n6),
            (dn, DN_IF, a.dn),
            (upf, UPF_N4_IF, a.upf_n4),
            (smf, SMF_IF, a.smf),
        ):
            ns.add_addr(ifname, address, plen)
        pool, pool_len = a.ue_pool.split("/")
        dn.add_route(pool, int(pool_len), a.upf_n6)
        gnb.add_route(pool, int(pool_len), a.upf_n3)
        upf.sysctl("net.ipv4.ip_forward", "1")
        # A downlink packet the fast path encapsulates but cannot redirect (neighbour
        # unresolved: PASS_NO_NEIGH) reaches the kernel on N6 with our own N3 address as
        # its source; without accept_local the kernel drops it as a martian.
        upf.sysctl(f"net.ipv4.conf.{UPF_N6_IF}.accept_local", "1")
        if static_neigh:
            gnb_mac = gnb.mac(GNB_IF)
            upf.set_neigh(UPF_N3_IF, a.gnb, gnb_mac)
            upf.set_neigh(UPF_N3_IF, a.gnb2, gnb_mac)
            upf.set_neigh(UPF_N6_IF, a.dn, dn.mac(DN_IF))
            gnb.set_neigh(GNB_IF, a.upf_n3, upf.mac(UPF_N3_IF))
            dn.set_neigh(DN_IF, a.upf_n6, upf.mac(UPF_N6_IF))
