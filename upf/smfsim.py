"""`upf smf-sim`: an SMF simulator and PFCP load generator built on our codec.

It associates with the UPF, establishes N sessions, modifies them (a handover: the
downlink FAR moves to another gNB address and TEID), deletes them and prints a summary:
counts, causes, rates and latency percentiles per phase. Requests are pipelined: up to
`--window` are outstanding at once, so the same tool measures the agent's throughput.
`--rate` paces establishments instead (for latency at a given load).

Each session is what a 5G SMF installs for a PDU session (TS 23.502 4.3.2):
  PDR 1 uplink:   PDI Access, F-TEID CHOOSE (the UPF allocates it), UE IP, QFI; OHR; FAR 1
  PDR 2 downlink: PDI Core, UE IP (destination); FAR 2
  FAR 1: FORW to Core;  FAR 2: FORW to Access with OHC GTP-U/UDP/IPv4 (gNB, TEID)
  QER 1: gates open, MBR, QFI
"""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
import json
import logging
import secrets
import socket
import sys
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from upf.loadstats import PhaseStats

log = logging.getLogger("upf.smfsim")

PFCP_PORT = 8805
DEFAULT_UE_POOL = ipaddress.IPv4Network("10.45.0.0/16")
DEFAULT_GNB = ipaddress.IPv4Address("10.100.0.1")


@dataclass(frozen=True, slots=True)
class SimConfig:
    upf: tuple[str, int]
    local: tuple[str, int] = ("0.0.0.0", 0)
    node_id: str | None = None  # default: the local address
    sessions: int = 100
    window: int = 64
    rate: float = 0.0  # establishments per second; 0 = as fast as the window allows
    ue_pool: ipaddress.IPv4Network = DEFAULT_UE_POOL
    gnb: ipaddress.IPv4Address = DEFAULT_GNB
    gnb2: ipaddress.IPv4Address | None = None  # handover target; default gnb
    qfi: int = 9
    seid_base: int = 0x5EED00000000
    teid_base: int = 0x10000
    t1: float = 3.0  # retransmission timer (TS 29.244 7.6)
    n1: int = 3  # retransmissions


@dataclass(slots=True)
class SimSession:
    index: int
    cp_seid: int
    ue: ipaddress.IPv4Address
    gnb: ipaddress.IPv4Address
    gnb_teid: int
    up_seid: int = 0
    ul_teid: int = 0
    ul_addr: str = ""
    established: bool = False

    def as_dict(self) -> dict[str, Any]:
        return {
            "cp_seid": f"0x{self.cp_seid:x}",
            "up_seid": f"0x{self.up_seid:x}",
            "ue": str(self.ue),
            "ul_teid": f"0x{self.ul_teid:x}",
            "ul_addr": self.ul_addr,
            "gnb": str(self.gnb),
            "gnb_teid": f"0x{self.gnb_teid:x}",
        }


class Timeout(Exception):
    pass


@dataclass(slots=True)
class _Pending:
    future: asyncio.Future[bytes]
    data: bytes
    deadline: float
    attempts: int = 0


class _Protocol(asyncio.DatagramProtocol):
    def __init__(self, sim: SmfSim) -> None:
        self.sim = sim

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.sim._received(data, addr)

    def error_received(self, exc: Exception) -> None:
        log.debug("socket error: %s", exc)


