"""Shared helpers of the upf.datapath tests: the stand-in object and throwaway namespaces."""

from __future__ import annotations

import atexit
import contextlib
import functools
import os
import platform
import secrets
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
UPF_OBJECT = REPO / "build" / "xdp" / "upf.o"
MINI_SRC = Path(__file__).with_name("mini_upf.c")
XDP_PASS = 2


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


@functools.cache
def mini_object() -> Path:
    """tests/datapath/mini_upf.c compiled once per test run."""
    return clang_bpf(MINI_SRC, _tmpdir() / "mini_upf.o")


def compile_snippet(name: str, source: str) -> Path:
    src = _tmpdir() / f"{name}.c"
    src.write_text(source)
    return clang_bpf(src, _tmpdir() / f"{name}.o")


def unique(prefix: str = "upfdp") -> str:
    return f"{prefix}{os.getpid()}-{secrets.token_hex(3)}"


@contextlib.contextmanager
def netns() -> Iterator[str]:
    """A fresh, uniquely named network namespace, removed even on failure."""
    from pyroute2 import netns as pr_netns

    name = unique()
    pr_netns.create(name)
    try:
        yield name
    finally:
        pr_netns.remove(name)


def remove_pins(pin_dir: Path) -> None:
    """Unlink every pin in a per-instance directory and the directory itself."""
    if pin_dir.is_dir():
        for p in pin_dir.iterdir():
            p.unlink()
        pin_dir.rmdir()
