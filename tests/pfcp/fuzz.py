"""Mutation fuzzer for pfcp.decode_message.

    python -m tests.pfcp.fuzz --iterations 1000000 [--seed 1]

Seeds are the encoded corpus messages. Each iteration applies 1-3 mutations (bit flips,
random octets, truncation, extension, header/IE length changes, IE duplication, deletion,
splicing from another message, IE type changes), optionally repairs the header length so the
input gets past the header check, and decodes. Anything but a DecodeError is a crash; an
accepted input must also re-encode (EncodeError allowed) and decode again to an equal
message. Prints a JSON summary; exits 1 on any crash.
"""

from __future__ import annotations

import argparse
import json
import random
import struct
import sys
import time
import traceback
from collections import Counter
from typing import Any

import pfcp
from pfcp.errors import DecodeError, EncodeError

_TL = struct.Struct("!HH")


def seeds() -> list[bytes]:
    from tests.pfcp import corpus

    return [pfcp.encode_message(m) for m in corpus.messages()]


def _header_len(data: bytes) -> int:
    return 16 if data and data[0] & 1 else 8


def _ies(data: bytes, start: int, end: int) -> list[tuple[int, int]]:
    """(offset, total length) of each well-formed TLV in data[start:end]."""
    out = []
    pos = start
    while pos + 4 <= end:
        _, ln = _TL.unpack_from(data, pos)
        if pos + 4 + ln > end:
            break
        out.append((pos, 4 + ln))
        pos += 4 + ln
    return out


def _all_ies(data: bytes) -> list[tuple[int, int]]:
    """Top-level IEs and one level of nested ones (grouped IEs)."""
    top = _ies(data, _header_len(data), len(data))
    nested = [ie for off, ln in top for ie in _ies(data, off + 4, off + ln)]
    return top + nested


def _fix_length(data: bytearray) -> None:
    if len(data) >= 4:
        struct.pack_into("!H", data, 2, (len(data) - 4) & 0xFFFF)


def mutate(rng: random.Random, data: bytes, pool: list[bytes]) -> bytes:
    buf = bytearray(data)
    for _ in range(rng.randint(1, 3)):
        op = rng.randrange(10)
        ies = _all_ies(bytes(buf))
        if op == 0 and buf:  # bit flips
            for _ in range(rng.randint(1, 4)):
                i = rng.randrange(len(buf))
                buf[i] ^= 1 << rng.randrange(8)
        elif op == 1 and buf:  # random octets
            for _ in range(rng.randint(1, 4)):
                buf[rng.randrange(len(buf))] = rng.randrange(256)
        elif op == 2:  # truncate
            del buf[rng.randrange(len(buf) + 1) :]
        elif op == 3:  # extend
            buf += bytes(rng.randrange(256) for _ in range(rng.randint(1, 16)))
        elif op == 4 and len(buf) >= 4:  # header length
            struct.pack_into("!H", buf, 2, rng.choice([0, 1, 4, 8, 12, len(buf), rng.randrange(65536)]) & 0xFFFF)
        elif op == 5 and ies:  # IE length field
            off, ln = rng.choice(ies)
            new = rng.choice([0, 1, 2, 3, ln - 5, ln - 3, ln + 1, rng.randrange(65536)])
            struct.pack_into("!H", buf, off + 2, new & 0xFFFF)
        elif op == 6 and ies:  # duplicate an IE
            off, ln = rng.choice(ies)
            ie = bytes(buf[off : off + ln])
            at = rng.choice(ies)[0]
            buf[at:at] = ie
        elif op == 7 and ies:  # delete an IE
            off, ln = rng.choice(ies)
            del buf[off : off + ln]
        elif op == 8 and ies:  # splice an IE from another message
            other = rng.choice(pool)
            oies = _all_ies(other)
            if oies:
                off, ln = rng.choice(oies)
                at = rng.choice(ies)[0]
                buf[at:at] = other[off : off + ln]
        elif op == 9 and ies:  # change an IE's type
            off, _ = rng.choice(ies)
            struct.pack_into("!H", buf, off, rng.choice([rng.randrange(1, 300), 0x8000 | rng.randrange(0x8000)]))
    if rng.random() < 0.7:
        _fix_length(buf)
    return bytes(buf)


def run(iterations: int, seed: int = 1) -> dict[str, Any]:
    rng = random.Random(seed)
    pool = seeds()
    causes: Counter[str] = Counter()
    kinds: Counter[str] = Counter()
    crashes: list[dict[str, str]] = []
    n_crash = 0
    accepted = 0
    reencode_errors = 0
    start = time.perf_counter()
    for _ in range(iterations):
        data = mutate(rng, rng.choice(pool), pool)
        try:
            msg = pfcp.decode_message(data)
        except DecodeError as exc:
            causes[exc.cause.name] += 1
            kinds[type(exc).__name__] += 1
            if exc.cause == pfcp.Cause.SYSTEM_FAILURE:  # the codec's own catch-all: a bug
                n_crash += 1
                if len(crashes) < 5:
                    crashes.append({"input": data.hex(), "error": repr(exc.__cause__)})
            continue
        except Exception as exc:  # pragma: no cover - this is what we hunt
            n_crash += 1
            if len(crashes) < 5:
                crashes.append({"input": data.hex(), "error": "".join(traceback.format_exception(exc))})
            continue
        accepted += 1
        try:
            again = pfcp.encode_message(msg)
        except EncodeError:
            reencode_errors += 1
            continue
        try:
            if pfcp.decode_message(again) != msg:
                raise AssertionError("decode(encode(decode(x))) != decode(x)")
        except Exception as exc:
            n_crash += 1
            if len(crashes) < 5:
                crashes.append({"input": data.hex(), "error": f"round trip: {exc!r}"})
    seconds = time.perf_counter() - start
    return {
        "iterations": iterations,
        "seed": seed,
        "seconds": round(seconds, 2),
        "accepted": accepted,
        "decode_errors": sum(causes.values()),
        "decode_errors_by_cause": dict(causes.most_common()),
        "decode_errors_by_class": dict(kinds.most_common()),
        "reencode_encode_errors": reencode_errors,
        "crashes": n_crash,
        "crash_samples": crashes,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--iterations", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    summary = run(args.iterations, args.seed)
    print(json.dumps(summary, indent=2))
    return 1 if summary["crashes"] else 0


if __name__ == "__main__":
    sys.exit(main())
