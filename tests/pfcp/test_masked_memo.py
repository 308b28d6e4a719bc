"""The Create PDR / PDI memo (pfcp.ies.masked) never changes what a decode returns or raises.

Requests of random shapes (several PDRs; with or without a UE IP Address, IPv4/IPv6/both, S/D,
CHOOSE flags, prefix fields; F-TEID CHOOSE or chosen by the SMF; SDF filters, QFIs; unknown and
repeated IEs; IEs out of table order) are decoded once, so that their PDRs are memoised, then
again with other per-session values (UE addresses, F-TEIDs): that second decode comes from the
memo (checked), and must equal, field by field and type by type, a decode with every memo
cleared and the table interpreter's decode, and re-encode to the same octets as those do (the
input's, when it is in canonical form). Corrupting the per-session leaf of a memoised shape
must raise what a decode without the memo raises, and store nothing. By hand: the sample
request, leaf errors of every kind, checks, and the bounds (entries, shapes, cold lengths).
"""

from __future__ import annotations

import dataclasses
import itertools
import struct
from collections.abc import Callable, Iterator
from dataclasses import replace
from ipaddress import IPv4Address, IPv6Address
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import pfcp
from pfcp import Cause, DecodeError, IEType
from pfcp.buffer import TL, Buffer
from pfcp.errors import BufferReadError, IeValueError
from pfcp.ies.base import IE_CODECS, RawIe, Spec, encode_ie
from pfcp.ies.compile import MEMO_LIMIT, MEMO_MAX_OCTETS, MEMOS, ie_order
from pfcp.ies.masked import COLD, MASKED_MEMOS, MAX_SHAPES, PROBE, MaskedMemo, clear_masked_memos
from tests.pfcp.samples import establishment_request
from tests.pfcp.test_compiled import _interpret_decode
from tests.pfcp.test_properties import _fteid, u8, u16, u32, v4, v6

PDR_MEMO = MASKED_MEMOS[IEType.CREATE_PDR]
PDI_MEMO = MASKED_MEMOS[IEType.PDI]
REQ = establishment_request()
INTERNET = pfcp.NetworkInstance.from_text("internet")


def _clear() -> None:
    for memo in MEMOS.values():
        memo.clear()
    clear_masked_memos()


@pytest.fixture(autouse=True, scope="module")
def _fresh_memos() -> Iterator[None]:
    _clear()
    yield
    _clear()


def _same(a: Any, b: Any, path: str = "") -> None:
    """Equal and of the same types all the way down, ``_ie_order`` (not compared by ==) too."""
    assert type(a) is type(b), (path, a, b)
    if dataclasses.is_dataclass(a):
        for f in dataclasses.fields(a):
            _same(getattr(a, f.name), getattr(b, f.name), f"{path}.{f.name}")
    elif type(a) is tuple:
        assert len(a) == len(b), (path, a, b)
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            _same(x, y, f"{path}[{i}]")
    else:
        assert a == b, (path, a, b)


def _outcome(data: bytes) -> Any:
    """The decoded message, or everything a DecodeError says (its text too)."""
    try:
        return pfcp.decode_message(data)
    except DecodeError as exc:
        return (type(exc), exc.cause, exc.ie_type, exc.detail, exc.message_type, exc.sequence, exc.seid)


def _reference(data: bytes) -> tuple[Any, Any]:
    """A decode with every memo cleared, and the table interpreter's (which has none)."""
    _clear()
    cold = _outcome(data)
    try:
        interpreted: Any = _interpret_decode(data)
    except DecodeError as exc:
        interpreted = (type(exc), exc.cause, exc.ie_type)
    return cold, interpreted


def _check_against_reference(got: Any, data: bytes, canonical: bool = True) -> None:
    cold, interpreted = _reference(data)
    if isinstance(got, tuple):  # an error
        assert got == cold, data.hex()
        assert got[:3] == interpreted, data.hex()
    else:
        _same(got, cold)
        _same(got, interpreted)
        # the same octets back, as far as the codec gives them back at all: input that is not
        # in canonical form (octets after what an IE's flags ask for) is re-encoded canonically
        assert pfcp.encode_message(got) == pfcp.encode_message(cold)
        if canonical:
            assert pfcp.encode_message(got) == data


# --- the IEs a PDR is made of: independent TLV walking for the tests ------------------------------

def _ies(data: bytes, pos: int, end: int) -> Iterator[tuple[int, int, int]]:
    """(type, value start, value end) of the IEs in data[pos:end]."""
    while pos + 4 <= end:
        t, ln = TL.unpack_from(data, pos)
        yield t, pos + 4, pos + 4 + ln
        pos += 4 + ln


def _create_pdrs(data: bytes) -> list[tuple[int, int]]:
    """The values (start, end) of the Create PDR IEs of a session message (16-octet header)."""
    return [(p, e) for t, p, e in _ies(data, 16, len(data)) if t == IEType.CREATE_PDR]


def _first_leaves(data: bytes, pos: int, end: int) -> dict[int, tuple[int, int]]:
    """The first UE IP Address and F-TEID values in a Create PDR's first PDI."""
    pdi = next(((p, e) for t, p, e in _ies(data, pos, end) if t == IEType.PDI), None)
    out: dict[int, tuple[int, int]] = {}
    if pdi is not None:
        for t, p, e in _ies(data, *pdi):
            if t in (IEType.UE_IP_ADDRESS, IEType.F_TEID) and t not in out:
                out[t] = (p, e)
    return out


