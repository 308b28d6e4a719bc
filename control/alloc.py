"""Allocation of everything a session takes from the UPF: TEIDs, UE addresses, map slots.

Every allocator hands out values with ``take`` and takes them back with ``give``.
Compiling a request never commits anything by itself: it draws from an
:class:`AllocTxn`, which records what was taken and what is to be released.
``commit()`` makes the releases effective (after the map writes succeeded),
``abort()`` returns everything taken (when the request is rejected or the plan
failed). A released slot is therefore never reused before the maps stop
pointing at it.

The agent may run as N worker processes writing the same maps, each with its own
Allocator, so their values must never collide: worker k of N (``AllocConfig.shard``
= (k, N)) takes only every N-th value of each pool, starting at its k-th (slot and
TEID indices i with i % N == k; every N-th UE address and prefix). Striding keeps
the shares even and the hot path a counter step; the default (0, 1) is one shard.
"""

from __future__ import annotations

import ipaddress
import logging
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from itertools import islice
from typing import Generic, TypeVar

from control.errors import ResourceExhausted
from control.layout import DEFAULT_SESSIONS, TEID_INDEX_BITS, TEID_INDEX_MASK

log = logging.getLogger("upf.control.alloc")

T = TypeVar("T")
IPv4 = ipaddress.IPv4Address
IPv6Net = ipaddress.IPv6Network
Shard = tuple[int, int]  # (index, count): this allocator takes every count-th value
NO_SHARD: Shard = (0, 1)


def check_shard(shard: Shard) -> Shard:
    """``shard`` if it is a valid (index, count); ValueError (our configuration) if not."""
    if not (isinstance(shard, tuple) and len(shard) == 2
            and all(type(v) is int for v in shard) and 0 <= shard[0] < shard[1]):
        raise ValueError(f"shard {shard!r}: want (index, count) with 0 <= index < count")
    return shard


class Pool(Generic[T]):
    """A free list over a lazily enumerated finite supply of values."""

    def __init__(self, name: str, supply: Iterator[T]) -> None:
        self.name = name
        self._supply: Iterator[T] | None = supply
        self._free: deque[T] = deque()
        self._used: set[T] = set()
        self._back: list[T] = []  # untaken (never used): handed out again first

    def take(self, acceptable: Callable[[T], bool] | None = None) -> T:
        """The next free value; skips (and keeps free) values ``acceptable`` refuses."""
        skipped: list[T] = []
        try:
            while True:
                value = self._next()
                if value is None:
                    raise ResourceExhausted(f"{self.name} exhausted")
                if acceptable is None or acceptable(value):
                    self._used.add(value)
                    return value
                skipped.append(value)
        finally:
            self._free.extend(skipped)

    def _next(self) -> T | None:
        # Fresh values first: a released TEID or address is reused as late as possible,
        # so stray packets of an old session do not reach the next owner.
        if self._back:
            return self._back.pop()
        if self._supply is not None:
            for value in self._supply:
                return value
            self._supply = None
        if self._free:
            return self._free.popleft()
        return None

    def give(self, value: T) -> None:
        if value not in self._used:
            log.error("%s: release of %s which is not allocated", self.name, value)
            return
        self._used.remove(value)
        self._free.append(value)

    def untake(self, value: T) -> None:
        """Undo the ``take`` of ``value``, which nobody used (an aborted transaction): the pool
        is as it was, so the same value comes next. Untaken in reverse order of taking."""
        if value not in self._used:
            log.error("%s: untake of %s which is not allocated", self.name, value)
            return
        self._used.remove(value)
        self._back.append(value)

    def in_use(self) -> int:
        return len(self._used)

    def is_used(self, value: T) -> bool:
        return value in self._used


