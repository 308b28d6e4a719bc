"""control: SMF sessions (PFCP) -> XDP map rules.

    PFCP datagram -> pfcp.node (sans-I/O) -> control.agent (handlers)
        -> control.compile (pure: session state + request -> new state + Plan)
        -> control.apply (all-or-nothing batched writes through a MapWriter)

Modules:
    alloc    TEIDs (generation << 24 | uplink_by_teid index), UE addresses (v4 hosts,
             v6 /64s), PDR/FAR/QER slots; AllocTxn
    session  immutable session state (rules by ID, slots, allocations)
    render   session -> map contents; diff(old, new) -> Plan
    compile  PFCP rule IEs -> new Session + Plan (establish / modify / delete)
    plan     Plan, MapOp, EndMarker
    apply    MapWriter protocol, apply_plan, CoalescingApplier
    memory   in-memory MapWriter (tests, dry runs); kernel: MapWriter over upf.datapath
    layout   byte layout of keys/values (xdp/upf_shared.h), derived from the BTF mirror
             upf.datapath.abi
    usage    usage reports from pdr_stats counters
    gtpu     End Marker bytes, GTP-U signalling parser
    config   AgentConfig, PeerLossPolicy
    responses  PFCP responses/IEs from control results (Created PDR, Usage Report, errors)
    agent    Agent: the N4 endpoint on asyncio (uvloop in `upf run`); session requests
             compiled on arrival, their plans batched per loop turn, no task per request
    fastinit faster __init__ for the frozen dataclasses built on every request (pfcp's)

Profile the establishment path stage by stage: ``python -m tests.control.profile_establish``.

Use from the app::

    from control.agent import Agent
    from control.config import AgentConfig
    from control.kernel import KernelMaps

    agent = Agent(AgentConfig(...), KernelMaps(datapath.maps))
    await agent.start()      # binds PFCP (and GTP-U if configured), starts associations
    ...
    await agent.stop()
"""