def _varies(ie_type: int, flags: int) -> bool:
    """Whether the memo cuts this leaf out of its key (an address; an F-TEID without CH)."""
    return bool(flags & 0x03) if ie_type == IEType.UE_IP_ADDRESS else not flags & 0x04


def _memoised(data: bytes) -> list[bool]:
    return [PDR_MEMO.memoised(data, p, e) is not None for p, e in _create_pdrs(data)]


# --- strategies -------------------------------------------------------------------------------

ue_ips = st.builds(
    pfcp.UeIpAddress,
    st.none() | v4, st.none() | v6, st.booleans(), st.booleans(), st.booleans(),
    st.none() | u8, st.none() | u8,
)  # fmt: skip
sdf_filters = st.builds(
    pfcp.SdfFilter,
    st.none() | st.sampled_from(["permit out ip from any to assigned", "permit out 17 from 10.0.0.0/8 to any"]),
    st.none() | u16, st.none() | u32, st.none() | st.integers(0, 2**24 - 1), st.none() | u32,
)  # fmt: skip
# unknown IEs, and a second UE IP Address / F-TEID (kept raw; the first one if the field is empty)
raw_ies = st.builds(
    RawIe,
    st.sampled_from([0x7F00, 0x7F01, IEType.UE_IP_ADDRESS, IEType.F_TEID]),
    st.sampled_from([b"", b"\x02\x0a\x00\x00\x01", b"\x04", bytes(9), b"\x05\x00\x00\x00\x07\x0a\x00\x00\x02"]),
)


def _canonical(msg: pfcp.Message) -> bool:
    """No raw UE IP Address or F-TEID the decoder reads (for the field, if empty) as a value
    with octets to spare, which it re-encodes shorter."""
    pdis = [p.pdi for p in getattr(msg, "create_pdr", ())] + [p.pdi for p in getattr(msg, "update_pdr", ())]
    return not any(r.ie_type in (IEType.UE_IP_ADDRESS, IEType.F_TEID) for p in pdis if p for r in p.extra_ies)


def _reordered(draw: st.DrawFn, obj: Any, ie_type: int) -> Any:
    """``obj`` with its IEs in a drawn order (the encoder follows ``_ie_order`` when it fits)."""
    order = list(ie_order(encode_ie(ie_type, obj), 4, len(encode_ie(ie_type, obj))))
    if draw(st.booleans()):
        order = draw(st.permutations(order))
    return replace(obj, _ie_order=tuple(order))


@st.composite
def pdrs(draw: st.DrawFn) -> pfcp.CreatePdr:
    pdi = pfcp.Pdi(
        source_interface=draw(st.sampled_from([pfcp.SourceInterface.ACCESS, pfcp.SourceInterface.CORE])),
        local_f_teid=draw(st.none() | _fteid()),
        network_instance=draw(st.none() | st.just(INTERNET)),
        ue_ip_address=draw(st.none() | ue_ips),
        sdf_filter=tuple(draw(st.lists(sdf_filters, max_size=2))),
        qfi=tuple(draw(st.lists(st.integers(0, 63), max_size=2))),
        extra_ies=tuple(draw(st.lists(raw_ies, max_size=2))),
    )
    pdr = pfcp.CreatePdr(
        pdr_id=draw(u16),
        precedence=draw(u32),
        pdi=_reordered(draw, pdi, IEType.PDI),
        outer_header_removal=draw(st.none() | st.just(REQ.create_pdr[0].outer_header_removal)),
        far_id=draw(st.none() | st.integers(1, 4)),
        urr_id=tuple(draw(st.lists(st.integers(1, 3), max_size=2))),
        qer_id=tuple(draw(st.lists(st.integers(1, 3), max_size=2))),
        extra_ies=tuple(draw(st.lists(st.builds(RawIe, st.just(0x7F02), st.binary(max_size=4)), max_size=1))),
    )
    return _reordered(draw, pdr, IEType.CREATE_PDR)  # type: ignore[no-any-return]


def _another_session(draw: st.DrawFn, pdr: pfcp.CreatePdr) -> pfcp.CreatePdr:
    """The same PDR with other per-session values: the UE addresses (and prefix fields) of a UE
    IP Address that carries one, the TEID, addresses and CHOOSE ID of an F-TEID the SMF chose."""
    pdi = pdr.pdi
    ue, fteid = pdi.ue_ip_address, pdi.local_f_teid
    if ue is not None and (ue.ipv4 is not None or ue.ipv6 is not None):
        ue = replace(
            ue,
            ipv4=None if ue.ipv4 is None else draw(v4),
            ipv6=None if ue.ipv6 is None else draw(v6),
            ipv6_prefix_delegation_bits=None if ue.ipv6_prefix_delegation_bits is None else draw(u8),
            ipv6_prefix_length=None if ue.ipv6_prefix_length is None else draw(u8),
        )
    if fteid is not None and not fteid.choose:
        fteid = replace(
            fteid,
            teid=draw(u32),
            ipv4=None if fteid.ipv4 is None else draw(v4),
            ipv6=None if fteid.ipv6 is None else draw(v6),
            choose_id=None if fteid.choose_id is None else draw(u8),
        )
    return replace(pdr, pdi=replace(pdi, ue_ip_address=ue, local_f_teid=fteid))


