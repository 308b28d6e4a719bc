"""N4 worker steering: the rule (worker_for) and the kernel's reuseport group running the cBPF.

Headers are built here with struct, not with our codec, and one of each kind with
scapy.contrib.pfcp, so the offsets are checked against an independent implementation.
The kernel tests send crafted datagrams over 127.0.0.1 and check that each one reached
exactly the socket worker_for names.
"""

from __future__ import annotations

import errno
import os
import random
import select
import socket
import struct
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from control.steer import (
    MAX_WORKERS,
    SOCK_FILTER,
    reuseport_sockets,
    steering_program,
    worker_for,
)

HEARTBEAT_REQUEST = 1
ASSOCIATION_SETUP_REQUEST = 5
SESSION_SET_DELETION_REQUEST = 14
ESTABLISHMENT = 50
MODIFICATION = 52
DELETION = 54
REPORT_RESPONSE = 57


def node_msg(mtype: int, seq: int, body: bytes = b"") -> bytes:
    """S=0 header (TS 29.244 7.2.2): flags, type, length, u24 sequence, spare."""
    return struct.pack("!BBH", 0x20, mtype, 4 + len(body)) + seq.to_bytes(3, "big") + b"\0" + body


def session_msg(mtype: int, seid: int, seq: int, body: bytes = b"", flags: int = 0x21) -> bytes:
    """S=1 header: flags, type, length, u64 SEID, u24 sequence, spare/priority."""
    return (struct.pack("!BBHQ", flags, mtype, 12 + len(body), seid)
            + seq.to_bytes(3, "big") + b"\0" + body)


# --- the rule, pure --------------------------------------------------------------------------


@pytest.mark.parametrize("mtype", [HEARTBEAT_REQUEST, ASSOCIATION_SETUP_REQUEST,
                                   SESSION_SET_DELETION_REQUEST, ESTABLISHMENT])
def test_node_messages_go_to_worker_0(mtype: int) -> None:
    for seq in (0, 1, 5, 0xFFFFFF):
        assert worker_for(node_msg(mtype, seq), 4) == 0


def test_establishment_by_sequence_number() -> None:
    for seq in (0, 1, 2, 3, 7, 0x123456, 0xFFFFFF):
        assert worker_for(session_msg(ESTABLISHMENT, 0, seq), 4) == seq % 4
        assert worker_for(session_msg(ESTABLISHMENT, 0, seq), 3) == seq % 3
    # A retransmission keeps its sequence number, whatever else it carries.
    first = session_msg(ESTABLISHMENT, 0, 0x10001, b"\x00\x3c\x00\x05\x00\x0a\x00\x00\x01")
    again = session_msg(ESTABLISHMENT, 0, 0x10001, b"\x00\x3c\x00\x05\x00\x0a\x00\x00\x02")
    assert worker_for(first, 5) == worker_for(again, 5) == 0x10001 % 5
    # The header SEID of an establishment does not matter (it is 0 by the spec).
    assert worker_for(session_msg(ESTABLISHMENT, 3, 4), 3) == 4 % 3


def test_session_messages_by_seid_low_32_bits() -> None:
    for mtype in (MODIFICATION, DELETION, REPORT_RESPONSE):
        for seid in (0, 1, 2, 5, 63, 0xFFFFFFFF):
            assert worker_for(session_msg(mtype, seid, 9), 4) == seid % 4
            assert worker_for(session_msg(mtype, seid, 9), 3) == seid % 3
    # Above 2**32 only the low 32 bits count: (2**32 + 1) % 3 == 2, but the rule gives 1.
    big = (1 << 32) + 1
    assert worker_for(session_msg(MODIFICATION, big, 0), 3) == 1
    assert worker_for(session_msg(MODIFICATION, 0xABCD_0000_0007, 0), 5) == 7 % 5
    # The sequence number does not matter outside establishment.
    assert worker_for(session_msg(DELETION, 6, 1), 4) == worker_for(session_msg(DELETION, 6, 2), 4)