class SlotPool(Pool[int]):
    """A Pool of array slots that marks used slots in a bytearray (one byte per slot)
    instead of a set (about 70 bytes per entry): it is sized once, like the map.
    Fresh slots come from a counter, released ones from the free list (FIFO).

    Shard (k, n) takes only the slots i with i % n == k: the counter steps by n. The
    flags still span the whole map, so a slot of another shard is never ours to give.
    Every slot the counter passed is either in use or on the free list (released, or
    skipped by ``acceptable``): that gives ``in_use`` without a counter on the hot path."""

    def __init__(self, name: str, size: int, reserved: int, shard: Shard = NO_SHARD) -> None:
        super().__init__(name, iter(()))
        index, count = check_shard(shard)
        reserved = max(reserved, 0)
        self._supply = None
        self._first = reserved + (index - reserved) % count  # our first slot >= reserved
        self._fresh = self._first
        self._step = count
        self._size = max(size, 0)
        self._flags = bytearray(self._size)

    def take(self, acceptable: Callable[[int], bool] | None = None) -> int:
        value = self._fresh
        if acceptable is None and value < self._size:  # the common case, straight-line
            self._fresh = value + self._step
            self._flags[value] = 1
            return value
        skipped: list[int] = []
        try:
            while True:
                if self._fresh < self._size:
                    value = self._fresh
                    self._fresh += self._step
                elif self._free:
                    value = self._free.popleft()
                else:
                    raise ResourceExhausted(f"{self.name} exhausted")
                if acceptable is None or acceptable(value):
                    self._flags[value] = 1
                    return value
                skipped.append(value)
        finally:
            if skipped:
                self._free.extend(skipped)

    def give(self, value: int) -> None:
        if not 0 <= value < len(self._flags) or not self._flags[value]:
            log.error("%s: release of %s which is not allocated", self.name, value)
            return
        self._flags[value] = 0
        self._free.append(value)

    def untake(self, value: int) -> None:
        if not 0 <= value < len(self._flags) or not self._flags[value]:
            log.error("%s: untake of %s which is not allocated", self.name, value)
            return
        self._untake_index(value)

    def _untake_index(self, index: int) -> None:
        self._flags[index] = 0
        if index == self._fresh - self._step:  # the last fresh one: the counter goes back
            self._fresh = index
        else:  # from the front of the free list: back to its front
            self._free.appendleft(index)

    def in_use(self) -> int:
        return (self._fresh - self._first) // self._step - len(self._free)

    def is_used(self, value: int) -> bool:
        return 0 <= value < len(self._flags) and bool(self._flags[value])


class TeidPool(SlotPool):
    """Our local TEIDs: ``generation << 24 | index`` (xdp/upf_shared.h), the index a slot of
    uplink_by_teid (1 .. size-1; TEID 0 is never allocated, TS 29.281 5.1). Each reuse of an
    index bumps its generation (mod 256), so a TEID comes back only after 256 reuses of
    its index, and a stale TEID never matches the slot's new owner in the fast path.
    Shard (k, n) takes the indices i with i % n == k, so shards never share a TEID."""

    def __init__(self, size: int, shard: Shard = NO_SHARD) -> None:
        size = min(size, TEID_INDEX_MASK + 1)
        super().__init__("teid", size, 1, shard)
        self._gen = bytearray(self._size)

    def take(self, acceptable: Callable[[int], bool] | None = None) -> int:
        index = self._fresh
        if index < self._size:  # a fresh index whose current TEID is acceptable: no search
            teid = self._gen[index] << TEID_INDEX_BITS | index
            if teid != 0 and (acceptable is None or acceptable(teid)):
                self._fresh = index + self._step
                self._flags[index] = 1
                return teid

        def ok(index: int) -> bool:
            gen = self._gen[index]
            for _ in range(256):
                teid = gen << TEID_INDEX_BITS | index
                if teid != 0 and (acceptable is None or acceptable(teid)):
                    self._gen[index] = gen
                    return True
                gen = (gen + 1) & 0xFF
            return False

        index = super().take(ok)
        return self._gen[index] << TEID_INDEX_BITS | index

    def give(self, value: int) -> None:
        if not self.is_used(value):
            log.error("teid: release of %#010x which is not allocated", value)
            return
        index = value & TEID_INDEX_MASK
        self._gen[index] = (self._gen[index] + 1) & 0xFF  # the next owner's TEID differs
        super().give(index)

    def untake(self, value: int) -> None:
        """(The generation stays: the TEID was never installed, its next owner may have it.)"""
        if not self.is_used(value):
            log.error("teid: untake of %#010x which is not allocated", value)
            return
        self._untake_index(value & TEID_INDEX_MASK)

    def is_used(self, value: int) -> bool:
        index = value & TEID_INDEX_MASK  # (SlotPool.is_used, inlined: once per deletion)
        return (index < len(self._flags) and bool(self._flags[index])
                and self._gen[index] == value >> TEID_INDEX_BITS)