@st.composite
def sessions(draw: st.DrawFn) -> tuple[pfcp.Message, pfcp.Message]:
    """Two requests of one shape (Establishment, or Modification with Update PDRs), as two
    sessions of one SMF send them."""
    first = draw(st.lists(pdrs(), min_size=1, max_size=4))
    second = [_another_session(draw, p) for p in first]
    seids = draw(st.tuples(st.integers(1, 2**64 - 1), st.integers(1, 2**64 - 1)))
    if draw(st.booleans()):
        return tuple(  # type: ignore[return-value]
            replace(REQ, sequence=n + 1, seid=seids[n], cp_f_seid=replace(REQ.cp_f_seid, seid=seids[n]),
                    create_pdr=tuple(ps))
            for n, ps in enumerate((first, second))
        )
    return tuple(  # type: ignore[return-value]
        pfcp.SessionModificationRequest(
            sequence=n + 1, seid=seids[n], create_pdr=tuple(ps[:2]),
            update_pdr=tuple(pfcp.UpdatePdr(pdr_id=p.pdr_id, pdi=p.pdi) for p in ps[2:]),
        )
        for n, ps in enumerate((first, second))
    )


# --- the properties -----------------------------------------------------------------------------

def _second_session_decodes_as_without_the_memo(
    pair: tuple[pfcp.Message, pfcp.Message],
    spans: Callable[[bytes], list[tuple[int, int]]],
    memoised: Callable[[bytes], list[bool]],
    sizes: Callable[[], Any],
    canonical: Callable[[pfcp.Message], bool],
) -> None:
    """Decode the first request of ``pair``, then the second: every memoised IE of it (at
    ``spans``) short enough is a hit, all hits store nothing, and the second decodes as
    without the memo."""
    a, b = (pfcp.encode_message(m) for m in pair)
    _clear()
    first = _outcome(a)
    if not isinstance(first, tuple):  # decoded: every IE short enough is now memoised
        assert memoised(b) == [e - p <= MEMO_MAX_OCTETS for p, e in spans(b)]
    before = sizes()
    hits = memoised(b)
    got = _outcome(b)
    if all(hits):
        assert sizes() == before  # all hits: nothing new stored
    _check_against_reference(got, b, canonical=all(canonical(m) for m in pair))


def _a_bad_leaf_raises_as_without_the_memo(
    pair: tuple[pfcp.Message, pfcp.Message],
    data: st.DataObject,
    leaves: Callable[[bytes], list[tuple[int, int, int]]],
    memoised: Callable[[bytes], list[bool]],
    sizes: Callable[[], Any],
    second: int,
) -> None:
    """After the first request of ``pair``, corrupt one octet of one per-session leaf of the
    second (``leaves``: (index of its IE, value start, value end)), mostly the leaf's first
    octet or the one at ``second``: that IE is still looked up in the memo, nothing is
    stored, and the outcome is that of a decode without the memo."""
    a, b = (pfcp.encode_message(m) for m in pair)
    _clear()
    if isinstance(_outcome(a), tuple):
        return
    found = leaves(b)
    if not found:
        return
    i, start, end = data.draw(st.sampled_from(found))
    at = data.draw(st.sampled_from([start, min(start + second, end - 1),
                                    data.draw(st.integers(start, end - 1))]))
    bad = b[:at] + bytes([data.draw(u8)]) + b[at + 1 :]
    assert memoised(bad)[i]  # the same shape: that IE is decoded from the memo
    before = sizes()
    got = _outcome(bad)
    assert sizes() == before  # hits, misses too long to store, and a failure: nothing stored
    _check_against_reference(got, bad, canonical=False)


def _pdr_leaves(b: bytes) -> list[tuple[int, int, int]]:
    """The per-session leaves of b's memoised PDRs."""
    return [
        (i, start, end)
        for i, (p, e) in enumerate(_create_pdrs(b))
        if e - p <= MEMO_MAX_OCTETS
        for t, (start, end) in _first_leaves(b, p, e).items()
        if _varies(t, b[start])
    ]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(sessions())
def test_a_hit_decodes_as_without_the_memo(pair: tuple[pfcp.Message, pfcp.Message]) -> None:
    _second_session_decodes_as_without_the_memo(pair, _create_pdrs, _memoised,
                                                lambda: len(PDR_MEMO), _canonical)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(sessions(), st.data())
def test_a_bad_leaf_in_a_memoised_shape_raises_as_without_the_memo(
    pair: tuple[pfcp.Message, pfcp.Message], data: st.DataObject
) -> None:
    # the leaf's first octet is its flags (which fields follow)
    _a_bad_leaf_raises_as_without_the_memo(pair, data, _pdr_leaves, _memoised,
                                           lambda: len(PDR_MEMO), second=0)


# --- by hand ----------------------------------------------------------------------------------

UL, DL = REQ.create_pdr
UE2 = IPv4Address("10.45.7.9")


def _dl(ue: IPv4Address, pdi: pfcp.Pdi = DL.pdi, **changes: Any) -> pfcp.CreatePdr:
    """The sample's DL PDR for another UE (with another PDI, other changes)."""
    assert pdi.ue_ip_address is not None
    return replace(DL, pdi=replace(pdi, ue_ip_address=replace(pdi.ue_ip_address, ipv4=ue)), **changes)


def _req(*pdrs: pfcp.CreatePdr) -> pfcp.SessionEstablishmentRequest:
    return replace(REQ, create_pdr=pdrs)


