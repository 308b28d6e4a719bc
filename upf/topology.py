"""Network namespace topologies for the demo and the end-to-end tests.

A `Topology` creates uniquely named namespaces joined by veth pairs and removes every one
of them on exit, also on failure or Ctrl-C. Nothing is created in the root namespace except
the /run/netns entries themselves::

    with Topology("demo") as topo:
        gnb, upf = topo.netns("gnb"), topo.netns("upf")
        topo.veth(gnb, "gnb0", "10.100.0.1/24", upf, "n3", "10.100.0.2/24")
        with gnb.enter():
            sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)  # lives in gnb

Commands run in a namespace with `nsenter --net=/run/netns/NAME` (not `ip netns exec`,
which remounts /sys and hides the bpffs pins).
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import logging
import os
import secrets
import socket
import subprocess
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from types import TracebackType

log = logging.getLogger("upf.topology")

NETNS_DIR = "/run/netns"
CLONE_NEWNET = 0x40000000

_libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
_enter_lock = threading.Lock()


def _run(argv: Sequence[str], check: bool = True) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(list(argv), capture_output=True, text=True, check=False)
    if check and proc.returncode != 0:
        raise TopologyError(f"{' '.join(argv)}: {proc.stderr.strip() or proc.returncode}")
    return proc


class TopologyError(Exception):
    pass


@dataclass(slots=True)
class Netns:
    name: str  # full, unique name under /run/netns

    @property
    def path(self) -> str:
        return f"{NETNS_DIR}/{self.name}"

    def argv(self, argv: Sequence[str]) -> list[str]:
        """`argv` wrapped to run in this namespace."""
        return ["nsenter", f"--net={self.path}", "--", *argv]

    def run(self, *argv: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return _run(self.argv(argv), check=check)

    def ip(self, *args: str) -> subprocess.CompletedProcess[str]:
        return _run(["ip", "-n", self.name, *args])

    def popen(self, argv: Sequence[str], **kwargs: object) -> subprocess.Popen[bytes]:
        return subprocess.Popen(self.argv(argv), **kwargs)  # type: ignore[call-overload, no-any-return]

    @contextlib.contextmanager
    def enter(self) -> Iterator[None]:
        """Run the block with the calling thread in this namespace (to open sockets there).

        Sockets keep the namespace they were created in after the block ends.
        """
        with _enter_lock:
            own = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
            target = os.open(self.path, os.O_RDONLY)
            try:
                if _libc.setns(target, CLONE_NEWNET) != 0:
                    err = ctypes.get_errno()
                    raise TopologyError(f"setns {self.name}: {os.strerror(err)}")
                try:
                    yield
                finally:
                    if _libc.setns(own, CLONE_NEWNET) != 0:  # pragma: no cover
                        raise TopologyError("setns back to the original namespace failed")
            finally:
                os.close(target)
                os.close(own)

    def mac(self, ifname: str) -> str:
        out = self.ip("-o", "link", "show", "dev", ifname).stdout.split()
        return out[out.index("link/ether") + 1]

    def ifindex(self, ifname: str) -> int:
        with self.enter():
            return socket.if_nametoindex(ifname)


@dataclass(slots=True)
class Topology:
    """Namespaces named `<prefix>-<random>-<role>`, removed on exit."""

    prefix: str = "upf"
    tag: str = field(default_factory=lambda: secrets.token_hex(3))
    namespaces: list[Netns] = field(default_factory=list)

    def __enter__(self) -> Topology:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def netns(self, role: str) -> Netns:
        ns = Netns(f"{self.prefix}-{self.tag}-{role}")
        _run(["ip", "netns", "add", ns.name])
        self.namespaces.append(ns)
        ns.ip("link", "set", "lo", "up")
        return ns

    def veth(
        self,
        a: Netns,
        a_if: str,
        a_addr: str | None,
        b: Netns,
        b_if: str,
        b_addr: str | None,
    ) -> None:
        """A veth pair between two namespaces, up, with addresses (CIDR) and no offloads.

        Checksum offload is turned off so that frames carry real checksums when XDP sees
        them, and GRO is on so that XDP_REDIRECT into either end delivers (see RIG.md).
        """
        tmp_a, tmp_b = f"v{secrets.token_hex(4)}", f"v{secrets.token_hex(4)}"
        _run(["ip", "link", "add", tmp_a, "type", "veth", "peer", "name", tmp_b])
        try:
            _run(["ip", "link", "set", tmp_a, "netns", a.name, "name", a_if])
            _run(["ip", "link", "set", tmp_b, "netns", b.name, "name", b_if])
        except TopologyError:
            _run(["ip", "link", "del", tmp_a], check=False)
            raise
        for ns, ifname, addr in ((a, a_if, a_addr), (b, b_if, b_addr)):
            if addr:
                ns.ip("addr", "add", addr, "dev", ifname)
            ns.ip("link", "set", ifname, "up")
            ns.run("ethtool", "-K", ifname, "tx", "off", "rx", "off", "gro", "on", check=False)

    def close(self) -> None:
        for ns in reversed(self.namespaces):
            _kill_pids(ns)
            proc = _run(["ip", "netns", "del", ns.name], check=False)
            if proc.returncode != 0:
                log.warning("could not remove namespace %s: %s", ns.name, proc.stderr.strip())
        self.namespaces.clear()


def _kill_pids(ns: Netns) -> None:
    """Stop processes still running in the namespace (started by us, e.g. a crashed UPF)."""
    proc = _run(["ip", "netns", "pids", ns.name], check=False)
    for pid in proc.stdout.split():
        with contextlib.suppress(ProcessLookupError, ValueError):
            os.kill(int(pid), 9)


def leftover(prefix: str) -> list[str]:
    """Namespaces named with `prefix-` (to clean up after a killed run)."""
    try:
        return sorted(n for n in os.listdir(NETNS_DIR) if n.startswith(prefix + "-"))
    except FileNotFoundError:
        return []


# ---------------------------------------------------------------------------------------------
# The standard four-namespace topology of the demo and the end-to-end tests


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
    prefixlen: int = 24


@dataclass(slots=True)
class UpfTopology:
    """gNB --(gnb0/n3)-- UPF --(n6/dn0)-- DN, and SMF --(smf0/n4)-- UPF.

    The UPF's interfaces are named n3, n6 and n4. The DN routes the UE pool via the UPF's
    N6 address; neighbours are static so the first packets are not lost to ARP; forwarding
    is on in the UPF namespace (bpf_fib_lookup needs it). No route leaves the topology.
    """

    topo: Topology
    gnb: Netns
    upf: Netns
    dn: Netns
    smf: Netns
    addr: Addresses = field(default_factory=Addresses)

    @classmethod
    def create(cls, prefix: str = "upf") -> UpfTopology:
        topo = Topology(prefix)
        try:
            gnb, upf, dn, smf = (topo.netns(r) for r in ("gnb", "upf", "dn", "smf"))
            self = cls(topo, gnb, upf, dn, smf)
            self._wire()
        except BaseException:
            topo.close()
            raise
        return self

    def _wire(self) -> None:
        a, p = self.addr, f"/{self.addr.prefixlen}"
        t = self.topo
        t.veth(self.gnb, "gnb0", a.gnb + p, self.upf, "n3", a.upf_n3 + p)
        t.veth(self.dn, "dn0", a.dn + p, self.upf, "n6", a.upf_n6 + p)
        t.veth(self.smf, "smf0", a.smf + p, self.upf, "n4", a.upf_n4 + p)
        self.gnb.ip("addr", "add", a.gnb2 + p, "dev", "gnb0")
        self.dn.ip("route", "add", a.ue_pool, "via", a.upf_n6)
        self.gnb.ip("route", "add", a.ue_pool, "via", a.upf_n3)
        self.upf.run("sysctl", "-qw", "net.ipv4.ip_forward=1")
        for ns, ifname, peer_ns, peer_if, peer_addrs in (
            (self.upf, "n3", self.gnb, "gnb0", (a.gnb, a.gnb2)),
            (self.upf, "n6", self.dn, "dn0", (a.dn,)),
            (self.gnb, "gnb0", self.upf, "n3", (a.upf_n3,)),
            (self.dn, "dn0", self.upf, "n6", (a.upf_n6,)),
        ):
            mac = peer_ns.mac(peer_if)
            for addr in peer_addrs:
                ns.ip("neigh", "replace", addr, "lladdr", mac, "dev", ifname, "nud", "permanent")

    def close(self) -> None:
        self.topo.close()

    def __enter__(self) -> UpfTopology:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
