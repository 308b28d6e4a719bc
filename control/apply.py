"""Applies plans to the maps, all or nothing.

:func:`apply_plan` groups a plan's operations per phase and map into one
``update_batch`` and one ``delete_batch`` each; if any batch fails, every key the
plan touched is put back to the value it held before (``MapOp.prev``) and a
:class:`~control.errors.ApplyError` carrying the PFCP Cause is raised.

A PDR map key the plan creates (absent before: ``prev`` None, in a hash map) is written
with ``new=True`` (BPF_NOEXIST): with N4 workers, each worker checks the keys of its own
sessions only, and the kernel refuses a key another worker's session holds
(:class:`~control.errors.KeyConflict`). Only the pairs the writer reports written are
rolled back, so the other session's entry is left alone.

:class:`CoalescingApplier` collects the plans submitted during one event-loop
turn and applies them as one combined plan; if that fails it applies them one
by one so that only the faulty request is rejected.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from itertools import chain
from typing import Protocol

from control.errors import (
    ApplyError,
    KeyConflict,
    KeyTaken,
    MapFull,
    MapWriteError,
    ResourceExhausted,
)
from control.layout import ARRAY_MAPS, PDR_MAPS, Counter, MapName, slot_key
from control.plan import MapOp, Phase, Plan

log = logging.getLogger("upf.control.apply")


class MapWriter(Protocol):
    """The map I/O the control plane needs, by map name, with raw key/value bytes.

    Implementations: :class:`control.memory.MemoryMaps` (tests) and
    :class:`control.kernel.KernelMaps` (the loaded BPF object).
    """

    def update_batch(self, name: str, keys: Sequence[bytes], values: Sequence[bytes],
                     new: bool = False) -> None:
        """Write all pairs; raise MapFull / MapWriteError on failure (possibly part-written:
        the error's ``done`` tells how many pairs were written, when known). ``new``: none
        of the keys may be in the map; the first that is raises KeyTaken, with the pairs
        before it written."""

    def delete_batch(self, name: str, keys: Sequence[bytes]) -> None:
        """Delete all keys; keys that do not exist are ignored."""

    def lookup(self, name: str, key: bytes) -> bytes | None:
        """The value of a key (per-CPU values summed), or None."""


@dataclass(slots=True)
class Applied:
    """What applying a plan produced: the counters read for the usage report."""

    counters: dict[int, Counter] = field(default_factory=dict)


# Within a phase: leaf maps in a fixed order, PDR maps after them.
_MAP_ORDER = {
    MapName.PDR_STATS: 0,
    MapName.QERS: 1,
    MapName.FARS: 2,
    MapName.UPLINK_PDRS: 3,
    MapName.UPLINK_BY_TEID: 4,
    MapName.DOWNLINK_PDRS_V4: 5,
    MapName.DOWNLINK_PDRS_V6: 6,
}

_Batch = tuple[MapName, list[MapOp]]
_new_op = partial(tuple.__new__, MapOp)  # (MapOp(...) runs a Python __new__)
_flat = chain.from_iterable


def _batches(ops: Sequence[MapOp]) -> list[tuple[Phase, list[_Batch]]]:
    """Group ops by phase then map; later ops on the same key win, the first ``prev`` is kept."""
    merged: dict[tuple[Phase, MapName], dict[bytes, MapOp]] = {}
    for op in ops:  # (hot: every op of a batch of plans; tuple unpacking, no attributes)
        name, key, value, _, phase = op
        per_key = merged.get((phase, name))
        if per_key is None:
            merged[(phase, name)] = {key: op}
            continue
        earlier = per_key.get(key)
        if earlier is not None:
            op = _new_op((name, key, value, earlier.prev, phase))
        per_key[key] = op
    out: list[tuple[Phase, list[_Batch]]] = []
    for phase in Phase:
        maps = sorted((m for (p, m) in merged if p is phase), key=_MAP_ORDER.__getitem__)
        if maps:
            out.append((phase, [(m, list(merged[(phase, m)].values())) for m in maps]))
    return out


# Hash maps of PDR sets: a key the plan creates must not be there already (see above).
_UNIQUE_KEYS = PDR_MAPS - ARRAY_MAPS


def _write(writer: MapWriter, name: MapName, ops: Sequence[MapOp], touched: list[MapOp]) -> None:
    updated: list[MapOp] = []
    keys: list[bytes] = []
    values: list[bytes] = []
    created: list[MapOp] = []  # new keys of a PDR hash map
    new_keys: list[bytes] = []
    new_values: list[bytes] = []
    deletes: list[MapOp] = []
    unique = name in _UNIQUE_KEYS
    for op in ops:
        value = op[2]
        if value is None:
            deletes.append(op)
        elif unique and op[3] is None:
            created.append(op)
            new_keys.append(op[1])
            new_values.append(value)
        else:
            updated.append(op)
            keys.append(op[1])
            values.append(value)
    if updated:
        touched.extend(updated)
        writer.update_batch(name, keys, values)
    if created:
        try:
            writer.update_batch(name, new_keys, new_values, new=True)
        except MapWriteError as exc:  # roll back only what was written: not a taken key
            touched.extend(created if exc.done is None else created[:exc.done])
            raise
        touched.extend(created)
    if deletes:
        if name in ARRAY_MAPS:
            raise ApplyError(f"cannot delete from array map {name}")
        touched.extend(deletes)
        writer.delete_batch(name, [op.key for op in deletes])


def _rollback(writer: MapWriter, touched: Sequence[MapOp]) -> None:
    """Put every touched key back, newest first. Logs (never raises) what it cannot restore."""
    for op in reversed(touched):
        try:
            if op.prev is None and op.map in ARRAY_MAPS:
                # An array slot cannot be deleted: an empty one is all zeroes.
                writer.update_batch(op.map, [op.key], [bytes(len(op.value or b""))])
            elif op.prev is None:
                writer.delete_batch(op.map, [op.key])
            else:
                writer.update_batch(op.map, [op.key], [op.prev])
        except Exception:
            log.critical("rollback failed for %s: the map may hold a stale entry", op,
                         exc_info=True)


def apply_plan(writer: MapWriter, plan: Plan) -> Applied:
    """Apply one plan all-or-nothing. Raises ApplyError / ResourceExhausted after rollback."""
    applied = Applied()
    touched: list[MapOp] = []
    try:
        for phase, batches in _batches(plan.ops):
            if phase is Phase.LEAF_CLEAR:
                _read_counters(writer, plan.reads, applied)
            for name, ops in batches:
                _write(writer, name, ops, touched)
        if plan.reads and not applied.counters:
            _read_counters(writer, plan.reads, applied)
    except KeyTaken as exc:
        _rollback(writer, touched)
        raise KeyConflict(f"{exc} (a session of another N4 worker holds it)",
                          exc.map_name, exc.key) from exc
    except MapFull as exc:
        _rollback(writer, touched)
        raise ResourceExhausted(f"map full while applying plan: {exc}") from exc
    except MapWriteError as exc:
        _rollback(writer, touched)
        raise ApplyError(f"map write failed: {exc}") from exc
    except ApplyError:
        _rollback(writer, touched)
        raise
    except Exception as exc:
        _rollback(writer, touched)
        raise ApplyError(f"unexpected failure while applying plan: {exc!r}") from exc
    return applied


def _read_counters(writer: MapWriter, slots: Sequence[int], applied: Applied) -> None:
    for slot in slots:
        raw = writer.lookup(MapName.PDR_STATS, slot_key(slot))
        applied.counters[slot] = Counter.unpack(raw) if raw is not None else Counter()


def combine(plans: Sequence[Plan]) -> Plan:
    """One plan doing what all of ``plans`` do (they must touch disjoint keys)."""
    return Plan(
        ops=tuple(_flat([plan.ops for plan in plans])),  # (no generator resumed per op)
        reads=tuple(_flat([plan.reads for plan in plans])),
        end_markers=tuple(_flat([plan.end_markers for plan in plans])),
    )


Done = Callable[[Applied | None, BaseException | None], None]


class CoalescingApplier:
    """Applies the plans submitted during one event-loop turn as one batched write.

    ``submit(plan, done)`` queues a plan; ``done(applied, None)`` or ``done(None, error)``
    is called when it has been applied or rejected (synchronously, from the flush). The
    flush runs once the loop has gone a turn without new plans arriving (at most
    ``max_defers`` turns and ``max_batch`` plans): a burst becomes one write, a lone
    request waits one turn. ``await apply(plan)`` is the same for coroutines.
    ``on_flushed`` (if set) is called after each flush, once every ``done`` has run.
    """

    def __init__(self, writer: MapWriter, *, max_batch: int = 256, max_defers: int = 32) -> None:
        self.writer = writer
        self.max_batch = max_batch
        self.max_defers = max_defers
        self.on_flushed: Callable[[], None] | None = None
        self._pending: list[tuple[Plan, Done]] = []
        self._scheduled = False
        self._seen = 0
        self._defers = 0
        self.batches = 0  # combined writes done (for tests and metrics)
        self.fallbacks = 0  # combined writes that failed and were split

    def submit(self, plan: Plan, done: Done) -> None:
        self._pending.append((plan, done))
        if not self._scheduled:
            self._scheduled = True
            asyncio.get_running_loop().call_soon(self._flush)

    async def apply(self, plan: Plan) -> Applied:
        future: asyncio.Future[Applied] = asyncio.get_running_loop().create_future()

        def done(applied: Applied | None, error: BaseException | None) -> None:
            if future.cancelled():
                return
            if error is not None:
                future.set_exception(error)
            else:
                assert applied is not None
                future.set_result(applied)

        self.submit(plan, done)
        return await future

    def _flush(self) -> None:
        n = len(self._pending)
        if n != self._seen and n < self.max_batch and self._defers < self.max_defers:
            self._seen = n  # more plans arrived since the last look: wait one more turn
            self._defers += 1
            asyncio.get_running_loop().call_soon(self._flush)
            return
        self._scheduled = False
        self._seen = self._defers = 0
        pending, self._pending = self._pending, []
        try:
            if pending:
                self._apply(pending)
        finally:
            if self.on_flushed is not None:
                self.on_flushed()

    def _apply(self, pending: list[tuple[Plan, Done]]) -> None:
        self.batches += 1
        if len(pending) > 1:
            try:
                applied = apply_plan(self.writer, combine([plan for plan, _ in pending]))
            except Exception:
                self.fallbacks += 1
                log.info("combined write of %d plans failed; applying them one by one",
                         len(pending))
            else:
                counters = applied.counters
                for plan, done in pending:
                    _call(done, Applied({s: counters[s] for s in plan.reads if s in counters}),
                          None)
                return
        for plan, done in pending:
            try:
                result = apply_plan(self.writer, plan)
            except Exception as exc:
                _call(done, None, exc)
            else:
                _call(done, result, None)


def _call(done: Done, applied: Applied | None, error: BaseException | None) -> None:
    """Run a completion callback; one that fails must not keep the others from running."""
    try:
        done(applied, error)
    except Exception:
        log.exception("plan completion callback failed")


def check_kinds(ops: Sequence[MapOp]) -> None:
    """Sanity check used by tests: deletes only on hash maps, PDR maps only in phase PDR."""
    for op in ops:
        if op.map in ARRAY_MAPS and op.value is None:
            raise AssertionError(f"{op}: delete on array map")
        if op.map in ARRAY_MAPS and op.prev is None:
            raise AssertionError(f"{op}: an array slot always has a previous value")
        if (op.map in PDR_MAPS) != (op.phase is Phase.PDR):
            raise AssertionError(f"{op}: wrong phase {op.phase}")