def slot_pool(name: str, size: int, reserved: int = 1, shard: Shard = NO_SHARD) -> Pool[int]:
    """Array slots ``reserved .. size-1``; slots below ``reserved`` are never handed out
    (slot 0 of qers means "no QER", slot 0 of fars stays empty)."""
    return SlotPool(name, size, reserved, shard)


def teid_pool(size: int, shard: Shard = NO_SHARD) -> TeidPool:
    """Local TEIDs over ``size`` uplink_by_teid slots (see TeidPool)."""
    return TeidPool(size, shard)


def _strided(supply: Iterator[T], shard: Shard) -> Iterator[T]:
    """Every count-th value of ``supply`` from its index-th: lazily, pools can be huge."""
    index, count = check_shard(shard)
    return supply if count == 1 else islice(supply, index, None, count)


def v4_pool(name: str, network: ipaddress.IPv4Network, shard: Shard = NO_SHARD) -> Pool[IPv4]:
    return Pool(name, _strided(network.hosts(), shard))


def v6_prefix_pool(name: str, network: IPv6Net, shard: Shard = NO_SHARD) -> Pool[IPv6Net]:
    """/64 prefixes out of ``network`` (one per PDU session, TS 23.501 5.8.2.2)."""
    if network.prefixlen > 64:
        raise ValueError(f"{name}: IPv6 pool {network} is longer than /64")
    return Pool(name, _strided(network.subnets(new_prefix=64), shard))


@dataclass(frozen=True, slots=True)
class UePoolConfig:
    """UE address pools of one network instance (None = the default instance)."""

    network_instance: str | None
    ipv4: ipaddress.IPv4Network | None = None
    ipv6: IPv6Net | None = None


@dataclass(frozen=True, slots=True)
class EndpointConfig:
    """One of our GTP-U endpoint addresses.

    ``interface`` is the PFCP interface value it serves (0 ACCESS = N3, 1 CORE = N9
    towards another UPF); ``network_instance`` None matches any instance.
    """

    interface: int
    ipv4: IPv4
    network_instance: str | None = None
    ipv6: ipaddress.IPv6Address | None = None


@dataclass(frozen=True, slots=True)
class AllocConfig:
    endpoints: tuple[EndpointConfig, ...]
    ue_pools: tuple[UePoolConfig, ...] = ()
    pdr_slots: int = 400000
    far_slots: int = 400000
    qer_slots: int = 200000
    # Slots of uplink_by_teid our TEIDs index (the Agent lowers it to the map's size).
    teid_indices: int = DEFAULT_SESSIONS
    # (index, count) of this N4 worker among the workers sharing the maps: it takes
    # only every count-th value of each pool (see the module docstring).
    shard: Shard = NO_SHARD

    def __post_init__(self) -> None:
        check_shard(self.shard)


KeyId = tuple[str, bytes]  # (map name, key bytes)

_MAP_TAGS: dict[str, bytes] = {}


def owner_key(key: KeyId) -> bytes:
    """``key`` as one bytes object (a map tag octet + the key): a tuple per key would cost
    56 more bytes, times two keys per session, times a million sessions."""
    name, raw = key
    tag = _MAP_TAGS.get(name)
    if tag is None:
        tag = _MAP_TAGS[name] = bytes([len(_MAP_TAGS)])
    return tag + raw


