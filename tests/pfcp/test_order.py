"""Re-encoding a decoded message is byte-identical whatever order its IEs arrived in.

The decoder records the arrival order (``_ie_order``) of a message or grouped IE whose IEs did
not come in the encoder's order (table order, unknown IEs last); the encoder follows it while
it fits the fields, and falls back to table order once a change makes it not fit."""

from __future__ import annotations

import dataclasses
import random
import struct
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import pfcp
from pfcp.buffer import Buffer, Writer
from pfcp.header import pack_header, parse_header
from pfcp.ies.base import IE_CODECS, K_GROUP, decode_ies, encode_ies
from pfcp.text import message_to_json
from tests.pfcp import corpus
from tests.pfcp.samples import establishment_request, establishment_response

TL = struct.Struct("!HH")
UNKNOWN = 0x7F00  # not a TS 29.244 IE type
VENDOR = 0x8123  # vendor-specific: 2-octet Enterprise ID first


def _split(data: bytes) -> list[tuple[int, bytes]]:
    out, pos = [], 0
    while pos < len(data):
        t, ln = TL.unpack_from(data, pos)
        out.append((t, data[pos + 4 : pos + 4 + ln]))
        pos += 4 + ln
    assert pos == len(data)
    return out


def _join(ies: list[tuple[int, bytes]]) -> bytes:
    return b"".join(TL.pack(t, len(v)) + v for t, v in ies)


def _is_group(t: int) -> bool:
    codec = IE_CODECS.get(t)
    return codec is not None and codec.kind == K_GROUP


def _shuffle(body: bytes, rng: random.Random, extra: bool = False) -> bytes:
    """Shuffle the IEs at every level; with ``extra``, put unknown and vendor IEs among them."""
    ies = [(t, _shuffle(v, rng, extra) if _is_group(t) else v) for t, v in _split(body)]
    if extra:
        ies.insert(
            rng.randrange(len(ies) + 1), (UNKNOWN, bytes([rng.randrange(256)]) * rng.randrange(4))
        )
        ies.insert(rng.randrange(len(ies) + 1), (VENDOR, b"\x00\x2a" + b"vendor"))
    rng.shuffle(ies)
    return _join(ies)


def _reassemble(data: bytes, body: bytes) -> bytes:
    mt, _, seq, seid, prio, _, _ = parse_header(data)
    return pack_header(mt, len(body), seq, seid, prio) + body


def _body(data: bytes) -> bytes:
    return data[parse_header(data)[6] :]


def _reordered(msg: pfcp.Message, seed: int, extra: bool = False) -> bytes:
    data = pfcp.encode_message(msg)
    return _reassemble(data, _shuffle(_body(data), random.Random(seed), extra))


@pytest.mark.parametrize("seed", range(20))
def test_shuffled_request_reencodes_byte_identical(seed: int) -> None:
    data = _reordered(establishment_request(), seed)
    msg: Any = pfcp.decode_message(data)
    assert pfcp.encode_message(msg) == data
    # the same meaning as the request (the order of repeated IEs is their tuple order)
    canonical = pfcp.encode_message(dataclasses.replace(msg, _ie_order=None))
    assert pfcp.decode_message(canonical) == msg


@pytest.mark.parametrize("seed", range(20))
def test_unknown_and_vendor_ies_in_the_middle_are_kept_in_place(seed: int) -> None:
    data = _reordered(establishment_request(), seed, extra=True)
    msg: Any = pfcp.decode_message(data)
    assert pfcp.encode_message(msg) == data
    vendor = [r for r in msg.extra_ies if r.ie_type == VENDOR]
    assert [(r.enterprise_id, r.value) for r in vendor] == [(0x2A, b"vendor")]
    assert UNKNOWN in {r.ie_type for r in msg.extra_ies}
    # and every grouped IE kept its own unknown IEs
    for pdr in msg.create_pdr:
        assert {r.ie_type for r in pdr.extra_ies} == {UNKNOWN, VENDOR}
        assert {r.ie_type for r in pdr.pdi.extra_ies} == {UNKNOWN, VENDOR}


def test_unknown_ie_first_in_a_grouped_ie() -> None:
    rsp = establishment_response()
    data = pfcp.encode_message(rsp)
    ies = _split(_body(data))
    i = next(k for k, (t, _) in enumerate(ies) if t == pfcp.IEType.CREATED_PDR)
    inner = [(UNKNOWN, b"\x01\x02"), *_split(ies[i][1])]
    ies[i] = (ies[i][0], _join(inner))
    data2 = _reassemble(data, _join(ies))
    msg: Any = pfcp.decode_message(data2)
    assert msg.created_pdr[0].extra_ies == (pfcp.RawIe(UNKNOWN, b"\x01\x02"),)
    assert msg.created_pdr[0]._ie_order == (UNKNOWN, pfcp.IEType.PDR_ID, pfcp.IEType.F_TEID)
    assert msg._ie_order is None  # the message's own IEs came in table order
    assert pfcp.encode_message(msg) == data2


