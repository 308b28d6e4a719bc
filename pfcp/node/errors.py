"""Errors the node raises. They are always the caller's fault (the agent's or its config's);
whatever a peer sends is handled inside the node and never raises out of it."""

from __future__ import annotations

__all__ = ["NodeConfigError", "NodeUsageError", "PfcpNodeError"]


class PfcpNodeError(Exception):
    """Base of the errors raised by `pfcp.node`."""


class NodeConfigError(PfcpNodeError, ValueError):
    """A `NodeConfig` value is out of range."""


class NodeUsageError(PfcpNodeError):
    """The agent asked for something the protocol does not allow (e.g. answering twice)."""