class Allocator:
    """All per-UPF allocation state. Use :meth:`begin` to allocate."""

    def __init__(self, config: AllocConfig, teid_indices: int | None = None) -> None:
        self.config = config
        shard = config.shard  # checked by AllocConfig
        self.teids = teid_pool(teid_indices or config.teid_indices, shard)
        self.pdr_slots = slot_pool("pdr slots", config.pdr_slots, shard=shard)
        self.far_slots = slot_pool("far slots", config.far_slots, shard=shard)
        self.qer_slots = slot_pool("qer slots", config.qer_slots, shard=shard)
        self.ue_v4: dict[str | None, Pool[IPv4]] = {}
        self.ue_v6: dict[str | None, Pool[IPv6Net]] = {}
        for pool in config.ue_pools:
            ni = pool.network_instance
            if pool.ipv4 is not None:
                self.ue_v4[ni] = v4_pool(f"UE IPv4 pool {ni or 'default'}", pool.ipv4, shard)
            if pool.ipv6 is not None:
                self.ue_v6[ni] = v6_prefix_pool(f"UE IPv6 pool {ni or 'default'}", pool.ipv6,
                                                shard)
        # Which session (local SEID) owns each key of the PDR maps.
        self.key_owners: dict[bytes, int] = {}  # owner_key(...) -> local SEID
        self._endpoints: dict[tuple[int, str | None], EndpointConfig | None] = {}

    def begin(self) -> AllocTxn:
        return AllocTxn(self)

    def endpoint(self, interface: int, network_instance: str | None) -> EndpointConfig | None:
        """Our GTP-U address for a PFCP interface and network instance (exact instance first)."""
        key = (interface, network_instance)
        try:
            return self._endpoints[key]
        except KeyError:
            pass
        if len(self._endpoints) > 4096:  # network instances come from the peer: bounded
            self._endpoints.clear()
        ep = self._endpoints[key] = self._endpoint(interface, network_instance)
        return ep

    def _endpoint(self, interface: int, network_instance: str | None) -> EndpointConfig | None:
        fallback = None
        for ep in self.config.endpoints:
            if ep.interface != interface:
                continue
            if ep.network_instance == network_instance:
                return ep
            if ep.network_instance is None and fallback is None:
                fallback = ep
        return fallback


