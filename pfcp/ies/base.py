"""The IE registry and the table-driven codec for lists of IEs (messages and grouped IEs).

One registry maps an IE type to ``(python type, pull, push)``: ``pull(buf)`` reads the IE's
value from ``buf.pos`` to ``buf.end``; ``push(w, value)`` appends the value's octets.

A message or grouped IE is described once, by a tuple of :class:`Field` rows
``(IE type, field name, presence M/C/O, multiple)`` in the spec's order. :func:`bind` turns the
rows and the dataclass into a :class:`Spec`; decoding, encoding and mandatory-IE validation all
run from it. Encoding writes IEs in table order, then the unknown/vendor IEs kept in
``extra_ies``, unless the object was decoded from IEs in another order: then the arrival order
kept in its ``_ie_order`` field is followed (see pfcp/__init__.py for the byte-identity rule).

Two executors read a Spec: ``decode_ies``/``decode_group``/``encode_ies`` below interpret it
(short and obvious: the reference), and :mod:`pfcp.ies.compile` generates a specialised
function per Spec from it (what ``decode_message``/``encode_message`` run; several times
faster). tests/pfcp/test_compiled.py checks they agree, also on fuzzed input.
"""

from __future__ import annotations

import dataclasses
import operator
import struct
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple, TypeAlias, TypeVar

from pfcp.buffer import TL, U16, U32, Buffer, Writer
from pfcp.enums import Cause, IEType
from pfcp.errors import BufferReadError, DecodeError, EncodeError, IeValueError
from pfcp.fastinit import fast_init, is_frozen_slotted, twin_of

_T = TypeVar("_T")

M = "M"  # mandatory
C = "C"  # conditional
O = "O"  # optional  # noqa: E741

VENDOR_IE_MIN = 0x8000  # TS 29.244 8.1.1: types >= 32768 carry a 2-octet Enterprise ID

# The ``_ie_order`` field of every message and grouped IE: None, or the IE types in the order
# they arrived when that differs from the order the encoder writes (then the encoder follows
# it while it fits the fields). Not compared, hashed or shown; dataclasses.replace keeps it.
IeOrder: TypeAlias = tuple[int, ...] | None


@dataclass(frozen=True, slots=True)
class RawIe:
    """An IE this codec did not decode (unknown, vendor-specific, unexpected or repeated).

    ``value`` is the IE's octets after the Enterprise ID (vendor IEs) or after the length.
    """

    ie_type: int
    value: bytes
    enterprise_id: int | None = None


Pull = Callable[[Buffer], Any]
Push = Callable[[Writer, Any], None]

# How the list codec handles an IE: a fixed-size integer inline, a grouped IE by recursion,
# anything else through its pull/push functions.
K_GENERIC = 0
K_U8 = 1
K_U16 = 2
K_U32 = 3
K_GROUP = 4
K_ENUM8 = 5  # one octet, masked, looked up in ``table`` (an EnumCache)
K_FLAGS = 6  # flag octets: ``table[octet]`` when there is one octet, else ``pull``

_INT_SIZE = {K_U8: 1, K_U16: 2, K_U32: 4}
_INT_STRUCT = {K_U8: struct.Struct("!HHB"), K_U16: struct.Struct("!HHH"), K_U32: struct.Struct("!HHI")}


class IeCodec(NamedTuple):
    cls: type
    pull: Pull
    push: Push
    kind: int = K_GENERIC
    spec: Spec | None = None
    table: Any = None
    mask: int = 0xFF
    fast: Callable[[bytes, int, int], Any] | None = None  # pull from data[pos:end], no Buffer
    tlv: Callable[[Any], bytes] | None = None  # the whole IE (type, length, value) in one go
    enc_mask: int | None = None  # K_ENUM8 whose push is one octet ``value & enc_mask`` (-1: as is)
    flag_len: int = 0  # K_FLAGS: the minimal number of flag octets push writes


IE_CODECS: dict[int, IeCodec] = {}


def _fast_init_once(cls: type) -> None:
    """Every IE and message class gets the faster __init__ (pfcp/fastinit.py): the agent
    builds a response's IEs for every request, and the dataclass one costs more than encoding
    them."""
    init = cls.__dict__.get("__init__")
    if is_frozen_slotted(cls) and getattr(init, "__module__", None) != fast_init.__module__:
        fast_init(cls)


