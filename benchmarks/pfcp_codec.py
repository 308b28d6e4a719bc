"""PFCP codec benchmark: python -m benchmarks.pfcp_codec [--json] [--runs N]

Times decode and encode of a Session Establishment Request (2 PDRs: uplink with F-TEID CHOOSE
and QFI, downlink with UE IP; 2 FARs, one with Outer Header Creation; 1 QER with MBR and QFI;
1 URR with a volume threshold) and of the matching Session Establishment Response (Created PDR
with F-TEID). Reports the median of N single-call timings in microseconds, and scapy's
decode/encode of the same request measured in the same run as a baseline.

``decode_us`` decodes the same octets every time; ``decode_sessions_us`` cycles through
SESSIONS requests of that shape that differ as one SMF's sessions do (sequence number, F-SEID,
UE IP Address, the gNB's TEID in the downlink FAR), so it shows what the decoders' memos do
for a stream of new sessions;
``decode_unique_pdrs_us`` decodes requests whose PDRs never repeat (rule IDs and an SDF filter
that differ every time), the worst case for the PDR memo (pfcp.ies.masked): all misses.
"""

from __future__ import annotations

import argparse
import gc
import itertools
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import replace
from ipaddress import IPv4Address
from typing import Any

import pfcp
from tests.pfcp.samples import UE, establishment_request, establishment_response


