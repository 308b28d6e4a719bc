"""Load the XDP fast path, size and pin its maps, attach it to interfaces.

    limits = DatapathLimits.for_sessions(1_000_000)          # or DatapathLimits() defaults
    with Datapath("build/xdp/upf.o", limits=limits, instance="upf1", keep_pins=True) as dp:
        dp.fars.set(7, abi.Far(action=abi.ApplyAction.FORW))
        dp.uplink_pdrs.update_batch([(key, pdr_set), ...])
        dp.attach("eth1")                                     # native; mode=XdpMode.GENERIC
        retval, out = dp.test_run(frame)                      # BPF_PROG_TEST_RUN, repeat=1
    # leaving the block detaches and, unless keep_pins, unpins

Pins live in <pin_root>/<instance>/<map> (pin_root /sys/fs/bpf/upf), one per map of the
contract (abi.MAPS; datapath-private scratch maps are recreated at each load). With
keep_pins=True an existing pin is reused (bpf_obj_get + bpf_map__reuse_fd before load), so
a restart keeps every map's contents, and nothing is unpinned at close. `instance=None`
pins nothing.

bpffs: `ip netns exec` runs us in a private mount namespace with a fresh /sys (RIG.md),
where /sys/fs/bpf is no bpffs (or a fresh, empty one): pins made there die with the
namespace. When our mount namespace differs from the one we were started from (an
ancestor process's) and that one has a bpffs on /sys/fs/bpf, we pin there, through
/proc/PID/root (held open as an fd), so pins are the host's and outlive us. Otherwise, if
/sys/fs/bpf is no bpffs, we mount one (warning that pins then die with the namespace).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import enum
import errno
import logging
import os
import socket
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Final, TypeVar

from upf.datapath import abi, libbpf
from upf.datapath.libbpf import BpfError, BpfObject, TestRunResult
from upf.datapath.maps import ArrayMap, Map, PerCpuArrayMap, PerCpuMap
from upf.datapath.netns import run_in_netns
from upf.datapath.nexthop import NexthopWatcher

__all__ = [
    "DEFAULT_OBJECT",
    "DEFAULT_PIN_ROOT",
    "Datapath",
    "DatapathLimits",
    "PinMismatchError",
    "XdpMode",
    "ensure_bpffs",
]

log = logging.getLogger("upf.datapath.loader")

_M = TypeVar("_M", bound="Map[Any, Any]")

DEFAULT_OBJECT: Final = "build/xdp/upf.o"
DEFAULT_PIN_ROOT: Final = "/sys/fs/bpf/upf"
PROGRAM: Final = "upf_xdp"
BPF_FS_MAGIC: Final = 0xCAFE4A11

# BPF map types (include/uapi/linux/bpf.h) that get a special handle.
_MAP_ARRAY: Final = 2
_MAP_PERCPU_HASH: Final = 5
_MAP_PERCPU_ARRAY: Final = 6
_MAP_LRU_PERCPU_HASH: Final = 10

# XDP attach flags (include/uapi/linux/if_link.h).
XDP_FLAGS_UPDATE_IF_NOEXIST: Final = 1 << 0
XDP_FLAGS_SKB_MODE: Final = 1 << 1
XDP_FLAGS_DRV_MODE: Final = 1 << 2


class XdpMode(enum.IntEnum):
    """How to attach: the IFLA_XDP_FLAGS mode bit."""

    AUTO = 0  # the kernel picks: native if the driver has it, else generic
    GENERIC = XDP_FLAGS_SKB_MODE
    NATIVE = XDP_FLAGS_DRV_MODE


class PinMismatchError(BpfError):
    """A pinned map cannot be reused: its type or key/value size differs from the object's."""


