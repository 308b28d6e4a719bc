"""A memo for grouped IEs that repeat from one session to the next but for a per-session leaf:
Create PDR and PDI (TS 29.244 7.5.2.2), Create FAR and Update FAR (7.5.2.3, 7.5.4.3).

Real SMFs (Open5GS, free5GC, OAI) send the same rules for every session; what changes is the
PDI's UE IP Address (the address the SMF assigned), from some SMFs an F-TEID the SMF chose (not
CHOOSE), and the Outer Header Creation of a FAR towards the gNB or another UPF (its TEID and
address: in an Update FAR at every handover, and in a Create FAR when the peer's tunnel is
known at establishment, as on N9). The plain memo (pfcp.ies.compile.MEMOS) keys on all of an
IE's octets, so these miss it every time. This memo keys on the octets with those leaves'
values cut out (the "cuts": where the values lie, relative to the grouped IE's value, found by
walking the TLVs after a successful decode). A hit takes the memoised object, decodes the
cut-out values afresh with the leaf decoder a full decode runs (its errors raised the way the
inner group's decoder raises them), and builds copies of the inner group (PDI, Forwarding
Parameters, Update Forwarding Parameters) and of the IE holding it with them in place.

Why a hit is what a full decode returns (or raises): an entry is found by the value's length,
its cuts and its octets outside the cuts. The cuts are IE values only, never a type or length,
so equal octets outside them mean the same IE headers at the same places: the same IEs, in
the same order, each with the same octets but for the cut-out leaves. Leaf decoders are pure
functions of an IE's octets; the cut-out leaves are the first of their type in the first inner
group, the ones its decoder puts in the field (a later one of the same type is kept as an
extra IE, octets and all, and is part of the key), and nothing else reads them (the specs'
checks run again on the copies). Every other IE decoded without error for the memoised object,
so a cut-out leaf is the only thing that can fail, and the first failing one in arrival order
raises, as in the full decode. A leaf the cuts leave in (a CHOOSE F-TEID, a UE IP Address
asking for CHOOSE only) is part of the key like any other octets.

Bounded like the plain memo: successful decodes of values up to MEMO_MAX_OCTETS only, and a
type's entries are all dropped when it holds MEMO_LIMIT of them, or when one value length would
get more than MAX_SHAPES sets of cuts. Lengths where lookups keep missing go cold (see COLD).
"""

from __future__ import annotations

import dataclasses
import struct
from collections.abc import Callable
from itertools import permutations
from typing import TYPE_CHECKING, Any

from pfcp.buffer import TL
from pfcp.enums import IEType
from pfcp.errors import BufferReadError, IeValueError
from pfcp.ies.compile import MEMO_LIMIT, MEMO_MAX_OCTETS, _err_content, _err_length, _err_trunc

if TYPE_CHECKING:
    from pfcp.ies.base import Spec

GroupDecode = Callable[[bytes, int, int, Any], Any]  # (data, pos, end, buf) -> grouped IE
Find = Callable[[bytes, int, int], Any]  # (data, pos, end) -> decoded IE, or None on a miss
Cut = tuple[int, int, int]  # (start, end) of a leaf's value, relative to the grouped value; type


def _ue_ip_varies(data: bytes, pos: int) -> bool:
    """An address (V4/V6) is per session; CHV4/CHV6 alone are the same every time."""
    return bool(data[pos] & 0x03)


def _f_teid_varies(data: bytes, pos: int) -> bool:
    """An F-TEID the SMF chose is per session; a CHOOSE one (CH) is the same every time."""
    return not data[pos] & 0x04


def _always(data: bytes, pos: int) -> bool:
    """An Outer Header Creation is the peer's tunnel (TEID, address): per session."""
    return True


