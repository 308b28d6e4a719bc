"""From the app's `Config` to what the control plane is told (control.config.AgentConfig)."""

from __future__ import annotations

import dataclasses
import ipaddress
import logging
import struct
from collections import Counter
from collections.abc import Mapping
from typing import Any

from control.alloc import AllocConfig, EndpointConfig, UePoolConfig
from control.config import AgentConfig, PeerLossPolicy
from pfcp import Cause, IEType, MessageType
from pfcp.node import InvalidRequest, RequestReceived
from upf.config import Config, LossPolicy

log = logging.getLogger("upf.wiring")

PFCP_ACCESS = 0  # PFCP Source/Destination Interface values (TS 29.244 8.2.2)
PFCP_CORE = 1
HEARTBEAT_NEVER = 365 * 86400.0


def agent_config(cfg: Config) -> AgentConfig:
    endpoints: list[EndpointConfig] = []
    n3, n9 = cfg.interfaces.n3, cfg.interfaces.n9
    assert n3.address is not None  # config._check
    endpoints.append(EndpointConfig(interface=PFCP_ACCESS, ipv4=n3.address))
    if n9 is not None and n9.address is not None:
        endpoints.append(EndpointConfig(interface=PFCP_CORE, ipv4=n9.address))
    pools: list[UePoolConfig] = []
    for dnn, pool in cfg.ue_pools.items():
        if len(pool.v4) > 1 or len(pool.v6) > 1:
            log.warning("ue_pools.%s: the agent allocates from the first v4 and v6 pool only", dnn)
        pools.append(
            UePoolConfig(
                network_instance=dnn,
                ipv4=pool.v4[0] if pool.v4 else None,
                ipv6=pool.v6[0] if pool.v6 else None,
            )
        )
    alloc = AllocConfig(
        endpoints=tuple(endpoints),
        ue_pools=tuple(pools),
        pdr_slots=cfg.limits.pdrs,
        far_slots=cfg.limits.fars,
        qer_slots=cfg.limits.qers,
    )
    node_id: ipaddress.IPv4Address | ipaddress.IPv6Address | str
    try:
        node_id = ipaddress.ip_address(cfg.effective_node_id)
    except ValueError:
        node_id = cfg.effective_node_id

    def policy(p: LossPolicy) -> PeerLossPolicy:
        return PeerLossPolicy.PURGE if p is LossPolicy.PURGE else PeerLossPolicy.KEEP

    return AgentConfig(
        node_id=node_id,
        alloc=alloc,
        listen=(str(cfg.n4.address), cfg.n4.port),
        smf_allow=cfg.smf.allow,
        smf_peers=tuple((str(a), 8805) for a in cfg.smf.associate),
        on_peer_failure=policy(cfg.smf.loss_policy),
        on_peer_restart=policy(cfg.smf.restart_policy),
        gtpu_listen=(str(n3.address), 2152),
        # 0 disables heartbeats; the node wants a positive interval, so "never" is a year.
        heartbeat_interval=cfg.smf.heartbeat_interval or HEARTBEAT_NEVER,
        manage_gc=True,  # the agent is the process's workload: it runs the GC (see AgentConfig)
    )


def make_agent(acfg: AgentConfig, maps: Mapping[str, Any], **kwargs: Any) -> Any:
    """The PFCP agent on the datapath's maps (name -> typed handle, e.g. Datapath.maps),
    counting its PFCP messages. ``kwargs`` go to the Agent (sock, recovery_time_stamp)."""
    from control.agent import Agent

    agent = Agent(acfg, kernel_writer(acfg, maps), **kwargs)
    count_messages(agent)
    return agent


def kernel_writer(acfg: AgentConfig, maps: Mapping[str, Any]) -> Any:
    """The agent's MapWriter on the datapath's maps. With N4 workers the others write the
    same maps: the kernel then checks the PDR keys a session creates (KernelMaps.shared)."""
    from control.kernel import KernelMaps

    return KernelMaps(maps, shared=acfg.alloc.shard[1] > 1)