@dataclass
class SmfSim:
    cfg: SimConfig
    sessions: list[SimSession] = field(default_factory=list)
    recovery_time: float = field(default_factory=time.time)
    _transport: asyncio.DatagramTransport | None = None
    _pending: dict[int, _Pending] = field(default_factory=dict)
    _sweeper: asyncio.Future[None] | None = None
    _templates: Any = None
    # A fresh instance does not reuse its predecessor's sequence numbers: a UPF would take
    # them for retransmissions and answer from its response cache.
    _seq: int = field(default_factory=lambda: secrets.randbelow(0xF00000))
    _local: str | None = None
    retransmissions: int = 0

    # -- transport ---------------------------------------------------------------------------

    async def open(self, sock: socket.socket | None = None) -> None:
        loop = asyncio.get_running_loop()
        if sock is None:
            sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            sock.bind(self.cfg.local)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 8 << 20)
        sock.setblocking(False)
        transport, _ = await loop.create_datagram_endpoint(lambda: _Protocol(self), sock=sock)
        self._transport = transport

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()
            self._transport = None
        for p in self._pending.values():
            if not p.future.done():
                p.future.cancel()
        self._pending.clear()
        if self._sweeper is not None:
            self._sweeper.cancel()
            self._sweeper = None

    @property
    def local_address(self) -> str:
        """Our address as the UPF sees it (the route's source when bound to any)."""
        if self._local is None:
            assert self._transport is not None
            addr = str(self._transport.get_extra_info("sockname")[0])
            if addr == "0.0.0.0":
                with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
                    probe.connect(self.cfg.upf)
                    addr = str(probe.getsockname()[0])
            self._local = addr
        return self._local

    @property
    def node_id(self) -> str:
        return self.cfg.node_id or self.local_address

    def _next_seq(self) -> int:
        self._seq = (self._seq + 1) & 0xFFFFFF
        return self._seq

    def _received(self, data: bytes, addr: tuple[str, int]) -> None:
        from upf import smfsim_codec as codec

        try:
            mtype, seq = codec.peek(data)
        except ValueError:
            return
        if codec.is_request(mtype):
            reply = codec.answer_request(data, self)
            if reply is not None and self._transport is not None:
                self._transport.sendto(reply, addr)
            return
        p = self._pending.pop(seq, None)
        if p is not None and not p.future.done():
            p.future.set_result(data)

    async def request_raw(self, encode: Callable[[int], bytes]) -> tuple[bytes, float]:
        """Send a request (encoded with a fresh sequence number), wait for the response.

        Returns (response bytes, latency in seconds from the first send). A sweeper task
        retransmits `n1` times, `t1` apart, then fails the request with Timeout.
        """
        assert self._transport is not None
        seq = self._next_seq()
        data = encode(seq)
        start = time.perf_counter()
        fut: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
        self._pending[seq] = _Pending(fut, data, start + self.cfg.t1)
        self._transport.sendto(data, self.cfg.upf)
        if self._sweeper is None:
            self._sweeper = asyncio.ensure_future(self._sweep())
        try:
            raw = await fut
        finally:
            self._pending.pop(seq, None)
        return raw, time.perf_counter() - start

    async def request(self, encode: Callable[[int], bytes]) -> tuple[Any, float]:
        """`request_raw`, the response decoded with our codec."""
        from upf import smfsim_codec as codec

        raw, latency = await self.request_raw(encode)
        return codec.decode(raw), latency

    async def _sweep(self) -> None:
        period = min(0.25, self.cfg.t1 / 4)
        while self._transport is not None:
            await asyncio.sleep(period)
            now = time.perf_counter()
            for seq, p in list(self._pending.items()):
                if p.future.done() or now < p.deadline:
                    continue
                if p.attempts < self.cfg.n1:
                    p.attempts += 1
                    p.deadline = now + self.cfg.t1
                    self.retransmissions += 1
                    if self._transport is not None:
                        self._transport.sendto(p.data, self.cfg.upf)
                else:
                    del self._pending[seq]
                    p.future.set_exception(
                        Timeout(
                            f"no response to sequence {seq} after {self.cfg.n1} retransmissions"
                        )
                    )

    # -- procedures ---------------------------------------------------------------------------

    async def heartbeat(self) -> float:
        from upf import smfsim_codec as codec

        _, latency = await self.request(lambda seq: codec.heartbeat_request(seq, self))
        return latency

    async def associate(self) -> str:
        """Association Setup; returns the cause name."""
        from upf import smfsim_codec as codec

        rsp, _ = await self.request(lambda seq: codec.association_setup_request(seq, self))
        return codec.cause_name(rsp)

    def templates(self) -> Any:
        from upf import smfsim_codec as codec

        if self._templates is None:
            self._templates = codec.Templates(self)
        return self._templates

    def plan(self) -> list[SimSession]:
        hosts = self.cfg.ue_pool.hosts()
        out = []
        for i, ue in zip(range(self.cfg.sessions), hosts, strict=False):
            out.append(
                SimSession(
                    index=i,
                    cp_seid=self.cfg.seid_base + i,
                    ue=ue,
                    gnb=self.cfg.gnb,
                    gnb_teid=self.cfg.teid_base + i,
                )
            )
        if len(out) < self.cfg.sessions:
            raise ValueError(f"UE pool {self.cfg.ue_pool} has fewer than {self.cfg.sessions} hosts")
        return out

    async def establish_all(self) -> PhaseStats:
        from upf import smfsim_codec as codec

        self.sessions = self.plan()
        stats = PhaseStats("establish")

        tpl = self.templates()

        async def one(s: SimSession) -> None:
            try:
                raw, lat = await self.request_raw(lambda seq: tpl.establishment(seq, s))
            except Timeout:
                stats.timeout()
                return
            r = _reply(raw)
            ok = r.cause == 1
            stats.record(lat, codec.reply_cause_name(r.cause), ok)
            if ok:
                s.up_seid, s.ul_teid, s.ul_addr = r.up_seid, r.ul_teid, r.ul_addr
                s.established = True

        await self._run_phase(stats, (one(s) for s in self.sessions), paced=True)
        return stats

    async def modify_all(self) -> PhaseStats:
        """Handover: every downlink FAR to gnb2 (or the same gNB) with a new TEID."""
        from upf import smfsim_codec as codec

        stats = PhaseStats("modify")
        target = self.cfg.gnb2 or self.cfg.gnb

        tpl = self.templates()

        async def one(s: SimSession) -> None:
            new_teid = (s.gnb_teid + 0x1000000) & 0xFFFFFFFF or 1
            try:
                raw, lat = await self.request_raw(
                    lambda seq: tpl.modification(seq, s.up_seid, target, new_teid)
                )
            except Timeout:
                stats.timeout()
                return
            r = _reply(raw)
            ok = r.cause == 1
            stats.record(lat, codec.reply_cause_name(r.cause), ok)
            if ok:
                s.gnb, s.gnb_teid = target, new_teid

        live = [s for s in self.sessions if s.established]
        await self._run_phase(stats, (one(s) for s in live))
        return stats

    async def delete_all(self) -> PhaseStats:
        from upf import smfsim_codec as codec

        stats = PhaseStats("delete")

        async def one(s: SimSession) -> None:
            try:
                raw, lat = await self.request_raw(
                    lambda seq: codec.deletion_request(seq, s.up_seid)
                )
            except Timeout:
                stats.timeout()
                return
            r = _reply(raw)
            ok = r.cause == 1
            stats.record(lat, codec.reply_cause_name(r.cause), ok)
            if ok:
                s.established = False

        live = [s for s in self.sessions if s.established]
        await self._run_phase(stats, (one(s) for s in live))
        return stats

    async def _run_phase(
        self, stats: PhaseStats, jobs: Iterable[Awaitable[None]], paced: bool = False
    ) -> None:
        """Run jobs with at most `window` in flight (and at `rate` per second if paced)."""
        it = iter(jobs)
        rate = self.cfg.rate if paced else 0.0
        start = time.perf_counter()
        next_at = start
        lock = asyncio.Lock()

        async def worker() -> None:
            nonlocal next_at
            while True:
                if rate > 0:
                    async with lock:
                        now = time.perf_counter()
                        delay = next_at - now
                        next_at = max(next_at, now) + 1.0 / rate
                    if delay > 0:
                        await asyncio.sleep(delay)
                job = next(it, None)
                if job is None:
                    return
                await job

        await asyncio.gather(*(worker() for _ in range(max(1, self.cfg.window))))
        stats.elapsed_s = time.perf_counter() - start


