"""A tolerant look at the PFCP header, enough to route a datagram (TS 29.244 7.2.2).

The node reads the header itself before (and independently of) the full decode so that it
can recognise a retransmitted request without decoding it again, answer a request whose body
is malformed, and answer a message of another PFCP version (TS 29.244 7.6.2). `peek_header`
never raises: anything too short to hold a header is `None` (silently discarded, TS 29.244
7.6.3).
"""

from __future__ import annotations

import struct
from typing import NamedTuple

from pfcp.header import PFCP_VERSION

__all__ = ["PFCP_VERSION", "Header", "peek_header"]

_FLAG_S = 0x01  # SEID present
_FLAG_MP = 0x02  # message priority present
_FLAG_FO = 0x04  # follow on: another message is bundled after this one (TS 29.244 7.2.1A)

_NODE_HEADER_LEN = 8  # version/flags, type, length (2), sequence (3), spare
_SESSION_HEADER_LEN = 16  # ... plus an 8-octet SEID


class Header(NamedTuple):
    """The header fields of one PFCP message as received (TS 29.244 7.2.2.1).

    A NamedTuple, not a frozen dataclass: one is built for every datagram and for every
    response sent, and a tuple is built several times faster."""

    version: int
    message_type: int
    length: int  # the Message Length field: octets after the first four
    seid: int | None  # None when the S flag is clear (node related message)
    sequence: int  # 24 bits
    priority: int | None  # None when the MP flag is clear
    follow_on: bool

    @property
    def total_length(self) -> int:
        """Length of the whole message, header included, as the header claims it."""
        return 4 + self.length

    def __str__(self) -> str:
        seid = "-" if self.seid is None else f"0x{self.seid:016x}"
        return (
            f"v{self.version} type={self.message_type} seq=0x{self.sequence:06x} "
            f"seid={seid} len={self.length}"
        )


_FIXED = struct.Struct("!BBH")  # flags, type, length
_SEID_SEQ = struct.Struct("!QI")  # SEID, sequence (3) + priority/spare (1)
_SEQ = struct.Struct("!I")


def peek_header(data: bytes, offset: int = 0) -> Header | None:
    """Read the PFCP header at `offset`; `None` if the bytes cannot hold one."""
    avail = len(data) - offset
    if avail < _NODE_HEADER_LEN:
        return None
    flags, message_type, length = _FIXED.unpack_from(data, offset)
    seid: int | None = None
    if flags & _FLAG_S:
        if avail < _SESSION_HEADER_LEN:
            return None
        seid, word = _SEID_SEQ.unpack_from(data, offset + 4)
    else:
        (word,) = _SEQ.unpack_from(data, offset + 4)
    priority = (word & 0xFF) >> 4 if flags & _FLAG_MP else None
    return Header(flags >> 5, message_type, length, seid, word >> 8, priority,
                  bool(flags & _FLAG_FO))
