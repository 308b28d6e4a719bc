"""The generated decoders/encoders (pfcp.ies.compile) agree with the table interpreter
(pfcp.ies.base.decode_ies/encode_ies), which reads the same tables the slow, obvious way."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import pfcp
from pfcp.buffer import TL, Buffer, Writer
from pfcp.header import pull_header
from pfcp.ies.base import IE_CODECS, decode_ies, encode_ies
from tests.pfcp import corpus
from tests.pfcp.test_properties import _leaf, messages

CORPUS = corpus.messages()


def _interpret_decode(data: bytes) -> Any:
    hdr = pull_header(data)
    cls = pfcp.MESSAGE_CLASSES.get(hdr.message_type)
    if cls is None or cls.is_session != (hdr.seid is not None):
        return pfcp.decode_message(data)  # header-level errors: not the part under test
    spec = cls._spec
    values = spec.defaults.copy()
    decode_ies(spec, Buffer(data, hdr.header_length, 4 + hdr.length), values)
    names = [f.name for f in dataclasses.fields(cls)]
    for name, value in (("sequence", hdr.sequence), ("seid", hdr.seid), ("priority", hdr.priority)):
        values[names.index(name)] = value
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


TLV = [(t, c) for t, c in sorted(IE_CODECS.items()) if c.tlv is not None]


@settings(max_examples=400, deadline=None)
@given(st.data())
def test_tlv_encoders_match_push(data: Any) -> None:
    ie_type, codec = data.draw(st.sampled_from(TLV))
    strategy = _leaf(ie_type)
    assert strategy is not None, ie_type
    value = data.draw(strategy)
    assert codec.tlv is not None
    w = Writer()
    codec.push(w, value)
    assert codec.tlv(value) == TL.pack(ie_type, len(w)) + bytes(w)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(st.data())
def test_compiled_encode_matches_interpreter_on_random_messages(data: Any) -> None:
    """Covers the inlined enum/flag octets and the ``tlv`` encoders in every table."""
    msg = data.draw(messages)
    encoded = pfcp.encode_message(msg)
    assert encoded[pull_header(encoded).header_length :] == _interpret_encode(msg)