def test_the_sample_request() -> None:
    """The UL PDR (CHOOSE F-TEID, no UE IP Address) comes back as the memoised object itself,
    as from the plain memo; the DL PDR is a copy with the new UE IP Address in a copy of the
    PDI, sharing every other field's value."""
    _clear()
    first = pfcp.decode_message(pfcp.encode_message(REQ))
    other = _req(UL, _dl(UE2))
    data = pfcp.encode_message(other)
    assert _memoised(data) == [True, True]
    again = pfcp.decode_message(data)
    assert isinstance(first, pfcp.SessionEstablishmentRequest)
    assert isinstance(again, pfcp.SessionEstablishmentRequest)
    _same(again, other)
    assert again.create_pdr[0] is first.create_pdr[0]
    dl, dl0 = again.create_pdr[1], first.create_pdr[1]
    assert dl is not dl0 and dl.pdi is not dl0.pdi
    assert dl.pdi.ue_ip_address is not None and dl.pdi.ue_ip_address.ipv4 == UE2
    assert dl.pdi.network_instance is dl0.pdi.network_instance and dl.urr_id is dl0.urr_id
    _check_against_reference(again, data)


def test_a_hit_comes_from_the_memo() -> None:
    """What the memo holds is what a hit starts from (here a doctored entry shows through)."""
    _clear()
    pfcp.decode_message(pfcp.encode_message(REQ))
    data = pfcp.encode_message(_req(UL, _dl(UE2)))
    p, e = _create_pdrs(data)[1]
    ((cuts, memo, _),) = PDR_MEMO.lengths[e - p].shapes
    assert [t for _, _, t in cuts] == [IEType.UE_IP_ADDRESS]
    (key,) = memo
    memo[key] = replace(memo[key], precedence=7)
    msg = pfcp.decode_message(data)
    assert isinstance(msg, pfcp.SessionEstablishmentRequest)
    assert msg.create_pdr[1] == _dl(UE2, precedence=7)


def _ue_ip_need(flags: int) -> int:
    """The octets a UE IP Address with these flags needs (TS 29.244 8.2.62)."""
    return 1 + 4 * (flags >> 1 & 1) + 16 * (flags & 1) + (flags >> 3 & 1) + (flags >> 6 & 1)


@pytest.mark.parametrize("flags", [0x00, 0x01, 0x03, 0x06, 0x08, 0x0A, 0x40, 0x42, 0x4A, 0x12, 0x32, 0xFF])
def test_bad_ue_ip_flags_after_a_hit(flags: int) -> None:
    """An IPv4 UE IP Address (5 octets) whose flags ask for more (V6, IPv6D, IP6PL) or less."""
    _clear()
    pfcp.decode_message(pfcp.encode_message(REQ))
    data = bytearray(pfcp.encode_message(_req(UL, _dl(UE2))))
    p, e = _create_pdrs(bytes(data))[1]
    start, end = _first_leaves(bytes(data), p, e)[IEType.UE_IP_ADDRESS]
    assert end - start == 5
    data[start] = flags
    assert _memoised(bytes(data)) == [True, True]
    got = _outcome(bytes(data))
    if _ue_ip_need(flags) > 5:
        assert isinstance(got, tuple) and got[1:3] == (Cause.INVALID_LENGTH, IEType.UE_IP_ADDRESS)
    else:
        assert isinstance(got, pfcp.SessionEstablishmentRequest)
    _check_against_reference(got, bytes(data), canonical=_ue_ip_need(flags) == 5)


def _oai_like(teid: int, ue: IPv4Address | None) -> pfcp.CreatePdr:
    """An F-TEID the SMF chose (and a UE IP Address, unless None): one or two per-session leaves."""
    return pfcp.CreatePdr(
        pdr_id=1, precedence=0,
        pdi=pfcp.Pdi(pfcp.SourceInterface.ACCESS, local_f_teid=pfcp.FTeid(teid, ipv4=IPv4Address("192.0.2.1")),
                     ue_ip_address=None if ue is None else pfcp.UeIpAddress(ipv4=ue)),
        far_id=1,
    )  # fmt: skip


@pytest.mark.parametrize("with_ue", [False, True])
def test_chosen_f_teids(with_ue: bool) -> None:
    _clear()
    for i in range(3):
        req = _req(_oai_like(0x1000 + i, IPv4Address(0x0A2D0000 + i) if with_ue else None))
        data = pfcp.encode_message(req)
        assert _memoised(data) == [i > 0]
        got = pfcp.decode_message(data)
        _same(got, req)
        _check_against_reference(got, data)
    ((cuts, _, _),) = next(iter(PDR_MEMO.lengths.values())).shapes
    assert [t for _, _, t in cuts] == [IEType.F_TEID] + ([IEType.UE_IP_ADDRESS] if with_ue else [])