class AllocTxn:
    """Allocations and releases of one request, undone or made effective together.

    Both logs are flat lists of (pool, value) pairs, pool None for a key of
    ``key_owners`` (claimed, or to unclaim): a few objects per request, not one per entry."""

    __slots__ = ("_done", "_later", "_log", "alloc")

    def __init__(self, alloc: Allocator) -> None:
        self.alloc = alloc
        self._done = False
        self._log: list[object] = []  # taken values and claimed keys: undone by abort()
        self._later: list[object] | None = None  # releases: done by commit()

    def _take(self, pool: Pool[T], acceptable: Callable[[T], bool] | None = None) -> T:
        value = pool.take(acceptable)
        self._log += (pool, value)
        return value

    def _give_later(self, pool: Pool[T] | None, value: object) -> None:
        if self._later is None:
            self._later = [pool, value]
        else:
            self._later += (pool, value)

    # --- slots -------------------------------------------------------------
    def pdr_slot(self) -> int:
        pool = self.alloc.pdr_slots
        value = pool.take()
        self._log += (pool, value)
        return value

    def far_slot(self) -> int:
        pool = self.alloc.far_slots
        value = pool.take()
        self._log += (pool, value)
        return value

    def qer_slot(self) -> int:
        pool = self.alloc.qer_slots
        value = pool.take()
        self._log += (pool, value)
        return value

    def release_pdr_slot(self, slot: int) -> None:
        self._give_later(self.alloc.pdr_slots, slot)

    def release_far_slot(self, slot: int) -> None:
        self._give_later(self.alloc.far_slots, slot)

    def release_qer_slot(self, slot: int) -> None:
        self._give_later(self.alloc.qer_slots, slot)

    def release_slots(self, pdr: Iterable[int], far: Iterable[int], qer: Iterable[int]) -> None:
        """release_pdr_slot, release_far_slot and release_qer_slot of many slots at once
        (a Session Deletion frees all of its slots)."""
        later = self._later
        if later is None:
            later = self._later = []
        alloc = self.alloc
        for pool, slots in ((alloc.pdr_slots, pdr), (alloc.far_slots, far),
                            (alloc.qer_slots, qer)):
            for slot in slots:
                later += (pool, slot)

    # --- TEIDs and UE addresses -----------------------------------------------
    def teid(self, uplink_map: str) -> int:
        """A TEID no session holds in ``uplink_map`` (an SMF may choose TEIDs that look like
        ours): ownership of a TEID is claimed under that map's key whatever map it is in."""
        owners = self.alloc.key_owners
        tag = _MAP_TAGS.get(uplink_map) or owner_key((uplink_map, b""))
        return self._take(self.alloc.teids,
                          lambda t: tag + t.to_bytes(4, "big") not in owners)

    def release_teid(self, teid: int) -> None:
        if self.alloc.teids.is_used(teid):
            self._give_later(self.alloc.teids, teid)

    def ue_v4(self, network_instance: str | None, v4_map: str) -> IPv4:
        pool = self.alloc.ue_v4.get(network_instance) or self.alloc.ue_v4.get(None)
        if pool is None:
            raise ResourceExhausted(f"no IPv4 UE pool for network instance {network_instance!r}")
        owners = self.alloc.key_owners
        return self._take(pool, lambda a: owner_key((v4_map, a.packed)) not in owners)

    def ue_v6(self, network_instance: str | None, v6_map: str) -> IPv6Net:
        pool = self.alloc.ue_v6.get(network_instance) or self.alloc.ue_v6.get(None)
        if pool is None:
            raise ResourceExhausted(f"no IPv6 UE pool for network instance {network_instance!r}")
        owners = self.alloc.key_owners
        return self._take(
            pool, lambda p: owner_key((v6_map, p.network_address.packed[:8])) not in owners)

    def release_ue_v4(self, network_instance: str | None, addr: IPv4) -> None:
        for pool in (self.alloc.ue_v4.get(network_instance), self.alloc.ue_v4.get(None)):
            if pool is not None and pool.is_used(addr):
                self._give_later(pool, addr)
                return

    def release_ue_v6(self, network_instance: str | None, prefix: IPv6Net) -> None:
        for pool in (self.alloc.ue_v6.get(network_instance), self.alloc.ue_v6.get(None)):
            if pool is not None and pool.is_used(prefix):
                self._give_later(pool, prefix)
                return

    # --- key ownership --------------------------------------------------------
    def claim_key(self, key: KeyId, seid: int) -> bool:
        """Claim a PDR map key for a session; False if another session holds it."""
        tag = _MAP_TAGS.get(key[0])
        okey = tag + key[1] if tag is not None else owner_key(key)
        owners = self.alloc.key_owners
        owner = owners.get(okey)
        if owner is not None:
            return owner == seid
        owners[okey] = seid
        self._log += (None, okey)
        return True

    def unclaim_key(self, key: KeyId) -> None:
        self._give_later(None, owner_key(key))

    # --- outcome ---------------------------------------------------------------
    def commit(self) -> None:
        if self._done:
            return
        self._done = True
        later = self._later
        if later is None:
            return
        owners = self.alloc.key_owners
        pairs = iter(later)
        for pool, value in zip(pairs, pairs, strict=True):
            if pool is None:
                owners.pop(value, None)  # type: ignore[call-overload]
            else:
                pool.give(value)  # type: ignore[attr-defined]

    def abort(self) -> None:
        if self._done:
            return
        self._done = True
        log_ = self._log
        owners = self.alloc.key_owners
        for i in range(len(log_) - 2, -1, -2):
            pool, value = log_[i], log_[i + 1]
            if pool is None:
                owners.pop(value, None)  # type: ignore[call-overload]
            else:  # as if never taken: the same values come next
                pool.untake(value)  # type: ignore[attr-defined]
