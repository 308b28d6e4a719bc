"""The UPF's lifecycle: start the pieces in order, stop them in reverse.

    datapath (load, size and pin maps) -> local addresses -> XDP attach (N3, N6, N9)
      -> next-hop watcher -> PFCP agent -> metrics exporter

Each piece is entered on one `AsyncExitStack`, so a failure while starting unwinds what was
already started, and SIGTERM/SIGINT end the run the same way: the exporter stops, the agent
closes its socket, the watcher stops, XDP is detached, and the maps are unpinned unless
`xdp.keep_maps` is set.

Started with `ip netns exec NS upf run ...`, the private mount namespace hides the host's
bpffs; the datapath loader pins through /proc/1/root/sys/fs/bpf then (see
upf.datapath.loader.ensure_bpffs). `nsenter --net=/run/netns/NS` avoids the question.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import signal
import socket
import struct
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import uvloop

from upf.config import Config, XdpMode

log = logging.getLogger("upf.service")

EXIT_OK = 0
EXIT_START_FAILED = 1
EXIT_WORKER_LOST = 3


def default_object() -> Path:
    """build/xdp/upf.o of the source tree this package runs from, else /usr/lib/upf/upf.o."""
    tree = Path(__file__).resolve().parents[1] / "build" / "xdp" / "upf.o"
    return tree if tree.exists() else Path("/usr/lib/upf/upf.o")


def run(cfg: Config) -> int:
    """Run until SIGTERM/SIGINT; the process exit code."""
    try:
        # uvloop: libuv reads up to 32 datagrams per readiness, so a burst of PFCP requests
        # is handled (and its map writes batched) in one loop turn; plain asyncio reads one.
        return uvloop.run(serve(cfg))
    except StartError as e:
        log.error("%s", e)
        return EXIT_START_FAILED


class StartError(Exception):
    """A piece failed to start (its message says which and why)."""


async def serve(cfg: Config, ready: Callable[[], None] | None = None) -> int:
    stop = asyncio.Event()
    exit_code = [EXIT_OK]
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, _on_signal, sig, stop)

    def failed(why: str) -> None:  # a piece died while running (an N4 worker)
        log.critical("%s: stopping the UPF", why)
        exit_code[0] = EXIT_WORKER_LOST
        stop.set()

    try:
        async with contextlib.AsyncExitStack() as stack:
            await _start(cfg, stack, failed)
            log.info(
                "upf ready: node %s, N4 %s:%d", cfg.effective_node_id, cfg.n4.address, cfg.n4.port
            )
            if ready is not None:
                ready()
            await stop.wait()
            log.info("stopping")
    finally:
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)
    log.info("stopped")
    return exit_code[0]


def _on_signal(sig: signal.Signals, stop: asyncio.Event) -> None:
    log.info("%s received", sig.name)
    stop.set()


async def _start(cfg: Config, stack: contextlib.AsyncExitStack,
                 failed: Callable[[str], None]) -> None:
    # pyroute2's synchronous IPRoute (XDP attach/detach) cannot run inside the event loop:
    # the datapath steps run in a worker thread.
    dp = await _astep("datapath", asyncio.to_thread(_open_datapath, cfg))
    stack.push_async_callback(asyncio.to_thread, _close_datapath, dp, cfg)
    _step("local addresses", lambda: _write_local_addrs(dp, cfg))
    await _astep("XDP attach", asyncio.to_thread(_attach, dp, cfg, stack))
    await _astep("next-hop watcher", _start_nexthop(dp, cfg, stack))
    agent = await _astep("PFCP agent", _start_agent(dp, cfg, stack, failed))
    if cfg.metrics.enabled:
        await _astep("metrics", _start_metrics(dp, agent, cfg, stack))


def _step(what: str, fn: Callable[[], Any]) -> Any:
    try:
        return fn()
    except StartError:
        raise
    except Exception as e:
        raise StartError(f"start {what}: {e}") from e


async def _astep(what: str, coro: Any) -> Any:
    try:
        return await coro
    except StartError:
        raise
    except Exception as e:
        raise StartError(f"start {what}: {e}") from e


# -- datapath ----------------------------------------------------------------------------------


def _open_datapath(cfg: Config) -> Any:
    from upf.datapath.loader import Datapath, DatapathLimits

    obj = cfg.xdp.object or default_object()
    if not obj.exists():
        raise StartError(f"start datapath: XDP object {obj} not found (make bpf; xdp.object)")
    lim = cfg.limits
    limits = DatapathLimits(
        sessions=lim.sessions, pdrs=lim.pdrs, fars=lim.fars, qers=lim.qers, nexthops=lim.nexthops
    )
    pin_dir = cfg.xdp.pin_dir
    dp = Datapath(
        obj,
        limits=limits,
        instance=pin_dir.name,
        pin_root=str(pin_dir.parent),
        keep_pins=cfg.xdp.keep_maps,
    )
    dp.open()
    return dp


def _close_datapath(dp: Any, cfg: Config) -> None:
    try:
        dp.close()  # detaches what is still attached, unpins unless keep_pins
    except Exception as e:  # keep unwinding the rest of the stack
        log.warning("datapath close: %s", e)
        return
    if cfg.xdp.keep_maps:
        log.info("maps left pinned in %s (xdp.keep_maps)", dp.pin_dir)
    else:
        log.info("XDP detached, maps unpinned")


def _write_local_addrs(dp: Any, cfg: Config) -> None:
    """Our GTP-U endpoint addresses: the fast path takes GTP-U to these (local_addrs)."""
    from upf.datapath import abi

    roles = [("n3", abi.Iface.ACCESS), ("n9", abi.Iface.N9)]
    for role, iface in roles:
        itf = getattr(cfg.interfaces, role)
        if itf is None or itf.address is None:
            continue
        key = abi.LocalAddrKey(addr=_be32(itf.address))
        dp.local_addrs.set(key, abi.LocalAddr(iface=int(iface)))


def _be32(addr: ipaddress.IPv4Address) -> int:
    """An IPv4 address as the u32 whose memory holds it in network order."""
    value: int = struct.unpack("=I", addr.packed)[0]
    return value


def _attach(dp: Any, cfg: Config, stack: contextlib.AsyncExitStack) -> None:
    from upf.datapath.loader import XdpMode as LoaderMode

    mode = LoaderMode.NATIVE if cfg.xdp.mode is XdpMode.NATIVE else LoaderMode.GENERIC
    for role in ("n3", "n6", "n9"):
        itf = getattr(cfg.interfaces, role)
        if itf is None:
            continue
        names = {i.name for i in _attached_roles(cfg) if i is not itf}
        if itf.name in names and role == "n9":
            continue  # N9 shares an interface with N3/N6: attached already
        try:
            socket.if_nametoindex(itf.name)
        except OSError:
            raise StartError(f"interfaces.{role}.name: no interface {itf.name!r} here") from None
        dp.attach(itf.name, mode=mode)
        log.info("XDP on %s (%s, %s)", itf.name, role.upper(), cfg.xdp.mode)
        stack.push_async_callback(asyncio.to_thread, _detach, dp, itf.name)


def _attached_roles(cfg: Config) -> list[Any]:
    return [i for i in (cfg.interfaces.n3, cfg.interfaces.n6) if i is not None]


def _detach(dp: Any, ifname: str) -> None:
    try:
        dp.detach(ifname)
    except Exception as e:
        log.warning("detach %s: %s", ifname, e)


# -- next hops, agent, metrics ----------------------------------------------------------------


async def _start_nexthop(dp: Any, cfg: Config, stack: contextlib.AsyncExitStack) -> None:
    from upf.datapath.nexthop import NexthopWatcher

    watcher = NexthopWatcher(dp.runtime)
    watcher.open()  # subscribed (and the cache invalidated once) before the agent starts
    task = asyncio.create_task(watcher.run_async(), name="nexthop-watcher")
    stack.push_async_callback(_cancel, task)


async def _cancel(task: asyncio.Task[Any]) -> None:
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


@contextlib.asynccontextmanager
async def _started(piece: Any) -> AsyncIterator[Any]:
    """A piece with start()/stop() (sync or async) as an async context manager."""
    r = piece.start()
    if asyncio.iscoroutine(r):
        await r
    try:
        yield piece
    finally:
        r = piece.stop()
        if asyncio.iscoroutine(r):
            await r


async def _start_agent(dp: Any, cfg: Config, stack: contextlib.AsyncExitStack,
                       failed: Callable[[str], None]) -> Any:
    from upf.wiring import agent_config

    return await start_agents(agent_config(cfg), dp.maps, cfg.n4.workers, stack, failed)


async def start_agents(acfg: Any, maps: Any, workers: int, stack: contextlib.AsyncExitStack,
                       failed: Callable[[str], None]) -> Any:
    """The PFCP agent, or with ``workers`` > 1 the lead of that many N4 workers
    (upf/workers.py); stopped when ``stack`` unwinds. The lead's ``workers`` attribute
    (None with one worker) has the followers; ``failed(why)`` is called if one dies."""
    from control.agent import ntp_now
    from control.steer import reuseport_sockets
    from upf.wiring import make_agent, shard
    from upf.workers import Workers

    if workers == 1:
        agent = make_agent(acfg, maps)
        agent.workers = None
        await stack.enter_async_context(_started(agent))
        return agent
    host, port = acfg.listen
    socks = reuseport_sockets(host, port, workers)
    stack.callback(socks[0].close)
    stamp = ntp_now()
    pool = Workers(on_lost=failed)
    configs = [shard(acfg, i, workers) for i in range(workers)]
    await pool.start(configs, socks, maps, stamp)
    stack.push_async_callback(pool.stop)
    agent = make_agent(configs[0], maps, sock=socks[0], recovery_time_stamp=stamp)
    agent.followers = pool.followers
    agent.workers = pool
    await stack.enter_async_context(_started(agent))
    return agent




async def _start_metrics(
    dp: Any, agent: Any, cfg: Config, stack: contextlib.AsyncExitStack
) -> None:
    from upf.metrics import start_exporter

    server = start_exporter(cfg, dp, agent)
    stack.callback(server.stop)