def register(
    ie_type: IEType,
    cls: type,
    pull: Pull,
    push: Push,
    kind: int = K_GENERIC,
    spec: Spec | None = None,
    table: Any = None,
    mask: int = 0xFF,
    fast: Callable[[bytes, int, int], Any] | None = None,
    tlv: Callable[[Any], bytes] | None = None,
    enc_mask: int | None = None,
    flag_len: int = 0,
) -> None:
    """Register an IE codec. ``fast(data, pos, end)``, if given, must return what ``pull`` does
    (the generated decoders call it without a Buffer); ``tlv(value)``, if given, must return the
    IE's type and length followed by what ``push`` writes; ``enc_mask``/``flag_len`` tell the
    generated encoders how to inline ``push`` for one-octet enums and flags. Tests check that
    the fast forms agree with pull/push."""
    if ie_type in IE_CODECS:
        raise RuntimeError(f"IE type {ie_type!r} registered twice")
    _fast_init_once(cls)
    IE_CODECS[ie_type] = IeCodec(cls, pull, push, kind, spec, table, mask, fast, tlv, enc_mask, flag_len)


class Field(NamedTuple):
    """One row of a message or grouped IE table."""

    ie_type: IEType
    name: str
    presence: str = O
    multiple: bool = False


class _Entry(NamedTuple):
    ie_type: int
    name: str
    slot: int
    mandatory: bool
    multiple: bool
    pull: Pull
    push: Push
    header: bytes  # type + zero length, patched after the value is written
    kind: int
    spec: Spec | None
    int_struct: struct.Struct | None  # type, length and value in one pack for K_U8/16/32
    size: int
    table: Any
    mask: int
    fast: Callable[[bytes, int, int], Any] | None
    tlv: Callable[[Any], bytes] | None
    enc_mask: int | None
    flag_len: int


_MISSING: Any = object()
Check = Callable[[Any], None]


def _fast_constructor(cls: type) -> tuple[Callable[[list[Any]], Any], Any]:
    """Build instances of a frozen slotted dataclass without its frozen ``__init__``.

    A frozen dataclass's ``__init__`` sets each field through ``object.__setattr__`` (about
    150 ns a field). We build a plain slotted twin with the same fields and layout, construct
    that, and switch its ``__class__``: the object is then an ordinary, immutable instance of
    ``cls``. If this interpreter refuses the switch we fall back to ``cls(...)``.
    """
    dfields = dataclasses.fields(cls)
    twin: Any = twin_of(cls)  # (pfcp/fastinit.py)
    positional = [f.name for f in dfields if not f.kw_only]
    kw_names = [f.name for f in dfields if f.kw_only]
    n = len(positional)

    def slow(values: list[Any]) -> Any:
        if not kw_names:
            return cls(*values)
        return cls(*values[:n], **dict(zip(kw_names, values[n:], strict=True)))

    def fast(values: list[Any]) -> Any:
        obj = twin(*values)
        obj.__class__ = cls
        return obj

    if twin is None:
        return slow, None
    try:
        probe = [object() for _ in dfields]
        ok = bool(fast(probe) == slow(probe)) and type(fast(probe)) is cls
    except TypeError:
        ok = False
    return (fast, twin) if ok else (slow, None)