@dataclass(frozen=True, slots=True)
class DatapathLimits:
    """Map sizes set at load time. The defaults come from enum upf_limits."""

    sessions: int = int(abi.Limits.DEFAULT_SESSIONS)
    pdrs: int = int(abi.Limits.DEFAULT_PDRS)
    fars: int = int(abi.Limits.DEFAULT_FARS)
    qers: int = int(abi.Limits.DEFAULT_QERS)
    nexthops: int = int(abi.Limits.DEFAULT_NEXTHOPS)

    def __post_init__(self) -> None:
        for name in ("sessions", "pdrs", "fars", "qers", "nexthops"):
            v = getattr(self, name)
            if not 1 <= v <= 0xFFFFFFFF:
                raise ValueError(f"DatapathLimits.{name} = {v}: must be in 1..2^32-1")

    @classmethod
    def for_sessions(cls, sessions: int) -> DatapathLimits:
        """Scale every table with the session count, in the default proportions."""
        d = cls()
        return cls(
            sessions=sessions,
            pdrs=d.pdrs * sessions // d.sessions,
            fars=d.fars * sessions // d.sessions,
            qers=d.qers * sessions // d.sessions,
            nexthops=d.nexthops,
        )

    def max_entries(self, map_name: str) -> int | None:
        """The size this map gets, or None to keep the object's."""
        limit = _LIMIT_OF_MAP.get(map_name)
        if limit is None:
            return None
        attr, reserved = limit
        return int(getattr(self, attr)) + reserved


# map name -> (the limit that sizes it, entries added for reserved slots)
_LIMIT_OF_MAP: Final = {
    "uplink_pdrs": ("sessions", 0),
    "uplink_by_teid": ("sessions", 1),  # index 0 is never a TEID's: `sessions` usable slots
    "downlink_pdrs_v4": ("sessions", 0),
    "downlink_pdrs_v6": ("sessions", 0),
    "fars": ("fars", 0),
    "qers": ("qers", 0),
    "pdr_stats": ("pdrs", 0),
    "nh_cache": ("nexthops", 0),
}


# ---------------------------------------------------------------------------
# bpffs

_libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
_libc.statfs.argtypes = [ctypes.c_char_p, ctypes.c_void_p]
_libc.statfs.restype = ctypes.c_int
_libc.mount.argtypes = [ctypes.c_char_p] * 3 + [ctypes.c_ulong, ctypes.c_char_p]
_libc.mount.restype = ctypes.c_int


def fs_magic(path: str) -> int:
    """statfs(2) f_type of the filesystem holding path."""
    buf = (ctypes.c_long * 32)()  # struct statfs is 120 bytes on 64-bit; f_type first
    if _libc.statfs(os.fsencode(path), buf) != 0:
        err = ctypes.get_errno()
        raise BpfError(f"statfs({path})", err)
    return int(buf[0]) & 0xFFFFFFFF


def _existing_ancestor(path: str) -> str:
    p = os.path.abspath(path)
    while not os.path.exists(p):
        p = os.path.dirname(p)
    return p


def _mnt_ns(pid: int | str) -> str | None:
    try:
        return os.readlink(f"/proc/{pid}/ns/mnt")
    except OSError:
        return None


