"""Per-packet cost of the UPF fast path, timed with BPF_PROG_TEST_RUN.

    python -m benchmarks.datapath --json [--sessions N] [--flows F] [--repeat R] [--rounds K]
                                         [--smf-teids]

(root, from the repository root, in .venv).  Prints one JSON object: uplink_ns,
downlink_ns, baseline_ns, noop_ns, sessions, the raw medians, repeat, rounds, kernel.

How: a namespace topology (upf/topology.py) gives the UPF namespace real interfaces,
routes and neighbours, so upf_process() does its real FIB lookup (then hits its
next-hop cache).  build/xdp/upf.o is loaded with maps sized for N sessions and
filled with N sessions (batched): their uplink TEIDs are ones the UPF allocated
(F-TEID CHOOSE: generation << 24 | index, found through the uplink_by_teid array), or
with --smf-teids ones an SMF allocated (found through the uplink_pdrs hash, after a
miss in the array); the timing wrappers of xdp/bench/wrappers.c reuse
those maps.  The measured session is one of the N, picked at random (never the first).
Every call runs `repeat` iterations; the wrapper restores the frame before each one.
With --flows F the wrapper cycles through F frames, each of a different random session
and to a different DN host, so per-packet lookups do not all hit the same cache lines
and the datapath's per-CPU "last hit" memo does not answer every packet (F = 1 is the
best case for both; real links carry many flows).

Per round, in this order, on the same CPU and in the same process:
  noop (uplink frame), noop_adjust (uplink frame), bench_uplink,
  noop (downlink frame), noop_adjust (downlink frame), bench_downlink, bench_baseline.
Net costs per round:
  uplink   = bench_uplink   - (noop + noop_adjust) / 2      (see below)
  downlink = bench_downlink - (noop + noop_adjust) / 2
  baseline = bench_baseline - noop (downlink frame; the baseline does not move the head)
The wrapper of a program that moves the head pays one bpf_xdp_adjust_head() more
than bench_noop (the restore's); noop_adjust pays two (its own and the next restore's),
so their mean is the wrapper's cost.  Reported figures are medians over rounds.
Performance is reported, never asserted; the run does verify that every timed
iteration took the forwarding path (xdp_stats FWD_* grew by exactly the iterations).
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import platform
import random
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Final

from scapy.contrib.gtp import GTP_U_Header, GTPPDUSessionContainer
from scapy.layers.inet import IP
from scapy.layers.l2 import Ether

from benchmarks import bpfbench as bb
from benchmarks.packets import (
    ADDRESSES,
    BENCH_NET,
    BENCH_NET_PREFIXLEN,
    DN_ADDR,
    bench_host,
    downlink_packet,
    frame,
    uplink_packet,
)
from benchmarks.sessions import SessionPlan, UpfMaps, limits_for, program_sessions
from upf.datapath import abi
from upf.datapath.libbpf import BpfObject, prog_test_run
from upf.datapath.loader import Datapath
from upf.topology import DN_IF, GNB_IF, UPF_N3_IF, UPF_N6_IF, UpfTopology

DEFAULT_REPEAT: Final = 200_000
DEFAULT_ROUNDS: Final = 9


class BenchError(RuntimeError):
    """The benchmark's setup or its correctness check failed."""


@dataclass(slots=True)
class Rig:
    """The loaded objects, inside the UPF namespace of a topology."""

    topo: UpfTopology
    dp: Datapath
    bench: BpfObject
    maps: UpfMaps
    plan: SessionPlan
    n3: int
    n6: int

    def prog(self, name: str) -> int:
        return self.bench.program_fd(name)


@contextlib.contextmanager
def rig(plan: SessionPlan) -> Iterator[Rig]:
    """Topology + upf.o (sized for the plan, filled) + wrappers.o reusing its maps.

    The current thread is inside the UPF namespace for the whole block.
    """
    wrappers = bb.bench_object("wrappers")
    with (
        UpfTopology("upfbench", ADDRESSES) as topo,
        topo.upf.entered(),
        Datapath(bb.UPF_OBJ, limits=limits_for(plan)) as dp,
        BpfObject.open(wrappers) as bench,
    ):
        for m in bench.maps():
            if m.name in dp.maps:
                m.reuse_fd(dp.maps[m.name].fd)
        bench.load()
        # Hosts of the multi-flow runs live behind the DN (RFC 2544 benchmarking range).
        topo.upf.add_route(BENCH_NET, BENCH_NET_PREFIXLEN, ADDRESSES.dn)
        maps = UpfMaps.from_datapath(dp)
        program_sessions(maps, plan)
        yield Rig(
            topo=topo,
            dp=dp,
            bench=bench,
            maps=maps,
            plan=plan,
            n3=topo.upf.ifindex(UPF_N3_IF),
            n6=topo.upf.ifindex(UPF_N6_IF),
        )


