"""One error hierarchy for the codec.

Errors that are the peer's fault (:class:`DecodeError` and subclasses) carry the
:class:`~pfcp.enums.Cause` to answer with and, when one IE is at fault, its type, so a
handler can build the reply (Cause + Offending IE) from the exception alone.
Errors that are our own fault (:class:`EncodeError`) say so.
"""

from __future__ import annotations

from pfcp.enums import Cause


class PfcpError(Exception):
    """Base of every error raised by :mod:`pfcp`."""


class BufferReadError(PfcpError):
    """A read ran past the end of the buffer (internal; surfaces as INVALID_LENGTH)."""


class IeValueError(PfcpError):
    """An IE's octets are the right length but their content is not valid (internal)."""


class DecodeError(PfcpError):
    """The peer's message cannot be accepted.

    ``cause`` is the PFCP Cause to reply with; ``ie_type`` the offending IE type, if any.
    ``message_type``, ``sequence`` and ``seid`` are filled in once the header was read, so the
    caller can address its reply.
    """

    def __init__(
        self,
        cause: Cause,
        detail: str,
        ie_type: int | None = None,
    ) -> None:
        super().__init__(detail)
        self.cause = cause
        self.ie_type = ie_type
        self.detail = detail
        self.message_type: int | None = None
        self.sequence: int | None = None
        self.seid: int | None = None

    def __str__(self) -> str:
        ie = f", ie_type={self.ie_type}" if self.ie_type is not None else ""
        return f"{self.cause.name} ({int(self.cause)}){ie}: {self.detail}"


class VersionNotSupportedError(DecodeError):
    """The header's version is not 1: answer with a Version Not Supported Response."""

    def __init__(self, version: int) -> None:
        super().__init__(Cause.REQUEST_REJECTED, f"PFCP version {version} not supported")
        self.version = version


class UnknownMessageTypeError(DecodeError):
    """A message type this codec does not know; TS 29.244 7.6 says: ignore it silently."""

    def __init__(self, message_type: int) -> None:
        super().__init__(Cause.REQUEST_REJECTED, f"unknown message type {message_type}")
        self.message_type = message_type


class EncodeError(PfcpError):
    """Our own message cannot be encoded (a value out of range, a mandatory IE missing)."""
