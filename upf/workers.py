"""N4 workers as processes: the lead starts, watches and stops its followers.

control/shards.py says what the workers share and how; this module runs them. The lead
(the `upf run` process, worker 0) makes the N4 sockets (control/steer.py) and one control
channel per follower, then starts each follower as ``python -m upf.workers``: the
follower inherits its N4 socket, its end of the channel and the datapath's map file
descriptors, and reads its AgentConfig (pickled) on stdin. A follower serves until the
lead closes the channel or sends SIGTERM. Processes, not threads: the agent is CPU-bound
Python, and one interpreter runs one thread at a time.

A follower that dies takes its sessions' control with it (their rules stay in the maps):
the lead reports it and stops the UPF, so that the orchestrator restarts it whole rather
than leave a fraction of the SEIDs unanswered.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import pickle
import signal
import socket
import sys
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from control.config import AgentConfig
from control.shards import Channel, Followers

log = logging.getLogger("upf.workers")

STATS_INTERVAL = 1.0  # seconds between the lead's polls of its followers' counters


@dataclass(frozen=True, slots=True)
class FollowerSpec:
    """What a follower is told on stdin (its file descriptors are inherited)."""

    index: int
    config: AgentConfig
    recovery_time_stamp: int
    n4_fd: int
    control_fd: int
    maps: dict[str, int]  # map name -> fd
    log_level: int


class Workers:
    """The lead's followers: ``start`` them, ``followers`` to tell them, ``stop`` them.
    ``snapshots`` holds each follower's last counters (polled every STATS_INTERVAL)."""

    def __init__(self, on_lost: Callable[[str], None]) -> None:
        self.on_lost = on_lost
        self.followers = Followers(())
        self.snapshots: dict[int, dict[str, Any]] = {}
        self._procs: list[asyncio.subprocess.Process] = []
        self._tasks: list[asyncio.Task[None]] = []
        self._stopping = False

    async def start(self, configs: Sequence[AgentConfig], socks: Sequence[socket.socket],
                    maps: Mapping[str, Any], recovery_time_stamp: int) -> None:
        """Start followers 1..len(configs)-1 on ``socks[1:]``; return when all serve."""
        map_fds = {name: int(m.fd) for name, m in maps.items()}
        channels = []
        try:
            for index in range(1, len(configs)):
                ours, theirs = Channel.pair()
                channels.append(Channel(ours))
                spec = FollowerSpec(index, configs[index], recovery_time_stamp,
                                    socks[index].fileno(), theirs.fileno(), map_fds,
                                    logging.getLogger().getEffectiveLevel())
                fds = (socks[index].fileno(), theirs.fileno(), *map_fds.values())
                proc = await asyncio.create_subprocess_exec(
                    sys.executable, "-m", "upf.workers", stdin=asyncio.subprocess.PIPE,
                    pass_fds=fds)
                theirs.close()
                socks[index].close()  # the follower's now: the lead never reads it
                assert proc.stdin is not None
                proc.stdin.write(pickle.dumps(spec))
                proc.stdin.close()
                self._procs.append(proc)
            self.followers = Followers(channels)
            pids = await asyncio.wait_for(self.followers.tell("ping"), timeout=60)
        except BaseException:
            self.followers = Followers(channels)
            await self.stop()
            raise
        for index, proc in enumerate(self._procs, start=1):
            self._tasks.append(asyncio.create_task(self._watch(index, proc)))
        self._tasks.append(asyncio.create_task(self._poll()))
        log.info("N4 workers: lead %d, followers %s", os.getpid(), pids)

    async def _watch(self, index: int, proc: asyncio.subprocess.Process) -> None:
        code = await proc.wait()
        if not self._stopping:
            self.on_lost(f"N4 worker {index} (pid {proc.pid}) exited with {code}")

    async def _poll(self) -> None:
        while True:
            await asyncio.sleep(STATS_INTERVAL)
            try:
                snaps = await self.followers.tell("stats")
            except Exception as exc:  # a follower gone: _watch reports it
                log.debug("polling follower counters: %s", exc)
                continue
            self.snapshots = dict(enumerate(snaps, start=1))

    async def stop(self) -> None:
        self._stopping = True
        for task in self._tasks:
            task.cancel()
        self.followers.close()  # a follower stops when its channel closes
        for proc in self._procs:
            try:
                await asyncio.wait_for(proc.wait(), timeout=10)
            except TimeoutError:
                log.warning("N4 worker %d did not stop: killed", proc.pid)
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()
                await proc.wait()
        self._procs.clear()


def merged_snapshot(lead: dict[str, Any], others: Mapping[int, dict[str, Any]]) -> dict[str, Any]:
    """The counters of all workers as one (upf/metrics.py agent_snapshot's shape)."""
    out = {"sessions": lead["sessions"], "associations": lead["associations"],
           "messages": Counter(lead["messages"]), "agent": Counter(lead["agent"]),
           "node": Counter(lead["node"])}
    for snap in others.values():
        out["sessions"] += snap["sessions"]
        for key in ("messages", "agent", "node"):
            out[key].update(snap[key])
    return {k: dict(v) if isinstance(v, Counter) else v for k, v in out.items()}


# -- the follower process ---------------------------------------------------------------------


async def _follow(spec: FollowerSpec) -> None:
    from upf.datapath.libbpf import map_info
    from upf.datapath.loader import map_handle
    from upf.metrics import agent_snapshot
    from upf.wiring import make_agent

    maps = {name: map_handle(fd, name, map_info(fd).type) for name, fd in spec.maps.items()}
    n4 = socket.socket(fileno=spec.n4_fd)
    channel = Channel(socket.socket(fileno=spec.control_fd))
    agent = make_agent(spec.config, maps, sock=n4,
                       recovery_time_stamp=spec.recovery_time_stamp)

    async def handle(op: str, args: tuple[Any, ...]) -> Any:
        if op == "ping":
            return os.getpid()
        if op == "stats":
            return agent_snapshot(agent)
        return await agent.follow(op, args)

    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    # Ctrl-C reaches the whole process group: the lead stops the followers in order.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    await agent.start()
    serving = asyncio.ensure_future(channel.serve(handle))
    stopping = asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait({serving, stopping}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for t in (serving, stopping):
            t.cancel()
        await agent.stop()
        channel.close()
    log.info("N4 worker %d stopped (%d sessions)", spec.index, len(agent.sessions))


def main() -> int:
    spec: FollowerSpec = pickle.load(sys.stdin.buffer)
    logging.basicConfig(
        level=spec.log_level,
        format=f"%(asctime)s %(levelname)-7s %(name)s[w{spec.index}]: %(message)s",
        stream=sys.stderr,
    )
    import uvloop

    uvloop.run(_follow(spec))
    return 0


if __name__ == "__main__":
    sys.exit(main())