@pytest.mark.parametrize("ue_first", [False, True])
def test_two_bad_leaves_the_first_raises(ue_first: bool) -> None:
    """With both per-session leaves bad, the one that comes first names the offending IE."""
    _clear()
    pdrs = [_oai_like(0x1000 + i, IPv4Address(0x0A2D0000 + i)) for i in range(2)]
    if ue_first:
        order = (IEType.SOURCE_INTERFACE, IEType.UE_IP_ADDRESS, IEType.F_TEID)
        pdrs = [replace(p, pdi=replace(p.pdi, _ie_order=order)) for p in pdrs]
    pfcp.decode_message(pfcp.encode_message(_req(pdrs[0])))
    data = bytearray(pfcp.encode_message(_req(pdrs[1])))
    ((p, e),) = _create_pdrs(bytes(data))
    leaves = _first_leaves(bytes(data), p, e)
    data[leaves[IEType.UE_IP_ADDRESS][0]] = 0x03  # V4 and V6 in 5 octets
    data[leaves[IEType.F_TEID][0]] = 0x03  # V4 and V6 in 9 octets
    assert _memoised(bytes(data)) == [True]
    got = _outcome(bytes(data))
    first = IEType.UE_IP_ADDRESS if ue_first else IEType.F_TEID
    assert isinstance(got, tuple) and got[1:3] == (Cause.INVALID_LENGTH, first)
    _check_against_reference(got, bytes(data))


def test_update_pdr_pdis() -> None:
    """PDIs in Update PDRs (Session Modification) come from the PDI memo."""
    _clear()
    ue_ips = [pfcp.UeIpAddress(ipv4=IPv4Address("10.45.0.1"), is_destination=True),
              pfcp.UeIpAddress(ipv4=IPv4Address("10.45.0.2"), is_destination=True),
              pfcp.UeIpAddress(ipv6=IPv6Address("2001:db8::1"), is_destination=True)]
    for i, ue_ip in enumerate(ue_ips):
        pdi = replace(DL.pdi, ue_ip_address=ue_ip)
        msg = pfcp.SessionModificationRequest(sequence=i + 1, seid=5, update_pdr=(pfcp.UpdatePdr(2, pdi=pdi),))
        data = pfcp.encode_message(msg)
        ((p, e),) = [(p, e) for t, p, e in _ies(data, 16, len(data)) if t == IEType.UPDATE_PDR]
        ((p, e),) = [(p, e) for t, p, e in _ies(data, p, e) if t == IEType.PDI]
        assert (PDI_MEMO.memoised(data, p, e) is not None) == (i == 1)  # (the third: IPv6, longer)
        got = pfcp.decode_message(data)
        _same(got, msg)
        _check_against_reference(got, data)


@pytest.mark.parametrize(
    "exc",
    [struct.error("short"), BufferReadError("need 5 octets, have 4"), IeValueError("bad"), KeyError("a codec bug")],
    ids=["struct.error", "BufferReadError", "IeValueError", "KeyError"],
)
def test_leaf_errors_are_raised_as_the_pdi_decoder_raises_them(monkeypatch: pytest.MonkeyPatch,
                                                                exc: Exception) -> None:
    """Every kind of error a leaf decoder can raise, from a hit and from a full decode."""
    spec = IE_CODECS[IEType.PDI].spec
    assert spec is not None
    memo = MaskedMemo(IEType.PDI, spec)  # its own, so its hit function can be doctored alone
    data = encode_ie(IEType.PDI, DL.pdi)
    buf = Buffer(data)
    assert memo.decode(data, 4, len(data), buf) == DL.pdi
    assert memo.memoised(data, 4, len(data)) == DL.pdi

    def leaf(data: bytes, pos: int, end: int) -> Any:
        raise exc

    fast = IE_CODECS[IEType.UE_IP_ADDRESS].fast
    for fn in (memo.hit_fns[(IEType.UE_IP_ADDRESS,)], spec.decode):
        (name,) = [k for k, v in fn.__globals__.items() if v is fast]
        monkeypatch.setitem(fn.__globals__, name, leaf)
    outcomes = []
    for decode in (memo.decode, spec.decode):
        with pytest.raises(Exception) as info:
            decode(data, 4, len(data), buf)
        err = info.value
        outcomes.append((type(err), getattr(err, "cause", None), getattr(err, "ie_type", None), str(err)))
    assert outcomes[0] == outcomes[1]
    # a codec bug is not the peer's fault: it passes through (decode_message says SYSTEM_FAILURE)
    assert outcomes[0][0] is (KeyError if isinstance(exc, KeyError) else DecodeError)


def test_checks_run_on_the_copies() -> None:
    """A spec's checks (none on PDI and Create PDR today) see the fresh leaves on a hit."""
    spec = IE_CODECS[IEType.PDI].spec
    assert spec is not None

    def no_ue_9(pdi: pfcp.Pdi) -> None:
        if pdi.ue_ip_address is not None and pdi.ue_ip_address.ipv4 == IPv4Address("10.0.0.9"):
            raise DecodeError(Cause.RULE_CREATION_MODIFICATION_FAILURE, "UE 10.0.0.9", IEType.UE_IP_ADDRESS)

    checked = Spec(pfcp.Pdi, spec.fields, (no_ue_9,))
    memo = MaskedMemo(IEType.PDI, checked)
    for ue, ok in (("10.0.0.8", True), ("10.0.0.9", False), ("10.0.0.10", True)):
        pdi = replace(DL.pdi, ue_ip_address=pfcp.UeIpAddress(ipv4=IPv4Address(ue)))
        data = encode_ie(IEType.PDI, pdi)
        assert (memo.memoised(data, 4, len(data)) is not None) == (ue != "10.0.0.8")
        if ok:
            assert memo.decode(data, 4, len(data), Buffer(data)) == pdi
        else:
            with pytest.raises(DecodeError) as info:
                memo.decode(data, 4, len(data), Buffer(data))
            assert info.value.cause == Cause.RULE_CREATION_MODIFICATION_FAILURE
    assert len(memo) == 1  # the failure was not stored