# The leaves cut out of the key, each with whether its value (at ``data[pos:]``) is worth
# cutting out (a per-session value); which ones are cut never changes what a hit returns.
VARYING: dict[int, Callable[[bytes, int], bool]] = {
    IEType.UE_IP_ADDRESS: _ue_ip_varies,
    IEType.F_TEID: _f_teid_varies,
    IEType.OUTER_HEADER_CREATION: _always,
}
# Each memoised type, and the grouped IE in it whose leaves are cut out (None: its own).
INNER: dict[int, int | None] = {
    IEType.CREATE_PDR: IEType.PDI,
    IEType.PDI: None,
    IEType.CREATE_FAR: IEType.FORWARDING_PARAMETERS,
    IEType.UPDATE_FAR: IEType.UPDATE_FORWARDING_PARAMETERS,
}
MASKED_TYPES = frozenset(INNER)
MAX_SHAPES = 4  # sets of cuts (shapes) per value length
# A miss costs a lookup (~0.5 us) and storing it a walk of the IEs for the cuts and a key
# (~2 us, half a decode). Misses that are looked up are stored; but once COLD lookups in a row
# have missed for a value length (PDRs that never repeat: an SMF that numbers its rules per UPF
# rather than per session, a per-session SDF filter), that length is cold: only one call in
# PROBE looks up (and stores a miss), the others decode at once, until a probe hits.
COLD = 64
PROBE = 64
_TL = TL.unpack_from


class _Length:
    """What the memo holds for one value length: ``shapes``, a list of (cuts, memo, find), where
    find(data, pos, end) looks data[pos:end] up in memo (its octets outside the cuts ->
    memoised object) and returns the hit or None; and how many lookups missed in a row."""

    __slots__ = ("misses", "shapes")

    def __init__(self) -> None:
        self.shapes: list[tuple[tuple[Cut, ...], dict[bytes, Any], Find]] = []
        self.misses = 0