class Spec:
    """The compiled description of one message or grouped IE."""

    __slots__ = (
        "build",
        "by_name",
        "by_type",
        "checks",
        "cls",
        "decode",
        "defaults",
        "encode",
        "entries",
        "extra_index",
        "fields",
        "getter",
        "mandatory",
        "mandatory_slots",
        "mandatory_types",
        "name",
        "order_index",
        "twin",
    )

    def __init__(self, cls: type, fields: Sequence[Field], checks: Sequence[Check]) -> None:
        self.cls = cls
        self.name = cls.__name__
        self.fields = tuple(fields)
        self.checks = tuple(checks)
        dfields = dataclasses.fields(cls)
        names = [f.name for f in dfields]
        table_names = {f.name for f in fields}
        header = {"sequence", "seid", "priority", "extra_ies", "_ie_order"}
        required = {
            f.name
            for f in dfields
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
        }
        missing = required - table_names - header
        unknown = table_names - set(names)
        if missing or unknown or len(table_names) != len(fields) or names[-1] != "_ie_order":
            raise RuntimeError(f"{cls.__name__}: table/dataclass mismatch {missing} {unknown}")
        if "extra_ies" not in names:
            raise RuntimeError(f"{cls.__name__}: no extra_ies field")
        self.extra_index = names.index("extra_ies")
        self.order_index = len(names) - 1
        defaults: list[Any] = []
        for f in dfields:
            if f.default is not dataclasses.MISSING:
                defaults.append(f.default)
            elif f.default_factory is not dataclasses.MISSING:
                defaults.append(f.default_factory())
            else:
                defaults.append(_MISSING)
        entries = []
        for row in fields:
            codec = IE_CODECS[row.ie_type]
            index = names.index(row.name)
            if row.multiple and defaults[index] is _MISSING and row.presence != M:
                raise RuntimeError(f"{cls.__name__}.{row.name}: optional list needs a default")
            if row.multiple and defaults[index] is _MISSING:
                defaults[index] = ()
            entries.append(
                _Entry(
                    row.ie_type,
                    row.name,
                    index,
                    row.presence == M,
                    row.multiple,
                    codec.pull,
                    codec.push,
                    TL.pack(row.ie_type, 0),
                    codec.kind,
                    codec.spec,
                    _INT_STRUCT.get(codec.kind),
                    _INT_SIZE.get(codec.kind, 0),
                    codec.table,
                    codec.mask,
                    codec.fast,
                    codec.tlv,
                    codec.enc_mask,
                    codec.flag_len,
                )
            )
        self.entries = tuple(entries)
        self.by_type = {e.ie_type: e for e in entries}
        self.by_name = {e.name: e for e in entries}
        self.mandatory = tuple(e for e in entries if e.mandatory)
        self.mandatory_slots = tuple(e.slot for e in self.mandatory)
        self.mandatory_types = {e.slot: e.ie_type for e in self.mandatory}
        self.defaults = defaults
        # attrgetter of one name returns the value, not a 1-tuple: repeat it (zip ignores it).
        names_out = [e.name for e in entries] or ["extra_ies"]
        self.getter = operator.attrgetter(*names_out, "extra_ies")
        self.build, self.twin = _fast_constructor(cls)
        # Specialised decode/encode functions generated from this table (pfcp.ies.compile);
        # decode_group/encode_ies below interpret the same table and are the reference.
        from pfcp.ies.compile import compile_spec

        self.decode, self.encode = compile_spec(self)


def bind(cls: type, fields: Sequence[Field], checks: Sequence[Check] = ()) -> Spec:
    _fast_init_once(cls)
    spec = Spec(cls, fields, checks)
    cls._spec = spec  # type: ignore[attr-defined]
    return spec