def frames(r: Rig, i: int, dn_addr: str = DN_ADDR) -> tuple[bytes, bytes]:
    """The uplink and downlink frame of session i (uplink to dn_addr)."""
    topo = r.topo
    ul = uplink_packet(
        r.plan,
        i,
        src_mac=topo.gnb.mac(GNB_IF),
        dst_mac=topo.upf.mac(UPF_N3_IF),
        dn_addr=dn_addr,
    )
    dl = downlink_packet(
        r.plan,
        i,
        src_mac=topo.dn.mac(DN_IF),
        dst_mac=topo.upf.mac(UPF_N6_IF),
        dn_addr=dn_addr,
    )
    return frame(ul), frame(dl)


def flow_frames(r: Rig, sessions: list[int]) -> tuple[list[bytes], list[bytes]]:
    """One frame pair per flow: flow k is session sessions[k] talking to its own DN host
    (198.18.0.0/15, routed via the DN), so next-hop lookups vary as well."""
    ul: list[bytes] = []
    dl: list[bytes] = []
    for k, i in enumerate(sessions):
        dst = DN_ADDR if len(sessions) == 1 else bench_host(k)
        u, d = frames(r, i, dst)
        ul.append(u)
        dl.append(d)
    return ul, dl


def check_outputs(r: Rig, i: int, ul: bytes, dl: bytes) -> tuple[int, int]:
    """One real run of upf_xdp per direction; returns the head moves (decap, encap)."""
    prog = r.dp.prog_fd
    res = prog_test_run(prog, ul, ingress_ifindex=r.n3)
    if res.retval != bb.XDP_REDIRECT:
        raise BenchError(f"uplink verdict {res.retval}, reasons {r.maps.reasons(r.n3)}")
    out = Ether(res.data)
    if IP not in out or out[IP].src != r.plan.ue(i) or GTP_U_Header in out:
        raise BenchError(f"uplink output is not the decapsulated packet: {out!r}")
    res_dl = prog_test_run(prog, dl, ingress_ifindex=r.n6)
    if res_dl.retval != bb.XDP_REDIRECT:
        raise BenchError(f"downlink verdict {res_dl.retval}, reasons {r.maps.reasons(r.n6)}")
    out = Ether(res_dl.data)
    teid = out[GTP_U_Header].teid if GTP_U_Header in out else None
    qfi = out[GTPPDUSessionContainer].QFI if GTPPDUSessionContainer in out else None
    if (teid, qfi) != (r.plan.gnb_teid(i), r.plan.qfi):
        raise BenchError(f"downlink output is not the encapsulated packet: {out!r}")
    return len(ul) - len(res.data), len(dl) - len(res_dl.data)


def _timed(prog_fd: int, data: bytes, repeat: int, ifindex: int, want: int) -> int:
    res = prog_test_run(prog_fd, data, repeat=repeat, ingress_ifindex=ifindex)
    if res.retval != want:
        raise BenchError(f"program returned {res.retval} under repeat, expected {want}")
    return res.duration_ns


