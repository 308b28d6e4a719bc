"""Run a function with the calling thread's network namespace switched: `run_in_netns`.

setns(2) with CLONE_NEWNET changes only the calling thread, so the work runs in a short
helper thread: the caller's thread (an asyncio loop, say) never changes namespace.
Sockets and BPF_PROG_TEST_RUN contexts created there belong to the target namespace.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import os
import threading
from collections.abc import Callable
from typing import Final, TypeVar

__all__ = ["netns_path", "run_in_netns"]

log = logging.getLogger("upf.datapath.netns")

CLONE_NEWNET: Final = 0x40000000
NETNS_RUN_DIR: Final = "/run/netns"

_libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
_libc.setns.argtypes = [ctypes.c_int, ctypes.c_int]
_libc.setns.restype = ctypes.c_int

T = TypeVar("T")


def netns_path(netns: str) -> str:
    """A name from `ip netns` (/run/netns/NAME) or a path such as /proc/PID/ns/net."""
    return netns if "/" in netns else f"{NETNS_RUN_DIR}/{netns}"


def _setns(fd: int, what: str) -> None:
    if _libc.setns(fd, CLONE_NEWNET) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"setns({what}): {os.strerror(err)}")


def run_in_netns(netns: str, fn: Callable[[], T]) -> T:
    """fn() in a helper thread that has entered `netns`; its result or its exception."""
    path = netns_path(netns)
    result: list[T] = []
    error: list[BaseException] = []

    def work() -> None:
        try:
            target = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        except BaseException as e:
            error.append(e)
            return
        try:
            _setns(target, path)  # the thread ends afterwards: no need to switch back
            result.append(fn())
        except BaseException as e:
            error.append(e)
        finally:
            os.close(target)

    t = threading.Thread(target=work, name=f"netns-{os.path.basename(path)}")
    t.start()
    t.join()
    if error:
        raise error[0]
    return result[0]
