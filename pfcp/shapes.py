"""Request shapes: a request that differs from one decoded before only in its per-session
values is decoded by substituting them.

An SMF sends its Session Establishment Requests from one template: the same IEs in the
same order, with the same rule IDs, interfaces and flags, session after session. What
differs is a handful of fixed-size values: the CP F-SEID's SEID, the UE's IPv4 address,
the gNB's tunnel (Outer Header Creation), an F-TEID the SMF chose, and the header's
sequence number. A :class:`Shape` is learnt from one decoded request: its octets with
those values cut out (the *slots*). A later request of the same length whose octets
outside the slots are the same is that shape: only the IEs in its slots are decoded. Its
message is the learnt one with those IEs (and the groups holding them) replaced, built
only when it is read: the agent compiles an establishment of a known shape from the
slots' IEs alone (control/template.py).

It is the message ``decode_message`` returns, equal field by field
(tests/pfcp/test_shapes.py checks it against the decoder, and that any octet changed
outside the slots is not a match): the octets outside the slots are the same, so every IE
there decodes to what it did; the IEs in the slots go through their own decoders; every
group rebuilt is checked as the decoder checks it (at match time, unless its checks are
marked ``shape_invariant``). Anything unexpected (a slot IE that does not decode, a failed
check) is not a match, and the request goes through the decoder, which reports it. A
shape is learnt only if its own request, rebuilt from its slots, is the decoded message.

The slots (TS 29.244 8.2):
- F-SEID (top level): the SEID; the CP's address is the SMF's own, the same every time.
- UE IP Address with V4: the IPv4 address.
- F-TEID without CH, with V4 and not V6: TEID and IPv4 address.
- Outer Header Creation, description exactly GTP-U/UDP/IPv4: TEID and IPv4 address.
The control plane (control/template.py) learns, per shape, how each slot's value flows into
the compiled session.
"""

from __future__ import annotations

import functools
import operator
from collections.abc import Callable
from typing import Any, NamedTuple

from pfcp.enums import IEType, MessageType
from pfcp.fastinit import twin_of
from pfcp.ies.base import IE_CODECS, K_GROUP, Spec
from pfcp.messages import Message

__all__ = ["Shape", "ShapeTable", "Shaped", "Slot"]

# Where a slot's value is in an IE's value, if it has one: (offset, length) or None.
_SlotRule = Callable[[bytes, int, int], "tuple[int, int] | None"]


def _f_seid(data: bytes, pos: int, end: int) -> tuple[int, int] | None:
    return (pos + 1, 8) if end - pos >= 9 else None


def _ue_ip(data: bytes, pos: int, end: int) -> tuple[int, int] | None:
    # flags: V6 0x01, V4 0x02; the IPv4 address comes first when V4 is set.
    return (pos + 1, 4) if end - pos >= 5 and data[pos] & 0x02 else None


def _f_teid(data: bytes, pos: int, end: int) -> tuple[int, int] | None:
    # flags: V4 0x01, V6 0x02, CH 0x04; TEID and the IPv4 address without CH.
    return (pos + 1, 8) if end - pos >= 9 and data[pos] & 0x07 == 0x01 else None


def _ohc(data: bytes, pos: int, end: int) -> tuple[int, int] | None:
    # description 0x0100 (GTP-U/UDP/IPv4, nothing else): TEID and IPv4 address.
    if end - pos >= 10 and data[pos] == 0x01 and data[pos + 1] == 0x00:
        return (pos + 2, 8)
    return None


_RULES: dict[int, _SlotRule] = {
    IEType.UE_IP_ADDRESS: _ue_ip,
    IEType.F_TEID: _f_teid,
    IEType.OUTER_HEADER_CREATION: _ohc,
}
_TOP_RULES: dict[int, _SlotRule] = {**_RULES, IEType.F_SEID: _f_seid}
SHAPED_TYPES = frozenset({MessageType.SESSION_ESTABLISHMENT_REQUEST})

_HEADER = 16  # a session message's header (S=1); the sequence number is octets 12-14
_TL = 4
Path = tuple[tuple[str, int | None], ...]  # (field, index in a tuple field or None) from the top


