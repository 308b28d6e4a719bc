"""The benchmark-only BPF programs of xdp/bench/: build, load, feed templates.

    objs = build_bench_objects()                 # clang, into build/xdp/bench/*.o
    with BpfObject.open(objs["sink"]) as sink:   # plain libbpf objects
        sink.load(); fd = sink.program_fd("bench_sink")
    write_template(map_fd, slot, frame)          # struct bench_tmpl

`make bpf` only compiles xdp/*.c; until the Makefile builds xdp/bench/*.c too, the
benchmarks and tests compile these objects themselves, with the Makefile's flags,
whenever a source or header is newer than the object.
"""

from __future__ import annotations

import ctypes
import os
import platform
import subprocess
from pathlib import Path
from typing import Final

from upf.datapath.libbpf import (
    BpfObject,
    map_lookup_elem,
    map_update_elem,
    num_possible_cpus,
)

REPO: Final = Path(__file__).resolve().parent.parent
XDP_DIR: Final = REPO / "xdp"
BENCH_SRC: Final = XDP_DIR / "bench"
BUILD_DIR: Final = REPO / "build" / "xdp" / "bench"
UPF_OBJ: Final = REPO / "build" / "xdp" / "upf.o"

# The Makefile's BPF_CFLAGS.
BPF_CFLAGS: Final = (
    "-target",
    "bpf",
    "-O2",
    "-g",
    "-Wall",
    "-Werror",
    "-I",
    str(XDP_DIR),
    "-I",
    f"/usr/include/{platform.machine()}-linux-gnu",
)

BENCH_TMPL_WORDS: Final = 16

# enum bench_slot in xdp/bench/wrappers.c
SLOT_UPLINK: Final = 0
SLOT_DOWNLINK: Final = 1
SLOT_BASELINE: Final = 2
SLOT_NOOP: Final = 3
MAX_FLOWS: Final = 1024  # BENCH_MAX_FLOWS

XDP_ABORTED: Final = 0
XDP_DROP: Final = 1
XDP_PASS: Final = 2
XDP_TX: Final = 3
XDP_REDIRECT: Final = 4


class BenchTmpl(ctypes.Structure):
    """struct bench_tmpl (xdp/bench/bench_common.h)."""

    _fields_ = (
        ("len", ctypes.c_uint32),
        ("words", ctypes.c_uint16),
        ("adjust", ctypes.c_int16),
        ("data", ctypes.c_uint64 * BENCH_TMPL_WORDS),
    )


class FwdCfg(ctypes.Structure):
    """struct fwd_cfg (xdp/bench/baseline.h)."""

    _fields_ = (
        ("ifindex", ctypes.c_uint32),
        ("smac", ctypes.c_uint8 * 6),
        ("dmac", ctypes.c_uint8 * 6),
    )


class SinkCounter(ctypes.Structure):
    _fields_ = (("packets", ctypes.c_uint64), ("bytes", ctypes.c_uint64))


class BuildError(RuntimeError):
    """clang failed on a benchmark program."""


def _sources() -> list[Path]:
    return sorted(BENCH_SRC.glob("*.c"))


def _deps() -> list[Path]:
    return [*XDP_DIR.glob("*.h"), *XDP_DIR.glob("*/*.h")]


def _build_one(src: Path, clang: str, newest_dep: float) -> Path:
    obj = BUILD_DIR / (src.stem + ".o")
    if obj.exists() and obj.stat().st_mtime >= max(src.stat().st_mtime, newest_dep):
        return obj
    BUILD_DIR.mkdir(parents=True, exist_ok=True)
    tmp = obj.with_suffix(f".{os.getpid()}.tmp")
    res = subprocess.run(
        [clang, *BPF_CFLAGS, "-c", str(src), "-o", str(tmp)],
        capture_output=True,
        text=True,
        check=False,
    )
    if res.returncode != 0:
        tmp.unlink(missing_ok=True)
        raise BuildError(f"clang {src.name}:\n{res.stderr}")
    tmp.replace(obj)
    return obj


def _clang(clang: str | None) -> str:
    return clang or os.environ.get("CLANG", "clang")


