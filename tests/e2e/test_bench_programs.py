"""The benchmark-only BPF programs (xdp/bench/) do what the benchmarks rely on.

- the timing wrappers restore the frame before every iteration of a repeated test run
  (otherwise a decap would see the inner packet and an encap would run out of headroom);
- the live-frames generator sends real frames that cross a namespace topology and the
  sink counts them.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from scapy.layers.l2 import Ether

from benchmarks import bpfbench as bb
from benchmarks import datapath, live
from benchmarks.sessions import SessionPlan
from upf.datapath import abi
from upf.datapath.libbpf import prog_test_run

pytestmark = [
    pytest.mark.root,
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root (BPF, network namespaces)"),
    pytest.mark.skipif(not bb.UPF_OBJ.exists(), reason="build/xdp/upf.o missing: make bpf"),
]

PLAN = SessionPlan(count=16)
SESSION = 11
REPEAT = 1000


@pytest.fixture(scope="module")
def rig() -> Iterator[datapath.Rig]:
    with datapath.rig(PLAN) as r:
        yield r


def test_all_bench_objects_build() -> None:
    objs = bb.build_bench_objects()
    assert {"wrappers", "gen", "sink", "pass", "redirect"} <= set(objs)
    assert all(p.stat().st_size > 0 for p in objs.values())


@pytest.mark.parametrize("direction", ["uplink", "downlink"])
def test_wrapper_restores_every_iteration(rig: datapath.Rig, direction: str) -> None:
    ul, dl = datapath.frames(rig, SESSION)
    data, ifindex, slot, reason = (
        (ul, rig.n3, bb.SLOT_UPLINK, abi.Reason.FWD_UPLINK)
        if direction == "uplink"
        else (dl, rig.n6, bb.SLOT_DOWNLINK, abi.Reason.FWD_DOWNLINK)
    )
    bb.write_template(rig.bench.map("bench_tmpls").fd, slot, data)
    prog = rig.prog(f"bench_{direction}")
    single = prog_test_run(prog, data, ingress_ifindex=ifindex)
    before = rig.maps.reason_count(ifindex, reason)
    repeated = prog_test_run(prog, data, repeat=REPEAT, ingress_ifindex=ifindex)
    after = rig.maps.reason_count(ifindex, reason)
    assert (single.retval, repeated.retval) == (bb.XDP_REDIRECT, bb.XDP_REDIRECT)
    assert after - before == REPEAT  # every iteration forwarded, none saw a mangled frame
    assert repeated.data == single.data
    out = Ether(repeated.data)
    if direction == "uplink":
        assert (out.src, out.dst) == (rig.topo.upf.mac("n6"), rig.topo.dn.mac("dn0"))
    else:
        assert (out.src, out.dst) == (rig.topo.upf.mac("n3"), rig.topo.gnb.mac("gnb0"))


def test_wrapper_without_restore_would_fail(rig: datapath.Rig) -> None:
    """Control: the raw program under repeat does see its own output (RIG.md's trap)."""
    ul, _ = datapath.frames(rig, SESSION)
    before = rig.maps.reason_count(rig.n3, abi.Reason.FWD_UPLINK)
    prog_test_run(rig.dp.prog_fd, ul, repeat=REPEAT, ingress_ifindex=rig.n3)
    forwarded = rig.maps.reason_count(rig.n3, abi.Reason.FWD_UPLINK) - before
    assert forwarded < REPEAT


def test_noop_wrappers_drop(rig: datapath.Rig) -> None:
    ul, _ = datapath.frames(rig, SESSION)
    bb.write_template(rig.bench.map("bench_tmpls").fd, bb.SLOT_NOOP, ul, adjust=44)
    for name in ("bench_noop", "bench_noop_adjust"):
        res = prog_test_run(rig.prog(name), ul, repeat=REPEAT, ingress_ifindex=rig.n3)
        assert res.retval == bb.XDP_DROP
        assert len(res.data) == len(ul) - (44 if name == "bench_noop_adjust" else 0)


def test_live_generator_reaches_the_sink() -> None:
    with live.live_rig(PLAN, [SESSION, 3, 7]) as r:
        r.use_baseline()
        sent, got, _ = live.blast(r, r.up, 20_000)
        assert sent <= got <= sent + 10  # + stray kernel frames, if any
        r.use_upf()
        fwd0 = r.maps.reason_count(r.down.upf_ifindex, abi.Reason.FWD_DOWNLINK)
        sent, got, _ = live.blast(r, r.down, 20_000)
        assert sent <= got <= sent + 10
        assert r.maps.reason_count(r.down.upf_ifindex, abi.Reason.FWD_DOWNLINK) - fwd0 == sent


def test_datapath_benchmark_runs_end_to_end() -> None:
    out = datapath.run(sessions=64, flows=4, repeat=2000, rounds=1, seed=7)
    assert out["flows"] == 4 and 0 not in out["measured_sessions"]
    for key in ("uplink_ns", "downlink_ns", "baseline_ns", "noop_ns"):
        assert isinstance(out[key], float)
    iterations = 2 * 2000  # warm-up round + 1 round
    assert out["verified_fwd_iterations"] == {"uplink": iterations, "downlink": iterations}


def test_live_benchmark_runs_end_to_end() -> None:
    out = live.run(seconds=0.1, rounds=1, sessions=8, flows=2, seed=7)
    for key in ("uplink_mpps", "downlink_mpps", "baseline_uplink_mpps", "baseline_downlink_mpps"):
        assert out[key] > 0
    for run in out["runs"]["uplink"] + out["runs"]["downlink"]:
        assert run["delivered"] <= run["upf_fwd_counted"] + 10
        assert run["upf_fwd_counted"] <= run["sent"]
