"""A small ctypes binding to libbpf.so.1 (libbpf 1.1): only what the UPF uses.

API in one screen (for packet tests and the loader):

    from upf.datapath.libbpf import BpfObject, prog_test_run

    with BpfObject.open("build/xdp/upf.o") as obj:     # bpf_object__open_file(path, NULL)
        obj.map("fars").set_max_entries(1024)          # before load
        obj.load()                                     # LoadError carries the verifier log
        prog_fd = obj.program_fd("upf_xdp")
        map_fd = obj.map("fars").fd                    # after load
        res = prog_test_run(prog_fd, frame)            # repeat=1; see TestRunResult
        res.retval, res.data, res.duration_ns

    Low-level map calls take ctypes objects (structures, arrays, c_uint32 ...):
        map_update_elem(fd, key, value, flags=BPF_ANY)
        map_lookup_elem(fd, key, value_out) -> bool     # False when the key is absent
        map_delete_elem(fd, key) -> bool                # False when the key is absent
        map_get_next_key(fd, key_or_None, next_key_out) -> bool
        map_update_batch(fd, keys, values, count, elem_flags=0) -> int
        map_delete_batch(fd, keys, count) -> int
        map_lookup_batch(fd, in_batch, out_batch, keys, values, count) -> (n, done)
        obj_pin(fd, path); obj_get(path) -> fd; map_info(fd) -> MapInfo
        num_possible_cpus(); percpu_value_size(size)
    map_update_elem and the two write batches also take packed ``bytes`` for their input
    keys and values, read in place (no ctypes array made).

Errors: every failure raises BpfError(op, errno[, detail]); MapFullError is the
subclass for E2BIG/ENOSPC/ENOMEM from an update, LoadError the one for
bpf_object__load (its `log` holds libbpf's warnings, the verifier log included).
libbpf's own messages go to the logger "upf.datapath.libbpf".
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno as errno_mod
import logging
import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from types import TracebackType
from typing import Any, Final

__all__ = [
    "BPF_ANY",
    "BPF_EXIST",
    "BPF_F_TEST_XDP_LIVE_FRAMES",
    "BPF_NOEXIST",
    "BpfError",
    "BpfMapRef",
    "BpfObject",
    "LoadError",
    "MapFullError",
    "MapInfo",
    "TestRunResult",
    "XdpMd",
    "close_fd",
    "map_delete_batch",
    "map_delete_elem",
    "map_get_next_key",
    "map_info",
    "map_lookup_batch",
    "map_lookup_elem",
    "map_update_batch",
    "map_update_elem",
    "num_possible_cpus",
    "obj_get",
    "obj_pin",
    "percpu_value_size",
    "prog_test_run",
]

log = logging.getLogger("upf.datapath.libbpf")

# Update flags (include/uapi/linux/bpf.h).
BPF_ANY: Final = 0
BPF_NOEXIST: Final = 1
BPF_EXIST: Final = 2
BPF_F_LOCK: Final = 4
# BPF_PROG_RUN flags.
BPF_F_TEST_RUN_ON_CPU: Final = 1
BPF_F_TEST_XDP_LIVE_FRAMES: Final = 2

# Errnos that mean "the map has no room" on an update.
_FULL_ERRNOS: Final = frozenset({errno_mod.E2BIG, errno_mod.ENOSPC, errno_mod.ENOMEM})
ENOTSUPP: Final = 524  # kernel-internal, leaks to user space from some map types


class BpfError(OSError):
    """A libbpf / bpf(2) call failed. `op` names the call, `errno` the reason."""

    def __init__(self, op: str, err: int, detail: str = "", done: int | None = None) -> None:
        self.op = op
        self.done = done  # batch calls: how many elements were processed before the error
        msg = f"{op}: {os.strerror(err) if err != ENOTSUPP else 'Operation not supported'}"
        if detail:
            msg = f"{msg}: {detail}"
        super().__init__(err, msg)

    def __str__(self) -> str:
        return str(self.strerror)


class MapFullError(BpfError):
    """An update found no room in the map (E2BIG, ENOSPC or ENOMEM): our limits."""


class LoadError(BpfError):
    """bpf_object__load failed; `log` holds libbpf's warnings (the verifier log included)."""

    def __init__(self, op: str, err: int, log_text: str) -> None:
        self.log = log_text
        super().__init__(op, err, "\n" + log_text if log_text else "")