class Slot(NamedTuple):
    """One per-session value of a shape: its IE (``ie_type`` at ``path``), where the IE's
    value is (``ie_start``:``ie_end``) and where the varying octets are (``start``:``end``)."""

    ie_type: int
    path: Path
    ie_start: int
    ie_end: int
    start: int
    end: int


# A rebuild step: (field, index or None, slot number or the steps inside that value).
_Edit = tuple[str, "int | None", "int | tuple[_Edit, ...]"]


class Shape:
    """One learnt request shape (identity is the shape: hashable by identity)."""

    __slots__ = ("_checked", "_consts", "_edited", "_edits", "_get_consts", "_leaf_decoders",
                 "_top_slots", "length", "matcher", "message", "message_type",
                 "recovery_time_stamp", "slots")

    def __init__(self, data: bytes, message: Message, slots: tuple[Slot, ...]) -> None:
        self.length = len(data)
        self.message_type = data[1]
        self.message = message
        self.slots = slots
        cuts = sorted([(12, 15)] + [(s.start, s.end) for s in slots])
        pieces, at = [], 0
        for start, end in cuts:
            if start > at:
                pieces.append(slice(at, start))
            at = end
        pieces.append(slice(at, len(data)))
        self._get_consts = operator.itemgetter(*pieces, slice(0, 0))  # (always a tuple)
        self._consts = self._get_consts(data)
        self._leaf_decoders = tuple(_leaf_decoder(s.ie_type) for s in slots)
        self._edits = _edits([(s.path, i) for i, s in enumerate(slots)])
        self._top_slots = {s.path[0][0]: i for i, s in enumerate(slots) if len(s.path) == 1
                           and s.path[0][1] is None}
        self._edited = {s.path[0][0] for s in slots} - set(self._top_slots)
        self._checked = _has_checks(type(message), self._edits)
        self.matcher = self._matcher()
        stamp = getattr(message, "recovery_time_stamp", None)  # (outside the slots)
        self.recovery_time_stamp: int | None = stamp if isinstance(stamp, int) else None

    def match(self, data: bytes) -> Shaped | None:
        """``data`` as this shape, or None if it is not this shape (or a slot's IE does not
        decode, or a rebuilt group fails its checks: the decoder says why). Straight-line
        code made for the shape (``_matcher``); this is what it does."""
        if self._get_consts(data) != self._consts:
            return None
        try:
            leaves = tuple([decode(data, s.ie_start, s.ie_end)
                            for decode, s in zip(self._leaf_decoders, self.slots, strict=True)])
            shaped = Shaped(self, leaves, int.from_bytes(data[12:15], "big"))
            if self._checked:  # a group on a slot's path has checks: run them now
                shaped.message  # noqa: B018
        except Exception:  # not ours to report: the full decoder will
            return None
        return shaped

    def _matcher(self) -> Callable[[bytes], Shaped | None]:
        """``match``, as straight-line code for this shape: each slot's IE decoded at its
        offsets, and decoded once when two slots hold the same IE octets (a UE address in
        the uplink and the downlink PDR)."""
        ns: dict[str, Any] = {"_get": self._get_consts, "_consts": self._consts,
                              "_new": object.__new__, "Shaped": Shaped, "shape": self,
                              "_from": int.from_bytes}
        lines = ["def match(data):", "    if _get(data) != _consts:", "        return None",
                 "    try:"]
        seen: dict[tuple[int, int], list[tuple[int, int]]] = {}
        for i, slot in enumerate(self.slots):
            ns[f"dec{i}"] = self._leaf_decoders[i]
            a, b = slot.ie_start, slot.ie_end
            same = [j for j, _ in seen.get((slot.ie_type, b - a), [])]
            decode = f"dec{i}(data, {a}, {b})"
            for j in same:
                c = self.slots[j].ie_start
                decode = (f"l{j} if data[{a}:{b}] == data[{c}:{c + b - a}] else {decode}")
            lines.append(f"        l{i} = {decode}")
            seen.setdefault((slot.ie_type, b - a), []).append((i, a))
        lines += [
            "        s = _new(Shaped)",
            "        s.shape = shape",
            f"        s.leaves = ({''.join(f'l{i}, ' for i in range(len(self.slots)))})",
            "        s.sequence = _from(data[12:15], 'big')",
            "        s._message = None",
        ]
        if self._checked:
            lines.append("        s.message")
        lines += ["    except Exception:", "        return None", "    return s"]
        exec("\n".join(lines) + "\n", ns)
        match: Callable[[bytes], Shaped | None] = ns["match"]
        return match


