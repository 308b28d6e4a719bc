"""Profile the Session Establishment path stage by stage (not a test; run by hand).

    .venv/bin/python -m tests.control.profile_establish [-n 20000] [--writer memory|kernel]
        [--profile STAGE] [--memory 100000] [--shape open5gs|smf-sim] [--json]

Open5GS-shaped requests (tests/control/shapes.py, one UE address each; ``--shape smf-sim``:
those of the session benchmark's load generator, whose downlink FAR carries the gNB tunnel)
are encoded up front; each stage then runs over all of them and its CPU time per session is
printed: decode, node (receive_datagram less decode), compile (less render/diff), diff,
apply (64 plans per combined write, as the CoalescingApplier does), the response (packed
from the agent's byte template), handing it to the node. ``agent`` is the whole path
through the real Agent handlers on uvloop (no sockets: datagrams go into the node 32 per
loop turn, as uvloop delivers them, and its output is drained), ``agent_mod`` and
``agent_del`` the same for a Modification (gNB FAR update) and a Deletion.
``--memory N`` holds N sessions in an agent and reports tracemalloc bytes per session.
``--writer kernel`` (root) writes into the maps of build/xdp/upf.o. ``--no-templates``: the
agent decodes and compiles every establishment in full (no control/template.py); the
stages before ``agent`` always do.

``--instructions``: what the host's noise hides. The whole path (the Agent, with its PFCP
messages counted as upf run counts them) runs under valgrind (cachegrind), once with 500
and once with 2,500 requests of a phase, everything else the same; the difference over
2,000 is the instructions one establishment, modification or deletion costs. The figures
repeat to within about 0.3% from run to run, so a change of 1% shows; time does not.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import functools
import gc
import ipaddress
import json
import os
import pstats
import re
import subprocess
import sys
import time
import tracemalloc
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import uvloop

from control import compile as cc
from control.agent import Agent
from control.alloc import Allocator
from control.apply import MapWriter, apply_plan, combine
from control.config import AgentConfig
from control.memory import MemoryMaps
from control.render import diff
from control.responses import EstablishmentAccepted
from control.session import Session
from pfcp import (
    Cause,
    FSeid,
    NodeId,
    SessionDeletionRequest,
    SessionEstablishmentRequest,
    SessionEstablishmentResponse,
    SessionModificationRequest,
    decode_message,
    encode_message,
)
from pfcp.node import NodeConfig, PfcpNode, RequestReceived
from tests.control import shapes

OBJ = Path(__file__).resolve().parents[2] / "build" / "xdp" / "upf.o"
PEER = ("127.0.0.9", 8805)
WINDOW = 64
SMF = ipaddress.IPv4Address("127.0.0.9")


# "open5gs": the downlink FAR has no tunnel yet (a Modification brings the gNB's); "smf-sim":
# the requests of `upf smf-sim` (the session benchmark's load), whose downlink FAR carries the
# gNB tunnel already, one TEID per session (as on N9).
SHAPES = ("open5gs", "smf-sim")
SHAPE = "open5gs"
TEMPLATES = True  # --no-templates: every establishment decoded and compiled in full


@functools.cache
def _sim_templates() -> Any:
    from upf import smfsim_codec

    return smfsim_codec.Templates(str(SMF), str(SMF), 9)


def establishment(i: int) -> SessionEstablishmentRequest:
    ue = ipaddress.IPv4Address(int(ipaddress.IPv4Address("10.0.0.1")) + i)
    if SHAPE == "smf-sim":
        msg = decode_message(_sim_templates().establishment(i + 1, 0x1000 + i, int(ue),
                                                            int(SMF) + 1, 0x100 + i))
        assert isinstance(msg, SessionEstablishmentRequest)
        return msg
    rules = shapes.open5gs_establishment(ue)
    return SessionEstablishmentRequest(
        i + 1, NodeId(SMF), FSeid(0x1000 + i, ipv4=SMF),
        create_pdr=rules.create_pdr, create_far=rules.create_far,
        create_qer=rules.create_qer, create_urr=rules.create_urr, seid=0,
    )


def modification(i: int, seid: int, gnb_teid: int) -> SessionModificationRequest:
    return SessionModificationRequest(i + 1, update_far=(shapes.gnb_far_update(gnb_teid),),
                                      seid=seid)


def deletion(i: int, seid: int) -> SessionDeletionRequest:
    return SessionDeletionRequest(i + 1, seid=seid)


def agent_config(n: int) -> AgentConfig:
    alloc = shapes.alloc_config(pdr_slots=2 * n + 16, far_slots=2 * n + 16, qer_slots=n + 16)
    return AgentConfig(node_id=ipaddress.IPv4Address("127.0.0.1"), alloc=alloc,
                       templates=TEMPLATES,
                       listen=("127.0.0.1", 0), smf_allow=(ipaddress.IPv4Network("127.0.0.0/8"),),
                       heartbeat_interval=365 * 86400.0,
                       n4_address=ipaddress.IPv4Address("127.0.0.1"))


@contextmanager
def make_writer(kind: str, n: int) -> Iterator[MapWriter]:
    if kind == "memory":
        yield MemoryMaps({"uplink_pdrs": n + 16, "downlink_pdrs_v4": n + 16,
                          "downlink_pdrs_v6": 16, "fars": 2 * n + 16, "qers": n + 16,
                          "pdr_stats": 2 * n + 16})
        return
    from control.kernel import KernelMaps
    from upf.datapath.loader import Datapath, DatapathLimits

    dp = Datapath(OBJ, limits=DatapathLimits(sessions=n + 16, pdrs=2 * n + 16,
                                             fars=2 * n + 16, qers=n + 16), instance=None)
    dp.open()
    try:
        yield KernelMaps(dp.maps)
    finally:
        dp.close()


class Stages:
    def __init__(self, profile: str | None) -> None:
        self.us: dict[str, float] = {}
        self.profile = profile
        self.profiler: cProfile.Profile | None = None

    @contextmanager
    def stage(self, name: str, n: int) -> Iterator[None]:
        prof = cProfile.Profile() if self.profile == name else None
        gc.collect()
        t0 = time.process_time()
        if prof is not None:
            prof.enable()
        try:
            yield
        finally:
            if prof is not None:
                prof.disable()
                self.profiler = prof
            self.us[name] = round((time.process_time() - t0) * 1e6 / n, 2)


def run_stages(n: int, kind: str, st: Stages) -> None:
    requests = [establishment(i) for i in range(n)]
    datagrams = [encode_message(r) for r in requests]

    with st.stage("decode", n):
        decoded = [decode_message(d) for d in datagrams]
    node = PfcpNode(NodeConfig(recovery_time_stamp=1, heartbeat_interval=365 * 86400.0), 0.0)
    with st.stage("node+decode", n):
        for d in datagrams:
            node.receive_datagram(d, PEER, 1.0)
    st.us["node"] = round(st.us["node+decode"] - st.us["decode"], 2)
    events: list[RequestReceived] = []
    while (ev := node.next_event()) is not None:
        assert isinstance(ev, RequestReceived)
        events.append(ev)

    alloc = Allocator(agent_config(n).alloc)
    results = []
    txns = []
    with st.stage("compile+diff", n):
        for i, msg in enumerate(decoded):
            assert isinstance(msg, SessionEstablishmentRequest)
            seid = i + 1
            base = Session(local_seid=seid, remote_seid=msg.cp_f_seid.seid, peer=PEER[0],
                           remote_ipv4=msg.cp_f_seid.ipv4)
            rules = cc.SessionRules(create_pdr=msg.create_pdr, create_far=msg.create_far,
                                    create_qer=msg.create_qer, create_urr=msg.create_urr)
            txn = alloc.begin()
            results.append(cc.establish(seid, base, rules, alloc, txn))
            txns.append(txn)
    with st.stage("diff", n):
        for r in results:
            assert r.session is not None
            diff(None, r.session, alloc.begin())
    st.us["compile"] = round(st.us["compile+diff"] - st.us["diff"], 2)

    with make_writer(kind, n) as writer, st.stage("apply", n):
        for i in range(0, n, WINDOW):
            apply_plan(writer, combine([r.plan for r in results[i:i + WINDOW]]))
            for t in txns[i:i + WINDOW]:
                t.commit()

    # As the agent answers: the accepted response packed from its byte template
    # (control/responses.py), handed to the node as octets.
    accepted = EstablishmentAccepted(NodeId(SMF), SMF)
    responses: list[bytes] = []
    with st.stage("response", n):
        for ev, r in zip(events, results, strict=True):
            msg = ev.message
            assert isinstance(msg, SessionEstablishmentRequest)
            assert r.session is not None
            responses.append(accepted.encode(ev.header.sequence, msg.cp_f_seid.seid,
                                             r.session.local_seid, r.created))
    with st.stage("node_send", n):
        for ev, resp in zip(events, responses, strict=True):
            node.send_encoded_response(ev, resp, 1.0)
    node.datagrams_to_send(1.0)


async def drive(agent: Agent, datagrams: list[bytes], clock: Callable[[], float]
                ) -> list[bytes]:
    """Feed datagrams as the recv loop does on uvloop (up to 32 per loop turn, WINDOW in
    flight) and collect the agent's answers."""
    out: list[bytes] = []
    for i in range(0, len(datagrams), WINDOW):
        chunk = datagrams[i:i + WINDOW]
        for j in range(0, len(chunk), 32):
            for d in chunk[j:j + 32]:  # (as Agent._recv_loop does with one turn's datagrams)
                agent.node.receive_datagram(d, PEER, clock())
                agent._dispatch_events()
            await agent._after_node()
            await asyncio.sleep(0)
        want = len(out) + len(chunk)
        while len(out) < want:
            out.extend(d for d, _ in agent.node.datagrams_to_send(clock()))
            if len(out) < want:
                await asyncio.sleep(0)
    return out


