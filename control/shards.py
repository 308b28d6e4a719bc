"""N4 workers: one agent per process, the lead and its followers, over a control channel.

With ``n4.workers`` N > 1 the UPF runs N agents, each in its own process with its own UDP
socket on the N4 address (SO_REUSEPORT). The kernel steers every datagram to one worker
(control/steer.py): node messages to worker 0, the lead; a Session Establishment Request
by its sequence number; every other session message by its SEID, which the worker that
made the session chose so that it steers back to it (``seid % N == worker``). Each worker
allocates from its own stride of every pool (control/alloc.py, ``AllocConfig.shard``), so
the workers never share a TEID, a slot or a UE address, and all write the same maps.

What only the lead sees, the followers are told over a :class:`Channel` (a SEQPACKET
socket pair, one request in flight at a time):

- ``up``: an association is set up. The lead answers the Association Setup Request only
  after every follower knows, so the SMF's first session request is never refused.
- ``drop``: an association is released or its peer failed.
- ``purge``: delete a peer's sessions (release, loss or restart under the purge policy,
  Session Set Deletion with its FQ-CSIDs); each follower answers how many it deleted.
- ``stats``: counters for the metrics (answered by the app, upf/workers.py).

The channel carries only plain values (strings, numbers, tuples), pickled: both ends are
our own processes.
"""

from __future__ import annotations

import asyncio
import logging
import pickle
import socket
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

log = logging.getLogger("upf.control.shards")

MAX_MESSAGE = 1 << 20

Handler = Callable[[str, tuple[Any, ...]], Awaitable[Any]]


class ChannelClosed(ConnectionError):
    """The other end of a control channel is gone."""


class Channel:
    """One end of a SEQPACKET socket pair: ``call`` (the lead) or ``serve`` (a follower)."""

    def __init__(self, sock: socket.socket) -> None:
        sock.setblocking(False)
        self.sock = sock
        self._lock = asyncio.Lock()

    @staticmethod
    def pair() -> tuple[socket.socket, socket.socket]:
        return socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)

    async def call(self, op: str, *args: Any) -> Any:
        """Send a request, wait for its answer (a follower's exception is raised here)."""
        loop = asyncio.get_running_loop()
        async with self._lock:
            try:
                await loop.sock_sendall(self.sock, pickle.dumps((op, args)))
                data = await loop.sock_recv(self.sock, MAX_MESSAGE)
            except OSError as exc:
                raise ChannelClosed(f"control channel: {op!r}: {exc}") from exc
        if not data:
            raise ChannelClosed(f"control channel closed during {op!r}")
        ok, value = pickle.loads(data)
        if not ok:
            raise RuntimeError(f"follower failed {op!r}: {value}")
        return value

    async def serve(self, handler: Handler) -> None:
        """Answer requests with ``handler(op, args)`` until the other end closes."""
        loop = asyncio.get_running_loop()
        while True:
            data = await loop.sock_recv(self.sock, MAX_MESSAGE)
            if not data:
                return
            op, args = pickle.loads(data)
            try:
                reply: tuple[bool, Any] = (True, await handler(op, args))
            except Exception as exc:  # the lead gets the failure, the follower goes on
                log.exception("control request %r failed", op)
                reply = (False, f"{type(exc).__name__}: {exc}")
            await loop.sock_sendall(self.sock, pickle.dumps(reply))

    def close(self) -> None:
        self.sock.close()


class Followers:
    """The lead's view of its followers: tell every one, gather the answers."""

    def __init__(self, channels: Iterable[Channel]) -> None:
        self.channels = list(channels)

    async def tell(self, op: str, *args: Any) -> list[Any]:
        return list(await asyncio.gather(*(c.call(op, *args) for c in self.channels)))

    def close(self) -> None:
        for c in self.channels:
            c.close()
