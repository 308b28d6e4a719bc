"""The :class:`~control.apply.MapWriter` over the loaded BPF object (upf/datapath).

Keys and values arrive as bytes laid out as upf_shared.h says (control/layout.py,
checked against the BTF mirror). A batch is joined into one buffer of keys and one of
values, checked against the sizes of upf/datapath/abi.py's ctypes types, and handed to
the kernel as they are (the typed handles' update_raw / delete_raw: no ctypes array is
made on the hot path). A per-CPU map (pdr_stats) gets the value on every CPU and is read
back summed.
"""

from __future__ import annotations

import ctypes
import errno
import logging
from collections.abc import Mapping, Sequence
from typing import Any

from control.errors import KeyTaken, MapFull, MapWriteError
from upf.datapath import abi
from upf.datapath.libbpf import BPF_ANY, BPF_NOEXIST, BpfError, MapFullError
from upf.datapath.maps import Map, PerCpuMap

log = logging.getLogger("upf.control.kernel")


class KernelMaps:
    """MapWriter over ``maps`` (e.g. ``Datapath(...).open().maps``: name -> typed handle).

    ``shared``: other processes write these maps too (N4 workers). A key written as new is
    then written with BPF_NOEXIST, so that the kernel refuses a key another worker's session
    holds (KeyTaken). That takes one write per such key (a batch write takes no per-element
    flags); alone, the agent's own claims already keep its new keys unique, and they go in
    the batch."""

    def __init__(self, maps: Mapping[str, Map[Any, Any]], *, shared: bool = False) -> None:
        self.maps = maps
        self.shared = shared

    def _types(self, name: str) -> tuple[Map[Any, Any], type[Any], type[Any]]:
        try:
            handle = self.maps[name]
            spec = abi.MAPS[name]
        except KeyError:
            raise MapWriteError(f"no map {name!r} in the datapath") from None
        return handle, spec.key, spec.value

    def max_entries(self, name: str) -> int:
        handle, _, _ = self._types(name)
        return int(handle.max_entries)

    def update_batch(self, name: str, keys: Sequence[bytes], values: Sequence[bytes],
                     new: bool = False) -> None:
        handle, kt, vt = self._types(name)
        n = len(keys)
        if n != len(values):
            raise MapWriteError(f"{name}: {n} keys but {len(values)} values")
        if n == 0:
            return
        # One contiguous copy of all keys and all values, handed to the kernel as bytes.
        if isinstance(handle, PerCpuMap):  # the value on every CPU, each padded to the stride
            stride, ncpus = handle.stride, handle.ncpus
            raw = b"".join(v.ljust(stride, b"\0") * ncpus for v in values)
            if len(raw) != n * stride * ncpus:
                raise MapWriteError(f"{name}: values longer than {stride} bytes")
        else:
            raw = b"".join(values)
            if len(raw) != n * ctypes.sizeof(vt):
                raise MapWriteError(f"{name}: values are not {ctypes.sizeof(vt)} bytes each")
        packed = b"".join(keys)
        if len(packed) != n * ctypes.sizeof(kt):
            raise MapWriteError(f"{name}: keys are not {ctypes.sizeof(kt)} bytes each")
        try:
            handle.update_raw(packed, raw, n, BPF_NOEXIST if new and self.shared else BPF_ANY)
        except MapFullError as exc:
            raise MapFull(f"{name}: {exc}", exc.done) from exc
        except BpfError as exc:
            if new and exc.errno == errno.EEXIST and exc.done is not None and exc.done < n:
                key = keys[exc.done]
                raise KeyTaken(f"{name}: key {key.hex()} is taken", name, key,
                               exc.done) from exc
            raise MapWriteError(f"{name}: {exc}", exc.done) from exc

    def delete_batch(self, name: str, keys: Sequence[bytes]) -> None:
        handle, kt, _ = self._types(name)
        packed = b"".join(keys)
        if len(packed) != len(keys) * ctypes.sizeof(kt):
            raise MapWriteError(f"{name}: keys are not {ctypes.sizeof(kt)} bytes each")
        try:
            handle.delete_raw(packed, len(keys))
        except BpfError as exc:
            raise MapWriteError(f"{name}: {exc}") from exc

    def lookup(self, name: str, key: bytes) -> bytes | None:
        handle, kt, _ = self._types(name)
        k = kt.from_buffer_copy(key)
        try:
            if isinstance(handle, PerCpuMap):
                return handle.get_sum_raw(k)
            value = handle.get(k)
        except BpfError as exc:
            log.warning("lookup in %s failed: %s", name, exc)
            return None
        return None if value is None else bytes(ctypes.string_at(ctypes.addressof(value),
                                                                 ctypes.sizeof(value)))
