"""Session state: what one PFCP session installed, as pure immutable data.

A :class:`Session` is replaced, never mutated: compiling a request returns a new
one. The rules are kept both as the peer described them (IDs, interfaces,
precedence) and as what was written (slots, keys), so that a later request can
be compiled as a difference against this state.
"""

from __future__ import annotations

import ipaddress
from collections.abc import ItemsView, Iterable, Iterator, KeysView, Mapping, ValuesView
from dataclasses import dataclass
from itertools import chain
from typing import Any, TypeVar

from control.fastinit import fast_init
from control.layout import Counter, Far, Ohr, Qer

IPv4 = ipaddress.IPv4Address
IPv6Net = ipaddress.IPv6Network

K = TypeVar("K")
V = TypeVar("V")

_chain = chain.from_iterable
_tuple_new = tuple.__new__
_at = tuple.__getitem__
_EVEN = slice(None, None, 2)
_ODD = slice(1, None, 2)


class RuleMap(tuple, Mapping[K, V]):  # type: ignore[type-arg]
    """A small immutable mapping that is one tuple of keys and values: k0, v0, k1, v1...

    A session holds a handful of rules per kind; a dict (plus a read-only proxy) costs
    about 280 bytes, this about 60, which matters at a million sessions. (A tuple subclass,
    not an object holding a tuple: one object less per map, to allocate and for the GC to
    visit.) It behaves as a Mapping only; the tuple methods are not part of its API.
    """

    __slots__ = ()

    def __new__(cls, items: Iterable[tuple[K, V]] = ()) -> RuleMap[K, V]:
        return _tuple_new(cls, _chain(items))

    @classmethod
    def of_flat(cls, flat: tuple[Any, ...]) -> RuleMap[K, V]:
        """A RuleMap of ``flat`` (k0, v0, k1, v1...; distinct keys)."""
        return _tuple_new(cls, flat)

    def __getnewargs__(self) -> tuple[Any, ...]:  # copy, pickle
        return (tuple(zip(_at(self, _EVEN), _at(self, _ODD), strict=True)),)

    def __getitem__(self, key: K) -> V:  # type: ignore[override]
        try:
            i = _at(self, _EVEN).index(key)
        except ValueError:
            raise KeyError(key) from None
        return _at(self, 2 * i + 1)  # type: ignore[no-any-return]

    def __iter__(self) -> Iterator[K]:
        return iter(_at(self, _EVEN))

    def __len__(self) -> int:
        return tuple.__len__(self) // 2

    # The Mapping mixins go through __iter__ and __getitem__ per item; these are the
    # hot path of compiling and rendering, so they read the flat tuple directly.

    def __contains__(self, key: object) -> bool:
        return key in _at(self, _EVEN)

    def get(self, key: K, default: Any = None) -> Any:
        keys = _at(self, _EVEN)
        if key in keys:
            return _at(self, 2 * keys.index(key) + 1)
        return default

    def keys(self) -> KeysView[K]:
        return _at(self, _EVEN)  # type: ignore[return-value]  # a tuple: iterable, sized

    def values(self) -> ValuesView[V]:
        return _at(self, _ODD)  # type: ignore[return-value]

    def items(self) -> ItemsView[K, V]:
        return zip(_at(self, _EVEN), _at(self, _ODD), strict=True)  # type: ignore[return-value]

    # As a Mapping, not as a tuple.
    # (Never NotImplemented: the reflected operation would be tuple's.)
    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Mapping):
            return False
        return dict(self.items()) == dict(other.items())

    def __ne__(self, other: object) -> bool:
        return not self.__eq__(other)

    def __hash__(self) -> int:  # immutable, so hashable (consistent with __eq__)
        return hash(frozenset(self.items()))

    def __repr__(self) -> str:
        return f"RuleMap({dict(self.items())!r})"


# Shared immutable defaults (a million sessions should not hold a million empty maps).
EMPTY: Mapping[Any, Any] = RuleMap()
ZERO_COUNTER = Counter()


def _empty() -> Mapping[Any, Any]:
    return EMPTY