def test_flag_bits_other_than_s_are_ignored() -> None:
    for flags in (0x21, 0x23, 0x01, 0xE1):  # MP and FO set, other versions
        assert worker_for(session_msg(MODIFICATION, 7, 0, flags=flags), 4) == 3
        assert worker_for(session_msg(ESTABLISHMENT, 0, 6, flags=flags), 4) == 2
    assert worker_for(session_msg(MODIFICATION, 7, 0, flags=0x22), 4) == 0  # S=0


def test_short_datagrams_go_to_worker_0() -> None:
    est = session_msg(ESTABLISHMENT, 0, 0x0303)  # seq % 4 == 3
    mod = session_msg(MODIFICATION, 0x07070707, 0)  # seid % 4 == 3
    assert (worker_for(est, 4), worker_for(mod, 4)) == (3, 3)
    assert worker_for(b"", 4) == 0
    assert worker_for(b"\x21", 4) == 0
    for n in range(2, 15):  # the sequence ends at octet 14
        assert worker_for(est[:n], 4) == 0, n
    assert worker_for(est[:15], 4) == 3
    for n in range(2, 12):  # the SEID's low half ends at octet 11
        assert worker_for(mod[:n], 4) == 0, n
    assert worker_for(mod[:12], 4) == 3


def test_count_1_is_always_0() -> None:
    for d in (session_msg(ESTABLISHMENT, 0, 77), session_msg(DELETION, 77, 1), node_msg(1, 3)):
        assert worker_for(d, 1) == 0


@pytest.mark.parametrize("count", [0, -1, MAX_WORKERS + 1])
def test_count_out_of_range(count: int) -> None:
    with pytest.raises(ValueError, match="worker count"):
        worker_for(node_msg(1, 1), count)
    with pytest.raises(ValueError, match="worker count"):
        steering_program(count)
    with pytest.raises(ValueError, match="worker count"):
        reuseport_sockets("127.0.0.1", 8805, count)


def test_program_layout() -> None:
    prog = steering_program(7)
    assert len(prog) % SOCK_FILTER.size == 0
    insns = [SOCK_FILTER.unpack_from(prog, i) for i in range(0, len(prog), SOCK_FILTER.size)]
    # Every jump lands inside the program; every path ends in a return (class 0x06).
    for pc, (code, jt, jf, _) in enumerate(insns):
        if code & 0x07 == 0x05:
            assert pc + 1 + max(jt, jf) < len(insns)
    assert insns[-1][0] & 0x07 == 0x06
    mods = [k for code, _, _, k in insns if code == 0x04 | 0x90]  # BPF_ALU|BPF_MOD|BPF_K
    assert mods == [7, 7]


def test_offsets_match_scapy() -> None:
    pfcp = pytest.importorskip("scapy.contrib.pfcp")
    est = bytes(pfcp.PFCP(version=1, S=1, seid=0, seq=0x00ABCD, message_type=ESTABLISHMENT))
    assert est == session_msg(ESTABLISHMENT, 0, 0x00ABCD)
    assert worker_for(est, 7) == 0xABCD % 7
    seid = 0x1122_3344_5566_7788
    mod = bytes(pfcp.PFCP(version=1, S=1, seid=seid, seq=3, message_type=MODIFICATION))
    assert mod == session_msg(MODIFICATION, seid, 3)
    assert worker_for(mod, 7) == 0x55667788 % 7
    hb = bytes(pfcp.PFCP(version=1, S=0, seq=0x000102, message_type=HEARTBEAT_REQUEST))
    assert hb == node_msg(HEARTBEAT_REQUEST, 0x000102)
    assert worker_for(hb, 7) == 0


# --- the kernel ------------------------------------------------------------------------------

needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="needs root (real kernel, loopback)")


def free_port(host: str = "127.0.0.1") -> int:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_DGRAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as s:
            s.bind(("::1", 0))
    except OSError:
        return False
    return True