# --- bounds -------------------------------------------------------------------------------------

def _unknown(size: int) -> tuple[RawIe, ...]:
    """An unknown IE of ``size`` octets: another value length for each size."""
    return (RawIe(0x7F00, bytes(size)),)


def test_the_memo_stays_within_its_bound() -> None:
    """PDRs that differ elsewhere than in a per-session leaf (here the PDR ID), of many lengths
    (by an unknown IE): each misses and is stored, until the memo is full and dropped."""
    _clear()
    sizes = []
    for n in range(2 * MEMO_LIMIT):
        req = _req(_dl(IPv4Address(0x0A000000 + n), pdr_id=n, extra_ies=_unknown(n % 40)))
        got = pfcp.decode_message(pfcp.encode_message(req))
        _same(got, req)
        sizes.append(len(PDR_MEMO))
    assert max(sizes) == MEMO_LIMIT
    assert [i for i in range(1, len(sizes)) if sizes[i] < sizes[i - 1]] == [MEMO_LIMIT]  # dropped
    assert all(len(length.shapes) == 1 for length in PDR_MEMO.lengths.values())


def test_lengths_where_lookups_keep_missing_go_cold() -> None:
    """After COLD misses in a row, a value length is looked up (and a miss stored) once in
    PROBE calls only; a shape that repeats is stored at a probe, found at the next one, and
    the length is warm again. A drop leaves a cold length cold."""
    _clear()
    n = 0

    def decode(pdr: pfcp.CreatePdr) -> None:
        nonlocal n
        n += 1
        req = _req(pdr)
        _same(pfcp.decode_message(pfcp.encode_message(req)), req)

    for _ in range(1 + COLD):  # stored: the first (a new length), then COLD misses
        decode(_dl(IPv4Address(0x0A000000 + n), pdr_id=n))
    (length,) = PDR_MEMO.lengths.values()
    assert length.misses == COLD and len(PDR_MEMO) == 1 + COLD
    for _ in range(3 * PROBE):  # cold: three probes, three misses stored
        decode(_dl(IPv4Address(0x0A000000 + n), pdr_id=n))
    assert length.misses == COLD + 3 * PROBE and len(PDR_MEMO) == 1 + COLD + 3
    PDR_MEMO._drop()
    assert PDR_MEMO.lengths[next(iter(PDR_MEMO.lengths))] is length and length.misses >= COLD
    for i in range(2 * PROBE):  # a shape that repeats: stored at a probe, found at the next
        decode(_dl(IPv4Address(0x0B000000 + i), pdr_id=40_000))
        if length.misses == 0:
            break
    assert length.misses == 0 and len(PDR_MEMO) == 1
    for i in range(5):  # warm: every decode a hit
        data = pfcp.encode_message(_req(_dl(IPv4Address(0x0C000000 + i), pdr_id=40_000)))
        assert _memoised(data) == [True]
        _same(pfcp.decode_message(data), _req(_dl(IPv4Address(0x0C000000 + i), pdr_id=40_000)))
    assert length.misses == 0 and len(PDR_MEMO) == 1


def test_shapes_per_length_are_bounded() -> None:
    """PDIs of one length with the UE IP Address at another place each: another shape each,
    at most MAX_SHAPES per length (then the memo is dropped), every decode still right."""
    _clear()
    pdi = replace(DL.pdi, qfi=(1,), sdf_filter=(pfcp.SdfFilter(sdf_filter_id=1),))
    value = encode_ie(IEType.PDI, pdi)
    by_offset: dict[int, tuple[int, ...]] = {}  # an IE order for each UE IP Address offset
    for order in itertools.permutations(ie_order(value, 4, len(value))):
        ordered = encode_ie(IEType.PDI, replace(pdi, _ie_order=order))
        at = next(p for t, p, _ in _ies(ordered, 4, len(ordered)) if t == IEType.UE_IP_ADDRESS)
        by_offset.setdefault(at, order)
    assert len(by_offset) > MAX_SHAPES
    most = 0
    decoded = []
    for n, order in enumerate(by_offset.values()):
        req = _req(UL, _dl(IPv4Address(0x0A000000 + n), pdi=replace(pdi, _ie_order=order)))
        data = pfcp.encode_message(req)
        decoded.append((pfcp.decode_message(data), data))  # a miss
        assert _memoised(data)[1]  # (the UL PDR's shape goes when the DL PDR's drops them all)
        decoded.append((pfcp.decode_message(data), data))  # a hit
        assert all(len(length.shapes) <= MAX_SHAPES for length in PDR_MEMO.lengths.values())
        assert all(len(length.shapes) <= MAX_SHAPES for length in PDI_MEMO.lengths.values())
        most = max(most, *(len(length.shapes) for length in PDR_MEMO.lengths.values()))
    assert most == MAX_SHAPES
    for got, data in decoded:
        _check_against_reference(got, data)


def test_long_values_are_not_stored() -> None:
    _clear()
    sdf = pfcp.SdfFilter("permit out ip from any to assigned " + "x" * MEMO_MAX_OCTETS)
    for ue in (UE2, IPv4Address("10.45.7.10")):
        long = _dl(ue, pdi=replace(DL.pdi, sdf_filter=(sdf,)))
        req = _req(long, long)
        data = pfcp.encode_message(req)
        assert _memoised(data) == [False, False]
        _same(pfcp.decode_message(data), req)
    assert len(PDR_MEMO) == 0 and len(PDI_MEMO) == 0