class Shaped:
    """A request recognised as ``shape``: the decoded IE of each of the shape's slots
    (``leaves[i]`` is at ``shape.slots[i]``), and its message, built when first read."""

    __slots__ = ("_message", "leaves", "sequence", "shape")

    def __init__(self, shape: Shape, leaves: tuple[Any, ...], sequence: int) -> None:
        self.shape = shape
        self.leaves = leaves
        self.sequence = sequence
        self._message: Message | None = None

    @property
    def message(self) -> Message:
        message = self._message
        if message is None:
            shape = self.shape
            message = self._message = _rebuild(shape.message, shape._edits, self.leaves,
                                               sequence=self.sequence)
        return message

    def field(self, name: str) -> Any:
        """The top-level field ``name`` of the message, without building it when the field is
        a slot's IE or outside every slot."""
        shape = self.shape
        slot = shape._top_slots.get(name)
        if slot is not None:
            return self.leaves[slot]
        if name in shape._edited:
            return getattr(self.message, name)
        return getattr(shape.message, name)


class ShapeTable:
    """The shapes learnt from the requests of :data:`SHAPED_TYPES`: at most
    ``max_per_length`` of one length and type (the oldest goes) and ``max_shapes`` in all
    (then it starts afresh). Requests from all peers share it: a shape is the octets,
    whoever sent them."""

    def __init__(self, max_shapes: int = 64, max_per_length: int = 4) -> None:
        self.max_shapes = max_shapes
        self.max_per_length = max_per_length
        self._by_length: dict[tuple[int, int], list[Shape]] = {}
        self._count = 0
        self.matched = 0
        self.learnt = 0

    def __len__(self) -> int:
        return self._count

    def match(self, data: bytes) -> Shaped | None:
        shapes = self._by_length.get((len(data), data[1]))
        if shapes is None:
            return None
        for shape in shapes:
            shaped = shape.matcher(data)
            if shaped is not None:
                self.matched += 1
                return shaped
        return None

    def learn(self, data: bytes, message: Message) -> Shape | None:
        """Learn the shape of ``data``, which decoded to ``message``: the new shape, or None
        if the request cannot have one (its type is not shaped, it has no slot, its header
        is not the plain session header)."""
        if (len(data) < _HEADER or data[1] not in SHAPED_TYPES or data[0] & 0x07 != 0x01
                or int.from_bytes(data[2:4], "big") + 4 != len(data)):
            return None  # (FO, MP or trailing octets: not learnt; decoded as they come)
        slots = _find_slots(data, message)
        if not slots:
            return None
        shape = Shape(data, message, tuple(slots))
        try:  # its own request, rebuilt from its slots, must be the message decoded
            itself = shape.matcher(data)
            if itself is None or itself.message != message or shape.match(data) is None:
                return None
        except Exception:
            return None
        key = (len(data), data[1])
        shapes = self._by_length.setdefault(key, [])
        if len(shapes) >= self.max_per_length:
            shapes.pop()
            self._count -= 1
        if self._count >= self.max_shapes:
            self._by_length.clear()
            self._count = 0
            shapes = self._by_length.setdefault(key, [])
        shapes.insert(0, shape)
        self._count += 1
        self.learnt += 1
        return shape


def _find_slots(data: bytes, message: Message) -> list[Slot]:
    """The slots of a request, walking its IEs as the decoder does (a repeated IE that is not
    a list is the decoder's extra: not a slot)."""
    spec: Spec = type(message)._spec
    slots: list[Slot] = []
    _walk(data, _HEADER, len(data), spec, (), _TOP_RULES, slots)
    return slots