def build_bench_objects(clang: str | None = None) -> dict[str, Path]:
    """Compile xdp/bench/*.c into build/xdp/bench/ when stale; name -> object path."""
    newest_dep = max((p.stat().st_mtime for p in _deps()), default=0.0)
    return {src.stem: _build_one(src, _clang(clang), newest_dep) for src in _sources()}


def bench_object(name: str, clang: str | None = None) -> Path:
    """The path of one benchmark object, compiled first when stale."""
    src = BENCH_SRC / f"{name}.c"
    if not src.exists():
        raise BuildError(f"no {src}")
    newest_dep = max((p.stat().st_mtime for p in _deps()), default=0.0)
    return _build_one(src, _clang(clang), newest_dep)


def template(frame: bytes, adjust: int = 0) -> BenchTmpl:
    """A bench_tmpl for `frame`: its length and its first 128 bytes as u64 words."""
    t = BenchTmpl()
    t.len = len(frame)
    head = frame[: BENCH_TMPL_WORDS * 8]
    t.words = len(head) // 8
    t.adjust = adjust
    ctypes.memmove(t.data, head, t.words * 8)
    return t


def write_template(map_fd: int, slot: int, frame: bytes, adjust: int = 0) -> None:
    """Frame 0 of a wrappers.c slot (bench_tmpls)."""
    map_update_elem(map_fd, ctypes.c_uint32(slot * MAX_FLOWS), template(frame, adjust))


def write_gen_frames(gen: BpfObject, frames: list[bytes]) -> None:
    """The generator's frames (gen.c); it cycles through them, one per run."""
    if not 1 <= len(frames) <= MAX_FLOWS or len({len(f) for f in frames}) != 1:
        raise ValueError(f"1..{MAX_FLOWS} frames, all of one length")
    tmpl_fd = gen.map("gen_tmpl").fd
    for k, f in enumerate(frames):
        map_update_elem(tmpl_fd, ctypes.c_uint32(k), template(f))
    map_update_elem(gen.map("gen_flows").fd, ctypes.c_uint32(0), ctypes.c_uint32(len(frames)))


def write_flows(obj: BpfObject, slot: int, frames: list[bytes], adjust: int = 0) -> None:
    """Give a wrappers.c slot its frames; iterations cycle through them in order."""
    if not 1 <= len(frames) <= MAX_FLOWS:
        raise ValueError(f"1..{MAX_FLOWS} frames per slot, not {len(frames)}")
    tmpl_fd = obj.map("bench_tmpls").fd
    for k, f in enumerate(frames):
        map_update_elem(tmpl_fd, ctypes.c_uint32(slot * MAX_FLOWS + k), template(f, adjust))
    map_update_elem(obj.map("bench_flows").fd, ctypes.c_uint32(slot), ctypes.c_uint32(len(frames)))


def mac_bytes(mac: str) -> bytes:
    return bytes(int(x, 16) for x in mac.split(":"))


def write_fwd_cfg(map_fd: int, ifindex: int, smac: str, dmac: str) -> None:
    cfg = FwdCfg()
    cfg.ifindex = ifindex
    ctypes.memmove(cfg.smac, mac_bytes(smac), 6)
    ctypes.memmove(cfg.dmac, mac_bytes(dmac), 6)
    map_update_elem(map_fd, ctypes.c_uint32(0), cfg)


def read_sink(map_fd: int) -> tuple[int, int]:
    """(packets, bytes) summed over CPUs from a sink_stats map."""
    ncpu = num_possible_cpus()
    values = (SinkCounter * ncpu)()
    if not map_lookup_elem(map_fd, ctypes.c_uint32(0), values):
        return 0, 0
    return sum(v.packets for v in values), sum(v.bytes for v in values)


def clear_sink(map_fd: int) -> None:
    map_update_elem(map_fd, ctypes.c_uint32(0), (SinkCounter * num_possible_cpus())())


def load_single(name: str, prog: str) -> tuple[BpfObject, int]:
    """Open and load a one-program benchmark object; (object, program fd)."""
    obj = BpfObject.open(bench_object(name))
    try:
        obj.load()
        return obj, obj.program_fd(prog)
    except BaseException:
        obj.close()
        raise