def _reply(raw: bytes) -> Any:
    """The fast TLV walk; our full decoder when the walk does not understand the bytes."""
    from upf import smfsim_codec as codec

    try:
        return codec.fast_reply(raw)
    except (ValueError, IndexError):
        msg = codec.decode(raw)
        cause = int(getattr(msg, "cause", -1))
        if cause == 1 and msg.message_type == 51:  # Session Establishment Response
            return codec.Reply(cause, *codec.established(msg))
        return codec.Reply(cause)


# -- command line ------------------------------------------------------------------------------


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--upf", required=True, help="the UPF's N4 address[:port]")
    p.add_argument("--local", default="0.0.0.0", help="our address[:port] (default any:8805)")
    p.add_argument("--node-id", help="our Node ID (default: the local address)")
    p.add_argument("-n", "--sessions", type=int, default=100)
    p.add_argument("-w", "--window", type=int, default=64, help="requests in flight")
    p.add_argument("--rate", type=float, default=0.0, help="establishments/s (0 = unpaced)")
    p.add_argument("--ue-pool", default="10.45.0.0/16")
    p.add_argument("--gnb", default="10.100.0.1", help="gNB N3 address (downlink OHC)")
    p.add_argument("--gnb2", help="handover target gNB (default: --gnb)")
    p.add_argument("--qfi", type=int, default=9)
    p.add_argument("--no-modify", action="store_true")
    p.add_argument("--no-delete", action="store_true", help="leave the sessions installed")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.add_argument("--dump-sessions", action="store_true", help="include every session (JSON)")
    # For benchmarks: after establishment print PAUSED on stderr, wait for a line on stdin.
    p.add_argument("--pause-after-establish", action="store_true", help=argparse.SUPPRESS)