def _walk(data: bytes, pos: int, end: int, spec: Spec, path: Path,
          rules: dict[int, _SlotRule], slots: list[Slot]) -> None:
    seen: dict[int, int] = {}
    while pos + _TL <= end:
        t = int.from_bytes(data[pos:pos + 2], "big")
        vpos = pos + _TL
        vend = vpos + int.from_bytes(data[pos + 2:pos + 4], "big")
        entry = spec.by_type.get(t)
        pos = vend
        if entry is None:
            continue
        count = seen.get(t, 0)
        seen[t] = count + 1
        if count and not entry.multiple:
            continue  # an extra IE: kept raw by the decoder
        step = (entry.name, count if entry.multiple else None)
        if entry.kind == K_GROUP and entry.spec is not None:
            if _may_hold_slot(entry.spec):
                _walk(data, vpos, vend, entry.spec, (*path, step), _RULES, slots)
            continue
        rule = rules.get(t)
        if rule is not None:
            where = rule(data, vpos, vend)
            if where is not None:
                slots.append(Slot(t, (*path, step), vpos, vend, where[0], where[0] + where[1]))


@functools.cache
def _may_hold_slot(spec: Spec) -> bool:
    return any(e.ie_type in _RULES or (e.kind == K_GROUP and e.spec is not None
                                       and _may_hold_slot(e.spec)) for e in spec.entries)


def _leaf_decoder(ie_type: int) -> Callable[[bytes, int, int], Any]:
    codec = IE_CODECS[ie_type]
    if codec.fast is not None:
        return codec.fast

    def pull(data: bytes, pos: int, end: int) -> Any:
        from pfcp.buffer import Buffer

        return codec.pull(Buffer(data, pos, end))

    return pull


def _edits(paths: list[tuple[Path, int]]) -> tuple[_Edit, ...]:
    """The rebuild steps of the slots' paths (a trie: each group rebuilt once)."""
    heads: dict[tuple[str, int | None], list[tuple[Path, int]]] = {}
    for path, slot in paths:
        heads.setdefault(path[0], []).append((path[1:], slot))
    out: list[_Edit] = []
    for (name, index), rest in heads.items():
        if len(rest) == 1 and not rest[0][0]:
            out.append((name, index, rest[0][1]))
        else:
            out.append((name, index, _edits(rest)))
    return tuple(out)


def _has_checks(cls: type, edits: tuple[_Edit, ...]) -> bool:
    """Whether any group a rebuild builds (``cls`` and those down ``edits``) has a check that
    may read a slot's value. A check marked ``shape_invariant`` reads only what a shape fixes
    (which IEs are present, values outside the slots): it passes as it did for the template."""
    if any(not getattr(check, "shape_invariant", False)
           for check in cls._spec.checks):  # type: ignore[attr-defined]
        return True
    for name, _, child in edits:
        if type(child) is int:
            continue
        entry = cls._spec.by_name[name]  # type: ignore[attr-defined]
        if entry.spec is not None and _has_checks(entry.spec.cls, child):  # type: ignore[arg-type]
            return True
    return False


@functools.cache
def _copier(cls: type) -> Callable[[Any], Any]:
    """copy(obj): a not-yet-frozen copy of ``obj`` (its plain slotted twin, every field set):
    the caller sets what changes and assigns ``__class__ = cls``."""
    twin = twin_of(cls)
    if twin is None:
        raise TypeError(f"{cls.__name__}: no twin")
    names = [n for n in twin.__slots__]  # type: ignore[attr-defined]
    body = "".join(f"    t.{n} = obj.{n}\n" for n in names)
    ns: dict[str, Any] = {"_new": object.__new__, "twin": twin}
    exec(f"def copy(obj):\n    t = _new(twin)\n{body}    return t\n", ns)
    copy: Callable[[Any], Any] = ns["copy"]
    return copy


def _rebuild(obj: Any, edits: tuple[_Edit, ...], leaves: tuple[Any, ...], **fields: Any) -> Any:
    cls = type(obj)
    new = _copier(cls)(obj)  # type: ignore[arg-type]
    for name, value in fields.items():
        setattr(new, name, value)
    for name, index, child in edits:
        if type(child) is int:
            value = leaves[child]
        else:
            old = getattr(obj, name)
            value = _rebuild(old if index is None else old[index], child, leaves)  # type: ignore[arg-type]
        if index is None:
            setattr(new, name, value)
        else:
            items = list(getattr(new, name))
            items[index] = value
            setattr(new, name, tuple(items))
    new.__class__ = cls
    spec = cls._spec
    for check in spec.checks:  # what the decoder checks of a group it built
        check(new)
    return new

