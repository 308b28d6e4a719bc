"""The decoders' memos (pfcp.ies.compile.MEMOS, the CHOOSE F-TEIDs, buffer.IPV4_CACHE) never
change what a decode returns: a hit is the object an uncached decode of the same octets would
equal, octets that differ in one place decode differently, failed decodes are not stored, and
each memo stays within its bound. Create FAR, the example here, is memoised by pfcp.ies.masked
(its Outer Header Creation is cut out of the key; a FAR towards the core has none, so the key
is all of its octets, as in the plain memo: tests/pfcp/test_masked_memo.py has the rest)."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from dataclasses import replace
from ipaddress import IPv4Address

import pytest

import pfcp
from pfcp import ApplyAction, Cause, DecodeError, IEType
from pfcp.buffer import IPV4_CACHE, IPV4_CACHE_LIMIT, TL, Buffer
from pfcp.ies import address
from pfcp.ies.base import IE_CODECS, RawIe, decode_group, decode_ie, encode_ie
from pfcp.ies.compile import MEMO_LIMIT, MEMO_MAX_OCTETS, MEMOS
from pfcp.ies.masked import MASKED_MEMOS, clear_masked_memos
from tests.pfcp.samples import establishment_request


@pytest.fixture(autouse=True)
def _fresh_memos() -> Iterator[None]:
    for memo in MEMOS.values():
        memo.clear()
    clear_masked_memos()
    yield
    for memo in MEMOS.values():
        memo.clear()
    clear_masked_memos()


def _uncached(ie_type: int, value: object) -> object:
    """The table interpreter's decode of one grouped IE (no memo on its path)."""
    data = encode_ie(ie_type, value)
    spec = IE_CODECS[ie_type].spec
    assert spec is not None
    return decode_group(spec, Buffer(data, 4, len(data)))


def _with_fars(*fars: pfcp.CreateFar) -> bytes:
    return pfcp.encode_message(replace(establishment_request(), create_far=fars))


def _far_value(far: pfcp.CreateFar) -> bytes:
    return encode_ie(IEType.CREATE_FAR, far)[4:]


def _stored(far: pfcp.CreateFar) -> object:
    """The Create FAR the memo holds for ``far``'s octets, or None."""
    value = _far_value(far)
    return MASKED_MEMOS[IEType.CREATE_FAR].memoised(value, 0, len(value))


FAR = establishment_request().create_far[0]
QER = establishment_request().create_qer[0]


def test_a_hit_is_the_same_object_and_equals_an_uncached_decode() -> None:
    data = pfcp.encode_message(establishment_request())
    first = pfcp.decode_message(data)
    assert isinstance(first, pfcp.SessionEstablishmentRequest)
    assert FAR.forwarding_parameters is not None
    assert FAR.forwarding_parameters.outer_header_creation is None  # (nothing cut out)
    assert _stored(FAR) is first.create_far[0]
    again = pfcp.decode_message(data)
    assert isinstance(again, pfcp.SessionEstablishmentRequest)
    assert again == first == establishment_request()
    for a, b in zip(again.create_far[:1] + again.create_qer + again.create_urr,
                    first.create_far[:1] + first.create_qer + first.create_urr, strict=True):
        assert a is b
    assert again.create_far[0] == _uncached(IEType.CREATE_FAR, FAR)
    # The masked memo (tests/pfcp/test_masked_memo.py) decodes the per-session leaves afresh:
    # the DL FAR's Outer Header Creation (the gNB tunnel), the DL PDR's UE IP Address; the UL
    # PDR carries no per-session value and comes back as is
    dl_far = first.create_far[1]
    assert dl_far.forwarding_parameters and dl_far.forwarding_parameters.outer_header_creation
    assert again.create_far[1] is not dl_far and _stored(dl_far) is dl_far
    assert again.create_pdr[0] is first.create_pdr[0]
    assert again.create_pdr[1] is not first.create_pdr[1]


@pytest.mark.parametrize(
    "other",
    [
        replace(FAR, far_id=FAR.far_id + 1),  # one octet of the FAR ID
        replace(FAR, apply_action=ApplyAction.FORW | ApplyAction.NOCP),  # the Apply Action octet
        replace(FAR, forwarding_parameters=replace(  # one octet inside a nested grouped IE
            FAR.forwarding_parameters, destination_interface=pfcp.DestinationInterface.CP_FUNCTION)),
    ],
)
def test_ies_one_octet_apart_decode_apart(other: pfcp.CreateFar) -> None:
    a, b = _far_value(FAR), _far_value(other)
    assert len(a) == len(b) and sum(x != y for x, y in zip(a, b, strict=True)) == 1
    for _ in range(2):  # cold, then from the memo
        msg = pfcp.decode_message(_with_fars(FAR, other, FAR))
        assert isinstance(msg, pfcp.SessionEstablishmentRequest)
        assert msg.create_far == (FAR, other, FAR)
        assert msg.create_far[1] == _uncached(IEType.CREATE_FAR, other) != msg.create_far[0]
        assert msg.create_far[0] is msg.create_far[2]


