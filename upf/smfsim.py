"""`upf smf-sim`: an SMF simulator and PFCP load generator.

It associates with the UPF, establishes N sessions, modifies them (a handover: the
downlink FAR moves to another gNB address and TEID), deletes them and prints a summary:
counts, causes, rates, latency percentiles and its own CPU time per phase. Requests are
pipelined: up to `--window` are outstanding at once, so the same tool measures the agent's
throughput. `--rate` paces establishments instead (for latency at a given load).

The generator shares a 2-core machine with the agent it measures, so a request costs it a
few microseconds: no task or future per request. A phase is a window of sequence numbers
driven from `datagram_received`: each response is checked (smfsim_codec.read_response),
frees its slot and sends the next request right there; a request is one `struct` pack of a
template (smfsim_codec.Templates). Per-request state lives in preallocated arrays indexed by
the request's position in the phase (sequence - first sequence), and a timer sweeps only
what is overdue: first sends in order, then the retransmitted, each a FIFO sorted by
deadline because T1 is constant. The session messages (smfsim_codec) are checked against
pfcp.codec and scapy in the tests; this module does not import pfcp (0.6 s of CPU).
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import gc
import ipaddress
import json
import logging
import secrets
import socket
import sys
import time
from array import array
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from upf import smfsim_codec as codec
from upf.loadstats import PhaseStats

log = logging.getLogger("upf.smfsim")

PFCP_PORT = 8805
DEFAULT_UE_POOL = ipaddress.IPv4Network("10.45.0.0/16")
DEFAULT_GNB = ipaddress.IPv4Address("10.100.0.1")
SEQ_MASK = 0xFFFFFF


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


def handover_teid(gnb_teid: int) -> int:
    """The downlink TEID a session moves to at the handover (modify phase)."""
    return (gnb_teid + 0x1000000) & 0xFFFFFFFF or 1


class Timeout(Exception):
    pass


class _Protocol(asyncio.DatagramProtocol):
    def __init__(self, sim: SmfSim) -> None:
        self.datagram_received = sim._received  # type: ignore[method-assign]

    def error_received(self, exc: Exception) -> None:
        log.debug("socket error: %s", exc)


# A request's state in a phase.
_UNSENT, _IN_FLIGHT, _DONE = 0, 1, 2


class _Phase:
    """One phase in flight: `n` requests, request k carries sequence number seq0 + k.

    Subclasses say how request k is written (`encode`) and how its response is judged
    (`check`: None when accepted, else the name counted in the summary's causes).
    """

    response_type = 0

    def __init__(self, sim: SmfSim, stats: PhaseStats, jobs: list[SimSession], rate: float):
        self.sim = sim
        self.stats = stats
        self.jobs = jobs
        self.n = n = len(jobs)
        self.tpl = sim.templates()
        self.reader = codec.ResponseReader()
        self.send = sim._send
        self.seq0 = sim._reserve_seqs(n)
        self.window = max(1, sim.cfg.window)
        self.interval = 1.0 / rate if rate > 0 else 0.0
        self.t1, self.n1 = sim.cfg.t1, sim.cfg.n1
        self.state = bytearray(n)
        self.sent = array("d", bytes(8 * n))  # first send, perf_counter()
        self.latencies = array("d", bytes(8 * n))
        self.answered = 0
        self.next_k = 0  # the next request to send
        self.in_flight = 0
        self.finished = 0  # answered or timed out
        self.ok = 0
        self.failures: Counter[str] = Counter()
        self.offending: Counter[int] = Counter()
        self.timeouts = 0
        self.swept = 0  # first sends before this one were checked by the sweeper
        self.retx: deque[int] = deque()  # retransmitted, by deadline
        self.retx_deadline: dict[int, float] = {}
        self.retx_count: dict[int, int] = {}
        self.next_at = 0.0  # pacing: when the next request is due
        self.pacer: asyncio.TimerHandle | None = None
        self.sweeper: asyncio.TimerHandle | None = None
        self.loop = asyncio.get_running_loop()
        self.done: asyncio.Future[None] = self.loop.create_future()

    # -- subclass hooks -----------------------------------------------------------------------

    def encode(self, k: int, seq: int) -> bytes:
        raise NotImplementedError

    def check(self, k: int, data: bytes) -> str | None:
        raise NotImplementedError

    def read(self, k: int, data: bytes) -> tuple[str | None, codec.Response | None]:
        """(failure, response): type, well-formedness, Cause, header SEID."""
        if data[1] != self.response_type:
            if data[1] == codec.VERSION_NOT_SUPPORTED_RESPONSE:
                return "VERSION_NOT_SUPPORTED", None
            return f"UNEXPECTED_MESSAGE_TYPE_{data[1]}", None
        try:
            r = self.reader.read(data)
        except codec.MalformedError:
            return "MALFORMED_RESPONSE", None
        if r.cause != codec.REQUEST_ACCEPTED:
            if r.offending_ie >= 0:
                self.offending[r.offending_ie] += 1
            return ("MISSING_CAUSE" if r.cause < 0 else codec.cause_name(r.cause)), r
        if r.seid != self.jobs[k].cp_seid:  # TS 29.244 7.2.2.4.1: the peer's (our) SEID
            return "WRONG_SEID", r
        return None, r

    # -- the engine ---------------------------------------------------------------------------

    async def run(self) -> None:
        start = time.perf_counter()
        self.next_at = start
        if self.n:
            self.sweeper = self.loop.call_later(self._sweep_period(), self._sweep)
            self.pump()
            try:
                await self.done
            finally:
                self.stop()
        st = self.stats
        st.elapsed_s = time.perf_counter() - start
        st.latencies_s = self.latencies[: self.answered]
        st.ok, st.timeouts = self.ok, self.timeouts
        st.failed = sum(self.failures.values())
        if self.ok:
            st.causes[codec.cause_name(codec.REQUEST_ACCEPTED)] += self.ok
        st.causes.update(self.failures)
        if self.timeouts:
            st.causes["TIMEOUT"] += self.timeouts
        st.offending_ies.update(self.offending)

    def stop(self) -> None:
        for h in (self.pacer, self.sweeper):
            if h is not None:
                h.cancel()
        self.pacer = self.sweeper = None
        if not self.done.done():
            self.done.cancel()

    def pump(self, now: float = 0.0) -> None:
        """Send what the window (and the pace) allows; `now`: the clock, if just read."""
        state, sent, encode, send = self.state, self.sent, self.encode, self.send
        seq0, n, interval = self.seq0, self.n, self.interval
        while self.in_flight < self.window and self.next_k < n:
            if not now or interval:
                now = time.perf_counter()
            if interval:
                if now < self.next_at:
                    if self.pacer is None:
                        # libuv timers have millisecond resolution: wake at most every 1 ms
                        # and send what is due then (a backlog of up to 5 ms is caught up).
                        self.pacer = self.loop.call_later(
                            max(self.next_at - now, 0.001), self._paced
                        )
                    return
                self.next_at = max(self.next_at + interval, now - 0.005)
            k = self.next_k
            self.next_k = k + 1
            send(encode(k, (seq0 + k) & SEQ_MASK))
            sent[k] = now
            state[k] = _IN_FLIGHT
            self.in_flight += 1

    def _paced(self) -> None:
        self.pacer = None
        self.pump()

    def reply(self, k: int, data: bytes) -> None:
        """The response to request k (its first: later duplicates are not routed here)."""
        now = time.perf_counter()
        self.latencies[self.answered] = now - self.sent[k]
        self.answered += 1
        self.state[k] = _DONE
        self.in_flight -= 1
        failure = self.check(k, data)
        if failure is None:
            self.ok += 1
        else:
            self.failures[failure] += 1
        self.finished += 1
        if self.finished == self.n:
            self.done.set_result(None)
        else:
            self.pump(now)

    def _sweep_period(self) -> float:
        return min(0.25, self.t1 / 4)

    def _sweep(self) -> None:
        """Retransmit what is overdue (TS 29.244 7.6: T1, N1); time out what N1 did not save."""
        now = time.perf_counter()
        state, sent, t1 = self.state, self.sent, self.t1
        k = self.swept
        while k < self.next_k and sent[k] + t1 <= now:
            if state[k] == _IN_FLIGHT:
                self._retransmit(k, now, 1)
            k += 1
        self.swept = k
        retx, deadline = self.retx, self.retx_deadline
        while retx and deadline[retx[0]] <= now:
            k = retx.popleft()
            del deadline[k]
            if state[k] != _IN_FLIGHT:
                continue
            attempts = self.retx_count[k]
            if attempts < self.n1:
                self._retransmit(k, now, attempts + 1)
            else:
                state[k] = _DONE
                self.in_flight -= 1
                self.timeouts += 1
                self.finished += 1
        if self.finished == self.n:
            if not self.done.done():
                self.done.set_result(None)
            return
        self.pump()
        self.sweeper = self.loop.call_later(self._sweep_period(), self._sweep)

    def _retransmit(self, k: int, now: float, attempt: int) -> None:
        self.retx_count[k] = attempt
        self.retx_deadline[k] = now + self.t1
        self.retx.append(k)
        self.sim.retransmissions += 1
        self.send(self.encode(k, (self.seq0 + k) & SEQ_MASK))


class _Establish(_Phase):
    response_type = codec.SESSION_ESTABLISHMENT_RESPONSE

    def __init__(self, sim: SmfSim, stats: PhaseStats, jobs: list[SimSession], rate: float):
        super().__init__(sim, stats, jobs, rate)
        self.addr_text: dict[bytes, str] = {}

    def encode(self, k: int, seq: int) -> bytes:
        s = self.jobs[k]
        return self.tpl.establishment(seq, s.cp_seid, int(s.ue), int(s.gnb), s.gnb_teid)

    def check(self, k: int, data: bytes) -> str | None:
        failure, r = self.read(k, data)
        if failure is not None:
            return failure
        assert r is not None
        if r.up_seid <= 0:
            return "MISSING_UP_F_SEID" if r.up_seid < 0 else "INVALID_UP_F_SEID"
        if r.ul_teid <= 0:  # TEID 0 is no tunnel (TS 29.281 5.1)
            return "MISSING_UPLINK_F_TEID" if r.ul_teid == -1 else "INVALID_UPLINK_F_TEID"
        s = self.jobs[k]
        s.up_seid, s.ul_teid = r.up_seid, r.ul_teid
        text = self.addr_text.get(r.ul_addr)
        if text is None:
            text = self.addr_text[r.ul_addr] = codec.address_text(r.ul_addr)
        s.ul_addr = text
        s.established = True
        return None


class _Modify(_Phase):
    """Handover: every downlink FAR to `target` with a new TEID."""

    response_type = codec.SESSION_MODIFICATION_RESPONSE

    def __init__(self, sim: SmfSim, stats: PhaseStats, jobs: list[SimSession], rate: float):
        super().__init__(sim, stats, jobs, rate)
        self.target = sim.cfg.gnb2 or sim.cfg.gnb
        self.target_int = int(self.target)

    def encode(self, k: int, seq: int) -> bytes:
        s = self.jobs[k]
        return self.tpl.modification(seq, s.up_seid, self.target_int, handover_teid(s.gnb_teid))

    def check(self, k: int, data: bytes) -> str | None:
        failure, _ = self.read(k, data)
        if failure is None:
            s = self.jobs[k]
            s.gnb, s.gnb_teid = self.target, handover_teid(s.gnb_teid)
        return failure


class _Delete(_Phase):
    response_type = codec.SESSION_DELETION_RESPONSE

    def encode(self, k: int, seq: int) -> bytes:
        return self.tpl.deletion(seq, self.jobs[k].up_seid)

    def check(self, k: int, data: bytes) -> str | None:
        failure, _ = self.read(k, data)
        if failure is None:
            s = self.jobs[k]
            s.established = False
        return failure


@dataclass(repr=False)  # asyncio's task repr would show every session
class SmfSim:
    cfg: SimConfig
    sessions: list[SimSession] = field(default_factory=list)
    recovery_time: float = field(default_factory=time.time)
    retransmissions: int = 0
    ignored: int = 0  # datagrams that were neither a request nor an awaited response
    _transport: asyncio.DatagramTransport | None = None
    _send: Callable[[bytes], None] = field(default=lambda data: None, repr=False)
    _pending: dict[int, asyncio.Future[bytes]] = field(default_factory=dict)
    _phase: _Phase | None = None
    _templates: codec.Templates | None = None
    # A fresh instance does not reuse its predecessor's sequence numbers: a UPF would take
    # them for retransmissions and answer from its response cache.
    _seq: int = field(default_factory=lambda: secrets.randbelow(0xF00000))
    _local: str | None = None

    def __repr__(self) -> str:
        return f"SmfSim(upf={self.cfg.upf}, sessions={len(self.sessions)})"

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
        self._send = functools.partial(transport.sendto, addr=self.cfg.upf)

    def close(self) -> None:
        if self._phase is not None:
            self._phase.stop()
            self._phase = None
        if self._transport is not None:
            self._transport.close()
            self._transport = None
        for fut in self._pending.values():
            if not fut.done():
                fut.cancel()
        self._pending.clear()

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
        self._seq = (self._seq + 1) & SEQ_MASK
        return self._seq

    def _reserve_seqs(self, n: int) -> int:
        """n consecutive sequence numbers (mod 2**24) for a phase; returns the first."""
        if n > SEQ_MASK:
            raise ValueError(f"{n} requests in one phase: more than 2**24 - 1 sequence numbers")
        first = (self._seq + 1) & SEQ_MASK
        self._seq = (self._seq + n) & SEQ_MASK
        return first

    def _received(self, data: bytes, addr: tuple[str, int]) -> None:
        ph = self._phase
        # The fast path: a session response (S=1) with a sequence number of the phase.
        if ph is not None and len(data) >= 16 and data[0] & 0xE1 == 0x21:
            k = ((data[12] << 16 | data[13] << 8 | data[14]) - ph.seq0) & SEQ_MASK
            if k < ph.n and ph.state[k] == _IN_FLIGHT and data[1] == ph.response_type:
                ph.reply(k, data)
                return
        try:
            mtype, seq = codec.peek(data)
        except codec.MalformedError:
            self.ignored += 1
            return
        if codec.is_request(mtype):
            reply = codec.answer_request(data, self.recovery_time, self._up_seid_of)
            if reply is not None and self._transport is not None:
                self._transport.sendto(reply, addr)
            return
        if ph is not None:
            k = (seq - ph.seq0) & SEQ_MASK
            if k < ph.n and ph.state[k] == _IN_FLIGHT:
                ph.reply(k, data)  # counted as a failure: not the type expected
                return
        fut = self._pending.pop(seq, None)
        if fut is not None and not fut.done():
            fut.set_result(data)
        else:
            self.ignored += 1  # a late duplicate, or not ours

    def _up_seid_of(self, cp_seid: int) -> int:
        i = cp_seid - self.cfg.seid_base
        return self.sessions[i].up_seid if 0 <= i < len(self.sessions) else 0

    async def request_raw(self, encode: Callable[[int], bytes]) -> tuple[bytes, float]:
        """Send a request (encoded with a fresh sequence number), wait for the response.

        Returns (response bytes, latency in seconds from the first send). Retransmits `n1`
        times, `t1` apart, then raises Timeout. For single requests; phases use _Phase.
        """
        assert self._transport is not None
        seq = self._next_seq()
        data = encode(seq)
        start = time.perf_counter()
        fut: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
        self._pending[seq] = fut
        try:
            for attempt in range(self.cfg.n1 + 1):
                if attempt:
                    self.retransmissions += 1
                self._send(data)
                try:
                    raw = await asyncio.wait_for(asyncio.shield(fut), self.cfg.t1)
                except TimeoutError:
                    continue
                return raw, time.perf_counter() - start
        finally:
            self._pending.pop(seq, None)
            fut.cancel()
        raise Timeout(f"no response to sequence {seq} after {self.cfg.n1} retransmissions")

    # -- procedures ---------------------------------------------------------------------------

    async def heartbeat(self) -> float:
        _, latency = await self.request_raw(
            lambda seq: codec.heartbeat_request(seq, self.recovery_time)
        )
        return latency

    async def associate(self) -> str:
        """Association Setup; returns the cause name."""
        raw, _ = await self.request_raw(
            lambda seq: codec.association_setup_request(seq, self.node_id, self.recovery_time)
        )
        try:
            r = codec.read_response(raw)
        except codec.MalformedError:
            return "MALFORMED_RESPONSE"
        if raw[1] != codec.ASSOCIATION_SETUP_RESPONSE:
            return f"UNEXPECTED_MESSAGE_TYPE_{raw[1]}"
        return "MISSING_CAUSE" if r.cause < 0 else codec.cause_name(r.cause)

    def templates(self) -> codec.Templates:
        if self._templates is None:
            self._templates = codec.Templates(self.node_id, self.local_address, self.cfg.qfi)
        return self._templates

    def plan(self) -> list[SimSession]:
        cfg = self.cfg
        hosts = cfg.ue_pool.hosts()
        out = [
            SimSession(i, cfg.seid_base + i, ue, cfg.gnb, cfg.teid_base + i)
            for i, ue in zip(range(cfg.sessions), hosts, strict=False)
        ]
        if len(out) < cfg.sessions:
            raise ValueError(f"UE pool {cfg.ue_pool} has fewer than {cfg.sessions} hosts")
        return out

    async def _run(self, make: Callable[[], _Phase]) -> PhaseStats:
        # The garbage collector would walk every session again and again while they are
        # created and for nothing afterwards: a request's garbage has no cycles.
        cpu = time.process_time()
        gc_was_enabled = gc.isenabled()
        gc.disable()
        try:
            self._phase = phase = make()
            await phase.run()
        finally:
            self._phase = None
            if gc_was_enabled:
                gc.enable()
        phase.stats.cpu_s = time.process_time() - cpu  # the plan's included
        return phase.stats

    async def establish_all(self) -> PhaseStats:
        def make() -> _Phase:
            self.sessions = self.plan()
            return _Establish(self, PhaseStats("establish"), self.sessions, self.cfg.rate)

        return await self._run(make)

    async def modify_all(self) -> PhaseStats:
        """Handover: every downlink FAR to gnb2 (or the same gNB) with a new TEID."""
        live = [s for s in self.sessions if s.established]
        return await self._run(lambda: _Modify(self, PhaseStats("modify"), live, 0.0))

    async def delete_all(self) -> PhaseStats:
        live = [s for s in self.sessions if s.established]
        return await self._run(lambda: _Delete(self, PhaseStats("delete"), live, 0.0))


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


def _run_on_uvloop(coro: Any) -> Any:
    try:
        import uvloop
    except ImportError:  # pragma: no cover - a dependency; asyncio's loop works too
        return asyncio.run(coro)
    return uvloop.run(coro)


def main(args: argparse.Namespace) -> int:
    cfg = config_from_args(args)
    try:
        sim, summary = _run_on_uvloop(
            run_sim(
                cfg,
                modify=not args.no_modify,
                delete=not args.no_delete,
                pause=args.pause_after_establish,
            )
        )
    except (Timeout, OSError, ValueError) as e:
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