def test_table_order_records_nothing() -> None:
    data = pfcp.encode_message(establishment_request())
    msg: Any = pfcp.decode_message(data)
    assert msg._ie_order is None
    assert all(p._ie_order is None and p.pdi._ie_order is None for p in msg.create_pdr)
    # unknown IEs at the end are where the encoder puts them: still nothing to record
    tail = _join([(UNKNOWN, b"x"), (VENDOR, b"\x00\x01y")])
    msg2 = pfcp.decode_message(_reassemble(data, _body(data) + tail))
    assert msg2._ie_order is None and len(msg2.extra_ies) == 2


def test_repeated_single_ie_is_kept_in_place() -> None:
    data = pfcp.encode_message(establishment_request())
    ies = _split(_body(data))
    node_id = ies[0]
    assert node_id[0] == pfcp.IEType.NODE_ID
    ies.insert(3, node_id)  # a second Node ID between the Create PDRs
    data2 = _reassemble(data, _join(ies))
    msg: Any = pfcp.decode_message(data2)
    assert [r.ie_type for r in msg.extra_ies] == [pfcp.IEType.NODE_ID]
    assert pfcp.encode_message(msg) == data2


def test_order_is_not_part_of_equality_hash_or_repr() -> None:
    data = _reordered(establishment_request(), 3)
    msg: Any = pfcp.decode_message(data)
    assert msg._ie_order is not None
    plain = dataclasses.replace(msg, _ie_order=None)
    assert msg == plain and hash(msg.create_pdr) == hash(plain.create_pdr)
    assert repr(msg) == repr(plain) and "_ie_order" not in repr(msg)
    assert "_ie_order" not in message_to_json(msg)


def test_header_change_keeps_the_order() -> None:
    data = _reordered(establishment_request(), 5, extra=True)
    msg: Any = pfcp.decode_message(data)
    again = dataclasses.replace(msg, sequence=77, seid=0x1234)
    out = pfcp.encode_message(again)
    assert _body(out) == _body(data)
    assert parse_header(out)[2:4] == (77, 0x1234)


def test_changed_value_keeps_the_order_removed_ie_falls_back_to_table_order() -> None:
    data = _reordered(establishment_request(), 11)
    msg: Any = pfcp.decode_message(data)
    # same IEs, another value: the arrival order still fits
    urr = dataclasses.replace(msg.create_urr[0], urr_id=9)
    changed = dataclasses.replace(msg, create_urr=(urr,))
    out = pfcp.encode_message(changed)
    assert len(out) == len(data) and out != data
    assert pfcp.decode_message(out) == changed
    # an IE gone: the recorded order no longer fits; table order, same meaning
    removed = dataclasses.replace(msg, create_qer=())
    out = pfcp.encode_message(removed)
    assert pfcp.decode_message(out) == removed
    assert pfcp.decode_message(out)._ie_order is None
    # an IE added: likewise
    added = dataclasses.replace(msg, create_urr=(*msg.create_urr, urr))
    assert pfcp.decode_message(pfcp.encode_message(added)) == added
    # a mandatory IE removed: still an EncodeError
    with pytest.raises(pfcp.EncodeError):
        pfcp.encode_message(dataclasses.replace(msg, create_far=()))


def test_interpreter_agrees_on_order() -> None:
    """The reference interpreter (decode_ies/encode_ies) records and follows the same order."""
    data = _reordered(establishment_request(), 2, extra=True)
    mt, length, _, _, _, _, hlen = parse_header(data)
    spec = pfcp.MESSAGE_CLASSES[mt]._spec
    values = spec.defaults.copy()
    decode_ies(spec, Buffer(data, hlen, 4 + length), values)
    assert values[spec.order_index] == pfcp.decode_message(data)._ie_order
    w = Writer()
    encode_ies(spec, pfcp.decode_message(data), w)
    assert bytes(w) == _body(data)


CORPUS = corpus.messages()


@settings(max_examples=150, deadline=None)
@given(st.sampled_from(CORPUS), st.integers(0, 2**32 - 1), st.booleans())
def test_any_order_round_trips(msg: Any, seed: int, extra: bool) -> None:
    data = _reordered(msg, seed, extra)
    decoded = pfcp.decode_message(data)
    assert pfcp.encode_message(decoded) == data
    assert pfcp.decode_message(pfcp.encode_message(decoded)) == decoded