def decode_ies(spec: Spec, buf: Buffer, values: list[Any]) -> None:
    """Decode the IEs in ``buf.data[buf.pos:buf.end]`` into ``values`` (indexed as the dataclass).

    Leaves ``buf.pos == buf.end`` and ``buf.end`` unchanged. Octets after the part of an IE this
    codec understands are ignored (later releases append fields).
    """
    data = buf.data
    pos = buf.pos
    end = buf.end
    by_type = spec.by_type
    extras: list[RawIe] | None = None
    unpack_tl = TL.unpack_from
    start = pos
    rank = {e.ie_type: i for i, e in enumerate(spec.entries)}
    last = 0
    in_order = True
    while pos < end:
        if pos + 4 > end:
            raise DecodeError(Cause.INVALID_LENGTH, f"{spec.name}: truncated IE header")
        t, ln = unpack_tl(data, pos)
        pos += 4
        vend = pos + ln
        if vend > end:
            raise DecodeError(Cause.INVALID_LENGTH, f"{spec.name}: IE {t} length {ln} overruns", t)
        e = by_type.get(t)
        if e is not None and (e.multiple or values[e.slot] is _MISSING or values[e.slot] is None):
            if rank[t] < last:
                in_order = False
            last = rank[t]
            kind = e.kind
            v: Any
            if kind == K_U32:
                if ln < 4:
                    raise DecodeError(Cause.INVALID_LENGTH, f"{_ie_name(t)}: length {ln}", t)
                v = U32.unpack_from(data, pos)[0]
            elif kind == K_GROUP:
                sub = e.spec
                assert sub is not None
                buf.pos = pos
                buf.end = vend
                v = decode_group(sub, buf)
            elif kind == K_U16:
                if ln < 2:
                    raise DecodeError(Cause.INVALID_LENGTH, f"{_ie_name(t)}: length {ln}", t)
                v = U16.unpack_from(data, pos)[0]
            elif kind == K_U8:
                if ln < 1:
                    raise DecodeError(Cause.INVALID_LENGTH, f"{_ie_name(t)}: length {ln}", t)
                v = data[pos]
            else:
                buf.pos = pos
                buf.end = vend
                try:
                    v = e.pull(buf)
                except BufferReadError as exc:
                    raise DecodeError(Cause.INVALID_LENGTH, f"{_ie_name(t)}: {exc}", t) from None
                except IeValueError as exc:
                    raise DecodeError(Cause.MANDATORY_IE_INCORRECT, f"{_ie_name(t)}: {exc}", t) from None
            if e.multiple:
                values[e.slot] = (*values[e.slot], v)
            else:
                values[e.slot] = v
        else:
            # Unknown, unexpected or repeated IE: ignored as TS 29.244 7.6 says, but kept.
            last = len(rank)
            if extras is None:
                extras = []
            if t >= VENDOR_IE_MIN:
                if ln < 2:
                    raise DecodeError(Cause.INVALID_LENGTH, f"vendor IE {t} without Enterprise ID", t)
                extras.append(RawIe(t, bytes(data[pos + 2 : vend]), U16.unpack_from(data, pos)[0]))
            else:
                extras.append(RawIe(t, bytes(data[pos:vend])))
        pos = vend
    buf.pos = end
    buf.end = end
    if extras is not None:
        values[spec.extra_index] = tuple(extras)
    if not in_order:
        from pfcp.ies.compile import ie_order

        values[spec.order_index] = ie_order(data, start, end)
    for slot in spec.mandatory_slots:
        v = values[slot]
        if v is _MISSING or v is None or (type(v) is tuple and not v):
            t = spec.mandatory_types[slot]
            raise DecodeError(Cause.MANDATORY_IE_MISSING, f"{spec.name}: {_ie_name(t)} missing", t)


def decode_group(spec: Spec, buf: Buffer) -> Any:
    """Decode a grouped IE whose value is ``buf.data[buf.pos:buf.end]``."""
    values = spec.defaults.copy()
    decode_ies(spec, buf, values)
    obj = spec.build(values)
    if spec.checks:
        for check in spec.checks:
            check(obj)
    return obj


def encode_ies(spec: Spec, obj: Any, w: Writer) -> None:
    if obj._ie_order is not None:
        from pfcp.ies.compile import encode_in_order

        if encode_in_order(spec, obj, w):
            return
    pack_into = U16.pack_into
    *values, extra = spec.getter(obj)
    for e, v in zip(spec.entries, values, strict=False):
        if v is None or (e.multiple and not v):
            if e.mandatory:
                raise EncodeError(f"{spec.name}.{e.name}: mandatory IE missing")
            continue
        items = v if e.multiple else (v,)
        ist = e.int_struct
        if ist is not None:
            t, size = e.ie_type, e.size
            for item in items:
                w += ist.pack(t, size, item)
        elif e.kind == K_GROUP:
            sub = e.spec
            assert sub is not None
            for item in items:
                w += e.header
                start = len(w)
                encode_ies(sub, item, w)
                pack_into(w, start - 2, len(w) - start)
        else:
            push = e.push
            for item in items:
                w += e.header
                start = len(w)
                push(w, item)
                pack_into(w, start - 2, len(w) - start)
    for raw in extra:
        push_raw(w, raw)


def encode_item(e: _Entry, item: Any, w: Writer) -> None:
    """One IE of a table row (type, length, value), the way encode_ies writes it."""
    ist = e.int_struct
    if ist is not None:
        w += ist.pack(e.ie_type, e.size, item)
        return
    w += e.header
    start = len(w)
    if e.kind == K_GROUP:
        assert e.spec is not None
        e.spec.encode(item, w)
    else:
        e.push(w, item)
    U16.pack_into(w, start - 2, len(w) - start)


