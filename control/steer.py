"""Steering N4 datagrams to the worker that owns them: one SO_REUSEPORT group, one cBPF program.

N worker processes each bind a UDP socket to the same N4 address:port. The kernel
runs the program below on every datagram, with the packet starting at the UDP
payload, i.e. at the PFCP header (TS 29.244 7.2.2), and delivers it to the socket
at the returned index (the order the sockets joined the group, i.e. bind order):

- S=0: a node message (heartbeat, association, session set deletion) -> worker 0,
  which owns the node state.
- S=1, type 50 (Session Establishment Request; its header SEID is 0) -> sequence
  number % count: a retransmission keeps its sequence number and so its worker.
- S=1 otherwise -> (SEID & 0xFFFFFFFF) % count: the worker that allocated the SEID.
  A worker must allocate SEIDs with ``worker_for`` landing on itself; for SEIDs
  below 2**32 (or a power-of-two count) that is ``seid % count == index``.
- Too short for the field the rule needs -> 0 (a cBPF load beyond the end returns 0).

An index at or above the group size makes the kernel fall back to its hash, so the
program is only right while the group holds exactly ``count`` sockets in bind order.

:func:`worker_for` is the rule in Python, the reference the program is tested against.
"""

from __future__ import annotations

import ctypes
import socket
import struct
from typing import Final

MAX_WORKERS: Final = 64
SO_ATTACH_REUSEPORT_CBPF: Final = 51  # asm-generic/socket.h; not exported by Python

PFCP_FLAG_S: Final = 0x01  # TS 29.244 7.2.2: SEID present
SESSION_ESTABLISHMENT_REQUEST: Final = 50

# Octet offsets in the PFCP header with S=1 (TS 29.244 7.2.2).
_OFF_FLAGS: Final = 0
_OFF_TYPE: Final = 1
_OFF_SEID_LOW: Final = 8  # low 32 bits of the big-endian u64 SEID at 4..11
_OFF_SEQ: Final = 12  # u24 at 12..14

# linux/filter.h (classic BPF).
BPF_LD: Final = 0x00
BPF_ALU: Final = 0x04
BPF_JMP: Final = 0x05
BPF_RET: Final = 0x06
BPF_W: Final = 0x00
BPF_B: Final = 0x10
BPF_ABS: Final = 0x20
BPF_AND: Final = 0x50
BPF_MOD: Final = 0x90
BPF_JEQ: Final = 0x10
BPF_JSET: Final = 0x40
BPF_K: Final = 0x00
BPF_A: Final = 0x10

SOCK_FILTER: Final = struct.Struct("=HBBI")  # struct sock_filter {u16 code; u8 jt, jf; u32 k}


class SockFprog(ctypes.Structure):
    """struct sock_fprog {unsigned short len; struct sock_filter *filter}."""

    _fields_ = (("len", ctypes.c_ushort), ("filter", ctypes.c_void_p))


def _check_count(count: int) -> None:
    if not 1 <= count <= MAX_WORKERS:
        raise ValueError(f"worker count {count} out of range 1..{MAX_WORKERS}")


def worker_for(datagram: bytes, count: int) -> int:
    """The index of the worker the datagram goes to (what the kernel program returns)."""
    _check_count(count)
    if len(datagram) < 2 or not datagram[_OFF_FLAGS] & PFCP_FLAG_S:
        return 0
    if datagram[_OFF_TYPE] == SESSION_ESTABLISHMENT_REQUEST:
        if len(datagram) < _OFF_SEQ + 3:
            return 0
        return int.from_bytes(datagram[_OFF_SEQ:_OFF_SEQ + 3], "big") % count
    if len(datagram) < _OFF_SEID_LOW + 4:
        return 0
    return int.from_bytes(datagram[_OFF_SEID_LOW:_OFF_SEID_LOW + 4], "big") % count


def _insn(code: int, k: int = 0, jt: int = 0, jf: int = 0) -> bytes:
    return SOCK_FILTER.pack(code, jt, jf, k)


