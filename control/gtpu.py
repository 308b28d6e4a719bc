"""The few GTP-U signalling messages the control plane sends or reads (TS 29.281).

The fast path forwards G-PDUs and answers Echo Requests itself; End Marker
(type 254) is sent from here on a handover, and the signalling the XDP program
passes to the kernel on UDP 2152 (Error Indication, End Marker) is parsed here.
"""

from __future__ import annotations

import enum
import struct
from dataclasses import dataclass

_HEADER = struct.Struct("!BBHI")  # flags, type, length, TEID (TS 29.281 5.1)
_VERSION_1_PT = 0x30  # version 1, PT = 1 (GTP), no E/S/PN


class GtpuMessageType(enum.IntEnum):
    ECHO_REQUEST = 1
    ECHO_RESPONSE = 2
    ERROR_INDICATION = 26
    SUPPORTED_EXTENSION_HEADERS_NOTIFICATION = 31
    END_MARKER = 254
    G_PDU = 255


def end_marker(teid: int) -> bytes:
    """An End Marker for ``teid``: the mandatory header only, no IEs (TS 29.281 7.3.2)."""
    return _HEADER.pack(_VERSION_1_PT, GtpuMessageType.END_MARKER, 0, teid)


@dataclass(frozen=True, slots=True)
class GtpuSignal:
    message_type: GtpuMessageType | int
    teid: int


def parse_signal(data: bytes) -> GtpuSignal | None:
    """Type and TEID of a GTP-U v1 message, or None if it is not one."""
    if len(data) < _HEADER.size:
        return None
    flags, mtype, _length, teid = _HEADER.unpack_from(data)
    if flags >> 5 != 1 or not flags & 0x10:
        return None
    try:
        return GtpuSignal(GtpuMessageType(mtype), teid)
    except ValueError:
        return GtpuSignal(mtype, teid)
