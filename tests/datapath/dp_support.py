"""Shared helpers of the upf.datapath tests: the real object, BPF snippets, namespaces."""

from __future__ import annotations

import atexit
import contextlib
import functools
import platform
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from upf.topology import Topology, unique_name

REPO = Path(__file__).resolve().parents[2]
UPF_OBJECT = REPO / "build" / "xdp" / "upf.o"
XDP_PASS = 2
PREFIX = "upfdp"


def upf_object() -> Path:
    """build/xdp/upf.o, the object the UPF loads (`make bpf`); skips the test without it."""
    if not UPF_OBJECT.exists():
        pytest.skip("build/xdp/upf.o not built (make bpf)")
    return UPF_OBJECT


def clang_bpf(src: Path, out: Path) -> Path:
    """Compile one BPF C file the way `make bpf` does."""
    arch_inc = f"/usr/include/{platform.machine()}-linux-gnu"
    cmd = ["clang", "-target", "bpf", "-O2", "-g", "-Wall", "-Werror"]
    cmd += ["-I", str(REPO / "xdp"), "-I", arch_inc, "-c", str(src), "-o", str(out)]
    subprocess.run(cmd, check=True, capture_output=True, text=True)
    return out


@functools.cache
def _tmpdir() -> Path:
    d = Path(tempfile.mkdtemp(prefix="upf-dp-test-"))
    atexit.register(shutil.rmtree, d, True)
    return d


def compile_snippet(name: str, source: str) -> Path:
    src = _tmpdir() / f"{name}.c"
    src.write_text(source)
    return clang_bpf(src, _tmpdir() / f"{name}.o")


def unique() -> str:
    """A name nothing else uses (pin instances)."""
    return unique_name(PREFIX)


@contextlib.contextmanager
def netns() -> Iterator[str]:
    """The name of a fresh namespace of our own, removed even on failure."""
    with Topology(PREFIX) as topo:
        yield topo.netns("t").name


def remove_pins(pin_dir: Path) -> None:
    """Unlink every pin in a per-instance directory and the directory itself."""
    if pin_dir.is_dir():
        for p in pin_dir.iterdir():
            p.unlink()
        pin_dir.rmdir()
