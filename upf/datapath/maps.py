"""Typed handles on BPF maps: keys and values are ctypes types (usually from abi.py).

    Map[K, V]          get / set / delete / update_batch / delete_batch / keys / items
    ArrayMap[V]        Map[c_uint32, V] that also takes plain int indexes; delete zeroes a slot
    PerCpuMap[K, V]    values are one V per possible CPU: get() -> list[V], get_sum() -> V
    PerCpuArrayMap[V]  the per-CPU array flavour (pdr_stats, xdp_stats)

Batches: `update_batch([(k, v), ...])` copies keys and values once into two contiguous
ctypes arrays and makes one BPF_MAP_UPDATE_BATCH call; callers that build many entries can
skip even that copy: `keys, values = m.batch_arrays(n)`, fill them in place, then
`m.update_arrays(keys, values, n)`. Writers that hold packed bytes (the agent) call
`update_raw` and `delete_raw`, which make no ctypes array at all: ctypes makes a new array
type for every length (about 30 us) and keeps it only while an array of it lives, so arrays
of varying lengths cost a type each and leave cyclic garbage. If the kernel refuses batch ops for the map type
(EINVAL, ENOTSUPP, EOPNOTSUPP) the handle falls back to one syscall per element, once and
for all. Errors are upf.datapath.libbpf.BpfError; MapFullError when the map has no room.
"""

from __future__ import annotations

import ctypes
import errno
import functools
import struct
from collections.abc import Iterator, Sequence
from typing import Any, Final, Generic, TypeVar

from upf.datapath import libbpf
from upf.datapath.libbpf import BPF_ANY, BpfError

__all__ = ["ArrayMap", "Map", "PerCpuArrayMap", "PerCpuMap", "sum_values"]

K = TypeVar("K")
V = TypeVar("V")

# Errnos by which the kernel says "no batch ops for this map type".
_NO_BATCH: Final = frozenset({errno.EINVAL, errno.EOPNOTSUPP, libbpf.ENOTSUPP})
_ITER_CHUNK: Final = 4096