def measure(r: Rig, sessions: list[int], repeat: int, rounds: int) -> dict[str, Any]:
    ul_frames, dl_frames = flow_frames(r, sessions)
    ul, dl = ul_frames[0], dl_frames[0]
    shrink, grow = check_outputs(r, sessions[0], ul, dl)
    bb.write_flows(r.bench, bb.SLOT_UPLINK, ul_frames)
    bb.write_flows(r.bench, bb.SLOT_DOWNLINK, dl_frames)
    bb.write_flows(r.bench, bb.SLOT_BASELINE, dl_frames)
    topo = r.topo
    bb.write_fwd_cfg(
        r.bench.map("fwd_config").fd,
        r.n3,
        topo.upf.mac(UPF_N3_IF),
        topo.gnb.mac(GNB_IF),
    )
    p_ul, p_dl = r.prog("bench_uplink"), r.prog("bench_downlink")
    p_base, p_noop, p_noop_adj = (
        r.prog("bench_baseline"),
        r.prog("bench_noop"),
        r.prog("bench_noop_adjust"),
    )

    def noop_for(frames: list[bytes], adjust: int) -> None:
        bb.write_flows(r.bench, bb.SLOT_NOOP, frames, adjust=adjust)

    series: dict[str, list[int]] = {
        k: []
        for k in (
            "noop_ul",
            "noop_adjust_ul",
            "uplink",
            "noop_dl",
            "noop_adjust_dl",
            "downlink",
            "baseline",
        )
    }
    fwd_ul0 = r.maps.reason_count(r.n3, abi.Reason.FWD_UPLINK)
    fwd_dl0 = r.maps.reason_count(r.n6, abi.Reason.FWD_DOWNLINK)
    steps: list[tuple[str, Callable[[], int]]] = [
        ("noop_ul", lambda: _timed(p_noop, ul, repeat, r.n3, bb.XDP_DROP)),
        ("noop_adjust_ul", lambda: _timed(p_noop_adj, ul, repeat, r.n3, bb.XDP_DROP)),
        ("uplink", lambda: _timed(p_ul, ul, repeat, r.n3, bb.XDP_REDIRECT)),
        ("noop_dl", lambda: _timed(p_noop, dl, repeat, r.n6, bb.XDP_DROP)),
        ("noop_adjust_dl", lambda: _timed(p_noop_adj, dl, repeat, r.n6, bb.XDP_DROP)),
        ("downlink", lambda: _timed(p_dl, dl, repeat, r.n6, bb.XDP_REDIRECT)),
        ("baseline", lambda: _timed(p_base, dl, repeat, r.n6, bb.XDP_REDIRECT)),
    ]
    # Warm-up (caches, next-hop cache entry, branch predictors): not recorded.
    for rnd in range(rounds + 1):
        for name, step in steps:
            if name == "noop_ul":
                noop_for(ul_frames, shrink)
            elif name == "noop_dl":
                noop_for(dl_frames, grow)
            ns = step()
            if rnd:
                series[name].append(ns)
    fwd_ul = r.maps.reason_count(r.n3, abi.Reason.FWD_UPLINK) - fwd_ul0
    fwd_dl = r.maps.reason_count(r.n6, abi.Reason.FWD_DOWNLINK) - fwd_dl0
    iterations = (rounds + 1) * repeat
    if (fwd_ul, fwd_dl) != (iterations, iterations):
        raise BenchError(
            f"FWD counters grew by {(fwd_ul, fwd_dl)}, expected {iterations} each: "
            f"some iterations did not take the forwarding path"
        )

    def nets(prog: str, wrapper: list[str]) -> list[float]:
        return [
            series[prog][k] - statistics.fmean(series[w][k] for w in wrapper) for k in range(rounds)
        ]

    def net(prog: str, wrapper: list[str]) -> float:
        return float(statistics.median(nets(prog, wrapper)))

    uplink_ns = net("uplink", ["noop_ul", "noop_adjust_ul"])
    downlink_ns = net("downlink", ["noop_dl", "noop_adjust_dl"])
    baseline_ns = net("baseline", ["noop_dl"])
    return {
        "uplink_ns": round(uplink_ns, 1),
        "downlink_ns": round(downlink_ns, 1),
        "baseline_ns": round(baseline_ns, 1),
        "noop_ns": float(statistics.median(series["noop_dl"])),
        "uplink_vs_baseline": round(uplink_ns / baseline_ns, 2) if baseline_ns > 0 else None,
        "downlink_vs_baseline": round(downlink_ns / baseline_ns, 2) if baseline_ns > 0 else None,
        # Machine speed drifts on a shared VM (the wrapper alone varies ~40-60 ns): these
        # ratios to the wrapper's own cost move less between runs than the ns figures.
        "per_noop": {
            "uplink": round(uplink_ns / float(statistics.median(series["noop_ul"])), 2),
            "downlink": round(downlink_ns / float(statistics.median(series["noop_dl"])), 2),
            "baseline": round(baseline_ns / float(statistics.median(series["noop_dl"])), 2),
        },
        "min_round_ns": {
            "uplink": min(nets("uplink", ["noop_ul", "noop_adjust_ul"])),
            "downlink": min(nets("downlink", ["noop_dl", "noop_adjust_dl"])),
            "baseline": min(nets("baseline", ["noop_dl"])),
        },
        "raw_median_ns": {k: float(statistics.median(v)) for k, v in series.items()},
        "raw_ns": series,
        "frame_bytes": {"uplink": len(ul), "downlink": len(dl)},
        "verified_fwd_iterations": {"uplink": fwd_ul, "downlink": fwd_dl},
    }


