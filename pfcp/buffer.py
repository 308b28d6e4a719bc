"""Byte work for the codec: a bounded reader and a bytearray writer.

A short read raises :class:`~pfcp.errors.BufferReadError`, the only error this module raises.
"""

from __future__ import annotations

import struct
from ipaddress import IPv4Address, IPv6Address

from pfcp.errors import BufferReadError

U16 = struct.Struct("!H")
U32 = struct.Struct("!I")
U64 = struct.Struct("!Q")
TL = struct.Struct("!HH")  # IE type + length, TS 29.244 8.1.1


_new = object.__new__


def _ipv4_from_int(n: int) -> IPv4Address:
    addr = _new(IPv4Address)
    addr._ip = n  # type: ignore[attr-defined]
    return addr


def _ipv6_from_int(n: int) -> IPv6Address:
    addr = _new(IPv6Address)
    addr._ip = n  # type: ignore[attr-defined]
    addr._scope_id = None  # type: ignore[attr-defined]
    return addr


# ipaddress validates on construction (~0.7 us); our input is exactly 4/16 octets, so build
# the objects directly when this interpreter's ipaddress has the expected layout.
try:
    _ok = _ipv4_from_int(0x0A000001) == IPv4Address("10.0.0.1") and _ipv6_from_int(1) == IPv6Address("::1")
    _ok = _ok and str(_ipv6_from_int(1)) == "::1" and hash(_ipv4_from_int(5)) == hash(IPv4Address(5))
except Exception:
    _ok = False
# the same layout lets the encoders read an address's integer as ``addr._ip``
IP_INT_OK = _ok
ipv4_from_int = _ipv4_from_int if _ok else IPv4Address

# IPv4 addresses decoded from IEs, by their integer: an address object is immutable and is its
# own key, so one object serves every IE that carries the same address (the peer's, the
# gNB's, a UE's in both its PDRs). Bounded: cleared when it holds IPV4_CACHE_LIMIT entries, so
# a peer cannot make it grow without bound and addresses that stop coming leave it.
IPV4_CACHE: dict[int, IPv4Address] = {}
IPV4_CACHE_LIMIT = 4096


def ipv4_cached(n: int) -> IPv4Address:
    """``ipv4_from_int(n)``, through IPV4_CACHE (callers try ``IPV4_CACHE.get(n)`` first)."""
    addr = IPV4_CACHE.get(n)
    if addr is None:
        addr = ipv4_from_int(n)
        if len(IPV4_CACHE) >= IPV4_CACHE_LIMIT:
            IPV4_CACHE.clear()
        IPV4_CACHE[n] = addr
    return addr
ipv6_from_int = _ipv6_from_int if _ok else IPv6Address


class Buffer:
    """Reads big-endian integers from ``data[pos:end]``; never past ``end``."""

    __slots__ = ("data", "end", "pos")

    def __init__(self, data: bytes, pos: int = 0, end: int | None = None) -> None:
        self.data = data
        self.pos = pos
        self.end = len(data) if end is None else end

    def remaining(self) -> int:
        return self.end - self.pos

    def eof(self) -> bool:
        return self.pos >= self.end

    def _need(self, n: int) -> int:
        pos = self.pos
        if pos + n > self.end:
            raise BufferReadError(f"need {n} octets at {pos}, have {self.end - pos}")
        self.pos = pos + n
        return pos

    def pull_u8(self) -> int:
        pos = self.pos
        if pos >= self.end:
            raise BufferReadError(f"need 1 octet at {pos}, have 0")
        self.pos = pos + 1
        return self.data[pos]

    def pull_u16(self) -> int:
        pos = self.pos
        if pos + 2 > self.end:
            raise BufferReadError(f"need 2 octets at {pos}, have {self.end - pos}")
        self.pos = pos + 2
        return int(U16.unpack_from(self.data, pos)[0])

    def pull_u24(self) -> int:
        pos = self._need(3)
        return int.from_bytes(self.data[pos : pos + 3], "big")

    def pull_u32(self) -> int:
        pos = self.pos
        if pos + 4 > self.end:
            raise BufferReadError(f"need 4 octets at {pos}, have {self.end - pos}")
        self.pos = pos + 4
        return int(U32.unpack_from(self.data, pos)[0])

    def pull_u40(self) -> int:
        pos = self._need(5)
        return int.from_bytes(self.data[pos : pos + 5], "big")

    def pull_u64(self) -> int:
        pos = self.pos
        if pos + 8 > self.end:
            raise BufferReadError(f"need 8 octets at {pos}, have {self.end - pos}")
        self.pos = pos + 8
        return int(U64.unpack_from(self.data, pos)[0])

    def pull_bytes(self, n: int) -> bytes:
        pos = self._need(n)
        return bytes(self.data[pos : pos + n])

    def pull_rest(self) -> bytes:
        pos = self.pos
        self.pos = self.end
        return bytes(self.data[pos : self.end])

    def pull_ipv4(self) -> IPv4Address:
        pos = self.pos
        if pos + 4 > self.end:
            raise BufferReadError(f"need 4 octets at {pos}, have {self.end - pos}")
        self.pos = pos + 4
        return ipv4_from_int(U32.unpack_from(self.data, pos)[0])

    def pull_ipv6(self) -> IPv6Address:
        pos = self._need(16)
        return ipv6_from_int(int.from_bytes(self.data[pos : pos + 16], "big"))


class Writer(bytearray):
    """A bytearray with big-endian push helpers; values out of range raise ``struct.error``."""

    def push_u8(self, v: int) -> None:
        self.append(v)

    def push_u16(self, v: int) -> None:
        self += U16.pack(v)

    def push_u24(self, v: int) -> None:
        self += v.to_bytes(3, "big")

    def push_u32(self, v: int) -> None:
        self += U32.pack(v)

    def push_u40(self, v: int) -> None:
        self += v.to_bytes(5, "big")

    def push_u64(self, v: int) -> None:
        self += U64.pack(v)

    def push_bytes(self, v: bytes) -> None:
        self += v

    def push_ipv4(self, v: IPv4Address) -> None:
        self += v.packed

    def push_ipv6(self, v: IPv6Address) -> None:
        self += v.packed