class MaskedMemo:
    """The memo of one grouped IE type (MASKED_TYPES): the leaves are in the grouped IE it
    holds (``inner``: the PDI of a Create PDR, the Forwarding Parameters of a Create FAR...)
    or, for a PDI, in itself.

    ``decode(data, pos, end, buf)`` is the memoised form of ``spec.decode`` that the generated
    decoders of the enclosing IEs call."""

    __slots__ = ("decode", "hit_fns", "inner", "inner_field", "inner_type", "leaves", "lengths",
                 "nested", "size", "spec", "whole")

    def __init__(self, ie_type: int, spec: Spec) -> None:
        self.spec = spec
        inner_type = INNER[ie_type]
        self.nested = inner_type is not None  # the leaves are in a grouped IE it holds
        self.inner_type = -1 if inner_type is None else int(inner_type)
        entry = spec.by_type[inner_type] if inner_type is not None else None
        self.inner_field = entry.name if entry is not None else ""
        inner = entry.spec if entry is not None else spec
        assert inner is not None
        self.inner = inner
        # the leaves that may be cut out: the inner group's with a Buffer-free decoder (all)
        self.leaves = frozenset(t for t, e in inner.by_type.items() if t in VARYING and e.fast)
        # hit(memoised, data, start0, end0, ...) for each list of cut-out leaf types, in
        # arrival order: the leaves decoded from data[start:end], the copies built around them
        self.hit_fns = {
            types: self._hit(types)
            for n in range(1, len(self.leaves) + 1)
            for types in permutations(sorted(self.leaves), n)
        }
        self.size = 0  # entries
        self.lengths: dict[int, _Length] = {}  # by value length (at most MEMO_MAX_OCTETS + 1)
        # The entries with nothing cut out (a FAR towards the core, a PDI without a UE
        # address), by all their octets, whatever their length: the memo of every length's
        # shape without cuts, and looked up first, as cheaply as in the plain memo.
        self.whole: dict[bytes, Any] = {}
        self.decode = self._decoder()

    def clear(self) -> None:
        """Back to the start: no entries, no cold lengths."""
        self.lengths.clear()
        self.whole.clear()
        self.size = 0

    def _drop(self) -> None:
        """Drop every entry (a cold length stays cold)."""
        for length in self.lengths.values():
            length.shapes.clear()
        self.whole.clear()
        self.size = 0

    def __len__(self) -> int:
        return self.size

    def memoised(self, data: bytes, pos: int, end: int) -> Any:
        """The memoised object a decode of ``data[pos:end]`` would start from, or None (for
        tests: then that decode is a hit)."""
        length = self.lengths.get(end - pos)
        for cuts, memo, _ in length.shapes if length is not None else ():
            obj = memo.get(_key(data, pos, end, cuts))
            if obj is not None:
                return obj
        return None

    def _decoder(self) -> GroupDecode:
        lengths = self.lengths
        whole = self.whole
        full = self.spec.decode
        store = self._store
        longest, cold, probe = MEMO_MAX_OCTETS, COLD, PROBE

        def decode(data: bytes, pos: int, end: int, buf: Any) -> Any:
            if end - pos <= longest:  # (longer values are never stored)
                obj = whole.get(data[pos:end])
                if obj is not None:  # a hit at this length: the misses in a row end
                    length = lengths.get(end - pos)
                    if length is not None and length.misses:
                        length.misses = 0
                    return obj
            length = lengths.get(end - pos)
            if length is None:  # a new length: decoded, and stored at once
                obj = full(data, pos, end, buf)  # (an error: nothing stored)
                if end - pos <= longest:
                    store(obj, data, pos, end)
                return obj
            misses = length.misses
            if misses >= cold and misses % probe:  # cold: no lookup
                length.misses = misses + 1
                return full(data, pos, end, buf)
            for cuts, _, find in length.shapes:
                if not cuts:  # (its entries are in ``whole``, looked up above)
                    continue
                obj = find(data, pos, end)
                if obj is not None:
                    if misses:
                        length.misses = 0
                    return obj
            length.misses = misses + 1
            obj = full(data, pos, end, buf)
            store(obj, data, pos, end)  # (lengths are those of stored values: short enough)
            return obj

        decode.__qualname__ = f"decode_{self.spec.name}_masked"
        return decode

    def _hit(self, types: tuple[int, ...]) -> Callable[..., Any]:
        """Generate ``hit(obj, data, p0, q0, ...)`` for leaves of ``types`` at data[p0:q0], ...:
        each decoded by the inner group decoder's leaf function, its errors raised as that
        decoder raises them; then a copy of the inner group with them in place (checks run)
        and, nested, of the IE holding it. A copy fills a bare instance of the class's plain
        twin slot by slot and switches its class, as the generated decoders do (~10x faster
        than dataclasses.replace); without a twin, ``spec.build``."""
        inner = self.inner
        ns: dict[str, Any] = {
            "_new": object.__new__,
            "_SE": struct.error,
            "_BRE": BufferReadError,
            "_IVE": IeValueError,
            "_err_trunc": _err_trunc,
            "_err_length": _err_length,
            "_err_content": _err_content,
            "NAME": inner.name,
        }
        args = "".join(f", p{i}, q{i}" for i in range(len(types)))
        d = [f"def hit(obj, data{args}):"]
        for i, t in enumerate(types):
            ns[f"_leaf{i}"] = inner.by_type[t].fast
            d += [
                "    try:",
                f"        v{i} = _leaf{i}(data, p{i}, q{i})",
                "    except _SE:",
                "        raise _err_trunc(NAME) from None",
                "    except _BRE as exc:",
                f"        raise _err_length({t}, exc) from None",
                "    except _IVE as exc:",
                f"        raise _err_content({t}, exc) from None",
            ]
        leaves = {inner.by_type[t].name: f"v{i}" for i, t in enumerate(types)}
        if self.nested:
            d += _copy(ns, "d", inner, f"obj.{self.inner_field}", leaves)
            d += _copy(ns, "o", self.spec, "obj", {self.inner_field: "d"})
        else:
            d += _copy(ns, "o", inner, "obj", leaves)
        d.append("    return o")
        exec("\n".join(d) + "\n", ns)  # built from the field names of dataclasses of ours only
        hit: Callable[..., Any] = ns["hit"]
        hit.__qualname__ = f"hit_{self.spec.name}_{'_'.join(map(str, types))}"
        return hit

    # --- misses -------------------------------------------------------------------------------

    def _store(self, obj: Any, data: bytes, pos: int, end: int) -> None:
        """Remember ``obj``, decoded without error from ``data[pos:end]`` (a miss)."""
        cuts = self._cuts(data, pos, end)
        if self.size >= MEMO_LIMIT:
            self._drop()
        length = self.lengths.get(end - pos)
        if length is None:
            length = self.lengths[end - pos] = _Length()
        shapes = length.shapes
        memo: dict[bytes, Any] | None = None
        for have, known, _ in shapes:
            if have == cuts:
                memo = known
                break
        if memo is None:
            if len(shapes) >= MAX_SHAPES:
                self._drop()  # (empties ``shapes`` too)
            memo = {} if cuts else self.whole
            shapes.append((cuts, memo, self._finder(cuts, memo)))
        memo[_key(data, pos, end, cuts)] = obj
        self.size += 1

    def _cuts(self, data: bytes, pos: int, end: int) -> tuple[Cut, ...]:
        """The per-session leaves of the first inner group (the one decoded into the field):
        the first of each type. The octets decoded without error, so every header is in
        bounds. No inner group (Forwarding Parameters are optional): no cuts."""
        base = pos
        if self.nested:  # to the first inner group
            inner_type = self.inner_type
            while pos < end:
                t, ln = _TL(data, pos)
                pos += 4
                if t == inner_type:
                    end = pos + ln
                    break
                pos += ln
        todo = set(self.leaves)
        out: list[Cut] = []
        while pos < end:
            t, ln = _TL(data, pos)
            pos += 4
            if t in todo:
                todo.discard(t)
                if ln and VARYING[t](data, pos):
                    out.append((pos - base, pos + ln - base, t))
                if not todo:
                    break
            pos += ln
        return tuple(out)

    def _finder(self, cuts: tuple[Cut, ...], memo: dict[bytes, Any]) -> Find:
        """The lookup for one set of cuts (closures, not generated code: a miss must stay cheap)."""
        if not cuts:  # nothing varies: the memoised object itself, as in the plain memo

            def find0(data: bytes, pos: int, end: int) -> Any:
                return memo.get(data[pos:end])

            return find0
        hit = self.hit_fns[tuple(t for _, _, t in cuts)]
        if len(cuts) == 1:
            ((a, b, _),) = cuts

            def find1(data: bytes, pos: int, end: int) -> Any:
                obj = memo.get(data[pos : pos + a] + data[pos + b : end])
                return None if obj is None else hit(obj, data, pos + a, pos + b)

            return find1
        spans = tuple(x for a, b, _ in cuts for x in (a, b))

        def find(data: bytes, pos: int, end: int) -> Any:
            obj = memo.get(_key(data, pos, end, cuts))
            return None if obj is None else hit(obj, data, *[pos + x for x in spans])

        return find