def pick_sessions(count: int, flows: int, rng: random.Random) -> list[int]:
    """One session per flow, at random, never session 0 when there is a choice;
    distinct while there are enough sessions (flows differ in their DN host anyway)."""
    if count == 1:
        return [0] * flows
    pool = range(1, count)
    if flows <= len(pool):
        return rng.sample(pool, flows)
    return [rng.choice(pool) for _ in range(flows)]


def run(
    sessions: int,
    flows: int,
    repeat: int,
    rounds: int,
    seed: int | None,
    smf_teids: bool = False,
) -> dict[str, Any]:
    if os.geteuid() != 0:
        raise BenchError("needs root (BPF, network namespaces)")
    plan = SessionPlan(count=sessions, smf_teids=smf_teids)
    measured = pick_sessions(sessions, flows, random.Random(seed))
    allowed = os.sched_getaffinity(0)
    cpu = max(allowed)
    t0 = time.perf_counter()
    with rig(plan) as r:
        fill_s = time.perf_counter() - t0
        os.sched_setaffinity(0, {cpu})  # every test run on one CPU: same caches
        try:
            out = measure(r, measured, repeat, rounds)
        finally:
            os.sched_setaffinity(0, allowed)
    return {
        "benchmark": "datapath",
        "sessions": sessions,
        "flows": len(measured),
        **out,
        "measured_sessions": measured[:16],
        "measured_teids": [hex(plan.teid(i)) for i in measured[:16]],
        "uplink_teids": "smf (uplink_pdrs hash)" if smf_teids else "upf (uplink_by_teid array)",
        "repeat": repeat,
        "rounds": rounds,
        "setup_seconds": round(fill_s, 2),
        "kernel": platform.release(),
        "cpus": os.cpu_count(),
        "pinned_cpu": cpu,
        "loadavg_1m": os.getloadavg()[0],
        "upf_obj_sha256": hashlib.sha256(bb.UPF_OBJ.read_bytes()).hexdigest()[:16],
        "method": "BPF_PROG_TEST_RUN duration per iteration, median over rounds, net of "
        "the frame-restoring wrapper measured in the same run",
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m benchmarks.datapath", description=__doc__.split("\n")[0]
    )
    ap.add_argument(
        "--json", action="store_true", help="print one JSON object (the default output)"
    )
    ap.add_argument("--sessions", type=int, default=1, help="sessions in the maps (default 1)")
    ap.add_argument("--repeat", type=int, default=DEFAULT_REPEAT, help="iterations per test run")
    ap.add_argument("--rounds", type=int, default=DEFAULT_ROUNDS, help="test runs per figure")
    ap.add_argument(
        "--flows",
        type=int,
        default=1,
        help="frames cycled through per test run, each a different random session and DN "
        "host (default 1: one session, the best case for every cache)",
    )
    ap.add_argument("--seed", type=int, default=None, help="seed for the measured sessions")
    ap.add_argument(
        "--smf-teids",
        action="store_true",
        help="uplink TEIDs allocated by the SMF (uplink_pdrs hash path) instead of by the "
        "UPF (uplink_by_teid array path, the default)",
    )
    args = ap.parse_args(argv)
    if min(args.sessions, args.repeat, args.rounds, args.flows) < 1 or args.flows > bb.MAX_FLOWS:
        ap.error(f"--sessions, --repeat, --rounds >= 1 and 1 <= --flows <= {bb.MAX_FLOWS}")
    try:
        result = run(args.sessions, args.flows, args.repeat, args.rounds, args.seed, args.smf_teids)
    except BenchError as e:
        print(json.dumps({"benchmark": "datapath", "error": str(e)}))
        return 1
    if args.json:
        print(json.dumps(result))
    else:
        print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