# --- Create FAR and Update FAR: the Outer Header Creation is cut out -------------------------

FAR_MEMO = MASKED_MEMOS[IEType.CREATE_FAR]
UPDATE_FAR_MEMO = MASKED_MEMOS[IEType.UPDATE_FAR]
OHC = pfcp.OuterHeaderCreationDescription
# GTP-U v4 (the usual: a gNB or another UPF), v6, both, UDP/IPv4 (port), IPv4 with a C-TAG,
# N6 indication, and a description that asks for no field at all
OHC_DESCRIPTIONS = [0x0100, 0x0200, 0x0300, 0x0400, 0x1000 | 0x4000, 0x0100 | 0x0002, 0x0001]


@st.composite
def ohcs(draw: st.DrawFn) -> pfcp.OuterHeaderCreation:
    d = draw(st.sampled_from(OHC_DESCRIPTIONS))
    return pfcp.OuterHeaderCreation(
        OHC(d),
        teid=draw(u32) if d & 0x0300 else None,
        ipv4=draw(v4) if d & 0x1500 else None,
        ipv6=draw(v6) if d & 0x2A00 else None,
        port=draw(u16) if d & 0x0C00 else None,
        c_tag=draw(st.binary(min_size=3, max_size=3)) if d & 0x4000 else None,
    )


# unknown IEs, and a second Outer Header Creation (kept raw)
far_raw_ies = st.builds(
    RawIe,
    st.sampled_from([0x7F00, IEType.OUTER_HEADER_CREATION]),
    st.sampled_from([b"", b"\x01\x00\x00\x00\x00\x07\x0a\x00\x00\x02", b"\x01", bytes(4)]),
)


@st.composite
def forwarding(draw: st.DrawFn, update: bool) -> Any:
    cls = pfcp.UpdateForwardingParameters if update else pfcp.ForwardingParameters
    kind = IEType.UPDATE_FORWARDING_PARAMETERS if update else IEType.FORWARDING_PARAMETERS
    dst = draw(st.sampled_from(list(pfcp.DestinationInterface)[:3]))
    fields: dict[str, Any] = {
        "destination_interface": draw(st.none() | st.just(dst)) if update else dst,
        "network_instance": draw(st.none() | st.just(INTERNET)),
        "outer_header_creation": draw(st.none() | ohcs()),
        "transport_level_marking": draw(st.none() | u16),
        "extra_ies": tuple(draw(st.lists(far_raw_ies, max_size=2))),
    }
    if update and draw(st.booleans()):
        fields["pfcpsmreq_flags"] = pfcp.PfcpsmReqFlags.SNDEM
    return _reordered(draw, cls(**fields), kind)


@st.composite
def fars(draw: st.DrawFn, update: bool) -> Any:
    if update:
        far: Any = pfcp.UpdateFar(
            far_id=draw(u32),
            apply_action=draw(st.none() | st.just(pfcp.ApplyAction.FORW)),
            update_forwarding_parameters=draw(st.none() | forwarding(True)),
        )
        return _reordered(draw, far, IEType.UPDATE_FAR)
    fp = draw(st.none() | forwarding(False))
    far = pfcp.CreateFar(
        far_id=draw(u32),
        apply_action=pfcp.ApplyAction.FORW if fp is not None else pfcp.ApplyAction.DROP,
        forwarding_parameters=fp,
        extra_ies=tuple(draw(st.lists(st.builds(RawIe, st.just(0x7F02), st.binary(max_size=4)), max_size=1))),
    )
    return _reordered(draw, far, IEType.CREATE_FAR)


def _far_fp(far: Any) -> Any:
    return far.update_forwarding_parameters if isinstance(far, pfcp.UpdateFar) else far.forwarding_parameters


def _far_another_session(draw: st.DrawFn, far: Any) -> Any:
    """The same FAR towards another tunnel: the Outer Header Creation's TEID and addresses."""
    fp = _far_fp(far)
    if fp is None or fp.outer_header_creation is None:
        return far
    o = fp.outer_header_creation
    o = replace(o, teid=None if o.teid is None else draw(u32), ipv4=None if o.ipv4 is None else draw(v4),
                ipv6=None if o.ipv6 is None else draw(v6), port=None if o.port is None else draw(u16))
    fp = replace(fp, outer_header_creation=o)
    if isinstance(far, pfcp.UpdateFar):
        return replace(far, update_forwarding_parameters=fp)
    return replace(far, forwarding_parameters=fp)


@st.composite
def far_sessions(draw: st.DrawFn) -> tuple[pfcp.Message, pfcp.Message]:
    """Two requests of one shape: an Establishment with Create FARs, or a Modification with
    Update FARs (a handover: the gNB's new tunnel), as two sessions of one SMF send them."""
    update = draw(st.booleans())
    first = draw(st.lists(fars(update), min_size=1, max_size=3))
    second = [_far_another_session(draw, f) for f in first]
    seids = draw(st.tuples(st.integers(1, 2**64 - 1), st.integers(1, 2**64 - 1)))
    if update:
        return tuple(  # type: ignore[return-value]
            pfcp.SessionModificationRequest(sequence=n + 1, seid=seids[n], update_far=tuple(fs))
            for n, fs in enumerate((first, second))
        )
    return tuple(  # type: ignore[return-value]
        replace(REQ, sequence=n + 1, seid=seids[n], cp_f_seid=replace(REQ.cp_f_seid, seid=seids[n]),
                create_far=tuple(fs))
        for n, fs in enumerate((first, second))
    )


