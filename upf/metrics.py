"""Prometheus exporter: datapath counters read from the maps on each scrape, PFCP from the agent.

Metrics:
  upf_xdp_packets_total{interface, reason}   every verdict of the XDP program (xdp_stats)
  upf_xdp_bytes_total{interface, reason}
  upf_pfcp_sessions                          PFCP sessions installed
  upf_pfcp_associations                      associated SMFs
  upf_pfcp_messages_total{direction, type, cause}   as the agent counts them

`reason` is the name of enum upf_reason in lower case (fwd_uplink, drop_unknown_teid, ...),
taken from the generated mirror (upf.datapath.abi.Reason), never typed by hand.

`upf stats` uses `read_stats` on the pinned xdp_stats map of a running UPF.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

log = logging.getLogger("upf.metrics")


def xdp_counters(xdp_stats: Any) -> Iterator[tuple[int, str, int, int]]:
    """(interface slot, reason label, packets, bytes) for every non-zero xdp_stats slot.

    upf.datapath.stats reads the map (one batch); the key is
    (ingress ifindex & (UPF_MAX_IFACES - 1)) * UPF_REASON_MAX + reason (xdp/counters.h).
    """
    from upf.datapath.stats import read_xdp_stats

    for (slot, reason), (packets, nbytes) in sorted(read_xdp_stats(xdp_stats).items()):
        yield slot, reason.lower(), packets, nbytes


def interface_name(slot: int, known: dict[int, str] | None = None) -> str:
    """The interface whose counters live in a stats slot (ifindex & 255), else 'slot<N>'."""
    if known and slot in known:
        return known[slot]
    names = sorted(name for idx, name in socket.if_nameindex() if idx & 255 == slot)
    return "|".join(names) if names else f"slot{slot}"


def _pinned_percpu_array(pin_dir: str, name: str) -> Any:
    from upf.datapath import abi, libbpf
    from upf.datapath.maps import PerCpuArrayMap

    path = os.path.join(pin_dir, name)
    fd = libbpf.obj_get(path)
    info = libbpf.map_info(fd)
    return PerCpuArrayMap(fd, abi.Counter, name=name, max_entries=info.max_entries)


def read_stats(pin_dir: str, include_zero: bool = False) -> dict[str, Any]:
    """Counters of a running UPF from its pinned maps (for `upf stats`)."""
    from upf.datapath.abi import Reason

    if not Path(pin_dir, "xdp_stats").exists():
        raise SystemExit(f"upf stats: no pinned xdp_stats in {pin_dir} (is the UPF running?)")
    m = _pinned_percpu_array(pin_dir, "xdp_stats")
    try:
        rows: list[dict[str, Any]] = [
            {"ifname": interface_name(slot), "slot": slot, "reason": reason,
             "packets": packets, "bytes": nbytes}
            for slot, reason, packets, nbytes in xdp_counters(m)
        ]  # fmt: skip
    finally:
        m.close()
    if include_zero:
        seen = {(r["ifname"], r["reason"]) for r in rows}
        slots = {r["slot"] for r in rows}
        for slot in sorted(slots):
            for reason in Reason:
                if reason is Reason.REASON_MAX:
                    continue
                name = reason.name.lower()
                if (interface_name(slot), name) not in seen:
                    rows.append({"ifname": interface_name(slot), "slot": slot,
                                 "reason": name, "packets": 0, "bytes": 0})  # fmt: skip
    rows.sort(key=lambda r: (str(r["ifname"]), str(r["reason"])))
    return {"pin_dir": pin_dir, "xdp": rows}


class UpfCollector:
    """Reads the datapath maps and the agent's counters on every scrape."""

    def __init__(self, dp: Any, agent: Any | None, ifnames: dict[int, str]) -> None:
        self.dp = dp
        self.agent = agent
        self.ifnames = ifnames

    def describe(self) -> list[Any]:
        return []  # no describe-time scrape of the maps

    def collect(self) -> Iterator[Any]:
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

        pk = CounterMetricFamily(
            "upf_xdp_packets", "Packets by ingress interface and verdict reason",
            labels=["interface", "reason"],
        )  # fmt: skip
        by = CounterMetricFamily(
            "upf_xdp_bytes", "Bytes by ingress interface and verdict reason",
            labels=["interface", "reason"],
        )  # fmt: skip
        try:
            for slot, reason, packets, nbytes in xdp_counters(self.dp.xdp_stats):
                ifname = interface_name(slot, self.ifnames)
                pk.add_metric([ifname, reason], packets)
                by.add_metric([ifname, reason], nbytes)
        except Exception as e:  # a scrape must not kill the UPF
            log.warning("reading xdp_stats failed: %s", e)
        yield pk
        yield by
        yield from self._agent_metrics(CounterMetricFamily, GaugeMetricFamily)

    def _agent_metrics(self, counter: Any, gauge: Any) -> Iterator[Any]:
        if self.agent is None:
            return
        snap = agent_snapshot(self.agent)
        workers = getattr(self.agent, "workers", None)  # N4 workers: the lead adds the rest
        if workers is not None:
            from upf.workers import merged_snapshot

            snap = merged_snapshot(snap, workers.snapshots)
        yield gauge("upf_pfcp_sessions", "PFCP sessions installed", value=snap["sessions"])
        yield gauge("upf_pfcp_associations", "Associated SMFs", value=snap["associations"])
        msgs = counter(
            "upf_pfcp_messages", "PFCP messages by direction, type and cause",
            labels=["direction", "type", "cause"],
        )  # fmt: skip
        for (direction, mtype, cause), n in sorted(snap["messages"].items()):
            msgs.add_metric([direction, mtype, cause], n)
        yield msgs
        events = counter(
            "upf_pfcp_agent_events", "PFCP agent counters (sessions established, ...)",
            labels=["event"],
        )  # fmt: skip
        for name, n in sorted(snap["agent"].items()):
            events.add_metric([name], n)
        yield events
        node = counter(
            "upf_pfcp_node_events", "PFCP transport counters (datagrams, retransmissions, ...)",
            labels=["event"],
        )  # fmt: skip
        for name, n in sorted(snap["node"].items()):
            node.add_metric([name], n)
        yield node