def _medians_us(fns: dict[str, Callable[[], Any]], runs: int, batch: int = 10) -> dict[str, tuple[float, float]]:
    """Median wall-clock and CPU time per call for each function, over ``runs`` calls each.

    The functions are timed round-robin, one batch of ``batch`` calls at a time, so that load
    from other processes on a shared machine falls on all of them alike; the thread's CPU time
    leaves out the time other processes held the core."""
    for fn in fns.values():
        for _ in range(min(200, runs)):
            fn()
    wall: dict[str, list[float]] = {k: [] for k in fns}
    cpu: dict[str, list[float]] = {k: [] for k in fns}
    clock = time.perf_counter_ns
    thread = time.thread_time_ns
    for _ in range(max(1, runs // batch)):
        for key, fn in fns.items():
            c0 = thread()
            t0 = clock()
            for _ in range(batch):
                fn()
            wall[key].append((clock() - t0) / batch / 1000.0)
            cpu[key].append((thread() - c0) / batch / 1000.0)
    return {k: (round(statistics.median(wall[k]), 2), round(statistics.median(cpu[k]), 2)) for k in fns}


# More sessions than a plain memo holds (MEMO_LIMIT): a value that differs per session must
# not come back from the plain memo on the next lap, as it never would in real traffic.
SESSIONS = 4096


def _towards(far: pfcp.CreateFar, teid: int) -> pfcp.CreateFar:
    """``far`` with another TEID in its Outer Header Creation, if it has one (each session has
    its own tunnel at the gNB)."""
    fp = far.forwarding_parameters
    if fp is None or fp.outer_header_creation is None:
        return far
    ohc = replace(fp.outer_header_creation, teid=teid)
    return replace(far, forwarding_parameters=replace(fp, outer_header_creation=ohc))


def _sessions(req: pfcp.SessionEstablishmentRequest) -> Callable[[], Any]:
    """Decode the next of SESSIONS requests like ``req`` that differ as sessions do."""
    datagrams = []
    base = int(UE)
    for i in range(SESSIONS):
        pdrs = tuple(
            replace(p, pdi=replace(p.pdi, ue_ip_address=replace(p.pdi.ue_ip_address, ipv4=IPv4Address(base + i))))
            if p.pdi.ue_ip_address is not None else p
            for p in req.create_pdr
        )
        fars = tuple(_towards(f, 0x8000 + i) for f in req.create_far)
        session = replace(req, sequence=i + 1, cp_f_seid=replace(req.cp_f_seid, seid=0x1000 + i),
                          create_pdr=pdrs, create_far=fars)
        datagrams.append(pfcp.encode_message(session))
        assert pfcp.decode_message(datagrams[-1]) == session
    nxt = itertools.cycle(datagrams).__next__
    decode = pfcp.decode_message
    return lambda: decode(nxt())


def _unique_pdrs(req: pfcp.SessionEstablishmentRequest, count: int) -> Callable[[], Any]:
    """Decode the next of ``count`` requests like ``req`` whose PDRs (and PDIs) are all new."""
    datagrams = []
    base = int(UE)
    for i in range(count):
        ue = IPv4Address(base + i)
        sdf = (pfcp.SdfFilter(f"permit out ip from any to {ue}"),)
        pdrs = tuple(
            replace(p, pdr_id=(p.pdr_id + 2 * i) % 65536, pdi=replace(p.pdi, sdf_filter=sdf))
            for p in req.create_pdr
        )
        datagrams.append(pfcp.encode_message(replace(req, sequence=i + 1, create_pdr=pdrs)))
    nxt = iter(datagrams).__next__
    decode = pfcp.decode_message
    return lambda: decode(nxt())


def calibration_loop() -> None:
    """A fixed pure-Python loop: its time compares machines, and one machine's moments."""
    total = 0
    for i in range(1000):
        total += i


def calibration_us(runs: int = 2000) -> float:
    """Median CPU time of calibration_loop in µs (this thread's, so not other processes')."""
    return _medians_us({"loop": calibration_loop}, runs)["loop"][1]


def run(runs: int, scapy_runs: int) -> dict[str, Any]:
    req = establishment_request()
    rsp = establishment_response()
    req_bytes = pfcp.encode_message(req)
    rsp_bytes = pfcp.encode_message(rsp)
    assert pfcp.decode_message(req_bytes) == req and pfcp.decode_message(rsp_bytes) == rsp

    gc_was = gc.isenabled()
    gc.disable()
    try:
        ours = _medians_us(
            {
                "decode_us": lambda: pfcp.decode_message(req_bytes),
                "decode_sessions_us": _sessions(req),
                "decode_unique_pdrs_us": _unique_pdrs(req, runs + min(200, runs)),
                "encode_us": lambda: pfcp.encode_message(req),
                "response_decode_us": lambda: pfcp.decode_message(rsp_bytes),
                "response_encode_us": lambda: pfcp.encode_message(rsp),
                # A fixed pure-Python loop timed in the same rounds: compares machines and load.
                "calibration_loop_1000_us": calibration_loop,
            },
            runs,
        )
        result: dict[str, Any] = {
            "message": "SessionEstablishmentRequest",
            "request_octets": len(req_bytes),
            "response_octets": len(rsp_bytes),
            "runs": runs,
            **{k: wall for k, (wall, _) in ours.items()},
            "cpu_time_median_us": {k: cpu for k, (_, cpu) in ours.items()},
        }
        try:
            from scapy.contrib.pfcp import PFCP
        except ImportError:  # pragma: no cover
            result["scapy"] = None
        else:
            parsed = PFCP(req_bytes)
            assert bytes(parsed) == req_bytes
            theirs = _medians_us(
                {
                    "decode_us": lambda: PFCP(req_bytes),
                    # build from a copy of the dissection: bytes() of a fresh object
                    "encode_us": lambda: bytes(parsed.copy()),
                },
                scapy_runs,
                batch=1,
            )
            result["scapy"] = {"runs": scapy_runs, **{k: wall for k, (wall, _) in theirs.items()}}
            result["speedup_vs_scapy"] = {
                "decode": round(result["scapy"]["decode_us"] / result["decode_us"], 1),
                "encode": round(result["scapy"]["encode_us"] / result["encode_us"], 1),
            }
    finally:
        if gc_was:
            gc.enable()
    result["decode_per_calibration"] = round(result["decode_us"] / result["calibration_loop_1000_us"], 2)
    result["target_us"] = 30
    result["python"] = platform.python_version()
    result["loadavg_1min"] = round(os.getloadavg()[0], 2)
    result["cpus"] = os.cpu_count()
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--runs", type=int, default=20_000)
    parser.add_argument("--scapy-runs", type=int, default=300)
    args = parser.parse_args(argv)
    result = run(args.runs, args.scapy_runs)
    if args.json:
        print(json.dumps(result))
    else:
        for k, v in result.items():
            print(f"{k:>22}: {v}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
