"""Frames received on an interface of a namespace (AF_PACKET), and pcap files of them."""

from __future__ import annotations

import select
import struct
import time
from collections.abc import Callable, Sequence
from typing import Final

from upf.topology import Netns

PACKET_OUTGOING: Final = 4


class Capture:
    """Frames received on one interface of a namespace, from creation on.

    Outgoing frames are ignored.  Use as a context manager or close() it.
    """

    def __init__(self, ns: Netns, ifname: str) -> None:
        self.ns = ns
        self.ifname = ifname
        self.sock = ns.packet_socket(ifname)
        self.sock.setblocking(False)
        self.seen: list[bytes] = []

    def _drain(self, timeout: float) -> None:
        ready, _, _ = select.select([self.sock], [], [], max(0.0, timeout))
        if not ready:
            return
        while True:
            try:
                data, addr = self.sock.recvfrom(65535)
            except BlockingIOError:
                return
            if addr[2] != PACKET_OUTGOING:
                self.seen.append(data)

    def wait(
        self, match: Callable[[bytes], bool], count: int = 1, timeout: float = 3.0
    ) -> list[bytes]:
        """Frames seen so far or within `timeout` that match, once `count` have; else all found."""
        deadline = time.monotonic() + timeout
        while True:
            found = [f for f in self.seen if match(f)]
            left = deadline - time.monotonic()
            if len(found) >= count or left <= 0:
                return found
            self._drain(min(left, 0.1))

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> Capture:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def write_pcap(path: str, frames: Sequence[bytes]) -> None:
    """A classic pcap file (Ethernet link type) of the given frames."""
    with open(path, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
        now = time.time()
        for fr in frames:
            sec, usec = int(now), int((now % 1) * 1e6)
            f.write(struct.pack("<IIII", sec, usec, len(fr), len(fr)))
            f.write(fr)