def agent_snapshot(agent: Any) -> dict[str, Any]:
    """Sessions, associations and message counts from the agent."""
    sessions = getattr(agent, "sessions", None)
    assocs = getattr(agent, "associations", None)
    messages = getattr(agent, "pfcp_messages", None)
    stats = getattr(agent, "stats", None)
    node_stats = getattr(getattr(agent, "node", None), "stats", None)
    return {
        "sessions": len(sessions) if sessions is not None else 0,
        "associations": len(assocs) if assocs is not None else 0,
        "messages": dict(messages) if messages is not None else {},
        "agent": _int_fields(stats),
        "node": _int_fields(node_stats),
    }


def _int_fields(obj: Any) -> dict[str, int]:
    if obj is None:
        return {}
    names = getattr(obj, "__dataclass_fields__", {})
    return {n: int(getattr(obj, n)) for n in names if isinstance(getattr(obj, n), int)}


class Exporter:
    def __init__(self, server: Any, thread: Any) -> None:
        self.server = server
        self.thread = thread

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


def start_exporter(cfg: Any, dp: Any, agent: Any | None) -> Exporter:
    from prometheus_client import CollectorRegistry, start_http_server

    ifnames: dict[int, str] = {}
    for role in ("n3", "n6", "n9"):
        itf = getattr(cfg.interfaces, role)
        if itf is not None:
            with contextlib.suppress(OSError):
                ifnames[socket.if_nametoindex(itf.name) & 255] = itf.name
    registry = CollectorRegistry(auto_describe=False)
    registry.register(UpfCollector(dp, agent, ifnames))
    server, thread = start_http_server(cfg.metrics.port, str(cfg.metrics.address), registry)
    log.info("metrics on http://%s:%d/metrics", cfg.metrics.address, cfg.metrics.port)
    return Exporter(server, thread)
