"""A Plan: the map operations one request needs, plus its side effects. Never writes a map.

Operations run in three phases so the fast path never sees a rule pointing at
an empty slot:

1. ``LEAF_WRITE``: new or changed FARs and QERs, counters of new PDR slots reset;
2. ``PDR``: the PDR sets keyed by TEID / UE address are written or deleted;
3. ``LEAF_CLEAR``: slots no rule points at any more are zeroed. The counters of
   removed PDRs are read just before this phase (for the usage report).

Each operation carries the value it replaces (``prev``; None = the key did not
exist), taken from the session state, so a failed plan can be undone exactly.
"""

from __future__ import annotations

import enum
import ipaddress
from dataclasses import dataclass
from typing import NamedTuple

from control.alloc import AllocTxn
from control.fastinit import fast_init
from control.layout import MapName


class Phase(enum.IntEnum):
    LEAF_WRITE = 1
    PDR = 2
    LEAF_CLEAR = 3


class MapOp(NamedTuple):
    """One map write or delete. A NamedTuple, not a frozen dataclass: a plan holds about
    ten per session and a frozen dataclass costs ~0.4 us per field to construct."""

    map: MapName
    key: bytes
    value: bytes | None  # None = delete the key (hash maps only)
    prev: bytes | None  # what the key held before (None = absent)
    phase: Phase

    def __str__(self) -> str:
        what = "delete" if self.value is None else "write"
        return f"{what} {self.map}[{self.key.hex()}]"


@fast_init
@dataclass(frozen=True, slots=True)
class EndMarker:
    """Send a GTP-U End Marker (type 254) on the old path (TS 29.281 5.1, 7.3.2)."""

    teid: int
    peer: ipaddress.IPv4Address
    local: ipaddress.IPv4Address


@fast_init
@dataclass(frozen=True, slots=True)
class Plan:
    ops: tuple[MapOp, ...] = ()
    # pdr_stats slots read (after phase PDR) for the usage report of removed PDRs.
    reads: tuple[int, ...] = ()
    end_markers: tuple[EndMarker, ...] = ()
    seid: int = 0  # the session this plan belongs to (for logs and coalescing)

    def __len__(self) -> int:
        return len(self.ops)


@dataclass(slots=True)
class Compiled:
    """A compiled request: the plan plus the allocation transaction it drew from.

    The caller applies ``plan`` then calls ``txn.commit()``; if the plan is not
    applied (rejected, failed) it calls ``txn.abort()``.
    """

    plan: Plan
    txn: AllocTxn