# ---------------------------------------------------------------------------
# The library and its prototypes

_lib = ctypes.CDLL("libbpf.so.1", use_errno=True)
_libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)

_c_int = ctypes.c_int
_c_u32 = ctypes.c_uint32
_vp = ctypes.c_void_p
_cp = ctypes.c_char_p


def _proto(name: str, restype: Any, *argtypes: Any) -> Any:
    fn = getattr(_lib, name)
    fn.restype = restype
    fn.argtypes = list(argtypes)
    return fn


_object_open_file = _proto("bpf_object__open_file", _vp, _cp, _vp)
_object_load = _proto("bpf_object__load", _c_int, _vp)
_object_close = _proto("bpf_object__close", None, _vp)
_object_find_map = _proto("bpf_object__find_map_by_name", _vp, _vp, _cp)
_object_next_map = _proto("bpf_object__next_map", _vp, _vp, _vp)
_object_find_program = _proto("bpf_object__find_program_by_name", _vp, _vp, _cp)
_program_fd = _proto("bpf_program__fd", _c_int, _vp)
_map_fd = _proto("bpf_map__fd", _c_int, _vp)
_map_name = _proto("bpf_map__name", _cp, _vp)
_map_type = _proto("bpf_map__type", _c_int, _vp)
_map_max_entries = _proto("bpf_map__max_entries", _c_u32, _vp)
_map_set_max_entries = _proto("bpf_map__set_max_entries", _c_int, _vp, _c_u32)
_map_key_size = _proto("bpf_map__key_size", _c_u32, _vp)
_map_value_size = _proto("bpf_map__value_size", _c_u32, _vp)
_map_reuse_fd = _proto("bpf_map__reuse_fd", _c_int, _vp, _c_int)
_map_is_internal = _proto("bpf_map__is_internal", ctypes.c_bool, _vp)
_map_update_elem = _proto("bpf_map_update_elem", _c_int, _c_int, _vp, _vp, ctypes.c_uint64)
_map_lookup_elem = _proto("bpf_map_lookup_elem", _c_int, _c_int, _vp, _vp)
_map_delete_elem = _proto("bpf_map_delete_elem", _c_int, _c_int, _vp)
_map_get_next_key = _proto("bpf_map_get_next_key", _c_int, _c_int, _vp, _vp)
_map_update_batch = _proto(
    "bpf_map_update_batch", _c_int, _c_int, _vp, _vp, ctypes.POINTER(_c_u32), _vp
)
_map_delete_batch = _proto("bpf_map_delete_batch", _c_int, _c_int, _vp, ctypes.POINTER(_c_u32), _vp)
_map_lookup_batch = _proto(
    "bpf_map_lookup_batch", _c_int, _c_int, _vp, _vp, _vp, _vp, ctypes.POINTER(_c_u32), _vp
)
_obj_pin = _proto("bpf_obj_pin", _c_int, _c_int, _cp)
_obj_get = _proto("bpf_obj_get", _c_int, _cp)
_obj_get_info_by_fd = _proto("bpf_obj_get_info_by_fd", _c_int, _c_int, _vp, ctypes.POINTER(_c_u32))
_prog_test_run_opts = _proto("bpf_prog_test_run_opts", _c_int, _c_int, _vp)
_num_possible_cpus = _proto("libbpf_num_possible_cpus", _c_int)

_PRINT_FN = ctypes.CFUNCTYPE(_c_int, _c_int, _cp, _vp)
_set_print = _proto("libbpf_set_print", _vp, _PRINT_FN)

_vasprintf = _libc.vasprintf
_vasprintf.restype = _c_int
_vasprintf.argtypes = [ctypes.POINTER(_cp), _cp, _vp]
_free = _libc.free
_free.restype = None
_free.argtypes = [_vp]


def _check(op: str, ret: int) -> int:
    """libbpf >= 1.0 returns -errno from int APIs (and sets errno)."""
    if ret < 0:
        err = -ret if ret < -1 else (ctypes.get_errno() or -ret)
        raise BpfError(op, err)
    return ret