def _copy(ns: dict[str, Any], var: str, spec: Spec, src: str, new: dict[str, str]) -> list[str]:
    """Lines that set ``var`` to a copy of ``src`` (a ``spec.cls``) with the fields in ``new``
    set to those expressions, then run the spec's checks on it."""
    fields = [f.name for f in dataclasses.fields(spec.cls)]
    values = [new.get(f, f"{src}.{f}") for f in fields]
    if spec.twin is not None:
        ns[f"_{var}twin"], ns[f"_{var}cls"] = spec.twin, spec.cls
        out = [f"    {var} = _new(_{var}twin)"]
        out += [f"    {var}.{f} = {v}" for f, v in zip(fields, values, strict=True)]
        out.append(f"    {var}.__class__ = _{var}cls")
    else:
        ns[f"_{var}build"] = spec.build
        out = [f"    {var} = _{var}build([{', '.join(values)}])"]
    for k, check in enumerate(spec.checks):
        ns[f"_{var}k{k}"] = check
        out.append(f"    _{var}k{k}({var})")
    return out


def _key(data: bytes, pos: int, end: int, cuts: tuple[Cut, ...]) -> bytes:
    """``data[pos:end]`` without the cut-out values."""
    parts = []
    p = pos
    for a, b, _ in cuts:
        parts.append(data[p : pos + a])
        p = pos + b
    parts.append(data[p:end])
    return b"".join(parts)


MASKED_MEMOS: dict[int, MaskedMemo] = {}


def group_decoder(ie_type: int, spec: Spec) -> GroupDecode:
    """The decoder the generated decoders call for a grouped IE: ``spec.decode``, through this
    memo for the MASKED_TYPES (one memo per type, shared by every table that holds it)."""
    if ie_type not in MASKED_TYPES:
        return spec.decode
    memo = MASKED_MEMOS.get(ie_type)
    if memo is None:
        memo = MASKED_MEMOS[ie_type] = MaskedMemo(ie_type, spec)
    return memo.decode


def clear_masked_memos() -> None:
    for memo in MASKED_MEMOS.values():
        memo.clear()


__all__ = [
    "COLD",
    "MASKED_MEMOS",
    "MASKED_TYPES",
    "MAX_SHAPES",
    "PROBE",
    "VARYING",
    "MaskedMemo",
    "clear_masked_memos",
    "group_decoder",
]