def count_messages(agent: Any) -> Counter[tuple[str, str, str]]:
    """Count the agent's PFCP messages by (direction, type, cause) in ``agent.pfcp_messages``
    (upf/metrics.py exports them): the agent does not count them itself, so this wraps the
    node's doors, the events it delivers and the responses it is given.

    It runs for every message, so names are worked out once: a request's key once per
    message type; a response's Cause is found where it was in the last response of the
    same type whose IEs before it were the same octets (the agent's Node ID, say)."""
    messages: Counter[tuple[str, str, str]] = Counter()
    agent.pfcp_messages = messages
    node = agent.node
    send_response = node.send_response
    send_encoded_response = node.send_encoded_response
    next_event = node.next_event
    rx_keys: dict[int, tuple[str, str, str]] = {}
    before_cause: dict[tuple[int, int], bytes] = {}  # (type, header length) -> IEs before it
    tx_keys: dict[tuple[int, int], tuple[str, str, str]] = {}  # (type, Cause or -1)

    def counting_send_response(request: Any, message: Any, now: float) -> None:
        cause = getattr(message, "cause", None)
        cause_name = cause.name if cause is not None and hasattr(cause, "name") else ""
        messages[("tx", _type_name(message), cause_name)] += 1
        send_response(request, message, now)

    def counting_send_encoded_response(request: Any, data: bytes, now: float) -> None:
        send_encoded_response(request, data, now)  # (checks the header: count it after)
        mtype, hdr = data[1], (16 if data[0] & 0x01 else 8)
        prefix = before_cause.get((mtype, hdr))
        at = hdr + len(prefix) if prefix is not None and data.startswith(prefix, hdr) else 0
        # The same IEs before it, so an IE starts at `at`: a Cause, with its value there?
        if not at or data[at:at + 2] != _CAUSE_TYPE or data[at + 2:at + 4] == b"\0\0" or \
                len(data) <= at + 4:
            at = _cause_offset(data)
            if at:
                before_cause[(mtype, hdr)] = data[hdr:at]
        cause = data[at + 4] if at else -1
        key = tx_keys.get((mtype, cause))
        if key is None:
            name = _MESSAGE_TYPES.get(mtype) or MessageType(mtype).name
            key = tx_keys[(mtype, cause)] = ("tx", name, _cause_name(cause))
        messages[key] += 1

    def counting_next_event() -> Any:
        event = next_event()
        if isinstance(event, RequestReceived):
            mtype = event.header.message_type  # (a shaped request's message is not built)
            key = rx_keys.get(mtype)
            if key is None:
                key = rx_keys[mtype] = ("rx", _type_name(event.message), "")
            messages[key] += 1
        elif isinstance(event, InvalidRequest):
            messages[("rx", "INVALID", event.error.cause.name)] += 1
        return event

    node.send_response = counting_send_response
    node.send_encoded_response = counting_send_encoded_response
    node.next_event = counting_next_event
    return messages


def shard(acfg: AgentConfig, index: int, count: int) -> AgentConfig:
    """The config of N4 worker ``index`` of ``count`` (control/shards.py): its stride of
    every pool; only the lead (0) sets up associations itself. A follower's GTP-U socket
    (End Markers) binds an ephemeral port: N3:2152 is the lead's."""
    alloc = dataclasses.replace(acfg.alloc, shard=(index, count))
    if index == 0:
        return dataclasses.replace(acfg, alloc=alloc)
    gtpu = None if acfg.gtpu_listen is None else (acfg.gtpu_listen[0], 0)
    return dataclasses.replace(acfg, alloc=alloc, smf_peers=(), gtpu_listen=gtpu)


_MESSAGE_TYPES = {int(t): t.name for t in MessageType}
_CAUSES = {int(c): c.name for c in Cause}
_IE_TL = struct.Struct("!HH").unpack_from
_CAUSE_IE = int(IEType.CAUSE)


_CAUSE_TYPE = _CAUSE_IE.to_bytes(2, "big")


def _cause_offset(data: bytes) -> int:
    """Where the Cause IE of an encoded message starts (0: it has none, or an empty one);
    the IEs are read only up to the Cause (usually second)."""
    pos, end = (16 if data[0] & 0x01 else 8), len(data)
    while pos + 4 <= end:
        ie_type, length = _IE_TL(data, pos)
        if ie_type == _CAUSE_IE and length >= 1 and pos + 4 < end:
            return pos
        pos += 4 + length
    return 0


def _cause_name(value: int) -> str:
    """A Cause value's name ("" for -1: no Cause)."""
    return "" if value < 0 else _CAUSES.get(value) or Cause(value).name


def _encoded_cause(data: bytes) -> str:
    """The name of the Cause of an encoded message, as _type_name and the Cause of its
    object ("" if it has none)."""
    at = _cause_offset(data)
    return _cause_name(data[at + 4] if at else -1)


def _type_name(msg: Any) -> str:
    mt = getattr(msg, "message_type", None)
    return mt.name if mt is not None and hasattr(mt, "name") else type(msg).__name__