def test_a_failed_decode_is_not_stored() -> None:
    bad = pfcp.CreateFar(far_id=9, apply_action=ApplyAction.FORW)  # FORW without parameters
    for _ in range(2):
        with pytest.raises(DecodeError) as info:
            pfcp.decode_message(_with_fars(bad))
        assert info.value.cause == Cause.CONDITIONAL_IE_MISSING
        assert info.value.ie_type == IEType.FORWARDING_PARAMETERS
        assert _stored(bad) is None
    # the same FAR ID with parameters is fine, and then remembered
    good = replace(bad, forwarding_parameters=FAR.forwarding_parameters)
    msg = pfcp.decode_message(_with_fars(good))
    assert isinstance(msg, pfcp.SessionEstablishmentRequest) and msg.create_far == (good,)
    assert _stored(good) == good


def test_a_failure_inside_a_nested_ie_stores_neither() -> None:
    data = bytearray(_with_fars(FAR))
    # Destination Interface (type 42) of length 0 inside the FAR's Forwarding Parameters
    i = data.index(bytes.fromhex("002a0001"))
    fp = data.rindex(TL.pack(IEType.FORWARDING_PARAMETERS, 0)[:2], 0, i)
    far = data.rindex(TL.pack(IEType.CREATE_FAR, 0)[:2], 0, fp)
    data[i + 2 : i + 5] = b"\x00\x00"  # length 0, value octet dropped
    for start in (far, fp):  # the enclosing IEs' lengths
        ln = int.from_bytes(data[start + 2 : start + 4], "big")
        data[start + 2 : start + 4] = (ln - 1).to_bytes(2, "big")
    data[2:4] = (int.from_bytes(data[2:4], "big") - 1).to_bytes(2, "big")
    for _ in range(2):
        with pytest.raises(DecodeError) as info:
            pfcp.decode_message(bytes(data))
        assert (info.value.cause, info.value.ie_type) == (Cause.INVALID_LENGTH, IEType.DESTINATION_INTERFACE)
    assert not MASKED_MEMOS[IEType.CREATE_FAR] and not MEMOS[IEType.FORWARDING_PARAMETERS]


def test_memos_stay_within_their_bound() -> None:
    memo = MEMOS[IEType.CREATE_QER]
    qers = [replace(QER, qer_id=n) for n in range(1, MEMO_LIMIT + 40)]

    def with_qers(*qers: pfcp.CreateQer) -> bytes:
        return pfcp.encode_message(replace(establishment_request(), create_qer=qers))

    for lo in range(0, len(qers), 8):
        chunk = tuple(qers[lo : lo + 8])
        msg = pfcp.decode_message(with_qers(*chunk))
        assert isinstance(msg, pfcp.SessionEstablishmentRequest) and msg.create_qer == chunk
        assert len(memo) <= MEMO_LIMIT
    assert 0 < len(memo) < 40 + 8  # cleared once on the way
    # after the clear, old values still decode correctly (and are stored again)
    msg = pfcp.decode_message(with_qers(qers[0]))
    assert isinstance(msg, pfcp.SessionEstablishmentRequest) and msg.create_qer == (qers[0],)
    assert memo[encode_ie(IEType.CREATE_QER, qers[0])[4:]] == (qers[0],)


def test_ipv4_cache_stays_within_its_bound() -> None:
    base = int(IPv4Address("10.200.0.0"))
    for n in range(IPV4_CACHE_LIMIT + 50):
        ip = IPv4Address(base + n)
        fseid = pfcp.FSeid(n, ipv4=ip)
        data = encode_ie(IEType.F_SEID, fseid)
        assert address._fast_fseid(data, 4, len(data)) == fseid
        assert len(IPV4_CACHE) <= IPV4_CACHE_LIMIT
    assert IPV4_CACHE[base + IPV4_CACHE_LIMIT + 49] == IPv4Address(base + IPV4_CACHE_LIMIT + 49)


@pytest.mark.parametrize(
    "fteid",
    [
        pfcp.FTeid(choose=True, choose_v4=True),
        pfcp.FTeid(choose=True, choose_v6=True),
        pfcp.FTeid(choose=True, choose_v4=True, choose_v6=True),
        pfcp.FTeid(choose=True, choose_v4=True, choose_id=0),
        pfcp.FTeid(choose=True, choose_v4=True, choose_id=5),
        pfcp.FTeid(choose=True, choose_v4=True, choose_id=6),
        pfcp.FTeid(choose=True, choose_v4=True, choose_id=255),
    ],
)
def test_choose_f_teids(fteid: pfcp.FTeid) -> None:
    data = encode_ie(IEType.F_TEID, fteid)
    first = address._fast_fteid(data, 4, len(data))
    assert first == fteid == address.pull_fteid(Buffer(data, 4, len(data)))
    assert address._fast_fteid(data, 4, len(data)) is first
    assert len(address._CHOOSE) <= 4 * 257