def _ppid(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return int(f.read().rsplit(")", 1)[1].split()[1])
    except (OSError, ValueError, IndexError):
        return 0


def _private_mount_ns() -> bool:
    own = _mnt_ns("self")
    return any(ns is not None and ns != own for ns in (_mnt_ns(1), _mnt_ns(os.getppid())))


_outer_bpffs_fd: int | None = None


def _host_bpffs(pin_root: str) -> str | None:
    """The path of pin_root in the bpffs of the mount namespace we were started from, if we
    run in a private one with a different (or no) bpffs on /sys/fs/bpf: `ip netns exec`
    unshares the mount namespace and mounts a fresh /sys (RIG.md). The first ancestor
    process in another mount namespace shows its /sys/fs/bpf at /proc/PID/root; we hold an
    O_PATH fd on it so the path stays valid after that process exits."""
    global _outer_bpffs_fd
    rel = os.path.relpath(os.path.abspath(pin_root), "/sys/fs/bpf")
    if _outer_bpffs_fd is not None:
        return f"/proc/self/fd/{_outer_bpffs_fd}/{rel}"
    own = _mnt_ns("self")
    try:
        ours = os.stat("/sys/fs/bpf").st_dev
    except OSError:
        ours = -1
    pid, seen = os.getppid(), 0
    candidates: list[int] = []
    while pid > 0 and seen < 64:
        candidates.append(pid)
        pid, seen = (_ppid(pid) if pid > 1 else 0), seen + 1
    if 1 not in candidates:
        candidates.append(1)
    for pid in candidates:
        ns = _mnt_ns(pid)
        if ns is None or ns == own:
            continue
        path = f"/proc/{pid}/root/sys/fs/bpf"
        try:
            if fs_magic(path) != BPF_FS_MAGIC or os.stat(path).st_dev == ours:
                return None
            _outer_bpffs_fd = os.open(path, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
        except (OSError, BpfError):
            continue
        log.debug(
            "the bpffs of pid %d (mount namespace %s) is held as fd %d", pid, ns, _outer_bpffs_fd
        )
        return f"/proc/self/fd/{_outer_bpffs_fd}/{rel}"
    return None


def ensure_bpffs(pin_root: str = DEFAULT_PIN_ROOT) -> str:
    """Make sure pin_root lies on a bpffs; returns the path to pin under (maybe rewritten)."""
    bpf_mnt = "/sys/fs/bpf"
    under_sys = os.path.commonpath([os.path.abspath(pin_root), bpf_mnt]) == bpf_mnt
    if under_sys:
        host = _host_bpffs(pin_root)
        if host is not None:
            log.info(
                "private mount namespace (ip netns exec?): pinning in the host's bpffs %s", host
            )
            return host
    if fs_magic(_existing_ancestor(pin_root)) == BPF_FS_MAGIC:
        return pin_root
    if not under_sys:
        raise BpfError(f"pin root {pin_root}", errno.EINVAL, "not on a bpffs")
    if _private_mount_ns():
        log.warning(
            "private mount namespace without the host's bpffs: mounting a private one on %s; "
            "pins will not outlive this namespace (prefer nsenter --net=... to ip netns exec)",
            bpf_mnt,
        )
    os.makedirs(bpf_mnt, exist_ok=True)
    if _libc.mount(b"bpf", bpf_mnt.encode(), b"bpf", 0, b"mode=0700") != 0:
        raise BpfError(f"mount -t bpf bpf {bpf_mnt}", ctypes.get_errno())
    log.info("mounted bpffs on %s", bpf_mnt)
    return pin_root


# ---------------------------------------------------------------------------


class Datapath:
    """The loaded fast path: program, typed map handles, pins and XDP attachments."""

    def __init__(
        self,
        obj_path: str | os.PathLike[str] = DEFAULT_OBJECT,
        *,
        limits: DatapathLimits | None = None,
        instance: str | None = None,
        pin_root: str = DEFAULT_PIN_ROOT,
        keep_pins: bool = False,
        program: str = PROGRAM,
    ) -> None:
        if instance is not None and (not instance or "/" in instance or instance in (".", "..")):
            raise ValueError(f"bad instance name {instance!r}")
        self.obj_path = os.fspath(obj_path)
        self.limits = limits or DatapathLimits()
        self.instance = instance
        self.pin_root = pin_root
        self.keep_pins = keep_pins
        self.program = program
        self.pin_dir: Path | None = None
        self.prog_fd = -1
        self.maps: dict[str, Map[Any, Any]] = {}
        self.reused: set[str] = set()
        self._obj: BpfObject | None = None
        self._attached: dict[tuple[int, str | None], int] = {}  # (ifindex, netns) -> flags

    # -- lifecycle -------------------------------------------------------

    def open(self) -> Datapath:
        """Open, size, (re)use pins, load, pin; build the map handles."""
        if self._obj is not None:
            raise BpfError(f"Datapath({self.obj_path})", errno.EBUSY, "already open")
        obj = BpfObject.open(self.obj_path)
        self._obj = obj
        try:
            refs = [m for m in obj.maps() if not m.is_internal]
            for ref in refs:
                n = self.limits.max_entries(ref.name)
                if n is not None:
                    ref.set_max_entries(n)
            if self.instance is not None:
                root = ensure_bpffs(self.pin_root)
                self.pin_dir = Path(root) / self.instance
                self.pin_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
                for ref in refs:
                    if ref.name in abi.MAPS:
                        self._prepare_pin(ref)
            obj.load()
            self.prog_fd = obj.program_fd(self.program)
            for ref in refs:
                if (
                    self.pin_dir is not None
                    and ref.name in abi.MAPS
                    and ref.name not in self.reused
                ):
                    libbpf.obj_pin(ref.fd, str(self.pin_dir / ref.name))
                self.maps[ref.name] = map_handle(ref.fd, ref.name, ref.type)
        except BaseException:
            self._unpin()
            obj.close()
            self._obj = None
            raise
        log.info(
            "loaded %s: %d maps%s%s",
            self.obj_path,
            len(self.maps),
            f", pinned in {self.pin_dir}" if self.pin_dir else "",
            f", reused {sorted(self.reused)}" if self.reused else "",
        )
        return self

    def _prepare_pin(self, ref: libbpf.BpfMapRef) -> None:
        assert self.pin_dir is not None
        path = self.pin_dir / ref.name
        if not path.exists():
            return
        if not self.keep_pins:
            log.info("removing stale pin %s", path)
            path.unlink()
            return
        fd = libbpf.obj_get(str(path))
        try:
            info = libbpf.map_info(fd)
            want = (ref.type, ref.key_size, ref.value_size)
            have = (info.type, info.key_size, info.value_size)
            if want != have:
                raise PinMismatchError(
                    f"reuse pin {path}",
                    errno.EINVAL,
                    f"pinned (type, key, value) {have} != object's {want}; remove the pin",
                )
            if info.max_entries != ref.max_entries:
                log.warning(
                    "pinned map %s keeps max_entries %d (limits ask %d)",
                    ref.name,
                    info.max_entries,
                    ref.max_entries,
                )
            ref.reuse_fd(fd)
        finally:
            os.close(fd)
        self.reused.add(ref.name)

    def _unpin(self) -> None:
        if self.pin_dir is None or self.keep_pins:
            return
        for name in abi.MAPS:
            try:
                (self.pin_dir / name).unlink(missing_ok=True)
            except OSError as e:
                log.warning("unpin %s failed: %s", self.pin_dir / name, e)
        try:
            self.pin_dir.rmdir()
        except OSError as e:
            log.warning("pin dir %s not removed: %s", self.pin_dir, e)

    def close(self) -> None:
        """Detach everywhere, unpin (unless keep_pins), free the object."""
        for (ifindex, netns), flags in list(self._attached.items()):
            try:
                self._set_xdp(ifindex, -1, flags, netns)
            except Exception as e:  # keep closing
                log.warning("detach from ifindex %d failed: %s", ifindex, e)
        self._attached.clear()
        self._unpin()
        self.maps.clear()
        if self._obj is not None:
            self._obj.close()
            self._obj = None
        self.prog_fd = -1

    def __enter__(self) -> Datapath:
        return self.open()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- maps ------------------------------------------------------------

    def map(self, name: str) -> Map[Any, Any]:
        try:
            return self.maps[name]
        except KeyError:
            raise BpfError(f"map {name}", errno.ENOENT, "not in the object") from None

    @property
    def uplink_pdrs(self) -> Map[abi.TeidKey, abi.PdrSet]:
        return self.map("uplink_pdrs")

    @property
    def downlink_pdrs_v4(self) -> Map[abi.UeV4Key, abi.PdrSet]:
        return self.map("downlink_pdrs_v4")

    @property
    def downlink_pdrs_v6(self) -> Map[abi.UeV6Key, abi.PdrSet]:
        return self.map("downlink_pdrs_v6")

    @property
    def fars(self) -> ArrayMap[abi.Far]:
        return self._typed("fars", ArrayMap)

    @property
    def qers(self) -> ArrayMap[abi.Qer]:
        return self._typed("qers", ArrayMap)

    @property
    def local_addrs(self) -> Map[abi.LocalAddrKey, abi.LocalAddr]:
        return self.map("local_addrs")

    @property
    def pdr_stats(self) -> PerCpuArrayMap[abi.Counter]:
        return self._typed("pdr_stats", PerCpuArrayMap)

    @property
    def xdp_stats(self) -> PerCpuArrayMap[abi.Counter]:
        return self._typed("xdp_stats", PerCpuArrayMap)

    @property
    def nh_cache(self) -> Map[abi.NhKey, abi.NhEntry]:
        return self.map("nh_cache")

    @property
    def runtime(self) -> ArrayMap[abi.Runtime]:
        return self._typed("runtime", ArrayMap)

    def _typed(self, name: str, cls: type[_M]) -> _M:
        m = self.map(name)
        if not isinstance(m, cls):
            raise BpfError(
                f"map {name}", errno.EINVAL, f"is {type(m).__name__}, not {cls.__name__}"
            )
        return m

    def nexthop_watcher(self, netns: str | None = None) -> NexthopWatcher:
        """A watcher that bumps this datapath's runtime[0].nh_gen (start() or run_async())."""
        return NexthopWatcher(self.runtime, netns=netns)

    # -- XDP attach ------------------------------------------------------

    def attach(
        self, ifname: str | int, *, mode: XdpMode = XdpMode.NATIVE, netns: str | None = None
    ) -> int:
        """Attach the program to an interface (by name or index) in our netns or `netns`.

        Returns the ifindex. NATIVE fails on drivers without native XDP; GENERIC is explicit.
        """
        ifindex = _ifindex(ifname, netns)
        self._set_xdp(ifindex, self.prog_fd, int(mode), netns)
        self._attached[(ifindex, netns)] = int(mode)
        log.info("attached %s to %s (ifindex %d, %s)", self.program, ifname, ifindex, mode.name)
        return ifindex

    def detach(self, ifname: str | int, *, netns: str | None = None) -> None:
        ifindex = _ifindex(ifname, netns)
        flags = self._attached.pop((ifindex, netns), int(XdpMode.NATIVE))
        self._set_xdp(ifindex, -1, flags, netns)
        log.info("detached from %s (ifindex %d)", ifname, ifindex)

    @staticmethod
    def _set_xdp(ifindex: int, fd: int, flags: int, netns: str | None) -> None:
        from pyroute2 import IPRoute

        attrs: list[tuple[str, int]] = [("IFLA_XDP_FD", fd)]
        if flags:
            attrs.append(("IFLA_XDP_FLAGS", flags))
        with IPRoute(netns=netns) if netns else IPRoute() as ipr:
            ipr.link("set", index=ifindex, xdp={"attrs": attrs})

    # -- test runs -------------------------------------------------------

    def test_run(
        self, data: bytes, ingress_ifindex: int | None = 1, *, netns: str | None = None
    ) -> tuple[int, bytes]:
        """Run the program once on a frame: (XDP verdict, frame as left by the program).

        ingress_ifindex goes into the xdp_md context and must exist in the netns the run
        happens in: ours (1 = lo), or `netns` (the run then happens in a helper thread
        inside it, so FIB lookups see that namespace's tables). None: no context.
        """

        def run() -> TestRunResult:
            return libbpf.prog_test_run(self.prog_fd, data, ingress_ifindex=ingress_ifindex)

        r = run() if netns is None else run_in_netns(netns, run)
        return r.retval, r.data

    def run_timed(self, data: bytes, repeat: int, ingress_ifindex: int | None = 1) -> TestRunResult:
        """BPF_PROG_TEST_RUN with repeat (the kernel reuses one buffer: see RIG.md)."""
        return libbpf.prog_test_run(
            self.prog_fd, data, repeat=repeat, ingress_ifindex=ingress_ifindex
        )


def _ifindex(ifname: str | int, netns: str | None) -> int:
    if isinstance(ifname, int):
        return ifname
    if netns is None:
        try:
            return socket.if_nametoindex(ifname)
        except OSError:
            raise BpfError(f"interface {ifname}", errno.ENODEV) from None
    from pyroute2 import IPRoute

    with IPRoute(netns=netns) as ipr:
        found = ipr.link_lookup(ifname=ifname)
    if not found:
        raise BpfError(f"interface {ifname} in netns {netns}", errno.ENODEV)
    return int(found[0])


def map_handle(fd: int, name: str, map_type: int) -> Map[Any, Any]:
    """A typed handle for a loaded map, key and value types from abi.MAPS."""
    spec = abi.MAPS.get(name)
    info = libbpf.map_info(fd)
    if spec is not None:
        key_t, value_t = spec.key, spec.value
    else:
        key_t = ctypes.c_uint8 * info.key_size
        value_t = ctypes.c_uint8 * info.value_size
    kw: dict[str, Any] = {"name": name, "max_entries": info.max_entries}
    if map_type == _MAP_ARRAY:
        return ArrayMap(fd, value_t, **kw)
    if map_type == _MAP_PERCPU_ARRAY:
        return PerCpuArrayMap(fd, value_t, **kw)
    if map_type in (_MAP_PERCPU_HASH, _MAP_LRU_PERCPU_HASH):
        return PerCpuMap(fd, key_t, value_t, **kw)
    return Map(fd, key_t, value_t, **kw)
