"""decode_message / encode_message: the header plus the table-driven IE codec."""

from __future__ import annotations

import struct

from pfcp.buffer import Buffer, Writer
from pfcp.enums import SESSION_MESSAGE_TYPES, Cause
from pfcp.errors import DecodeError, EncodeError, PfcpError, UnknownMessageTypeError
from pfcp.header import pack_header, parse_header
from pfcp.messages import MESSAGE_CLASSES, Message


def decode_message(data: bytes) -> Message:
    """Decode one PFCP message. Raises only :class:`~pfcp.errors.DecodeError` (or a subclass)."""
    try:
        if type(data) is not bytes:  # bytearray/memoryview: decoded values must not alias it
            data = bytes(data)
        if len(data) >= 16 and data[0] == 0x21:  # v1, S=1, no FO, no MP: the usual case
            _, mt, length, seid, tail = _SESSION(data, 0)
            if 4 + length != len(data):
                mt, length, sequence, seid, priority, _, hlen = parse_header(data)
            else:
                sequence = tail >> 8
                priority = None
                hlen = 16
        else:
            mt, length, sequence, seid, priority, _, hlen = parse_header(data)
        cls = MESSAGE_CLASSES.get(mt)
        try:
            if cls is None:
                raise UnknownMessageTypeError(mt)
            if cls.is_session != (seid is not None):
                raise DecodeError(Cause.MANDATORY_IE_INCORRECT, f"{cls.__name__} with S={int(seid is not None)}")
            buf = _new(Buffer)  # Buffer(data, hlen, 4 + length) without the __init__ call
            buf.data = data
            buf.pos = hlen
            buf.end = 4 + length
            msg: Message = cls._spec.decode(buf, sequence, seid, priority)
            return msg
        except DecodeError as err:
            err.message_type = mt
            err.sequence = sequence
            err.seid = seid
            raise
    except DecodeError:
        raise
    except Exception as exc:  # a codec bug: still say whose fault it is, never crash the caller
        raise DecodeError(Cause.SYSTEM_FAILURE, f"internal decoder error: {exc!r}") from exc


_new = object.__new__
_SESSION = struct.Struct("!BBHQI").unpack_from  # pfcp.header's session header


def encode_message(msg: Message) -> bytes:
    """Encode a message; raises :class:`~pfcp.errors.EncodeError` for a value out of range."""
    try:
        w = Writer()
        msg._spec.encode(msg, w)
        seid = msg.seid
        if seid is None and msg.message_type in SESSION_MESSAGE_TYPES:
            seid = 0
        return pack_header(msg.message_type, len(w), msg.sequence, seid, msg.priority) + w
    except PfcpError:
        raise
    except (struct.error, ValueError, OverflowError, TypeError, AttributeError) as exc:
        raise EncodeError(f"{type(msg).__name__}: {exc}") from exc


def decode_messages(data: bytes) -> list[Message]:
    """Decode a datagram holding one message, or several chained by the FO flag (TS 29.244
    7.2.2: FO=1 says another message follows). Raises DecodeError for the first bad one."""
    out = []
    pos = 0
    view = bytes(data)
    while True:
        if len(view) - pos < 4:
            raise DecodeError(Cause.INVALID_LENGTH, "follow-on message missing")
        total = 4 + int.from_bytes(view[pos + 2 : pos + 4], "big")
        follow_on = bool(view[pos] & 0x04)
        chunk = view[pos : pos + total] if follow_on else view[pos:]
        if follow_on:  # decode the part alone: clear FO so the length check is exact
            chunk = bytes([chunk[0] & ~0x04]) + chunk[1:]
        out.append(decode_message(chunk))
        if not follow_on:
            return out
        pos += total