def _hostport(text: str, default_port: int) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if sep and host and "." in host:
        return host, int(port)
    return text, default_port


def config_from_args(args: argparse.Namespace) -> SimConfig:
    return SimConfig(
        upf=_hostport(args.upf, PFCP_PORT),
        local=_hostport(args.local, PFCP_PORT),
        node_id=args.node_id,
        sessions=args.sessions,
        window=args.window,
        rate=args.rate,
        ue_pool=ipaddress.IPv4Network(args.ue_pool),
        gnb=ipaddress.IPv4Address(args.gnb),
        gnb2=ipaddress.IPv4Address(args.gnb2) if args.gnb2 else None,
        qfi=args.qfi,
    )


async def run_sim(
    cfg: SimConfig,
    modify: bool = True,
    delete: bool = True,
    sock: socket.socket | None = None,
    pause: bool = False,
) -> tuple[SmfSim, dict[str, Any]]:
    sim = SmfSim(cfg)
    await sim.open(sock)
    summary: dict[str, Any] = {
        "upf": f"{cfg.upf[0]}:{cfg.upf[1]}",
        "sessions": cfg.sessions,
        "window": cfg.window,
        "rate": cfg.rate,
    }
    try:
        summary["association"] = await sim.associate()
        phases = [await sim.establish_all()]
        if pause:
            print("PAUSED", file=sys.stderr, flush=True)
            await asyncio.to_thread(sys.stdin.readline)
        if modify:
            phases.append(await sim.modify_all())
        if delete:
            phases.append(await sim.delete_all())
        for ph in phases:
            summary[ph.name] = ph.summary()
        summary["retransmissions"] = sim.retransmissions
    finally:
        sim.close()
    return sim, summary


def main(args: argparse.Namespace) -> int:
    cfg = config_from_args(args)
    try:
        sim, summary = asyncio.run(
            run_sim(
                cfg,
                modify=not args.no_modify,
                delete=not args.no_delete,
                pause=args.pause_after_establish,
            )
        )
    except (Timeout, OSError) as e:
        print(f"smf-sim: {e}", file=sys.stderr)
        return 1
    if args.dump_sessions:
        summary["session_list"] = [s.as_dict() for s in sim.sessions]
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        print(format_summary(summary))
    est = summary.get("establish", {})
    return 0 if summary.get("association") == "REQUEST_ACCEPTED" and est.get("accepted") else 1


def format_summary(summary: dict[str, Any]) -> str:
    lines = [
        f"UPF {summary['upf']}: association {summary.get('association')}, "
        f"{summary['sessions']} sessions, window {summary['window']}"
    ]
    for name in ("establish", "modify", "delete"):
        ph = summary.get(name)
        if not ph:
            continue
        causes = ", ".join(f"{k} {v}" for k, v in ph["causes"].items())
        lines.append(
            f"  {name:<9} {ph['accepted']:>7}/{ph['count']:<7} {ph['per_s']:>10.1f}/s  "
            f"p50 {ph['p50_ms']:.2f} ms  p99 {ph['p99_ms']:.2f} ms  max {ph['max_ms']:.2f} ms"
            f"  [{causes}]"
        )
    if summary.get("retransmissions"):
        lines.append(f"  retransmissions: {summary['retransmissions']}")
    return "\n".join(lines)
