"""`upf demo` (`make demo`): the UPF on a namespace topology, shown working in under a minute.

    gNB ns (10.100.0.1, .3) --- n3 [ UPF ns: upf run, XDP on n3/n6 ] n6 --- DN ns (10.200.0.1)
                                     n4 (10.50.0.2) --- SMF ns (10.50.0.1): smf-sim

1. builds the four namespaces and starts `upf run` in the UPF namespace (nsenter);
2. the SMF simulator associates and establishes sessions (uplink F-TEID chosen by the UPF);
3. scapy-built GTP-U goes up from the gNB, plain UDP comes down from the DN, and we count
   what arrives at the far ends;
4. a handover moves every session's downlink to a second gNB address and TEID;
5. the sessions are deleted and traffic stops;
6. the UPF's own counters (xdp_stats, read from the pinned map) say what XDP did.
Everything is removed at the end, also on failure or Ctrl-C.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from types import FrameType
from typing import Any

from upf.service import default_object
from upf.smfsim import SimConfig, SmfSim
from upf.testbed import Traffic, UpfProcess, testbed
from upf.topology import UpfTopology


def _say(step: str, text: str) -> None:
    print(f"  {step:<10} {text}", flush=True)


def _sigterm(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def main(sessions: int = 4, packets: int = 50, keep: bool = False) -> int:
    if os.geteuid() != 0:
        print("upf demo: needs root (network namespaces, BPF)", file=sys.stderr)
        return 1
    if not default_object().exists():
        print(f"upf demo: {default_object()} not found: run `make bpf` first", file=sys.stderr)
        return 1
    signal.signal(signal.SIGTERM, _sigterm)
    t0 = time.monotonic()
    print("XDP UPF demo")
    try:
        with testbed("upfdemo", {"metrics.enabled": False}, start=False) as (topo, upf, traffic):
            names = ", ".join(ns.name for ns in topo.namespaces)
            _say("topology", f"namespaces {names}")
            upf.start()
            _say("upf run", f"running in {topo.upf.name}: XDP on n3 and n6, N4 on "
                 f"{topo.addr.upf_n4}:8805, log {upf.log_path}")  # fmt: skip
            ok = asyncio.run(_scenario(topo, upf, traffic, sessions, packets))
            _show_counters(topo, upf)
            if keep:
                input("  namespaces kept; press Enter to remove them ")
    except KeyboardInterrupt:
        print("\ninterrupted: namespaces removed", file=sys.stderr)
        return 130
    except Exception as e:  # the demo explains instead of dumping a trace
        print(f"upf demo failed: {e}", file=sys.stderr)
        return 1
    print(f"{'PASS' if ok else 'FAIL'}: demo finished in {time.monotonic() - t0:.1f} s, "
          "namespaces removed")  # fmt: skip
    return 0 if ok else 1


async def _scenario(
    topo: UpfTopology, upf: UpfProcess, traffic: Traffic, n: int, packets: int
) -> bool:
    a = topo.addr
    cfg = SimConfig(
        upf=(a.upf_n4, 8805),
        sessions=n,
        window=16,
        ue_pool=ipaddress.IPv4Network(a.ue_pool),
        gnb=ipaddress.IPv4Address(a.gnb),
        gnb2=ipaddress.IPv4Address(a.gnb2),
    )
    with topo.smf.entered():
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind((a.smf, 8805))
    sim = SmfSim(cfg)
    await sim.open(sock)
    ok = True
    try:
        cause = await sim.associate()
        est = (await sim.establish_all()).summary()
        _say("smf-sim", f"association {cause}; {est['accepted']}/{n} sessions established "
             f"(p50 {est['p50_ms']:.2f} ms)")  # fmt: skip
        live = [s for s in sim.sessions if s.established]
        for s in live:
            _say("", f"UE {s.ue}: uplink TEID 0x{s.ul_teid:08x} at {s.ul_addr}, "
                 f"downlink to gNB {s.gnb} TEID 0x{s.gnb_teid:08x}")  # fmt: skip
        ok &= len(live) == n
        ok &= _exchange(traffic, live, packets, "forwarding")

        mod = (await sim.modify_all()).summary()
        _say("handover", f"{mod['accepted']}/{len(live)} sessions moved to gNB {a.gnb2} "
             f"(p50 {mod['p50_ms']:.2f} ms)")  # fmt: skip
        ok &= bool(mod["accepted"] == len(live))
        ok &= _exchange(traffic, live, packets, "after handover")

        dele = (await sim.delete_all()).summary()
        _say("delete", f"{dele['accepted']}/{len(live)} sessions deleted")
        ok &= bool(dele["accepted"] == len(live))
        ok &= _exchange(traffic, live, 10, "after delete", expect=False)
    finally:
        sim.close()
    return ok


def _exchange(
    traffic: Traffic, live: list[Any], packets: int, label: str, expect: bool = True
) -> bool:
    traffic.drain()
    for s in live:
        traffic.send_uplink(s.ul_teid, str(s.ue), packets)
    ul = traffic.recv_uplink()
    for s in live:
        traffic.send_downlink(str(s.ue), packets)
    dl = traffic.recv_downlink()
    sent = packets * len(live)
    got_ul = sum(ul[str(s.ue)] for s in live)
    got_dl = sum(dl[(str(s.gnb), s.gnb_teid, str(s.ue))] for s in live)
    stray_dl = sum(dl.values()) - got_dl
    want = sent if expect else 0
    ok = got_ul == want and got_dl == want and stray_dl == 0
    mark = "ok" if ok else "UNEXPECTED"
    want_text = "all expected" if expect else "none expected"
    _say("traffic", f"{label}: uplink {got_ul}/{sent} reached the DN, downlink {got_dl}/{sent} "
         f"reached the gNB in GTP-U with the session's TEID ({want_text}) [{mark}]")  # fmt: skip
    if stray_dl:
        _say("", f"{stray_dl} downlink packets arrived at the wrong gNB or TEID")
    return ok


def _show_counters(topo: UpfTopology, upf: UpfProcess) -> None:
    argv = [sys.executable, "-m", "upf", "stats", "--pin-dir", upf.pin_dir, "--json"]
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[1]))
    proc = subprocess.run(topo.upf.argv(argv), capture_output=True, text=True, env=env, timeout=30)
    if proc.returncode != 0:
        _say("counters", f"unavailable: {proc.stderr.strip()[-200:]}")
        return
    rows = json.loads(proc.stdout)["xdp"]
    _say("counters", "the UPF's XDP verdicts (upf stats):")
    for r in rows:
        print(f"             {r['ifname']:<4} {r['reason']:<24} {r['packets']:>6} packets")