def new_agent(n: int, writer: MapWriter) -> Agent:
    agent = Agent(agent_config(n), writer, clock=time.monotonic)
    agent._associated(PEER, NodeId(SMF), None)
    return agent


async def run_agent(n: int, kind: str, st: Stages) -> dict[str, Any]:
    est = [encode_message(establishment(i)) for i in range(n)]
    # As `upf run` (AgentConfig.manage_gc): no automatic collection; the agent collects and
    # freezes after every gc_freeze_every session changes.
    gc.disable()
    try:
        return await _run_agent(n, kind, st, est)
    finally:
        gc.enable()


async def _run_agent(n: int, kind: str, st: Stages, est: list[bytes]) -> dict[str, Any]:
    with make_writer(kind, n) as writer:
        agent = new_agent(n, writer)
        with st.stage("agent", n):
            replies = await drive(agent, est, time.monotonic)
        seids = []
        for r in replies:
            m = decode_message(r)
            assert isinstance(m, SessionEstablishmentResponse), m
            assert m.cause is Cause.REQUEST_ACCEPTED, m.cause
            assert m.up_f_seid is not None
            seids.append(m.up_f_seid.seid)
        mod = [encode_message(modification(n + i, s, 0x100 + i)) for i, s in enumerate(seids)]
        with st.stage("agent_mod", n):
            await drive(agent, mod, time.monotonic)
        dele = [encode_message(deletion(2 * n + i, s)) for i, s in enumerate(seids)]
        with st.stage("agent_del", n):
            await drive(agent, dele, time.monotonic)
        assert not agent.sessions
        return {"batches": agent.applier.batches, "fallbacks": agent.applier.fallbacks}


