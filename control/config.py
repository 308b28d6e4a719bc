"""What the agent is told at start-up. The app (upf/config) builds an :class:`AgentConfig`."""

from __future__ import annotations

import enum
import ipaddress
from dataclasses import dataclass

from control.alloc import AllocConfig

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


class PeerLossPolicy(enum.StrEnum):
    """What happens to a peer's sessions when it fails heartbeats or restarts (TS 23.527 4.2)."""

    KEEP = "keep"  # keep forwarding; the SMF re-establishes or deletes them later
    PURGE = "purge"  # delete the sessions and free their resources


@dataclass(frozen=True, slots=True)
class AgentConfig:
    """The N4 endpoint.

    ``node_id`` is our Node ID (an address or an FQDN). ``listen`` is the PFCP address
    (port 8805 by default). ``smf_allow`` lists the networks whose SMFs may associate;
    ``smf_peers`` the SMFs we set up an association with ourselves (and retry).
    ``gtpu_listen`` is where End Markers are sent from and GTP-U signalling the fast path
    passes to the kernel is read (our N3 address, port 2152); None disables both.
    """

    node_id: ipaddress.IPv4Address | ipaddress.IPv6Address | str
    alloc: AllocConfig
    listen: tuple[str, int] = ("0.0.0.0", 8805)
    smf_allow: tuple[IPNetwork, ...] = ()
    smf_peers: tuple[tuple[str, int], ...] = ()
    association_retry: float = 5.0  # seconds between our Association Setup attempts
    on_peer_failure: PeerLossPolicy = PeerLossPolicy.KEEP
    on_peer_restart: PeerLossPolicy = PeerLossPolicy.PURGE
    gtpu_listen: tuple[str, int] | None = None
    advertise_ip_resources: bool = False  # send User Plane IP Resource Information
    t1: float = 3.0
    n1: int = 3
    heartbeat_interval: float = 60.0
    gtpu_peer_port: int = 2152  # where End Markers go (tests use another port)
    n4_address: ipaddress.IPv4Address | None = None  # our F-SEID address (default: derived)
    # Garbage collection (see Agent._collect). Held sessions are acyclic immutable data, freed
    # by reference counting; the cyclic GC only costs us walking them. After this many
    # session changes the agent collects and gc.freeze()s what is alive, so no collection
    # walks those objects again (0: never). Small is cheaper per change, down to a point:
    # here 250 changes took ~1 ms to collect, 1,000 took ~17 ms (the objects no longer fit
    # the CPU cache for the collector's passes), 100 cost more per change (fixed cost).
    gc_freeze_every: int = 250
    # True (`upf run`): automatic collection is turned off while the agent runs and the
    # agent collects itself, after gc_freeze_every changes and every gc_interval seconds.
    # At 100,000 held sessions automatic collection cost more CPU than compiling a request.
    manage_gc: bool = False
    gc_interval: float = 10.0
    # Establishment Requests shaped like earlier ones are decoded by substitution
    # (pfcp/shapes.py) and compiled by replaying the shape's template (control/template.py):
    # the same result, computed with about a third fewer instructions. False: every request
    # is decoded and compiled in full.
    templates: bool = True

    def allowed(self, host: str) -> bool:
        """May an SMF at ``host`` associate? An empty allow-list allows only ``smf_peers``."""
        try:
            addr = ipaddress.ip_address(host)
        except ValueError:
            return False
        if any(addr in net for net in self.smf_allow):
            return True
        return any(ipaddress.ip_address(h) == addr for h, _ in self.smf_peers)