def _check_update(op: str, ret: int) -> None:
    if ret < 0:
        err = -ret if ret < -1 else (ctypes.get_errno() or -ret)
        if err in _FULL_ERRNOS:
            raise MapFullError(op, err)
        raise BpfError(op, err)


def _errno_of(ret: int) -> int:
    return -ret if ret < -1 else (ctypes.get_errno() or -ret)


# ---------------------------------------------------------------------------
# libbpf's log -> Python logging (and a per-thread capture used by load())

_LEVELS: Final = {0: logging.WARNING, 1: logging.INFO, 2: logging.DEBUG}
_capture = threading.local()


def _print_cb(level: int, fmt: bytes | None, ap: int | None) -> int:
    try:
        pylevel = _LEVELS.get(level, logging.DEBUG)
        buf: list[str] | None = getattr(_capture, "lines", None)
        want_capture = buf is not None and level <= 1
        if not (want_capture or log.isEnabledFor(pylevel)) or fmt is None:
            return 0
        out = _cp()
        n = _vasprintf(ctypes.byref(out), fmt, ap)
        if n < 0:
            return 0
        try:
            text = (out.value or b"").decode("utf-8", "replace").rstrip("\n")
        finally:
            _free(out)
        if want_capture and buf is not None:
            buf.append(text)
        log.log(pylevel, "%s", text)
    except Exception:  # a callback must never raise into C
        return 0
    return 0


_print_ref: Final = _PRINT_FN(_print_cb)
_set_print(_print_ref)


# ---------------------------------------------------------------------------
# Small helpers


@cache
def num_possible_cpus() -> int:
    """Number of possible CPUs: the multiplier of every per-CPU map value."""
    return _check("libbpf_num_possible_cpus", int(_num_possible_cpus()))


def percpu_value_size(size: int) -> int:
    """Bytes a per-CPU map value occupies in user space: round_up(size, 8) * ncpus."""
    return ((size + 7) & ~7) * num_possible_cpus()


def close_fd(fd: int) -> None:
    if fd >= 0:
        os.close(fd)


def obj_pin(fd: int, path: str) -> None:
    _check(f"bpf_obj_pin({path})", int(_obj_pin(fd, os.fsencode(path))))


def obj_get(path: str) -> int:
    """Open a pinned object; the caller owns the returned fd."""
    return _check(f"bpf_obj_get({path})", int(_obj_get(os.fsencode(path))))


class _BpfMapInfo(ctypes.Structure):
    _fields_ = (
        ("type", ctypes.c_uint32),
        ("id", ctypes.c_uint32),
        ("key_size", ctypes.c_uint32),
        ("value_size", ctypes.c_uint32),
        ("max_entries", ctypes.c_uint32),
        ("map_flags", ctypes.c_uint32),
        ("name", ctypes.c_char * 16),
        ("ifindex", ctypes.c_uint32),
        ("btf_vmlinux_value_type_id", ctypes.c_uint32),
        ("netns_dev", ctypes.c_uint64),
        ("netns_ino", ctypes.c_uint64),
        ("btf_id", ctypes.c_uint32),
        ("btf_key_type_id", ctypes.c_uint32),
        ("btf_value_type_id", ctypes.c_uint32),
        ("_pad", ctypes.c_uint32),
        ("map_extra", ctypes.c_uint64),
    )


@dataclass(frozen=True, slots=True)
class MapInfo:
    """What the kernel says about a map (BPF_OBJ_GET_INFO_BY_FD)."""

    type: int
    id: int
    key_size: int
    value_size: int
    max_entries: int
    map_flags: int
    name: str


def map_info(fd: int) -> MapInfo:
    info = _BpfMapInfo()
    size = _c_u32(ctypes.sizeof(info))
    _check(
        "bpf_obj_get_info_by_fd",
        int(_obj_get_info_by_fd(fd, ctypes.byref(info), ctypes.byref(size))),
    )
    return MapInfo(
        type=info.type,
        id=info.id,
        key_size=info.key_size,
        value_size=info.value_size,
        max_entries=info.max_entries,
        map_flags=info.map_flags,
        name=info.name.decode(),
    )


