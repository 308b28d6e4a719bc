"""Usage reports from the per-PDR counters (pdr_stats). Pure.

A URR's volume is the sum over the PDRs that refer to it. Uplink volume comes
from PDRs matched on a local F-TEID with source interface ACCESS, downlink from
the others. Each report covers the traffic since the URR's previous report
(the session keeps what was reported); a PDR removed from a URR that stays
takes its counts with it, so the difference is clamped at zero.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass

from control.fastinit import fast_init
from control.layout import Counter
from control.session import ZERO_COUNTER, PdrState, Session, UrrState
from pfcp.enums import SourceInterface


@fast_init
@dataclass(frozen=True, slots=True)
class Usage:
    urr_id: int
    ur_seqn: int
    uplink: Counter
    downlink: Counter

    @property
    def total(self) -> Counter:
        return Counter(self.uplink.packets + self.downlink.packets,
                       self.uplink.octets + self.downlink.octets)


_ZERO = ZERO_COUNTER
_ACCESS = int(SourceInterface.ACCESS)


def _add(a: Counter, b: Counter) -> Counter:
    return Counter(a.packets + b.packets, a.octets + b.octets)


def _sub(a: Counter, b: Counter) -> Counter:
    if b is _ZERO:  # (nothing reported yet: the common case at deletion)
        return a
    return Counter(max(0, a.packets - b.packets), max(0, a.octets - b.octets))


def urr_slots(session: Session, urr_ids: Collection[int]) -> set[int]:
    """The pdr_stats slots a report on ``urr_ids`` needs."""
    if not urr_ids:
        return set()
    return {p.slot for p in session.pdrs.values() if any(u in urr_ids for u in p.urr_ids)}


def measure(session: Session, counters: Mapping[int, Counter], urr_id: int
            ) -> tuple[Counter, Counter]:
    """Cumulative (uplink, downlink) of one URR."""
    ul = dl = _ZERO
    pdrs: tuple[PdrState, ...] = session.pdrs.values()  # type: ignore[assignment]
    for pdr in pdrs:
        if urr_id not in pdr.urr_ids:
            continue
        c = counters.get(pdr.slot)
        if c is None:
            continue
        if pdr.f_teid is not None and pdr.source_interface == _ACCESS:
            ul = c if ul is _ZERO else _add(ul, c)
        else:
            dl = c if dl is _ZERO else _add(dl, c)
    return ul, dl


def report(session: Session, counters: Mapping[int, Counter], urr_ids: Collection[int]
           ) -> tuple[list[Usage], dict[int, UrrState]]:
    """Reports on ``urr_ids`` since their last report, and the URR states after them."""
    out: list[Usage] = []
    updated: dict[int, UrrState] = {}
    if not urr_ids:
        return out, updated
    for urr_id in sorted(urr_ids):
        urr = session.urrs.get(urr_id)
        if urr is None:
            continue
        ul, dl = measure(session, counters, urr_id)
        out.append(Usage(urr_id, urr.ur_seqn, _sub(ul, urr.reported_ul),
                         _sub(dl, urr.reported_dl)))
        updated[urr_id] = UrrState(urr.urr_id, urr.measurement_method, urr.reporting_triggers,
                                   (urr.ur_seqn + 1) & 0xFFFFFFFF, ul, dl)
    return out, updated


def usage_by_urr(session: Session, counters: Mapping[int, Counter]) -> list[Usage]:
    """Reports on every URR of ``session`` (session deletion: no state after them)."""
    out: list[Usage] = []
    urrs: tuple[UrrState, ...] = session.urrs.values()  # type: ignore[assignment]
    for urr in sorted(urrs, key=_by_id) if len(urrs) > 1 else urrs:
        ul, dl = measure(session, counters, urr.urr_id)
        out.append(Usage(urr.urr_id, urr.ur_seqn, _sub(ul, urr.reported_ul),
                         _sub(dl, urr.reported_dl)))
    return out


def _by_id(urr: UrrState) -> int:
    return urr.urr_id
