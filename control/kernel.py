"""The :class:`~control.apply.MapWriter` over the loaded BPF object (upf/datapath).

Keys and values arrive as bytes laid out as upf_shared.h says (control/layout.py,
checked against the BTF mirror); they are copied into the ctypes types of
upf/datapath/abi.py and written with the typed handles' batch calls. A per-CPU
map (pdr_stats) gets the value on every CPU and is read back summed.
"""

from __future__ import annotations

import ctypes
import logging
from collections.abc import Mapping, Sequence
from typing import Any

from control.errors import MapFull, MapWriteError
from upf.datapath import abi
from upf.datapath.libbpf import BpfError, MapFullError
from upf.datapath.maps import Map, PerCpuMap

log = logging.getLogger("upf.control.kernel")


class KernelMaps:
    """MapWriter over ``maps`` (e.g. ``Datapath(...).open().maps``: name -> typed handle)."""

    def __init__(self, maps: Mapping[str, Map[Any, Any]]) -> None:
        self.maps = maps

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

    def update_batch(self, name: str, keys: Sequence[bytes], values: Sequence[bytes]) -> None:
        handle, kt, vt = self._types(name)
        n = len(keys)
        if n != len(values):
            raise MapWriteError(f"{name}: {n} keys but {len(values)} values")
        if n == 0:
            return
        # One contiguous copy of all keys and all values: no ctypes object per element.
        karr = (kt * n).from_buffer_copy(b"".join(keys))
        varr: ctypes.Array[Any]
        if isinstance(handle, PerCpuMap):  # the value on every CPU, each padded to the stride
            stride, ncpus = handle.stride, handle.ncpus
            raw = b"".join(v.ljust(stride, b"\0") * ncpus for v in values)
            varr = (ctypes.c_uint8 * len(raw)).from_buffer_copy(raw)
        else:
            varr = (vt * n).from_buffer_copy(b"".join(values))
        try:
            handle.update_arrays(karr, varr, n)
        except MapFullError as exc:
            raise MapFull(f"{name}: {exc}") from exc
        except BpfError as exc:
            raise MapWriteError(f"{name}: {exc}") from exc

    def delete_batch(self, name: str, keys: Sequence[bytes]) -> None:
        handle, kt, _ = self._types(name)
        try:
            handle.delete_batch([kt.from_buffer_copy(k) for k in keys])
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
