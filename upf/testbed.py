"""A UPF under test: `upf run` in the UPF namespace of a `UpfTopology`, plus GTP-U traffic.

Used by `upf demo` and by the end-to-end tests. The UPF runs as a real subprocess started
with `nsenter --net=...`; the gNB, DN and SMF ends are sockets this process opens inside
their namespaces. Test packets are built with scapy (an implementation independent of ours).
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

import yaml

from upf.topology import UpfTopology

GTPU_PORT = 2152
PFCP_PORT = 8805
DN_PORT = 9999  # the DN's UDP sink for uplink test traffic
UE_PORT = 7777  # destination port of downlink test traffic
MARK = b"upf-test "


def upf_config(
    topo: UpfTopology, pin_dir: str, overrides: Mapping[str, object] | None = None
) -> dict[str, object]:
    """A config for the UPF in `topo` (merged with `overrides`, dotted keys)."""
    a = topo.addr
    cfg: dict[str, object] = {
        "interfaces": {"n3": {"name": "n3", "address": a.upf_n3}, "n6": {"name": "n6"}},
        "n4": {"address": a.upf_n4, "port": PFCP_PORT},
        "smf": {"allow": [f"{a.smf}/32"], "heartbeat_interval": 5},
        "ue_pools": {"internet": {"v4": [a.ue_pool]}},
        "limits": {"sessions": 1024, "pdrs": 4096, "fars": 4096, "qers": 2048, "nexthops": 256},
        "xdp": {"mode": "native", "pin_dir": pin_dir, "keep_maps": False},
        "metrics": {"enabled": False},
        "log_level": "info",
    }
    for key, value in (overrides or {}).items():
        node = cfg
        *path, last = key.split(".")
        for part in path:
            nxt = node.setdefault(part, {})
            assert isinstance(nxt, dict)
            node = nxt
        node[last] = value
    return cfg


@dataclass
class UpfProcess:
    """`upf run` in the UPF namespace; its output goes to a log file."""

    topo: UpfTopology
    workdir: Path
    config: dict[str, object]
    proc: subprocess.Popen[bytes] | None = None
    log_path: Path = field(init=False)

    def __post_init__(self) -> None:
        self.log_path = self.workdir / "upf.log"

    @property
    def pin_dir(self) -> str:
        xdp = self.config["xdp"]
        assert isinstance(xdp, dict)
        return str(xdp["pin_dir"])

    def start(self, timeout: float = 20.0, ip_netns_exec: bool = False) -> None:
        """Start `upf run` with nsenter (or `ip netns exec`, which hides the host's bpffs)."""
        cfg_path = self.workdir / "upf.yaml"
        cfg_path.write_text(yaml.safe_dump(self.config))
        argv = [sys.executable, "-m", "upf", "run", "--config", str(cfg_path)]
        env = {k: v for k, v in os.environ.items() if not k.startswith("UPF_")}
        env["PYTHONPATH"] = str(Path(__file__).resolve().parents[1])
        with open(self.log_path, "ab") as logf:
            wrapped = (
                ["ip", "netns", "exec", self.topo.upf.name, *argv]
                if ip_netns_exec
                else self.topo.upf.argv(argv)
            )
            self.proc = subprocess.Popen(wrapped, stdout=logf, stderr=subprocess.STDOUT, env=env)
        self.wait_ready(timeout)

    def wait_ready(self, timeout: float) -> None:
        """Until the agent answers a Heartbeat Request (hand-made bytes, TS 29.244 7.4.2)."""
        a = self.topo.addr
        with self.topo.smf.entered():
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind((a.smf, 0))
        deadline = time.monotonic() + timeout
        seq = 0x7F0000
        try:
            while time.monotonic() < deadline:
                if self.proc is not None and self.proc.poll() is not None:
                    raise RuntimeError(f"upf run exited with {self.proc.returncode}:\n{self.log()}")
                seq += 1
                rts = struct.pack("!HHI", 96, 4, int(time.time()) + 2208988800)
                hdr = struct.pack("!BBH", 0x20, 1, 4 + len(rts)) + seq.to_bytes(3, "big") + b"\0"
                s.sendto(hdr + rts, (a.upf_n4, PFCP_PORT))
                r, _, _ = select.select([s], [], [], 0.2)
                if r:
                    data = s.recv(2048)
                    if len(data) >= 2 and data[1] == 2:
                        return
            raise TimeoutError(f"upf run not ready after {timeout}s:\n{self.log()}")
        finally:
            s.close()

    def stop(self, timeout: float = 15.0) -> int:
        """SIGTERM, wait; the exit code (killed: -9)."""
        if self.proc is None:
            return 0
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        rc = self.proc.returncode
        self.proc = None
        return rc

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-6000:]
        except OSError:
            return ""


