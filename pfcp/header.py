"""The PFCP message header, TS 29.244 7.2.2 (Figure 7.2.2-1).

Octet 1: version (3 bits), 2 spare bits, FO (follow-on), MP (message priority present),
S (SEID present). Octet 2: message type. Octets 3-4: length of the message after octet 4.
Then the 8-octet SEID if S=1, a 3-octet sequence number, and one octet holding the message
priority in its high nibble if MP=1 (else spare).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from pfcp.enums import Cause
from pfcp.errors import DecodeError, VersionNotSupportedError

PFCP_VERSION = 1
PFCP_PORT = 8805  # TS 29.244 4.2.2
NODE_HEADER_LEN = 8
SESSION_HEADER_LEN = 16

_NODE = struct.Struct("!BBHI")  # flags, type, length, sequence<<8 | spare/priority
_SESSION = struct.Struct("!BBHQI")


@dataclass(frozen=True, slots=True)
class Header:
    message_type: int
    length: int
    sequence: int
    seid: int | None = None
    priority: int | None = None
    follow_on: bool = False
    version: int = PFCP_VERSION

    @property
    def header_length(self) -> int:
        return SESSION_HEADER_LEN if self.seid is not None else NODE_HEADER_LEN


def pull_header(data: bytes) -> Header:
    """Parse and check a header; the datagram must hold the whole message (4 + length)."""
    mt, length, sequence, seid, prio, fo, _ = parse_header(data)
    return Header(mt, length, sequence, seid, prio, fo, PFCP_VERSION)


def parse_header(data: bytes) -> tuple[int, int, int, int | None, int | None, bool, int]:
    """:func:`pull_header` without the dataclass: (message type, length, sequence, SEID,
    priority, follow-on, header length)."""
    n = len(data)
    if n < 4:
        raise DecodeError(Cause.INVALID_LENGTH, f"datagram of {n} octets is shorter than a header")
    b0 = data[0]
    version = b0 >> 5
    if version != PFCP_VERSION:
        # TS 29.244 7.4.4.7: answer with the request's sequence number; read it as a v1
        # header would hold it (best effort: another version may lay it out differently).
        err = VersionNotSupportedError(version)
        err.message_type = data[1]
        hlen = SESSION_HEADER_LEN if b0 & 0x01 else NODE_HEADER_LEN
        if n >= hlen:
            err.sequence = int.from_bytes(data[hlen - 4 : hlen - 1], "big")
            err.seid = int.from_bytes(data[4:12], "big") if b0 & 0x01 else None
        raise err
    s = b0 & 0x01
    hlen = SESSION_HEADER_LEN if s else NODE_HEADER_LEN
    if n < hlen:
        raise DecodeError(Cause.INVALID_LENGTH, f"datagram of {n} octets is shorter than a header")
    if s:
        _, mt, length, seid, tail = _SESSION.unpack_from(data, 0)
    else:
        _, mt, length, tail = _NODE.unpack_from(data, 0)
        seid = None
    fo = bool(b0 & 0x04)
    total = 4 + length
    if total < hlen or total > n or (total < n and not fo):
        raise DecodeError(
            Cause.INVALID_LENGTH, f"header length {length} does not match datagram of {n} octets"
        )
    prio = (tail & 0xFF) >> 4 if b0 & 0x02 else None
    return mt, length, tail >> 8, seid, prio, fo, hlen


def pack_header(message_type: int, body_len: int, sequence: int, seid: int | None, priority: int | None) -> bytes:
    """The header for a body of ``body_len`` octets (a session header when ``seid`` is given)."""
    flags = 0x20 | (0x02 if priority is not None else 0)
    tail = (sequence << 8) | ((priority << 4) if priority is not None else 0)
    if seid is not None:
        return _SESSION.pack(flags | 0x01, message_type, body_len + 12, seid, tail)
    return _NODE.pack(flags, message_type, body_len + 4, tail)