# ---------------------------------------------------------------------------
# Map element operations (ctypes objects in, no Python-level copies)

CData = Any  # a ctypes instance: Structure, Array, c_uint32 ...


def _in(buf: CData | bytes) -> Any:
    """An input buffer for a c_void_p parameter: bytes as they are (the kernel only reads
    them), a ctypes object by reference."""
    return buf if isinstance(buf, bytes) else ctypes.byref(buf)


def map_update_elem(fd: int, key: CData | bytes, value: CData | bytes,
                    flags: int = BPF_ANY) -> None:
    ret = int(_map_update_elem(fd, _in(key), _in(value), flags))
    if ret < 0:
        _check_update("bpf_map_update_elem", ret)


def map_lookup_elem(fd: int, key: CData, value_out: CData) -> bool:
    """Fill value_out; False if the key is absent."""
    ret = int(_map_lookup_elem(fd, ctypes.byref(key), ctypes.byref(value_out)))
    if ret < 0:
        err = _errno_of(ret)
        if err == errno_mod.ENOENT:
            return False
        raise BpfError("bpf_map_lookup_elem", err)
    return True


def map_delete_elem(fd: int, key: CData) -> bool:
    """False if the key was absent."""
    ret = int(_map_delete_elem(fd, ctypes.byref(key)))
    if ret < 0:
        err = _errno_of(ret)
        if err == errno_mod.ENOENT:
            return False
        raise BpfError("bpf_map_delete_elem", err)
    return True


def map_get_next_key(fd: int, key: CData | None, next_key_out: CData) -> bool:
    """Fill next_key_out with the key after `key` (the first key if None); False at the end."""
    ret = int(
        _map_get_next_key(
            fd, None if key is None else ctypes.byref(key), ctypes.byref(next_key_out)
        )
    )
    if ret < 0:
        err = _errno_of(ret)
        if err == errno_mod.ENOENT:
            return False
        raise BpfError("bpf_map_get_next_key", err)
    return True


class _BatchOpts(ctypes.Structure):
    _fields_ = (
        ("sz", ctypes.c_size_t),
        ("elem_flags", ctypes.c_uint64),
        ("flags", ctypes.c_uint64),
    )


def _batch_opts(elem_flags: int) -> _BatchOpts:
    return _BatchOpts(ctypes.sizeof(_BatchOpts), elem_flags, 0)


def map_update_batch(
    fd: int, keys: CData | bytes, values: CData | bytes, count: int, elem_flags: int = BPF_ANY
) -> int:
    """Write `count` entries from contiguous key and value arrays (or packed bytes); returns
    the count written.

    On failure raises (MapFullError when out of room); `err.done` tells how many were written.
    """
    n = _c_u32(count)
    opts = _batch_opts(elem_flags)
    ret = int(
        _map_update_batch(fd, _in(keys), _in(values), ctypes.byref(n), ctypes.byref(opts))
    )
    if ret < 0:
        err = _errno_of(ret)
        cls = MapFullError if err in _FULL_ERRNOS else BpfError
        raise cls("bpf_map_update_batch", err, done=n.value)
    return n.value


def map_delete_batch(fd: int, keys: CData | bytes, count: int) -> int:
    """Delete `count` keys from a contiguous key array (or packed bytes); returns the count
    deleted.

    ENOENT for a missing key stops the batch: the exception's `done` tells where.
    """
    n = _c_u32(count)
    opts = _batch_opts(0)
    ret = int(_map_delete_batch(fd, _in(keys), ctypes.byref(n), ctypes.byref(opts)))
    if ret < 0:
        raise BpfError("bpf_map_delete_batch", _errno_of(ret), done=n.value)
    return n.value