class Map(Generic[K, V]):
    """A BPF map whose keys are K and values V (ctypes types of the map's sizes)."""

    def __init__(
        self,
        fd: int,
        key_type: type[K],
        value_type: type[V],
        *,
        name: str = "",
        max_entries: int = 0,
        owns_fd: bool = False,
    ) -> None:
        self.fd = fd
        self.name = name
        self.max_entries = max_entries
        self.key_type = key_type
        self.value_type = value_type
        self._kt: Any = key_type
        self._vt: Any = value_type
        self._owns_fd = owns_fd
        self._batch_ok = True
        self._check_sizes()

    def _value_bytes(self) -> int:
        return ctypes.sizeof(self._vt)

    def _check_sizes(self) -> None:
        info = libbpf.map_info(self.fd)
        if not self.name:
            self.name = info.name
        if not self.max_entries:
            self.max_entries = info.max_entries
        if info.key_size != ctypes.sizeof(self._kt) or info.value_size != ctypes.sizeof(self._vt):
            raise BpfError(
                f"map {self.name}",
                errno.EINVAL,
                f"key/value sizes {info.key_size}/{info.value_size} != "
                f"{ctypes.sizeof(self._kt)}/{ctypes.sizeof(self._vt)} of "
                f"{self._kt.__name__}/{self._vt.__name__}",
            )

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}({self.name!r}, fd={self.fd}, "
            f"{self._kt.__name__} -> {self._vt.__name__}, max_entries={self.max_entries})"
        )

    def close(self) -> None:
        """Close the fd if this handle owns it (opened from a pin)."""
        if self._owns_fd and self.fd >= 0:
            libbpf.close_fd(self.fd)
        self.fd = -1

    # -- single elements -------------------------------------------------

    def _key(self, key: Any) -> Any:
        return key

    def _key_out(self, key: Any) -> Any:
        return key

    def _new_value_buf(self) -> Any:
        return self._vt()

    def _from_value_buf(self, buf: Any) -> Any:
        return buf

    def _to_value_buf(self, value: Any) -> Any:
        return value

    def get(self, key: K) -> V | None:
        """The value stored at key, or None if absent."""
        buf = self._new_value_buf()
        if not libbpf.map_lookup_elem(self.fd, self._key(key), buf):
            return None
        out: V = self._from_value_buf(buf)
        return out

    def set(self, key: K, value: V, flags: int = BPF_ANY) -> None:
        libbpf.map_update_elem(self.fd, self._key(key), self._to_value_buf(value), flags)

    def delete(self, key: K) -> bool:
        """Remove key; False if it was absent."""
        return libbpf.map_delete_elem(self.fd, self._key(key))

    def __contains__(self, key: object) -> bool:
        return self.get(key) is not None  # type: ignore[arg-type]

    # -- batches ---------------------------------------------------------

    def batch_arrays(self, n: int) -> tuple[ctypes.Array[Any], ctypes.Array[Any]]:
        """Zeroed contiguous key and value arrays for update_arrays(), to fill in place."""
        return (self._kt * n)(), (self._vt * n)()

    def update_arrays(
        self, keys: ctypes.Array[Any], values: ctypes.Array[Any], n: int, flags: int = BPF_ANY
    ) -> None:
        """Write keys[:n] -> values[:n] in one BPF_MAP_UPDATE_BATCH (or a loop if refused).
        With ``flags`` (BPF_NOEXIST, BPF_EXIST) one write per pair (see _batched)."""
        if n > 0 and not self._batched(keys, values, n, flags):
            self._update_each(keys, values, n, flags)

    def update_raw(self, keys: bytes, values: bytes, n: int, flags: int = BPF_ANY) -> None:
        """update_arrays() from packed bytes: n keys, then n values as the map holds them
        (for a per-CPU map, each value once per possible CPU at the stride). With ``flags``,
        one write per pair, as update_arrays."""
        if n <= 0 or self._batched(keys, values, n, flags):
            return
        ks, vs = ctypes.sizeof(self._kt), len(values) // n
        for i in range(n):
            try:
                libbpf.map_update_elem(self.fd, keys[i * ks:(i + 1) * ks],
                                       values[i * vs:(i + 1) * vs], flags)
            except BpfError as e:
                e.done = i  # as the batch call tells it
                raise

    def _batched(self, keys: Any, values: Any, n: int, flags: int) -> bool:
        """Write the n pairs with one BPF_MAP_UPDATE_BATCH if this map takes batches and no
        per-element flags are asked for (the batch call takes none but BPF_F_LOCK: EINVAL);
        False: the caller writes them one by one."""
        if not self._batch_ok or flags != BPF_ANY:
            return False
        try:
            libbpf.map_update_batch(self.fd, keys, values, n, flags)
            return True
        except BpfError as e:
            if e.errno not in _NO_BATCH or e.done:
                raise
            self._batch_ok = False
            return False

    def _update_each(
        self, keys: ctypes.Array[Any], values: ctypes.Array[Any], n: int, flags: int
    ) -> None:
        """The per-element fallback of update_arrays, for kernels that refuse the batch."""
        ks = ctypes.sizeof(self._kt)
        vs = ctypes.sizeof(values) // len(values)
        for i in range(n):
            k = self._kt.from_buffer(keys, i * ks)
            v = (ctypes.c_uint8 * vs).from_buffer(values, i * vs)
            libbpf.map_update_elem(self.fd, k, v, flags)

    def update_batch(self, items: Sequence[tuple[K, V]], flags: int = BPF_ANY) -> None:
        """Write many entries with one syscall; each key and value is copied once."""
        n = len(items)
        if n == 0:
            return
        keys = _pack(self._kt, [self._key(k) for k, _ in items])
        values = self._value_array([v for _, v in items])
        self.update_arrays(keys, values, n, flags)

    def _value_array(self, values: Sequence[V]) -> ctypes.Array[Any]:
        return _pack(self._vt, values)

    def delete_raw(self, keys: bytes, n: int) -> int:
        """delete_batch() of n keys packed in bytes (no ctypes array made while the kernel
        takes the batch). Returns the count deleted."""
        ks = ctypes.sizeof(self._kt)
        deleted = 0
        start = 0
        while start < n and self._batch_ok:
            try:
                deleted += libbpf.map_delete_batch(self.fd, keys[start * ks:n * ks], n - start)
                return deleted
            except BpfError as e:
                done = e.done or 0
                if e.errno == errno.ENOENT:
                    deleted += done
                    start += done + 1  # skip the absent key, go on
                    continue
                if e.errno in _NO_BATCH and not done:
                    self._batch_ok = False
                    break
                raise
        for i in range(start, n):
            deleted += self.delete(self._kt.from_buffer_copy(keys, i * ks))
        return deleted

    def delete_batch(self, keys: Sequence[K]) -> int:
        """Delete keys with BPF_MAP_DELETE_BATCH; absent keys are skipped. Returns the count deleted."""
        if not keys:
            return 0
        return self.delete_raw(b"".join(bytes(self._key(k)) for k in keys), len(keys))

    # -- iteration -------------------------------------------------------

    def keys(self) -> Iterator[K]:
        """Every key (BPF_MAP_GET_NEXT_KEY); concurrent changes may skip or repeat keys."""
        prev = None
        while True:
            nxt = self._kt()
            if not libbpf.map_get_next_key(self.fd, prev, nxt):
                return
            yield self._key_out(nxt)
            prev = nxt

    def __iter__(self) -> Iterator[K]:
        return self.keys()

    def items(self, chunk: int = _ITER_CHUNK) -> Iterator[tuple[K, V]]:
        """Every (key, value), read with BPF_MAP_LOOKUP_BATCH in chunks (a loop if refused)."""
        if self._batch_ok:
            yielded = 0
            try:
                for kv in self._items_batched(chunk):
                    yielded += 1
                    yield kv
                return
            except BpfError as e:
                if e.errno not in _NO_BATCH or yielded:
                    raise
                self._batch_ok = False
        for k in self.keys():
            v = self.get(k)
            if v is not None:
                yield k, v

    def _items_batched(self, chunk: int) -> Iterator[tuple[K, V]]:
        chunk = max(1, min(chunk, self.max_entries or chunk))
        token_size = max(4, ctypes.sizeof(self._kt))
        in_tok: Any = None
        out_tok = (ctypes.c_uint8 * token_size)()
        keys = (self._kt * chunk)()
        values = self._value_chunk(chunk)
        ks = ctypes.sizeof(self._kt)
        while True:
            try:
                n, done = libbpf.map_lookup_batch(self.fd, in_tok, out_tok, keys, values, chunk)
            except BpfError as e:
                if e.errno != errno.ENOSPC or chunk >= (1 << 20):
                    raise
                chunk *= 2  # a hash bucket holds more entries than one chunk: grow, retry
                keys = (self._kt * chunk)()
                values = self._value_chunk(chunk)
                continue
            for i in range(n):
                yield (
                    self._key_out(self._kt.from_buffer_copy(keys, i * ks)),
                    self._value_at(values, i),
                )
            if done:
                return
            if in_tok is None:
                in_tok = (ctypes.c_uint8 * token_size)()
            ctypes.memmove(in_tok, out_tok, token_size)

    def _value_chunk(self, n: int) -> ctypes.Array[Any]:
        arr: ctypes.Array[Any] = (self._vt * n)()
        return arr

    def _value_at(self, values: ctypes.Array[Any], i: int) -> Any:
        return self._vt.from_buffer_copy(values, i * ctypes.sizeof(self._vt))