def test_memoised_ies_in_a_bytearray() -> None:
    """decode_ie of a grouped IE whose memoised leaves come in a bytearray (unhashable)."""
    data = bytearray(encode_ie(IEType.CREATE_FAR, FAR))
    assert decode_ie(data) == (IEType.CREATE_FAR, FAR)
    assert pfcp.decode_message(bytearray(_with_fars(FAR))) == replace(establishment_request(), create_far=(FAR,))


@pytest.mark.parametrize("ids", [(1,), (255,), (256,), (0x12345678,), (1, 2), (7, 7, 300)])
@pytest.mark.parametrize("qfi", [(), (0,), (9,), (63,), (1, 2), (5, 5, 7)])
def test_repeated_integer_ies(ids: tuple[int, ...], qfi: tuple[int, ...]) -> None:
    """Repeated IEs (URR ID, QER ID; QFI, a one-octet value) whose 1-tuples come from tables."""
    msg = establishment_request()
    first = msg.create_pdr[0]
    pdr = replace(first, urr_id=ids, qer_id=ids[::-1], pdi=replace(first.pdi, qfi=qfi))
    for pdrs in ((pdr, *msg.create_pdr[1:]), (pdr,)):  # followed by another IE, and last
        out = pfcp.decode_message(pfcp.encode_message(replace(msg, create_pdr=pdrs)))
        assert isinstance(out, pfcp.SessionEstablishmentRequest)
        got = out.create_pdr[0]
        assert (got.urr_id, got.qer_id, got.pdi.qfi) == (ids, ids[::-1], qfi)
        assert got == pdr


def _interpreted_error(data: bytes) -> tuple[Cause, int | None]:
    from tests.pfcp.test_compiled import _interpret_decode

    with pytest.raises(DecodeError) as info:
        _interpret_decode(data)
    return info.value.cause, info.value.ie_type


@pytest.mark.parametrize("tail", ["", "00", "0000", "000000", "00ff0000", "00ff0001", "0038000201", "003800020009"])
def test_value_then_next_header_read_together(tail: str) -> None:
    """Fixed-size IEs (PDR ID, Precedence) followed by anything in the same grouped IE: the
    decoders read the value and the next header in one go only when a whole header follows;
    anything else is decoded (or refused, with the same cause and IE) as by the interpreter."""
    create_pdr = bytes.fromhex("00380002" "0007" "001d0004000000ff") + bytes.fromhex(tail)
    pdi = encode_ie(IEType.PDI, establishment_request().create_pdr[0].pdi)
    body = TL.pack(IEType.CREATE_PDR, len(create_pdr) + len(pdi)) + create_pdr[:6] + pdi + create_pdr[6:]
    msg = pfcp.encode_message(establishment_request())
    i = msg.index(TL.pack(IEType.CREATE_PDR, 0)[:2])
    first_len = 4 + int.from_bytes(msg[i + 2 : i + 4], "big")
    data = bytearray(msg[:i] + body + msg[i + first_len :])
    data[2:4] = (len(data) - 4).to_bytes(2, "big")
    try:
        out = pfcp.decode_message(bytes(data))
    except DecodeError as exc:
        assert (exc.cause, exc.ie_type) == _interpreted_error(bytes(data))
    else:
        from tests.pfcp.test_compiled import _interpret_decode

        assert isinstance(out, pfcp.SessionEstablishmentRequest)
        assert out == _interpret_decode(bytes(data))
        assert out.create_pdr[0].pdr_id == 7
        assert pfcp.encode_message(out) == bytes(data)


def test_fields_untouched_by_memo_hits() -> None:
    """A memo hit returns a frozen object: nothing the caller does can change the memo."""
    pfcp.decode_message(pfcp.encode_message(establishment_request()))
    far = _stored(FAR)
    assert isinstance(far, pfcp.CreateFar)
    with pytest.raises(dataclasses.FrozenInstanceError):
        far.far_id = 99  # type: ignore[misc]


def test_long_values_are_not_stored() -> None:
    """A FAR longer than MEMO_MAX_OCTETS (here by an unknown IE it carries) decodes each time,
    equal every time, and leaves the memo alone."""
    big = replace(FAR, extra_ies=(RawIe(0x7F00, bytes(MEMO_MAX_OCTETS)),))
    small = replace(FAR, extra_ies=(RawIe(0x7F00, bytes(8)),))
    assert len(_far_value(big)) > MEMO_MAX_OCTETS >= len(_far_value(small))
    first = pfcp.decode_message(_with_fars(big, small))
    again = pfcp.decode_message(_with_fars(big, small))
    assert isinstance(first, pfcp.SessionEstablishmentRequest)
    assert isinstance(again, pfcp.SessionEstablishmentRequest)
    assert first.create_far == again.create_far == (big, small)
    assert first.create_far[0] is not again.create_far[0]
    assert first.create_far[1] is again.create_far[1]
    assert _stored(big) is None and _stored(small) is again.create_far[1]
    assert len(MASKED_MEMOS[IEType.CREATE_FAR]) == 1