def map_lookup_batch(
    fd: int,
    in_batch: CData | None,
    out_batch: CData,
    keys: CData,
    values: CData,
    count: int,
) -> tuple[int, bool]:
    """One BPF_MAP_LOOKUP_BATCH step. Returns (entries read, done).

    in_batch None starts at the beginning; pass out_batch back as in_batch to continue.
    For hash maps the batch tokens are key-sized; for arrays a u32 (use a key-sized buffer).
    """
    n = _c_u32(count)
    opts = _batch_opts(0)
    ret = int(
        _map_lookup_batch(
            fd,
            None if in_batch is None else ctypes.byref(in_batch),
            ctypes.byref(out_batch),
            ctypes.byref(keys),
            ctypes.byref(values),
            ctypes.byref(n),
            ctypes.byref(opts),
        )
    )
    if ret < 0:
        err = _errno_of(ret)
        if err == errno_mod.ENOENT:
            return n.value, True
        raise BpfError("bpf_map_lookup_batch", err)
    return n.value, False


# ---------------------------------------------------------------------------
# BPF_PROG_TEST_RUN


class _TestRunOpts(ctypes.Structure):
    # struct bpf_test_run_opts, libbpf 1.1 /usr/include/bpf/bpf.h
    _fields_ = (
        ("sz", ctypes.c_size_t),
        ("data_in", ctypes.c_void_p),
        ("data_out", ctypes.c_void_p),
        ("data_size_in", ctypes.c_uint32),
        ("data_size_out", ctypes.c_uint32),
        ("ctx_in", ctypes.c_void_p),
        ("ctx_out", ctypes.c_void_p),
        ("ctx_size_in", ctypes.c_uint32),
        ("ctx_size_out", ctypes.c_uint32),
        ("retval", ctypes.c_uint32),
        ("repeat", ctypes.c_int),
        ("duration", ctypes.c_uint32),
        ("flags", ctypes.c_uint32),
        ("cpu", ctypes.c_uint32),
        ("batch_size", ctypes.c_uint32),
    )


class XdpMd(ctypes.Structure):
    """struct xdp_md, the XDP context (ctx_in/ctx_out of a test run)."""

    _fields_ = (
        ("data", ctypes.c_uint32),
        ("data_end", ctypes.c_uint32),
        ("data_meta", ctypes.c_uint32),
        ("ingress_ifindex", ctypes.c_uint32),
        ("rx_queue_index", ctypes.c_uint32),
        ("egress_ifindex", ctypes.c_uint32),
    )


@dataclass(frozen=True, slots=True)
class TestRunResult:
    """retval: the XDP verdict; data: the frame as the program left it;
    duration_ns: the kernel's average per repetition."""

    __test__ = False  # not a pytest class

    retval: int
    data: bytes
    duration_ns: int


# Headroom an XDP program may grow the frame by (XDP_PACKET_HEADROOM) plus slack.
_OUT_SLACK: Final = 512


def prog_test_run(
    prog_fd: int,
    data: bytes,
    *,
    repeat: int = 1,
    ingress_ifindex: int | None = None,
    rx_queue_index: int = 0,
    data_out_size: int | None = None,
    flags: int = 0,
    batch_size: int = 0,
) -> TestRunResult:
    """Run a program once (or `repeat` times) on `data` with BPF_PROG_TEST_RUN.

    ingress_ifindex: pass an xdp_md context (the device must exist in this netns).
    With repeat > 1 the kernel reuses one buffer: see RIG.md before timing with it.
    """
    inbuf = ctypes.create_string_buffer(data, len(data))
    if data_out_size is not None:
        out_size = data_out_size
    elif flags & BPF_F_TEST_XDP_LIVE_FRAMES:
        out_size = 0  # the kernel refuses data_out with live frames
    else:
        out_size = len(data) + _OUT_SLACK
    outbuf = ctypes.create_string_buffer(out_size) if out_size else None
    opts = _TestRunOpts()
    opts.sz = ctypes.sizeof(_TestRunOpts)
    opts.data_in = ctypes.addressof(inbuf)
    opts.data_size_in = len(data)
    if outbuf is not None:
        opts.data_out = ctypes.addressof(outbuf)
        opts.data_size_out = out_size
    ctx: XdpMd | None = None
    if ingress_ifindex is not None:
        ctx = XdpMd(0, len(data), 0, ingress_ifindex, rx_queue_index, 0)
        opts.ctx_in = ctypes.addressof(ctx)
        opts.ctx_size_in = ctypes.sizeof(ctx)
    opts.repeat = repeat
    opts.flags = flags
    opts.batch_size = batch_size
    ret = int(_prog_test_run_opts(prog_fd, ctypes.byref(opts)))
    if ret < 0:
        raise BpfError("bpf_prog_test_run_opts", _errno_of(ret))
    out = outbuf.raw[: opts.data_size_out] if outbuf is not None else b""
    return TestRunResult(retval=opts.retval, data=out, duration_ns=opts.duration)