async def memory(n: int) -> dict[str, float]:
    est = [encode_message(establishment(i)) for i in range(n)]
    writer = MemoryMaps({"uplink_pdrs": n + 16, "downlink_pdrs_v4": n + 16,
                         "fars": 2 * n + 16, "qers": n + 16, "pdr_stats": 2 * n + 16})
    maps_before = 0
    gc.collect()
    tracemalloc.start()
    agent = new_agent(n, writer)
    snap0 = tracemalloc.take_snapshot()
    await drive(agent, est, time.monotonic)
    gc.collect()
    snap1 = tracemalloc.take_snapshot()
    total = sum(s.size_diff for s in snap1.compare_to(snap0, "filename"))
    # The in-memory maps stand for the kernel's: not agent state.
    maps_bytes = sum(sys.getsizeof(t) + sum(sys.getsizeof(k) + sys.getsizeof(v)
                                            for k, v in t.items())
                     for t in writer.maps.values()) - maps_before
    top = snap1.compare_to(snap0, "lineno")[:12]
    agent.node._expire_cache(time.monotonic() + 3600)
    gc.collect()
    snap2 = tracemalloc.take_snapshot()
    no_cache = sum(s.size_diff for s in snap2.compare_to(snap0, "filename"))
    tracemalloc.stop()
    for s in top:
        print(f"  {s.size_diff / n:8.1f} B/session  {s.traceback}", file=sys.stderr)
    return {"sessions": n, "bytes_per_session": round((total - maps_bytes) / n, 1),
            "bytes_per_session_cache_expired": round((no_cache - maps_bytes) / n, 1),
            "memory_maps_bytes_per_session": round(maps_bytes / n, 1)}


IR_LOW, IR_HIGH = 500, 2500  # requests of the measured phase in the two runs