class Traffic:
    """GTP-U from the gNB(s), plain IP from the DN, and counting what arrives at each end."""

    def __init__(self, topo: UpfTopology) -> None:
        a = topo.addr
        self.topo = topo
        self.gnb: dict[str, socket.socket] = {}
        with topo.gnb.entered():
            for addr in (a.gnb, a.gnb2):
                s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                s.bind((addr, GTPU_PORT))
                self.gnb[addr] = s
        with topo.dn.entered():
            self.dn_rx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            self.dn_rx.bind((a.dn, DN_PORT))
            self.dn_tx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            self.dn_tx.bind((a.dn, 0))
        for s in (*self.gnb.values(), self.dn_rx):
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)

    def close(self) -> None:
        for s in (*self.gnb.values(), self.dn_rx, self.dn_tx):
            s.close()

    def __enter__(self) -> Traffic:
        return self

    def __exit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def drain(self) -> None:
        for s in (*self.gnb.values(), self.dn_rx):
            s.setblocking(False)
            with contextlib.suppress(BlockingIOError):
                while True:
                    s.recv(65535)

    def send_uplink(
        self, teid: int, ue: str, count: int, qfi: int | None = 9, gnb: str | None = None
    ) -> None:
        """`count` GTP-U packets (inner UDP UE -> DN:DN_PORT) from the gNB to our N3."""
        from scapy.contrib.gtp import GTP_U_Header, GTPPDUSessionContainer
        from scapy.layers.inet import IP, UDP

        a = self.topo.addr
        inner = IP(src=ue, dst=a.dn) / UDP(sport=UE_PORT, dport=DN_PORT)
        s = self.gnb[gnb or a.gnb]
        for i in range(count):
            payload = MARK + f"ul {ue} {i}".encode()
            if qfi is None:
                pkt = GTP_U_Header(teid=teid, gtp_type=255) / inner / payload
            else:
                pkt = (
                    GTP_U_Header(teid=teid, gtp_type=255, E=1, next_ex=0x85)
                    / GTPPDUSessionContainer(type=1, QFI=qfi)
                    / inner
                    / payload
                )
            s.sendto(bytes(pkt), (a.upf_n3, GTPU_PORT))

    def send_downlink(self, ue: str, count: int) -> None:
        """`count` plain UDP packets from the DN to the UE (routed via the UPF's N6)."""
        for i in range(count):
            self.dn_tx.sendto(MARK + f"dl {ue} {i}".encode(), (ue, UE_PORT))

    def recv_uplink(self, timeout: float = 1.0) -> Counter[str]:
        """Uplink packets received at the DN, by UE source address."""
        got: Counter[str] = Counter()
        for data, addr in _recv_all(self.dn_rx, timeout):
            if data.startswith(MARK):
                got[addr[0]] += 1
        return got

    def recv_downlink(self, timeout: float = 1.0) -> Counter[tuple[str, int, str]]:
        """Downlink GTP-U received at the gNB(s), by (gNB address, TEID, inner destination)."""
        from scapy.contrib.gtp import GTP_U_Header
        from scapy.layers.inet import IP

        got: Counter[tuple[str, int, str]] = Counter()
        for gnb_addr, s in self.gnb.items():
            for data, _ in _recv_all(s, timeout):
                pkt = GTP_U_Header(data)
                ip = pkt.getlayer(IP)
                if ip is None or MARK not in bytes(ip):
                    continue
                got[(gnb_addr, int(pkt.teid), str(ip.dst))] += 1
            timeout = 0.05  # the first socket waited already
        return got


def _recv_all(s: socket.socket, timeout: float) -> Iterator[tuple[bytes, tuple[str, int]]]:
    """Datagrams until the socket stays quiet for `timeout` (at most 10 x timeout)."""
    s.setblocking(False)
    end = time.monotonic() + 10 * timeout
    while time.monotonic() < end:
        r, _, _ = select.select([s], [], [], timeout)
        if not r:
            return
        while True:
            try:
                data, addr = s.recvfrom(65535)
            except BlockingIOError:
                break
            yield data, addr


@contextlib.contextmanager
def testbed(
    prefix: str = "upfe2e",
    overrides: Mapping[str, object] | None = None,
    start: bool = True,
) -> Iterator[tuple[UpfTopology, UpfProcess, Traffic]]:
    """Topology + `upf run` + traffic sockets; everything is removed on exit."""
    with (
        tempfile.TemporaryDirectory(prefix="upf-") as tmp,
        UpfTopology(prefix) as topo,
    ):
        pin_dir = f"/sys/fs/bpf/{topo.name}"
        upf = UpfProcess(topo, Path(tmp), upf_config(topo, pin_dir, overrides))
        try:
            with Traffic(topo) as traffic:
                if start:
                    upf.start()
                yield topo, upf, traffic
        finally:
            upf.stop()
            _remove_pins(pin_dir)


def _remove_pins(pin_dir: str) -> None:
    """Remove a test's pin directory if the UPF left one (it should not)."""
    p = Path(pin_dir)
    if p.is_dir():
        for child in p.iterdir():
            with contextlib.suppress(OSError):
                child.unlink()
        with contextlib.suppress(OSError):
            p.rmdir()


def descendants(pid: int) -> list[int]:
    """Every process below ``pid`` (its children, theirs...), from /proc."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            children.setdefault(int(stat.rsplit(")", 1)[1].split()[1]), []).append(int(entry))
    out, todo = [], [pid]
    while todo:
        below = children.get(todo.pop(), [])
        out += below
        todo += below
    return out


def xdp_prog_ids(topo: UpfTopology, ifnames: Sequence[str] = ("n3", "n6")) -> dict[str, int]:
    """Attached XDP program id per interface of the UPF namespace (0 = none)."""
    out: dict[str, int] = {}
    for ifname in ifnames:
        text = topo.upf.run(["ip", "-d", "link", "show", "dev", ifname]).stdout
        words = text.split()
        out[ifname] = int(words[words.index("prog/xdp") + 2]) if "prog/xdp" in words else 0
    return out