# ---------------------------------------------------------------------------
# bpf_object


class BpfMapRef:
    """A map inside an opened bpf_object (valid until the object is closed)."""

    __slots__ = ("_ptr", "name")

    def __init__(self, ptr: int, name: str) -> None:
        self._ptr = ptr
        self.name = name

    @property
    def fd(self) -> int:
        return _check(f"bpf_map__fd({self.name})", int(_map_fd(self._ptr)))

    @property
    def type(self) -> int:
        return int(_map_type(self._ptr))

    @property
    def max_entries(self) -> int:
        return int(_map_max_entries(self._ptr))

    @property
    def key_size(self) -> int:
        return int(_map_key_size(self._ptr))

    @property
    def value_size(self) -> int:
        return int(_map_value_size(self._ptr))

    @property
    def is_internal(self) -> bool:
        """.data/.bss/.rodata maps that libbpf creates itself."""
        return bool(_map_is_internal(self._ptr))

    def set_max_entries(self, n: int) -> None:
        _check(
            f"bpf_map__set_max_entries({self.name}, {n})", int(_map_set_max_entries(self._ptr, n))
        )

    def reuse_fd(self, fd: int) -> None:
        """Use an existing map (e.g. a pin) instead of creating one at load (libbpf dups fd)."""
        _check(f"bpf_map__reuse_fd({self.name})", int(_map_reuse_fd(self._ptr, fd)))


class BpfObject:
    """An opened (and later loaded) BPF ELF object. Close it (or use `with`)."""

    def __init__(self, ptr: int, path: str) -> None:
        self._ptr: int | None = ptr
        self.path = path
        self.loaded = False

    @classmethod
    def open(cls, path: str | os.PathLike[str]) -> BpfObject:
        p = os.fspath(path)
        ctypes.set_errno(0)
        ptr = _object_open_file(os.fsencode(p), None)
        if not ptr:
            raise BpfError(f"bpf_object__open_file({p})", ctypes.get_errno() or errno_mod.EINVAL)
        return cls(int(ptr), p)

    @property
    def _obj(self) -> int:
        if self._ptr is None:
            raise BpfError(f"bpf_object({self.path})", errno_mod.EBADF, "object is closed")
        return self._ptr

    def map(self, name: str) -> BpfMapRef:
        ptr = _object_find_map(self._obj, name.encode())
        if not ptr:
            raise BpfError(f"bpf_object__find_map_by_name({name})", errno_mod.ENOENT)
        return BpfMapRef(int(ptr), name)

    def maps(self) -> Iterator[BpfMapRef]:
        """Every map in the object, in ELF order (internal maps included)."""
        ptr = _object_next_map(self._obj, None)
        while ptr:
            yield BpfMapRef(int(ptr), (_map_name(ptr) or b"").decode())
            ptr = _object_next_map(self._obj, ptr)

    def load(self) -> None:
        """Create maps and load programs. LoadError.log holds libbpf's warnings."""
        _capture.lines = []
        try:
            ret = int(_object_load(self._obj))
            lines: list[str] = _capture.lines
        finally:
            _capture.lines = None
        if ret < 0:
            raise LoadError(f"bpf_object__load({self.path})", _errno_of(ret), "\n".join(lines))
        self.loaded = True

    def program_fd(self, name: str) -> int:
        """The fd of a loaded program (owned by the object: do not close it)."""
        ptr = _object_find_program(self._obj, name.encode())
        if not ptr:
            raise BpfError(f"bpf_object__find_program_by_name({name})", errno_mod.ENOENT)
        return _check(f"bpf_program__fd({name})", int(_program_fd(ptr)))

    def close(self) -> None:
        if self._ptr is not None:
            _object_close(self._ptr)
            self._ptr = None

    def __enter__(self) -> BpfObject:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