def steering_program(count: int) -> bytes:
    """The cBPF program (packed struct sock_filter array) that implements :func:`worker_for`."""
    _check_count(count)
    # Jump offsets count instructions after the jumping one. Absolute loads are
    # big-endian; a load past the end of the packet ends the program with 0.
    return b"".join((
        _insn(BPF_LD | BPF_B | BPF_ABS, _OFF_FLAGS),  # 0: A = flags
        _insn(BPF_JMP | BPF_JSET | BPF_K, PFCP_FLAG_S, jt=0, jf=9),  # 1: S=0 -> 11
        _insn(BPF_LD | BPF_B | BPF_ABS, _OFF_TYPE),  # 2: A = message type
        _insn(BPF_JMP | BPF_JEQ | BPF_K, SESSION_ESTABLISHMENT_REQUEST, jt=3, jf=0),  # 3: -> 7
        _insn(BPF_LD | BPF_W | BPF_ABS, _OFF_SEID_LOW),  # 4: A = SEID & 0xFFFFFFFF
        _insn(BPF_ALU | BPF_MOD | BPF_K, count),  # 5
        _insn(BPF_RET | BPF_A),  # 6
        # The u32 at 11..14 ends with the u24 sequence number: needs 15 octets, like the rule.
        _insn(BPF_LD | BPF_W | BPF_ABS, _OFF_SEQ - 1),  # 7: A = octet 11 . sequence
        _insn(BPF_ALU | BPF_AND | BPF_K, 0xFFFFFF),  # 8: A = sequence
        _insn(BPF_ALU | BPF_MOD | BPF_K, count),  # 9
        _insn(BPF_RET | BPF_A),  # 10
        _insn(BPF_RET | BPF_K, 0),  # 11: node message -> worker 0
    ))


def _sockaddr(host: str, port: int) -> tuple[socket.AddressFamily, tuple[object, ...]]:
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_DGRAM,
                                   flags=socket.AI_NUMERICHOST | socket.AI_PASSIVE)
    except socket.gaierror as e:
        raise ValueError(f"N4 listen address {host!r} is not a numeric IPv4/IPv6 address") from e
    family, _, _, _, addr = infos[0]
    return family, addr


def _attach_steering(sock: socket.socket, count: int) -> None:
    """Attach :func:`steering_program` to the reuseport group ``sock`` belongs to."""
    program = steering_program(count)
    insns = ctypes.create_string_buffer(program, len(program))  # alive across the call
    fprog = SockFprog(len(program) // SOCK_FILTER.size, ctypes.addressof(insns))
    sock.setsockopt(socket.SOL_SOCKET, SO_ATTACH_REUSEPORT_CBPF, bytes(fprog))


def reuseport_sockets(host: str, port: int, count: int) -> list[socket.socket]:
    """``count`` non-blocking UDP sockets on (host, port), socket i serving worker i.

    With count > 1 they form one SO_REUSEPORT group steered by :func:`steering_program`.
    The group's index order is bind order, and closing a socket moves the last one into
    its slot: create the group once, keep every socket open for the group's lifetime
    (a restarted worker inherits its socket, it must not bind a new one).
    """
    _check_count(count)
    if port == 0 and count > 1:
        raise ValueError(f"port 0 with {count} workers: each socket would get its own port")
    family, addr = _sockaddr(host, port)
    socks: list[socket.socket] = []
    step = "socket"
    try:
        if port != 0:
            # A socket already there (a stale agent) would join or shadow the group and
            # shift every index: refuse unless the port is free for a plain bind.
            step = "probe bind (does another socket, e.g. a stale agent, hold the port?)"
            with socket.socket(family, socket.SOCK_DGRAM) as probe:
                probe.bind(addr)
        for i in range(count):
            step = f"socket {i}"
            sock = socket.socket(family, socket.SOCK_DGRAM)
            socks.append(sock)
            sock.setblocking(False)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            step = f"bind of socket {i}"
            sock.bind(addr)  # bind order is the group's index order
        if count > 1:
            step = "SO_ATTACH_REUSEPORT_CBPF"
            _attach_steering(socks[0], count)
    except OSError as e:
        for sock in socks:
            sock.close()
        raise OSError(e.errno, f"N4 reuseport group on {host}:{port} ({count} workers): "
                               f"{step} failed: {e.strerror or e}") from e
    return socks