class ArrayMap(Map[Any, V]):
    """A BPF array: keys are u32 indexes (plain ints accepted, ints yielded by keys/items);
    delete zeroes the slot."""

    def __init__(self, fd: int, value_type: type[V], **kw: Any) -> None:
        super().__init__(fd, ctypes.c_uint32, value_type, **kw)

    def _key(self, key: Any) -> Any:
        return ctypes.c_uint32(key) if isinstance(key, int) else key

    def _key_out(self, key: Any) -> Any:
        return key.value

    def get(self, key: int | ctypes.c_uint32) -> V | None:
        return super().get(key)

    def set(self, key: int | ctypes.c_uint32, value: V, flags: int = BPF_ANY) -> None:
        super().set(key, value, flags)

    def delete(self, key: int | ctypes.c_uint32) -> bool:
        """Arrays cannot delete: write a zero value (an empty slot) instead."""
        super().set(key, self._zero_value())
        return True

    def _zero_value(self) -> Any:
        return self._vt()

    def update_batch(self, items: Sequence[tuple[Any, V]], flags: int = BPF_ANY) -> None:
        n = len(items)
        if n == 0:
            return
        keys = (ctypes.c_uint32 * n)(*[k if isinstance(k, int) else k.value for k, _ in items])
        values = self._value_array([v for _, v in items])
        self.update_arrays(keys, values, n, flags)

    def delete_batch(self, keys: Sequence[Any]) -> int:
        """Zero the slots (one batched write)."""
        self.update_batch([(k, self._zero_value()) for k in keys])
        return len(keys)

    def delete_raw(self, keys: bytes, n: int) -> int:
        """Zero the slots (one batched write)."""
        self.update_raw(keys, bytes(n * self._value_bytes()), n)
        return n


