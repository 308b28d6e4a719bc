"""Frames per second through the UPF, with real frames between namespaces.

    python -m benchmarks.live --json [--seconds S] [--rounds K] [--sessions N] [--flows F]

(root, from the repository root, in .venv).  Topology (upf.topology.UpfTopology, whose
SMF namespace stays idle here):

    gNB ns  gnb0 --veth-- n3  UPF ns  n6 --veth-- dn0  DN ns

The generator (xdp/bench/gen.c) runs with BPF_PROG_RUN + BPF_F_TEST_XDP_LIVE_FRAMES
from inside the gNB (uplink) or DN (downlink) namespace with ctx.ingress_ifindex = its
veth: every frame is rewritten from a template and sent with XDP_TX.  The far ends
carry the sink (xdp/bench/sink.c: count per CPU, drop), so a frame counts only when
it made it all the way through the UPF namespace.

Per round, on the same topology: the plain XDP-redirect chain first (xdp/bench/redirect.c
on n3 and n6: parse, rewrite MACs, bpf_redirect), then the UPF (build/xdp/upf.o,
upf_xdp on n3 and n6, maps filled with N sessions; F of them picked at random, one
flow each, the generator cycling through their frames; with F > 1 every flow also
has its own DN host, routed via the DN).
Rates are frames delivered to the sink per second of wall time; medians over rounds.
Each run lasts about --seconds; the whole benchmark is bounded by
rounds x 4 x seconds plus setup.  Namespaces are removed at the end, also on error.
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
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Final

from benchmarks import bpfbench as bb
from benchmarks.datapath import pick_sessions
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
from upf.datapath.libbpf import BPF_F_TEST_XDP_LIVE_FRAMES, BpfObject, prog_test_run
from upf.datapath.loader import Datapath
from upf.topology import DN_IF, GNB_IF, UPF_N3_IF, UPF_N6_IF, Netns, UpfTopology

CALIBRATE_FRAMES: Final = 100_000
MAX_FRAMES: Final = 200_000_000


class LiveError(RuntimeError):
    """Setup failed, or frames did not arrive at all."""


@dataclass(slots=True)
class Direction:
    """One way through the UPF: who generates, who sinks, which counter proves it."""

    name: str
    gen_ns: Netns
    gen_if: str
    frames: list[bytes]
    sink_map_fd: int
    upf_ifindex: int
    reason: abi.Reason


@dataclass(slots=True)
class LiveRig:
    topo: UpfTopology
    dp: Datapath
    maps: UpfMaps
    gen: BpfObject
    fwd: dict[str, tuple[BpfObject, int]]  # UPF ifname -> (redirect object, prog fd)
    up: Direction
    down: Direction

    def use_baseline(self) -> None:
        for ifname, (_, fd) in self.fwd.items():
            self.topo.upf.set_xdp(ifname, fd)

    def use_upf(self) -> None:
        for ifname in (UPF_N3_IF, UPF_N6_IF):
            self.dp.attach(ifname, netns=self.topo.upf.name)


@contextlib.contextmanager
def live_rig(plan: SessionPlan, sessions: list[int]) -> Iterator[LiveRig]:
    """Topology, sinks, generator, both forwarders; `sessions`: one flow each."""
    with contextlib.ExitStack() as stack:
        topo = stack.enter_context(UpfTopology("upfbench", ADDRESSES))
        t = topo
        t.upf.add_route(BENCH_NET, BENCH_NET_PREFIXLEN, ADDRESSES.dn)
        dp = stack.enter_context(Datapath(bb.UPF_OBJ, limits=limits_for(plan)))
        maps = UpfMaps.from_datapath(dp)
        program_sessions(maps, plan)

        def load(name: str, prog: str) -> tuple[BpfObject, int]:
            obj, fd = bb.load_single(name, prog)
            stack.callback(obj.close)
            return obj, fd

        sink_gnb, sink_gnb_fd = load("sink", "bench_sink")
        sink_dn, sink_dn_fd = load("sink", "bench_sink")
        t.gnb.set_xdp(GNB_IF, sink_gnb_fd)
        t.dn.set_xdp(DN_IF, sink_dn_fd)
        gen, _ = load("gen", "bench_gen")
        n3, n6 = t.upf.ifindex(UPF_N3_IF), t.upf.ifindex(UPF_N6_IF)
        fwd_n3 = load("redirect", "bench_redirect")
        fwd_n6 = load("redirect", "bench_redirect")
        upf_n3_mac, upf_n6_mac = t.upf.mac(UPF_N3_IF), t.upf.mac(UPF_N6_IF)
        gnb_mac, dn_mac = t.gnb.mac(GNB_IF), t.dn.mac(DN_IF)
        bb.write_fwd_cfg(fwd_n3[0].map("fwd_config").fd, n6, upf_n6_mac, dn_mac)
        bb.write_fwd_cfg(fwd_n6[0].map("fwd_config").fd, n3, upf_n3_mac, gnb_mac)
        hosts = [DN_ADDR] if len(sessions) == 1 else [bench_host(k) for k in range(len(sessions))]
        ul = [
            frame(uplink_packet(plan, i, src_mac=gnb_mac, dst_mac=upf_n3_mac, dn_addr=h))
            for i, h in zip(sessions, hosts, strict=True)
        ]
        dl = [
            frame(downlink_packet(plan, i, src_mac=dn_mac, dst_mac=upf_n6_mac, dn_addr=h))
            for i, h in zip(sessions, hosts, strict=True)
        ]
        yield LiveRig(
            topo=topo,
            dp=dp,
            maps=maps,
            gen=gen,
            fwd={UPF_N3_IF: fwd_n3, UPF_N6_IF: fwd_n6},
            up=Direction(
                "uplink",
                t.gnb,
                GNB_IF,
                ul,
                sink_dn.map("sink_stats").fd,
                n3,
                abi.Reason.FWD_UPLINK,
            ),
            down=Direction(
                "downlink",
                t.dn,
                DN_IF,
                dl,
                sink_gnb.map("sink_stats").fd,
                n6,
                abi.Reason.FWD_DOWNLINK,
            ),
        )


def blast(r: LiveRig, d: Direction, frames: int) -> tuple[int, int, float]:
    """Send `frames` frames; (generated, delivered to the sink, seconds)."""
    bb.write_gen_frames(r.gen, d.frames)
    gen_fd = r.gen.program_fd("bench_gen")
    before, _ = bb.read_sink(d.sink_map_fd)
    with d.gen_ns.entered():
        ifindex = d.gen_ns.ifindex(d.gen_if)
        t0 = time.perf_counter()
        prog_test_run(
            gen_fd,
            d.frames[0],
            repeat=frames,
            ingress_ifindex=ifindex,
            flags=BPF_F_TEST_XDP_LIVE_FRAMES,
            data_out_size=0,
        )
        elapsed = time.perf_counter() - t0
    time.sleep(0.05)  # let the last NAPI batch land in the sink
    after, _ = bb.read_sink(d.sink_map_fd)
    return frames, after - before, elapsed


def measure(r: LiveRig, d: Direction, seconds: float, upf: bool) -> dict[str, float]:
    """Calibrate, then one run of about `seconds`; with upf, also the UPF's FWD count."""
    for _ in range(2):  # the first run also warms the page pool up
        _, got, dt = blast(r, d, CALIBRATE_FRAMES)
    rate = max(got, CALIBRATE_FRAMES // 10) / dt
    n = int(min(MAX_FRAMES, max(CALIBRATE_FRAMES, rate * seconds)))
    fwd0 = r.maps.reason_count(d.upf_ifindex, d.reason)
    sent, got, dt = blast(r, d, n)
    if got == 0:
        raise LiveError(f"{d.name}: no frame reached the sink")
    out = {
        "mpps": got / dt / 1e6,
        "sent": sent,
        "delivered": got,
        "seconds": dt,
        "gen_mpps": sent / dt / 1e6,
    }
    if upf:
        out["upf_fwd_counted"] = r.maps.reason_count(d.upf_ifindex, d.reason) - fwd0
    return out


def run(seconds: float, rounds: int, sessions: int, flows: int, seed: int | None) -> dict[str, Any]:
    if os.geteuid() != 0:
        raise LiveError("needs root (BPF, network namespaces)")
    plan = SessionPlan(count=sessions)
    rng = random.Random(seed)
    picked = pick_sessions(sessions, flows, rng)
    runs: dict[str, list[dict[str, float]]] = {
        "baseline_uplink": [],
        "baseline_downlink": [],
        "uplink": [],
        "downlink": [],
    }
    t_start = time.perf_counter()
    with live_rig(plan, picked) as r:
        for _ in range(rounds):
            r.use_baseline()
            runs["baseline_uplink"].append(measure(r, r.up, seconds, upf=False))
            runs["baseline_downlink"].append(measure(r, r.down, seconds, upf=False))
            r.use_upf()
            for d in (r.up, r.down):
                runs[d.name].append(measure(r, d, seconds, upf=True))
        frame_bytes = {"uplink": len(r.up.frames[0]), "downlink": len(r.down.frames[0])}

    def med(key: str) -> float:
        return round(statistics.median(x["mpps"] for x in runs[key]), 3)

    out: dict[str, Any] = {
        "benchmark": "live",
        "uplink_mpps": med("uplink"),
        "downlink_mpps": med("downlink"),
        "baseline_uplink_mpps": med("baseline_uplink"),
        "baseline_downlink_mpps": med("baseline_downlink"),
    }
    for way in ("uplink", "downlink"):
        base = out[f"baseline_{way}_mpps"]
        out[f"{way}_vs_baseline"] = round(out[f"{way}_mpps"] / base, 2) if base else None
    out.update(
        {
            "sessions": sessions,
            "flows": flows,
            "measured_sessions": picked[:16],
            "frame_bytes": frame_bytes,
            "rounds": rounds,
            "seconds_per_run": seconds,
            "total_seconds": round(time.perf_counter() - t_start, 1),
            "runs": runs,
            "kernel": platform.release(),
            "cpus": os.cpu_count(),
            "loadavg_1m": os.getloadavg()[0],
            "upf_obj_sha256": hashlib.sha256(bb.UPF_OBJ.read_bytes()).hexdigest()[:16],
            "method": "BPF_PROG_RUN live frames (XDP_TX generator) -> UPF ns -> XDP sink; "
            "frames counted at the sink per second of wall time, median over rounds",
        }
    )
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m benchmarks.live", description=(__doc__ or "").split("\n")[0]
    )
    ap.add_argument("--json", action="store_true", help="one JSON object on one line")
    ap.add_argument("--seconds", type=float, default=1.0, help="length of each run (default 1)")
    ap.add_argument("--rounds", type=int, default=3, help="rounds (default 3)")
    ap.add_argument("--sessions", type=int, default=1, help="sessions in the maps (default 1)")
    ap.add_argument("--flows", type=int, default=1, help="flows (sessions) sent (default 1)")
    ap.add_argument("--seed", type=int, default=None)
    args = ap.parse_args(argv)
    if not 0 < args.seconds <= 60 or min(args.rounds, args.sessions, args.flows) < 1:
        ap.error("need 0 < --seconds <= 60 and --rounds, --sessions, --flows >= 1")
    if args.flows > bb.MAX_FLOWS:
        ap.error(f"--flows <= {bb.MAX_FLOWS}")
    try:
        result = run(args.seconds, args.rounds, args.sessions, args.flows, args.seed)
    except LiveError as e:
        print(json.dumps({"benchmark": "live", "error": str(e)}))
        return 1
    print(json.dumps(result) if args.json else json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
