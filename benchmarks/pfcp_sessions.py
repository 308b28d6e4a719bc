"""PFCP session throughput and latency of the real agent on kernel maps.

    python -m benchmarks.pfcp_sessions --json [--sessions 100000] [--workers N]
        [--hold 1000000 [--hold-workers N]]

The agent runs in its own process (`--serve`), with `--workers` N4 workers (default one
per core; upf/workers.py) started as `upf run` starts them: the real XDP object is loaded
and its maps sized for the run, but not attached to any interface (no pins either); PFCP
goes over loopback. The load generator (`upf smf-sim`) runs in another process. With more
than one worker, steps 1 and 2 run again with one worker, the baseline (`single_worker`,
and `speedup` the ratios). CPU and RSS figures are summed over the workers.

0. calibration_loop_1000_us: a fixed pure-Python loop timed just before step 1 (the same
   as benchmarks.pfcp_codec's), how fast the host runs Python at that moment;
1. throughput: associate, establish `--sessions` sessions with `--window` requests in
   flight, measure the agent's RSS with all of them installed, modify every session
   (handover), delete every session -> establish_per_s, modify_per_s, delete_per_s,
   agent_rss_mb, and the CPU the agent spent per request (agent_cpu_us_per_establish,
   agent_cpu_us_per_modify_and_delete; from /proc, so the load generator is not in it);
2. latency: a fresh set of sessions established at half the measured maximum rate ->
   p50_ms, p99_ms of establishment (request sent -> response received);
3. with `--hold N`: a fresh agent sized for N sessions, N sessions established and held,
   the agent's RSS measured (hold.agent_rss_mb), with `--hold-workers` workers.

Targets (measured, reported, never asserted): >= 10,000 establishments/s with 100,000
sessions; 1,000,000 sessions held with agent RSS <= 2 GB.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from benchmarks.pfcp_codec import calibration_us

ROOT = Path(__file__).resolve().parents[1]
N3_ADDR = "127.0.0.2"  # the F-TEID address the agent hands out (never used for traffic)
UE_POOL = "10.0.0.0/8"


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _family(pid: int) -> list[int]:
    """``pid`` and the processes below it (the agent's N4 workers)."""
    from upf.testbed import descendants

    return [pid, *descendants(pid)]


def _cpu_s(pid: int) -> float:
    """User + system CPU seconds the agent (and its workers) have used so far."""
    total = 0
    for p in _family(pid):
        with open(f"/proc/{p}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def _rss_mb(pid: int) -> tuple[float, float]:
    """(VmRSS, VmHWM) of the agent in MiB, summed over its workers."""
    rss = hwm = 0.0
    for p in _family(pid):
        with open(f"/proc/{p}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    rss += int(line.split()[1]) / 1024
                elif line.startswith("VmHWM:"):
                    hwm += int(line.split()[1]) / 1024
    return round(rss, 1), round(hwm, 1)


# -- the agent process -----------------------------------------------------------------------


def serve(port: int, sessions: int, workers: int) -> int:
    """Run the agent (`workers` N4 workers) on loopback with maps sized for `sessions`;
    print READY; run to SIGTERM."""
    import uvloop

    from upf import config
    from upf.datapath.loader import Datapath, DatapathLimits
    from upf.service import default_object, start_agents
    from upf.wiring import agent_config

    # Headroom: a map sized for exactly N refuses the N-th session (reserved slots).
    limits = DatapathLimits.for_sessions(max(sessions + sessions // 100, 1024))
    cfg = config.from_dict(
        {
            "interfaces": {"n3": {"name": "lo", "address": N3_ADDR}, "n6": {"name": "lo"}},
            "n4": {"address": "127.0.0.1", "port": port},
            "smf": {"allow": ["127.0.0.0/8"], "heartbeat_interval": 0},
            "ue_pools": {"internet": {"v4": [UE_POOL]}},
            "limits": {
                "sessions": limits.sessions, "pdrs": limits.pdrs, "fars": limits.fars,
                "qers": limits.qers, "nexthops": limits.nexthops,
            },
            "metrics": {"enabled": False},
            "log_level": "warning",
        }
    )  # fmt: skip
    acfg = agent_config(cfg)
    # No End Marker / GTP-U socket on loopback for the benchmark.
    acfg = type(acfg)(**{**_fields(acfg), "gtpu_listen": None})

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGTERM, stop.set)
        loop.add_signal_handler(signal.SIGINT, stop.set)
        dp = Datapath(default_object(), limits=limits, instance=None)
        await asyncio.to_thread(dp.open)
        try:
            async with contextlib.AsyncExitStack() as stack:  # as upf/service.py starts it
                await start_agents(acfg, dp.maps, workers, stack, lambda why: stop.set())
                print("READY", flush=True)
                await stop.wait()
        finally:
            with contextlib.suppress(Exception):
                dp.close()

    uvloop.run(main())  # as `upf run` does (upf/service.py)
    return 0


def _fields(obj: Any) -> dict[str, Any]:
    import dataclasses

    return {f.name: getattr(obj, f.name) for f in dataclasses.fields(obj)}


@contextlib.contextmanager
def agent_process(sessions: int, workers: int) -> Iterator[tuple[subprocess.Popen[str], int]]:
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "benchmarks.pfcp_sessions", "--serve", str(port),
         "--sessions", str(sessions), "--workers", str(workers)],
        cwd=ROOT, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        if line.strip() != "READY":
            raise RuntimeError(f"agent did not start (exit {proc.wait(5)})")
        yield proc, port
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


# -- the load generator process --------------------------------------------------------------


def smf_sim(
    port: int,
    sessions: int,
    window: int,
    *,
    rate: float = 0.0,
    modify: bool = True,
    delete: bool = True,
    on_established: Any = None,
) -> dict[str, Any]:
    """Run `upf smf-sim` in another process; call on_established() while it pauses."""
    argv = [
        sys.executable, "-m", "upf", "smf-sim", "--upf", f"127.0.0.1:{port}",
        "--local", "127.0.0.1:0", "-n", str(sessions), "-w", str(window),
        "--ue-pool", UE_POOL, "--json", "--rate", str(rate),
    ]  # fmt: skip
    if not modify:
        argv.append("--no-modify")
    if not delete:
        argv.append("--no-delete")
    if on_established is not None:
        argv.append("--pause-after-establish")
    proc = subprocess.Popen(
        argv, cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    assert proc.stdin is not None and proc.stderr is not None and proc.stdout is not None
    if on_established is not None:
        for line in proc.stderr:
            if line.startswith("PAUSED"):
                on_established()
                proc.stdin.write("\n")
                proc.stdin.flush()
                break
    out, err = proc.communicate(timeout=3600)
    try:
        result: dict[str, Any] = json.loads(out)
    except json.JSONDecodeError:
        raise RuntimeError(f"smf-sim failed ({proc.returncode}): {err[-2000:]}") from None
    return result


def run(sessions: int, window: int, latency_sessions: int, hold: int, workers: int,
        hold_workers: int) -> dict[str, Any]:
    """The figures with `workers` N4 workers and, when that is more than one, the same
    with one worker (the baseline, measured in the same run) and the ratios."""
    out: dict[str, Any] = {"sessions": sessions, "window": window, "workers": workers}
    out.update(throughput(sessions, window, latency_sessions, workers))
    if workers > 1:
        single = throughput(sessions, window, latency_sessions, 1)
        out["single_worker"] = single
        out["speedup"] = {
            k: round(out[k] / single[k], 2) for k in ("establish_per_s", "modify_per_s",
                                                       "delete_per_s") if single[k]
        }
    if hold:
        with agent_process(hold, hold_workers) as (agent, port):
            held: dict[str, float] = {}

            def measure_hold() -> None:
                held["rss"], held["hwm"] = _rss_mb(agent.pid)

            h = smf_sim(port, hold, window, modify=False, delete=False, on_established=measure_hold)
            out["hold"] = {
                "sessions": hold,
                "workers": hold_workers,
                "established": h["establish"]["accepted"],
                "establish_per_s": h["establish"]["per_s"],
                "agent_rss_mb": held.get("rss"),
                "agent_hwm_mb": held.get("hwm"),
            }
    return out


def throughput(sessions: int, window: int, latency_sessions: int, workers: int) -> dict[str, Any]:
    out: dict[str, Any] = {}
    with agent_process(sessions, workers) as (agent, port):
        rss: dict[str, float] = {}
        # How fast this host runs Python right now (it drifts by a third within a day here):
        # runs are compared at like calibrations, or per calibration.
        out["calibration_loop_1000_us"] = calibration_us()
        cpu0 = _cpu_s(agent.pid)

        def measure() -> None:
            rss["rss"], rss["hwm"] = _rss_mb(agent.pid)
            rss["cpu"] = _cpu_s(agent.pid)

        t = smf_sim(port, sessions, window, on_established=measure)
        est, mod, dele = t["establish"], t["modify"], t["delete"]
        cpu_after = _cpu_s(agent.pid)
        # The agent's own CPU per request, all workers (1e6 / this is one core's ceiling).
        out["agent_cpu_us_per_establish"] = round((rss["cpu"] - cpu0) * 1e6 / sessions, 1)
        out["agent_cpu_us_per_modify_and_delete"] = round(
            (cpu_after - rss["cpu"]) * 1e6 / (2 * sessions), 1)
        out["smf_sim_cpu_us_per_establish"] = est.get("cpu_us_per_request")
        out.update(
            establish_per_s=est["per_s"],
            modify_per_s=mod["per_s"],
            delete_per_s=dele["per_s"],
            established=est["accepted"],
            agent_rss_mb=rss.get("rss"),
            agent_hwm_mb=rss.get("hwm"),
            throughput_p50_ms=est["p50_ms"],
            throughput_p99_ms=est["p99_ms"],
            causes={"establish": est["causes"], "modify": mod["causes"], "delete": dele["causes"]},
        )
        half = max(1.0, est["per_s"] / 2)
        n_lat = min(latency_sessions, sessions)
        lat = smf_sim(port, n_lat, window, rate=half, modify=False)
        out.update(
            p50_ms=lat["establish"]["p50_ms"],
            p99_ms=lat["establish"]["p99_ms"],
            latency_rate_per_s=round(half, 1),
            latency_achieved_per_s=lat["establish"]["per_s"],
            latency_sessions=n_lat,
        )
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.pfcp_sessions")
    p.add_argument("--sessions", type=int, default=100_000)
    p.add_argument("--window", type=int, default=64, help="requests in flight")
    p.add_argument("--latency-sessions", type=int, default=20_000)
    p.add_argument("--hold", type=int, default=0, help="also hold this many sessions (RSS)")
    p.add_argument("--workers", type=int, default=os.cpu_count() or 1,
                   help="N4 workers (default: one per core); with more than one, the run "
                        "also measures one worker as the baseline")
    p.add_argument("--hold-workers", type=int, default=1, help="N4 workers for --hold")
    p.add_argument("--json", action="store_true")
    p.add_argument("--serve", type=int, metavar="PORT", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.serve:
        return serve(args.serve, args.sessions, args.workers)
    if os.geteuid() != 0:
        print("needs root (BPF maps)", file=sys.stderr)
        return 1
    t0 = time.monotonic()
    result = run(args.sessions, args.window, args.latency_sessions, args.hold, args.workers,
                 args.hold_workers)
    result["wall_s"] = round(time.monotonic() - t0, 1)
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        for k, v in result.items():
            print(f"{k:>24}: {v}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