async def _ir_phase(phase: str, n: int) -> None:
    """Drive IR_HIGH establishments, then ``n`` requests of ``phase`` (all of it prepared for
    IR_HIGH requests first: only the driving differs between the two runs)."""
    from upf.wiring import count_messages

    est = [encode_message(establishment(i)) for i in range(IR_HIGH)]
    gc.disable()  # as upf run: the agent collects (every gc_freeze_every session changes)
    with make_writer("memory", IR_HIGH) as writer:
        agent = new_agent(IR_HIGH, writer)
        count_messages(agent)
        if phase == "establish":
            await drive(agent, est[:n], time.monotonic)
            return
        replies = await drive(agent, est, time.monotonic)
        answers = [decode_message(r) for r in replies]
        seids = [m.up_f_seid.seid for m in answers
                 if isinstance(m, SessionEstablishmentResponse) and m.up_f_seid is not None]
        assert len(seids) == IR_HIGH
        if phase == "modify":
            todo = [encode_message(modification(IR_HIGH + i, s, 0x100 + i))
                    for i, s in enumerate(seids)]
        else:
            todo = [encode_message(deletion(IR_HIGH + i, s)) for i, s in enumerate(seids)]
        await drive(agent, todo[:n], time.monotonic)


def _ir_count(phase: str, n: int) -> int:
    """Instructions of this tool's ``--ir-run`` child under cachegrind (hash seed fixed)."""
    argv = [sys.executable, "-m", "tests.control.profile_establish", "--shape", SHAPE,
            *([] if TEMPLATES else ["--no-templates"]), "--ir-run", phase, str(n)]
    out = subprocess.run(
        ["valgrind", "--tool=cachegrind", "--cache-sim=no", "--cachegrind-out-file=/dev/null",
         *argv], capture_output=True, text=True, check=True,
        env={**os.environ, "PYTHONHASHSEED": "0"},
    )
    found = re.search(r"I\s+refs:\s+([\d,]+)", out.stderr)
    if found is None:
        raise RuntimeError(f"no instruction count from valgrind: {out.stderr[-2000:]}")
    return int(found.group(1).replace(",", ""))


def instructions() -> dict[str, Any]:
    """Instructions per request of each phase (see the module's docstring)."""
    from concurrent.futures import ThreadPoolExecutor

    jobs = [(phase, n) for phase in ("establish", "modify", "delete") for n in (IR_LOW, IR_HIGH)]
    with ThreadPoolExecutor(os.cpu_count() or 1) as pool:
        counts = dict(zip(jobs, pool.map(lambda job: _ir_count(*job), jobs), strict=True))
    per = {phase: round((counts[(phase, IR_HIGH)] - counts[(phase, IR_LOW)])
                        / (IR_HIGH - IR_LOW)) for phase in ("establish", "modify", "delete")}
    return {"shape": SHAPE, "templates": TEMPLATES, "requests": [IR_LOW, IR_HIGH],
            "instructions_per_establishment": per["establish"],
            "instructions_per_modification": per["modify"],
            "instructions_per_deletion": per["delete"]}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m tests.control.profile_establish")
    p.add_argument("-n", type=int, default=20000)
    p.add_argument("--writer", choices=("memory", "kernel"), default="memory")
    p.add_argument("--profile", metavar="STAGE", help="cProfile one stage (e.g. agent)")
    p.add_argument("--memory", type=int, default=0, metavar="N")
    p.add_argument("--shape", choices=SHAPES, default="open5gs",
                   help="the establishments' shape (smf-sim: the session benchmark's)")
    p.add_argument("--repeat", type=int, default=3,
                   help="runs; each stage reports its fastest (the machine is shared)")
    p.add_argument("--instructions", action="store_true",
                   help="instructions per request of each phase, under valgrind")
    p.add_argument("--no-templates", action="store_true",
                   help="the agent without establishment templates (control/template.py)")
    p.add_argument("--ir-run", nargs=2, metavar=("PHASE", "N"), help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    global SHAPE, TEMPLATES
    SHAPE = args.shape
    TEMPLATES = not args.no_templates
    if args.ir_run:
        uvloop.run(_ir_phase(args.ir_run[0], int(args.ir_run[1])))
        return 0
    if args.instructions:
        print(json.dumps(instructions(), indent=2))
        return 0
    st = Stages(args.profile)
    out: dict[str, Any] = {"n": args.n, "writer": args.writer}
    best: dict[str, float] = {}
    for _ in range(args.repeat):
        run_stages(args.n, args.writer, st)
        out.update(uvloop.run(run_agent(args.n, args.writer, st)))
        best = {k: min(v, best.get(k, v)) for k, v in st.us.items()}
    best["node"] = round(best["node+decode"] - best["decode"], 2)
    best["compile"] = round(best["compile+diff"] - best["diff"], 2)
    st.us = best
    out["us_per_session"] = best
    out["establish_per_cpu_s"] = round(1e6 / st.us["agent"])
    if args.memory:
        out["memory"] = asyncio.run(memory(args.memory))
    print(json.dumps(out, indent=2))
    if st.profiler is not None:
        pstats.Stats(st.profiler, stream=sys.stderr).sort_stats("tottime").print_stats(35)
    return 0


if __name__ == "__main__":
    sys.exit(main())