def push_raw(w: Writer, raw: RawIe) -> None:
    if raw.enterprise_id is not None:
        w += TL.pack(raw.ie_type, len(raw.value) + 2)
        w += U16.pack(raw.enterprise_id)
    else:
        w += TL.pack(raw.ie_type, len(raw.value))
    w += raw.value


def grouped(ie_type: IEType, cls: type, fields: Sequence[Field], checks: Sequence[Check] = ()) -> Spec:
    """Bind a grouped IE's table and register its codec."""
    spec = bind(cls, fields, checks)
    encode = spec.encode
    decode = spec.decode

    def pull(buf: Buffer) -> Any:
        end = buf.end
        if type(buf.data) is not bytes:  # the decoders' memos key on slices of bytes
            value = decode_group(spec, buf)
            buf.pos = end
            return value
        value = decode(buf.data, buf.pos, end, buf)
        buf.pos = end
        buf.end = end
        return value

    def push(w: Writer, v: Any) -> None:
        encode(v, w)

    register(ie_type, cls, pull, push, K_GROUP, spec)
    return spec


def _ie_name(t: int) -> str:
    try:
        return IEType(t).name
    except ValueError:
        return str(t)


def conditional_missing(ie_type: IEType, why: str) -> DecodeError:
    return DecodeError(Cause.CONDITIONAL_IE_MISSING, f"{ie_type.name} missing: {why}", ie_type)


def invalid(msg: str) -> IeValueError:
    return IeValueError(msg)


def encode_ie(ie_type: int, value: Any) -> bytes:
    """One IE with its type and length (for tests and tools)."""
    codec = IE_CODECS[ie_type]
    w = Writer()
    w += TL.pack(ie_type, 0)
    if codec.kind == K_GROUP:
        assert codec.spec is not None
        encode_ies(codec.spec, value, w)
    else:
        codec.push(w, value)
    U16.pack_into(w, 2, len(w) - 4)
    return bytes(w)


def decode_ie(data: bytes) -> tuple[int, Any]:
    """Decode one IE (type, length, value) that fills ``data``; unknown types give a RawIe."""
    if len(data) < 4:
        raise DecodeError(Cause.INVALID_LENGTH, "shorter than an IE header")
    t, ln = TL.unpack_from(data, 0)
    if 4 + ln != len(data):
        raise DecodeError(Cause.INVALID_LENGTH, f"IE {t} length {ln} != {len(data) - 4}", t)
    codec = IE_CODECS.get(t)
    if codec is None:
        return t, RawIe(t, bytes(data[4:]))
    buf = Buffer(data, 4, len(data))
    try:
        return t, codec.pull(buf)
    except BufferReadError as exc:
        raise DecodeError(Cause.INVALID_LENGTH, f"{_ie_name(t)}: {exc}", t) from None
    except IeValueError as exc:
        raise DecodeError(Cause.MANDATORY_IE_INCORRECT, f"{_ie_name(t)}: {exc}", t) from None


def fast_ctor(cls: type[_T]) -> Callable[..., _T]:
    """A positional constructor for a frozen slotted dataclass that skips the per-field
    ``object.__setattr__`` of its frozen ``__init__`` (see _fast_constructor). The decoders use
    it for the IEs they build most often; it takes every field, in order."""
    _, twin = _fast_constructor(cls)
    if twin is None:
        return cls
    # a bare twin, each slot set, then the class switch: no __init__ frame
    names = [f.name for f in dataclasses.fields(twin)]
    params = ", ".join(f"a{i}" for i in range(len(names)))
    body = "".join(f"    obj.{n} = a{i}\n" for i, n in enumerate(names))
    ns: dict[str, Any] = {"twin": twin, "cls": cls, "_new": object.__new__}
    exec(f"def make({params}):\n    obj = _new(twin)\n{body}    obj.__class__ = cls\n    return obj\n", ns)
    make: Callable[..., _T] = ns["make"]
    make.__qualname__ = f"make_{cls.__name__}"
    return make