def _far_ies(data: bytes) -> list[tuple[int, int, int]]:
    """(type, value start, value end) of the Create FAR and Update FAR IEs of a session message."""
    return [(t, p, e) for t, p, e in _ies(data, 16, len(data)) if t in (IEType.CREATE_FAR, IEType.UPDATE_FAR)]


def _far_memoised(data: bytes) -> list[bool]:
    return [MASKED_MEMOS[t].memoised(data, p, e) is not None for t, p, e in _far_ies(data)]


def _first_ohc(data: bytes, ie_type: int, pos: int, end: int) -> tuple[int, int] | None:
    """The value of the first Outer Header Creation in a FAR's first (Update) Forwarding
    Parameters: the leaf the memo cuts out."""
    inner = IEType.UPDATE_FORWARDING_PARAMETERS if ie_type == IEType.UPDATE_FAR else IEType.FORWARDING_PARAMETERS
    fp = next(((p, e) for t, p, e in _ies(data, pos, end) if t == inner), None)
    if fp is not None:
        for t, p, e in _ies(data, *fp):
            if t == IEType.OUTER_HEADER_CREATION:
                return (p, e)
    return None


def _far_canonical(msg: pfcp.Message) -> bool:
    """No raw Outer Header Creation the decoder reads (for an empty field) and re-encodes."""
    fps = [_far_fp(f) for f in getattr(msg, "create_far", ()) + getattr(msg, "update_far", ())]
    return not any(r.ie_type == IEType.OUTER_HEADER_CREATION for fp in fps if fp for r in fp.extra_ies)


def _far_sizes() -> tuple[int, int]:
    return len(FAR_MEMO), len(UPDATE_FAR_MEMO)


def _ohc_leaves(b: bytes) -> list[tuple[int, int, int]]:
    """The Outer Header Creations of b's memoised FARs."""
    return [
        (i, *ohc)
        for i, (t, p, e) in enumerate(_far_ies(b))
        if e - p <= MEMO_MAX_OCTETS and (ohc := _first_ohc(b, t, p, e)) is not None
    ]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(far_sessions())
def test_a_far_hit_decodes_as_without_the_memo(pair: tuple[pfcp.Message, pfcp.Message]) -> None:
    _second_session_decodes_as_without_the_memo(
        pair, lambda b: [(p, e) for _, p, e in _far_ies(b)], _far_memoised, _far_sizes,
        _far_canonical)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(far_sessions(), st.data())
def test_a_bad_ohc_in_a_memoised_far_raises_as_without_the_memo(
    pair: tuple[pfcp.Message, pfcp.Message], data: st.DataObject
) -> None:
    # mostly the description's two octets (which fields follow, so the length no longer fits)
    _a_bad_leaf_raises_as_without_the_memo(pair, data, _ohc_leaves, _far_memoised, _far_sizes,
                                           second=1)


def test_a_handover_far_comes_from_the_memo() -> None:
    """The sample's DL FAR towards the gNB: another session's (another TEID and gNB) is a copy
    of the memoised FAR with a new Outer Header Creation, sharing every other field's value;
    the FAR towards the core is the memoised object itself. An Update FAR likewise."""
    _clear()
    core, gnb = REQ.create_far
    fp = gnb.forwarding_parameters
    assert fp is not None and fp.outer_header_creation is not None
    first = pfcp.decode_message(pfcp.encode_message(REQ))
    ohc = replace(fp.outer_header_creation, teid=0x4242, ipv4=IPv4Address("192.0.2.77"))
    other = replace(REQ, create_far=(core, replace(gnb, forwarding_parameters=replace(fp, outer_header_creation=ohc))))
    data = pfcp.encode_message(other)
    assert _far_memoised(data) == [True, True]
    again = pfcp.decode_message(data)
    assert isinstance(first, pfcp.SessionEstablishmentRequest)
    assert isinstance(again, pfcp.SessionEstablishmentRequest)
    _same(again, other)
    assert again.create_far[0] is first.create_far[0]
    dl, dl0 = again.create_far[1], first.create_far[1]
    assert dl is not dl0 and dl.forwarding_parameters is not dl0.forwarding_parameters
    assert dl.forwarding_parameters is not None and dl0.forwarding_parameters is not None
    assert dl.forwarding_parameters.outer_header_creation == ohc
    assert dl.forwarding_parameters.network_instance is dl0.forwarding_parameters.network_instance
    _check_against_reference(again, data)

    def handover(n: int, teid: int) -> bytes:
        ufp = pfcp.UpdateForwardingParameters(
            outer_header_creation=replace(ohc, teid=teid), pfcpsmreq_flags=pfcp.PfcpsmReqFlags.SNDEM)
        return pfcp.encode_message(pfcp.SessionModificationRequest(
            sequence=n, seid=n, update_far=(pfcp.UpdateFar(far_id=2, update_forwarding_parameters=ufp),)))

    pfcp.decode_message(handover(1, 7))
    data = handover(2, 8)
    assert _far_memoised(data) == [True]
    got = pfcp.decode_message(data)
    assert isinstance(got, pfcp.SessionModificationRequest)
    ufp = got.update_far[0].update_forwarding_parameters
    assert ufp is not None and ufp.outer_header_creation is not None
    assert ufp.outer_header_creation.teid == 8
    _check_against_reference(got, data)