def frozen(items: Mapping[K, V]) -> Mapping[K, V]:
    """An immutable copy of ``items`` (the shared EMPTY one when empty)."""
    if not items:
        return EMPTY
    if type(items) is RuleMap:
        return items
    return RuleMap(items.items())


@fast_init
@dataclass(frozen=True, slots=True)
class LocalFTeid:
    """A local F-TEID a PDR matches on (ours if ``allocated``, else given by the SMF)."""

    teid: int
    ipv4: IPv4 | None
    ipv6: ipaddress.IPv6Address | None = None
    allocated: bool = False


@fast_init
@dataclass(frozen=True, slots=True)
class PdrState:
    pdr_id: int
    precedence: int
    slot: int
    source_interface: int
    network_instance: str | None
    f_teid: LocalFTeid | None  # set: keyed by TEID in uplink_pdrs
    ue_v4: IPv4 | None  # from the PDI's UE IP Address
    ue_v6: IPv6Net | None  # a /64
    ue_is_destination: bool  # UE IP Address S/D flag: set = downlink key
    ohr: Ohr
    far_id: int | None
    qer_ids: tuple[int, ...] = ()
    urr_ids: tuple[int, ...] = ()
    qfi: int | None = None  # PDI QFI (uplink match)
    sdf_filters: int = 0  # how many SDF filters the PDI had (not enforced by the fast path)

    @property
    def is_uplink_keyed(self) -> bool:
        return self.f_teid is not None


@fast_init
@dataclass(frozen=True, slots=True)
class ForwardingState:
    destination_interface: int
    network_instance: str | None = None
    ohc_description: int = 0  # 0 = no Outer Header Creation
    ohc_teid: int = 0
    ohc_ipv4: IPv4 | None = None
    ohc_ipv6: ipaddress.IPv6Address | None = None
    ohc_port: int | None = None
    tos: int = 0  # Transport Level Marking, high octet

    def __hash__(self) -> int:  # IPv4Address hashes are Python code: hash their ints
        return hash((self.destination_interface, self.network_instance, self.ohc_description,
                     self.ohc_teid, None if self.ohc_ipv4 is None else int(self.ohc_ipv4),
                     self.ohc_ipv6, self.ohc_port, self.tos))


@fast_init
@dataclass(frozen=True, slots=True)
class FarState:
    far_id: int
    slot: int
    apply_action: int  # PFCP Apply Action bits as received
    forwarding: ForwardingState | None
    value: Far  # as written to the fars map


@fast_init
@dataclass(frozen=True, slots=True)
class QerState:
    qer_id: int
    slot: int
    value: Qer


@fast_init
@dataclass(frozen=True, slots=True)
class UrrState:
    urr_id: int
    measurement_method: int = 0
    reporting_triggers: int = 0
    # What was already reported (TS 29.244 5.2.2.2: each report counts since the last one).
    ur_seqn: int = 0
    reported_ul: Counter = ZERO_COUNTER
    reported_dl: Counter = ZERO_COUNTER


@fast_init
@dataclass(frozen=True, slots=True)
class Session:
    local_seid: int
    remote_seid: int
    peer: str  # CP function address (the N4 peer IP)
    remote_ipv4: IPv4 | None = None
    remote_ipv6: ipaddress.IPv6Address | None = None
    pdrs: Mapping[int, PdrState] = EMPTY
    fars: Mapping[int, FarState] = EMPTY
    qers: Mapping[int, QerState] = EMPTY
    urrs: Mapping[int, UrrState] = EMPTY
    # UE addresses the UPF allocated for this session (CHV4/CHV6), per network instance.
    ue_v4_allocs: Mapping[str | None, IPv4] = EMPTY
    ue_v6_allocs: Mapping[str | None, IPv6Net] = EMPTY
    # (node address, CSID) pairs of the FQ-CSIDs the CP gave (Session Set Deletion, 6.2.9).
    fq_csids: frozenset[tuple[str, int]] = frozenset()

    def __str__(self) -> str:
        return f"session {self.local_seid:#018x} (CP {self.peer} SEID {self.remote_seid:#018x})"
