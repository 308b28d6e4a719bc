"""The generated decoders/encoders (pfcp.ies.compile) agree with the table interpreter
(pfcp.ies.base.decode_ies/encode_ies), which reads the same tables the slow, obvious way."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import pfcp
from pfcp.buffer import Buffer, Writer
from pfcp.header import pull_header
from pfcp.ies.base import IE_CODECS, decode_ies, encode_ies
from tests.pfcp import corpus

CORPUS = corpus.messages()


def _interpret_decode(data: bytes) -> Any:
    hdr = pull_header(data)
    cls = pfcp.MESSAGE_CLASSES.get(hdr.message_type)
    if cls is None or cls.is_session != (hdr.seid is not None):
        return pfcp.decode_message(data)  # header-level errors: not the part under test
    spec = cls._spec
    values = spec.defaults.copy()
    decode_ies(spec, Buffer(data, hdr.header_length, 4 + hdr.length), values)
    values[0], values[-3], values[-2] = hdr.sequence, hdr.seid, hdr.priority
    msg = spec.build(values)
    for check in spec.checks:
        check(msg)
    return msg


def _interpret_encode(msg: pfcp.Message) -> bytes:
    w = Writer()
    encode_ies(msg._spec, msg, w)
    return bytes(w)


@pytest.mark.parametrize("msg", CORPUS, ids=[f"{type(m).__name__}-{m.sequence}" for m in CORPUS])
def test_compiled_matches_interpreter(msg: pfcp.Message) -> None:
    data = pfcp.encode_message(msg)
    hlen = pull_header(data).header_length
    assert data[hlen:] == _interpret_encode(msg)
    assert _interpret_decode(data) == pfcp.decode_message(data) == msg


def test_compiled_matches_interpreter_on_fuzzed_input() -> None:
    import random

    from tests.pfcp import fuzz

    rng = random.Random(7)
    pool = fuzz.seeds()
    agree = 0
    for _ in range(3000):
        data = fuzz.mutate(rng, rng.choice(pool), pool)
        try:
            ours: Any = pfcp.decode_message(data)
        except pfcp.DecodeError as exc:
            ours = (type(exc), exc.cause, exc.ie_type)
        try:
            ref: Any = _interpret_decode(data)
        except pfcp.DecodeError as exc:
            ref = (type(exc), exc.cause, exc.ie_type)
        assert ours == ref, data.hex()
        agree += 1
    assert agree == 3000


def _outcome(fn: Any, *args: Any) -> Any:
    try:
        return fn(*args)
    except Exception as exc:  # compare which error, not its text
        return type(exc)


FAST = [(t, c) for t, c in sorted(IE_CODECS.items()) if c.fast is not None]


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(FAST), st.binary(max_size=40))
def test_fast_leaf_decoders_match_buffer_decoders(item: Any, data: bytes) -> None:
    _ie_type, codec = item
    assert codec.fast is not None
    assert _outcome(codec.fast, data, 0, len(data)) == _outcome(codec.pull, Buffer(data))
    # and within a larger buffer: never reads past ``end``
    padded = b"\xff" * 3 + data + b"\xee" * 20
    assert _outcome(codec.fast, padded, 3, 3 + len(data)) == _outcome(codec.pull, Buffer(padded, 3, 3 + len(data)))