class PerCpuMap(Map[K, V]):
    """A per-CPU map: each key holds one V per possible CPU (8-byte aligned each)."""

    def __init__(self, fd: int, key_type: type[K], value_type: type[V], **kw: Any) -> None:
        self.ncpus = libbpf.num_possible_cpus()
        self.stride = (ctypes.sizeof(value_type) + 7) & ~7  # type: ignore[arg-type]
        self._value_buf_type = ctypes.c_uint8 * (self.stride * self.ncpus)  # (made once)
        super().__init__(fd, key_type, value_type, **kw)

    def _new_value_buf(self) -> Any:
        return self._value_buf_type()

    def _from_value_buf(self, buf: Any) -> Any:
        return [self._vt.from_buffer_copy(buf, c * self.stride) for c in range(self.ncpus)]

    def _to_value_buf(self, value: Any) -> Any:
        """A single V goes to every CPU; a list gives one V per CPU."""
        buf = self._new_value_buf()
        per_cpu = value if isinstance(value, list) else [value] * self.ncpus
        size = ctypes.sizeof(self._vt)
        for c, v in enumerate(per_cpu):
            ctypes.memmove(ctypes.byref(buf, c * self.stride), ctypes.byref(v), size)
        return buf

    def set(self, key: K, value: V | list[V], flags: int = BPF_ANY) -> None:
        """One V for every CPU, or a list with one V per possible CPU."""
        libbpf.map_update_elem(self.fd, self._key(key), self._to_value_buf(value), flags)

    def get(self, key: K) -> list[V] | None:  # type: ignore[override]
        """One V per possible CPU, or None if absent."""
        return super().get(key)  # type: ignore[return-value]

    def get_sum(self, key: K) -> V | None:
        """The per-CPU values summed field by field."""
        vals = self.get(key)
        return None if vals is None else sum_values(self._vt, vals)

    def get_sum_raw(self, key: K) -> bytes | None:
        """``bytes(get_sum(key))``, faster for values made only of u64 fields (counters: read
        once per removed PDR at every deletion): summed as 64-bit words, no struct per CPU."""
        if not self._all_u64:
            value = self.get_sum(key)
            return None if value is None else bytes(value)  # type: ignore[call-overload]
        buf = self._new_value_buf()
        if not libbpf.map_lookup_elem(self.fd, self._key(key), buf):
            return None
        words = memoryview(buf).cast("B").cast("Q")
        per_cpu = self.stride // 8
        n = ctypes.sizeof(self._vt) // 8
        return struct.pack(f"{n}Q", *(sum(words[i::per_cpu]) & 0xFFFFFFFFFFFFFFFF
                                      for i in range(n)))

    @functools.cached_property
    def _all_u64(self) -> bool:
        fields = getattr(self._vt, "_fields_", None)
        if not fields:
            return False
        size = ctypes.sizeof(self._vt)
        return size == 8 * len(fields) and all(
            f[1] is ctypes.c_uint64 or f[1] is ctypes.c_ulonglong or
            (f[1] is ctypes.c_ulong and ctypes.sizeof(ctypes.c_ulong) == 8) for f in fields)

    def batch_arrays(self, n: int) -> tuple[ctypes.Array[Any], ctypes.Array[Any]]:
        return (self._kt * n)(), (ctypes.c_uint8 * (self.stride * self.ncpus * n))()

    def _value_array(self, values: Sequence[Any]) -> ctypes.Array[Any]:
        vals = values
        per = self.stride * self.ncpus
        arr = (ctypes.c_uint8 * (per * len(vals)))()
        for i, v in enumerate(vals):
            buf = self._to_value_buf(v)
            ctypes.memmove(ctypes.byref(arr, i * per), buf, per)
        return arr

    def _update_each(
        self, keys: ctypes.Array[Any], values: ctypes.Array[Any], n: int, flags: int
    ) -> None:
        per = self.stride * self.ncpus
        for i in range(n):
            buf = (ctypes.c_uint8 * per).from_buffer(values, i * per)
            libbpf.map_update_elem(self.fd, keys[i], buf, flags)

    def _value_chunk(self, n: int) -> ctypes.Array[Any]:
        return (ctypes.c_uint8 * (self.stride * self.ncpus * n))()

    def _value_at(self, values: ctypes.Array[Any], i: int) -> Any:
        base = i * self.stride * self.ncpus
        return [
            self._vt.from_buffer_copy(values, base + c * self.stride) for c in range(self.ncpus)
        ]

    def items(self, chunk: int = _ITER_CHUNK) -> Iterator[tuple[K, list[V]]]:  # type: ignore[override]
        return super().items(chunk)  # type: ignore[return-value]

    def items_sum(self, chunk: int = _ITER_CHUNK) -> Iterator[tuple[K, V]]:
        for k, vals in self.items(chunk):
            yield k, sum_values(self._vt, vals)


