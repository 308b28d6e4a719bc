"""An in-memory :class:`~control.apply.MapWriter`: hash maps with a capacity, array maps.

Used by unit tests (and dry runs). It behaves like the kernel where it matters:
a full hash map refuses a new key (MapFull) after writing the earlier keys of
the batch, a batch written as new refuses a key already there (KeyTaken), an array
map refuses keys out of range, and ``fail_on_batch`` makes the k-th batch call fail
halfway (for rollback tests). Each failure tells how many pairs were written.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from control.errors import KeyTaken, MapFull, MapWriteError
from control.layout import (
    ARRAY_MAPS,
    DEFAULT_FARS,
    DEFAULT_PDRS,
    DEFAULT_QERS,
    DEFAULT_SESSIONS,
    MapName,
    slot_key,
    zero_value,
)

DEFAULT_CAPACITY: Mapping[str, int] = {
    MapName.UPLINK_PDRS: DEFAULT_PDRS,
    MapName.UPLINK_BY_TEID: DEFAULT_SESSIONS,
    MapName.DOWNLINK_PDRS_V4: DEFAULT_PDRS,
    MapName.DOWNLINK_PDRS_V6: DEFAULT_PDRS,
    MapName.FARS: DEFAULT_FARS,
    MapName.QERS: DEFAULT_QERS,
    MapName.PDR_STATS: DEFAULT_PDRS,
}


class MemoryMaps:
    def __init__(self, capacity: Mapping[str, int] | None = None) -> None:
        self.capacity = dict(DEFAULT_CAPACITY)
        if capacity:
            self.capacity.update(capacity)
        self.maps: dict[str, dict[bytes, bytes]] = {name: {} for name in self.capacity}
        self.batch_calls = 0
        self.fail_on_batch: int | None = None  # 1-based index of the batch call that fails

    def _maybe_fail(self, name: str, n: int) -> int:
        """How many items of this batch to process before failing (n = no failure)."""
        self.batch_calls += 1
        if self.fail_on_batch is not None and self.batch_calls == self.fail_on_batch:
            return n // 2
        return n

    def _failed(self, error: Exception) -> Exception:
        """A write failed: what follows is the plan's rollback, which the injection models
        as working (one injected failure per plan), so no further failure is injected."""
        self.fail_on_batch = None
        return error

    def update_batch(self, name: str, keys: Sequence[bytes], values: Sequence[bytes],
                     new: bool = False) -> None:
        table = self.maps[name]
        stop = self._maybe_fail(name, len(keys))
        for i, (key, value) in enumerate(zip(keys, values, strict=True)):
            if i == stop:
                raise self._failed(MapWriteError(
                    f"injected failure in batch {self.batch_calls} on {name}", i))
            if name in ARRAY_MAPS:
                if int.from_bytes(key, "little") >= self.capacity[name]:
                    raise self._failed(MapWriteError(f"{name}: index out of range", i))
            elif key in table:
                if new:
                    raise KeyTaken(f"{name}: key {key.hex()} is taken", name, key, i)
            elif len(table) >= self.capacity[name]:
                raise self._failed(MapFull(f"{name} is full ({self.capacity[name]} entries)", i))
            table[key] = bytes(value)

    def delete_batch(self, name: str, keys: Sequence[bytes]) -> None:
        if name in ARRAY_MAPS:
            raise MapWriteError(f"{name}: cannot delete from an array map")
        table = self.maps[name]
        stop = self._maybe_fail(name, len(keys))
        for i, key in enumerate(keys):
            if i == stop:
                raise self._failed(
                    MapWriteError(f"injected failure in batch {self.batch_calls} on {name}"))
            table.pop(key, None)

    def max_entries(self, name: str) -> int:
        return self.capacity[name]

    def lookup(self, name: str, key: bytes) -> bytes | None:
        value = self.maps[name].get(key)
        if (value is None and name in ARRAY_MAPS
                and int.from_bytes(key, "little") < self.capacity[name]):
            return zero_value(MapName(name))
        return value

    def nonzero(self, name: str) -> dict[bytes, bytes]:
        """Entries that are set (array slots holding zeros count as empty)."""
        return {k: v for k, v in self.maps[name].items() if any(v)}

    def set_counter(self, slot: int, packed: bytes) -> None:
        """Test hook: the datapath counting packets on a PDR slot."""
        self.maps[MapName.PDR_STATS][slot_key(slot)] = packed

    def snapshot(self) -> dict[str, dict[bytes, bytes]]:
        return {name: self.nonzero(name) for name in self.maps}