def open_fds() -> set[str]:
    return set(os.listdir("/proc/self/fd"))


def corpus(seed: int) -> list[bytes]:
    """A few hundred datagrams: every kind, varied SEIDs and sequences, and short ones."""
    pfcp = pytest.importorskip("scapy.contrib.pfcp")
    rng = random.Random(seed)
    out: list[bytes] = []
    for i in range(60):
        mtype = rng.choice((HEARTBEAT_REQUEST, 2, ASSOCIATION_SETUP_REQUEST, 7, 9,
                            SESSION_SET_DELETION_REQUEST, ESTABLISHMENT))
        out.append(node_msg(mtype, rng.randrange(1 << 24), i.to_bytes(2, "big")))
    for i in range(120):
        seq = rng.choice((i, rng.randrange(1 << 24), 0xFFFFFF - i))
        out.append(session_msg(ESTABLISHMENT, 0, seq, rng.randbytes(rng.randrange(0, 64))))
    for i in range(200):
        seid = rng.choice((i, rng.randrange(1 << 32), rng.randrange(1 << 64),
                           (rng.randrange(1, 1 << 32) << 32) | i, 0xFFFFFFFF - i))
        mtype = rng.choice((MODIFICATION, DELETION, 56, REPORT_RESPONSE, 51, 53))
        flags = rng.choice((0x21, 0x23, 0x01))
        out.append(session_msg(mtype, seid, rng.randrange(1 << 24),
                               rng.randbytes(rng.randrange(0, 64)), flags=flags))
    # Short ones: each prefix of a header whose full form goes to the last worker of 2..4.
    est = session_msg(ESTABLISHMENT, 0, 11)
    mod = session_msg(MODIFICATION, 0xFFFF_FFFF_0000_000B, 0)
    out += [est[:n] for n in range(16)] + [mod[:n] for n in range(13)]
    out += [b"\x20", b"\x20\x01", b"\x21\x32\x00"]
    for i in range(8):  # and headers from an independent implementation
        out.append(bytes(pfcp.PFCP(version=1, S=1, seid=0, seq=1000 + i,
                                   message_type=ESTABLISHMENT)))
        out.append(bytes(pfcp.PFCP(version=1, S=1, seid=(i << 40) | (i * 3 + 1), seq=i,
                                   message_type=MODIFICATION)))
    rng.shuffle(out)
    return out


def drain(socks: list[socket.socket], expected: int) -> Counter[tuple[int, bytes]]:
    """(socket index, datagram) for everything that arrives within a few seconds."""
    got: Counter[tuple[int, bytes]] = Counter()
    index = {s.fileno(): i for i, s in enumerate(socks)}
    poll = select.poll()
    for s in socks:
        poll.register(s, select.POLLIN)
    deadline = time.monotonic() + 3.0
    while got.total() < expected and time.monotonic() < deadline:
        for fd, _ in poll.poll(100):
            while True:
                try:
                    got[index[fd], socks[index[fd]].recv(4096)] += 1
                except BlockingIOError:
                    break
    time.sleep(0.05)  # anything extra would show as a difference below
    for i, s in enumerate(socks):
        while True:
            try:
                got[i, s.recv(4096)] += 1
            except BlockingIOError:
                break
    return got


@contextmanager
def group(host: str, port: int, count: int) -> Iterator[list[socket.socket]]:
    """reuseport_sockets(host, port, count), every socket closed at the end."""
    socks = reuseport_sockets(host, port, count)
    try:
        yield socks
    finally:
        for s in socks:
            s.close()


def send_and_check(host: str, count: int, data: list[bytes]) -> None:
    port = free_port(host)
    with group(host, port, count) as socks:
        with socket.socket(socks[0].family, socket.SOCK_DGRAM) as client:
            for d in data:
                client.sendto(d, (host, port))
        got = drain(socks, len(data))
    want = Counter((worker_for(d, count), d) for d in data)
    wrong = [(d.hex(), worker_for(d, count), i) for (i, d) in got if i != worker_for(d, count)]
    assert not wrong, f"{len(wrong)} at the wrong worker (hex, want, got): {wrong[:5]}"
    assert got == want, f"lost: {list(want - got)[:5]} extra: {list(got - want)[:5]}"
    # Every worker gets some, so a program returning a constant cannot pass.
    assert {i for i, _ in got} == set(range(count))


