"""The errors of the control plane. Each one knows the PFCP Cause to answer with.

Whose fault: :class:`RuleError` is the peer's request (a rule we cannot honour),
:class:`ResourceExhausted` and :class:`ApplyError` are our own limits or failures.
"""

from __future__ import annotations

from pfcp.enums import Cause, RuleIdType


class ControlError(Exception):
    """Base class: a request cannot be carried out; ``cause`` is the PFCP answer."""

    cause: Cause = Cause.SYSTEM_FAILURE

    def __init__(
        self,
        message: str,
        cause: Cause | None = None,
        *,
        offending_ie: int | None = None,
        failed_rule: tuple[RuleIdType, int] | None = None,
    ) -> None:
        super().__init__(message)
        if cause is not None:
            self.cause = cause
        self.offending_ie = offending_ie
        # (rule type, rule id) for the Failed Rule ID IE (TS 29.244 8.2.80).
        self.failed_rule = failed_rule


class RuleError(ControlError):
    """The peer asked for a rule we cannot install as given (its fault)."""

    cause = Cause.RULE_CREATION_MODIFICATION_FAILURE


class ResourceExhausted(ControlError):
    """A pool or map of ours is full (our limit)."""

    cause = Cause.NO_RESOURCES_AVAILABLE


class ApplyError(ControlError):
    """Writing a plan to the maps failed; the plan was rolled back."""

    cause = Cause.SYSTEM_FAILURE


class KeyConflict(ApplyError):
    """A PDR map key the plan creates is already in the map: another N4 worker's session
    holds it (each worker checks only its own sessions; the kernel refuses the write). The
    plan was rolled back without touching that key."""

    cause = Cause.RULE_CREATION_MODIFICATION_FAILURE

    def __init__(self, message: str, map_name: str, key: bytes) -> None:
        super().__init__(message)
        self.map_name = map_name
        self.key = key


class MapWriteError(Exception):
    """Raised by a :class:`control.apply.MapWriter` when a batch write fails. ``done``: how
    many pairs of the batch were written before the failure, when the writer knows."""

    def __init__(self, message: str, done: int | None = None) -> None:
        super().__init__(message)
        self.done = done


class MapFull(MapWriteError):
    """The map has no room for a new key (E2BIG / ENOSPC from the kernel)."""


class KeyTaken(MapWriteError):
    """A key written as new (``update_batch(..., new=True)``) is already in the map."""

    def __init__(self, message: str, map_name: str, key: bytes, done: int) -> None:
        super().__init__(message, done)
        self.map_name = map_name
        self.key = key