class PerCpuArrayMap(PerCpuMap[Any, V]):
    """A per-CPU array (counters): u32 indexes, plain ints accepted."""

    def __init__(self, fd: int, value_type: type[V], **kw: Any) -> None:
        super().__init__(fd, ctypes.c_uint32, value_type, **kw)

    def _key(self, key: Any) -> Any:
        return ctypes.c_uint32(key) if isinstance(key, int) else key

    def _key_out(self, key: Any) -> Any:
        return key.value

    def delete(self, key: Any) -> bool:
        """Arrays cannot delete: zero the slot on every CPU."""
        super().set(key, self._vt())
        return True

    def delete_batch(self, keys: Sequence[Any]) -> int:
        self.update_batch([(self._key(k), self._vt()) for k in keys])
        return len(keys)

    def delete_raw(self, keys: bytes, n: int) -> int:
        """Zero the slots on every CPU (one batched write)."""
        self.update_raw(keys, bytes(n * self.stride * self.ncpus), n)
        return n

    def read_raw(self) -> tuple[ctypes.Array[Any], int]:
        """The whole array in one buffer: (u8 buffer of max_entries x ncpus x stride, entries)."""
        n = self.max_entries
        keys = (ctypes.c_uint32 * n)()
        values = self._value_chunk(n)
        out_tok = ctypes.c_uint32()
        got = 0
        in_tok: Any = None
        while got < n:
            kview = (ctypes.c_uint32 * (n - got)).from_buffer(keys, got * 4)
            vview = (ctypes.c_uint8 * ((n - got) * self.stride * self.ncpus)).from_buffer(
                values, got * self.stride * self.ncpus
            )
            cnt, done = libbpf.map_lookup_batch(self.fd, in_tok, out_tok, kview, vview, n - got)
            got += cnt
            if done or cnt == 0:
                break
            in_tok = ctypes.c_uint32(out_tok.value)
        return values, got


def _pack(ctype: Any, objs: Sequence[Any]) -> ctypes.Array[Any]:
    """One contiguous ctypes array holding copies of objs (the fastest copy from Python:
    bytes() of each element joined, then one memcpy; about 3x a ctypes array constructor)."""
    arr: ctypes.Array[Any] = (ctype * len(objs)).from_buffer_copy(b"".join(map(bytes, objs)))
    return arr


def sum_values(value_type: type[V], values: Sequence[V]) -> V:
    """Sum per-CPU structs field by field (integer fields; arrays and others from CPU 0)."""
    vt: Any = value_type
    out: Any = vt()
    if not values:
        return out  # type: ignore[no-any-return]
    if not hasattr(vt, "_fields_"):
        out.value = sum(v.value for v in values)  # type: ignore[attr-defined]
        return out  # type: ignore[no-any-return]
    first: Any = values[0]
    ctypes.memmove(ctypes.byref(out), ctypes.byref(first), ctypes.sizeof(vt))
    for fname, ftype, *_ in vt._fields_:
        if isinstance(getattr(first, fname), int) and issubclass(ftype, ctypes._SimpleCData):
            setattr(out, fname, sum(getattr(v, fname) for v in values))
    return out  # type: ignore[no-any-return]