@pytest.mark.root
@needs_root
@pytest.mark.parametrize("count", [2, 3, 4])
def test_kernel_steers_like_worker_for(count: int) -> None:
    data = corpus(seed=count)
    assert len(data) > 400
    send_and_check("127.0.0.1", count, data)


@pytest.mark.root
@needs_root
@pytest.mark.skipif(not ipv6_loopback(), reason="no IPv6 loopback")
def test_kernel_steers_ipv6() -> None:
    send_and_check("::1", 3, corpus(seed=6)[:150])


@pytest.mark.root
@needs_root
def test_sockets_share_one_port() -> None:
    port = free_port()
    with group("127.0.0.1", port, 4) as socks:
        assert [s.getsockname() for s in socks] == [("127.0.0.1", port)] * 4
        assert all(s.family == socket.AF_INET and not s.getblocking() for s in socks)
        assert all(s.getsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT) for s in socks)


@pytest.mark.root
@needs_root
def test_closing_a_socket_moves_the_last_into_its_slot() -> None:
    """Why the group must outlive its workers: the kernel's slot order is not kept on close."""
    port = free_port()
    with group("127.0.0.1", port, 4) as socks:
        socks[1].close()
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as client:
            client.sendto(session_msg(MODIFICATION, 1, 0), ("127.0.0.1", port))
        got = drain([socks[0], socks[2], socks[3]], 1)
        assert list(got) == [(2, session_msg(MODIFICATION, 1, 0))]  # SEID 1 now at socket 3


@pytest.mark.root
@needs_root
def test_wildcard_addresses_pick_the_family() -> None:
    for host, family in (("0.0.0.0", socket.AF_INET), ("::", socket.AF_INET6)):
        with group(host, free_port(host), 2) as socks:
            assert [s.family for s in socks] == [family, family]


def test_port_0_needs_a_single_worker() -> None:
    with pytest.raises(ValueError, match="port 0"):
        reuseport_sockets("127.0.0.1", 0, 2)
    (sock,) = reuseport_sockets("127.0.0.1", 0, 1)
    with sock:
        assert sock.getsockname()[1] != 0


def test_not_a_numeric_address() -> None:
    with pytest.raises(ValueError, match="numeric"):
        reuseport_sockets("upf.example", 8805, 2)


@pytest.mark.parametrize("reuseport", [False, True])
def test_port_held_by_another_socket_is_refused(reuseport: bool) -> None:
    """A stale socket in the way would take index 0 of the group (or share it by hash)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as holder:
        holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, int(reuseport))
        holder.bind(("127.0.0.1", 0))
        port = holder.getsockname()[1]
        before = open_fds()
        with pytest.raises(OSError, match=f"127.0.0.1:{port}.*probe bind") as exc:
            reuseport_sockets("127.0.0.1", port, 3)
        assert exc.value.errno == errno.EADDRINUSE
        assert open_fds() == before


def test_attach_failure_closes_every_socket(monkeypatch: pytest.MonkeyPatch) -> None:
    import control.steer

    jump_out = SOCK_FILTER.pack(0x05, 0, 0, 5)  # ja +5: past the end, the kernel refuses it
    monkeypatch.setattr(control.steer, "steering_program", lambda count: jump_out)
    port = free_port()
    before = open_fds()
    with pytest.raises(OSError, match="SO_ATTACH_REUSEPORT_CBPF failed") as exc:
        reuseport_sockets("127.0.0.1", port, 3)
    assert exc.value.errno == errno.EINVAL
    assert open_fds() == before
    reuseport_sockets("127.0.0.1", port, 1)[0].close()  # and the port is free again
