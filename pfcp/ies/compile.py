"""Generate a specialised decode and encode function for each message/grouped IE table.

The table interpreter in :mod:`pfcp.ies.base` (``decode_ies``/``encode_ies``) is the reference;
this module turns the same :class:`~pfcp.ies.base.Spec` into straight-line Python because a
generic loop costs several times more per IE: the decoder fills a bare instance of the
frozen class's plain twin slot by slot, takes IEs that come in table order in one pass of
one comparison per table row, and only for the rest runs an ``if``/``elif`` chain; fixed-size
integers, enums and one-octet flags are unpacked and packed inline (in the in-order pass,
together with the next IE's type and length when one follows), leaf IEs go through their
Buffer-free ``fast``/``tlv`` functions, grouped IEs by direct calls, and IEs that repeat across
sessions come from a memo by their octets (MEMO_TYPES), Create PDR and PDI from one by their
octets but for the UE IP Address and F-TEID (pfcp.ies.masked).
tests/pfcp/test_compiled.py checks both executors agree (corpus, fuzzed and random input).

Generated functions:
    decode(data, pos, end, buf)              -> grouped IE  (value in data[pos:end]; buf, with
                                                buf.data is data, is
                                                scratch for the leaf IEs' pull functions)
    decode(buf, sequence, seid, priority)    -> message     (IEs in buf.pos..buf.end)
    encode(obj, w)                           -> appends the IEs (no header of its own)

Arrival order: the decoder notes, at the cost of one comparison per IE, whether the IEs came
in the order the encoder writes them (table order, repeated IEs in arrival order, unknown IEs
last). If not, it records the IE types in arrival order in the object's ``_ie_order`` field
(see :func:`ie_order`), and the encoder writes that order back when it still fits the fields
(:func:`encode_in_order`), so re-encoding a decoded message is byte-identical.
"""

from __future__ import annotations

import dataclasses
import struct
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from pfcp.buffer import TL, U16, U32, Writer
from pfcp.enums import Cause, IEType
from pfcp.errors import BufferReadError, DecodeError, EncodeError, IeValueError

if TYPE_CHECKING:
    from pfcp.ies.base import RawIe, Spec

_HEADER = ("sequence", "seid", "priority")
ORDER_FIELD = "_ie_order"

# IEs whose values repeat across sessions: their decoded, immutable values are memoised by
# their octets (a hit returns the very object an earlier decode built). Leaf IEs: the DNN, the
# peer's Node ID, the usual QoS and thresholds... Grouped IEs that carry no per-session value:
# the usual Create FAR towards the core, Create QER/URR/BAR, Remove and Query IEs by rule ID...
# Per-session IEs (F-TEID, F-SEID, UE IP, Outer Header Creation) are not; nor are the grouped
# IEs that hold them (PDI, Create PDR, Create FAR, Update FAR), which have a memo of their own
# that leaves the per-session leaves out of the key (pfcp.ies.masked): in this one, a FAR
# towards a gNB (its Outer Header Creation differs in every session) would take an entry,
# keep its objects alive for the garbage collector to walk, and never be looked up again. Only
# successful decodes are stored (a decoder that raises stores nothing). Each memo is a dict
# from the IE's value octets to the 1-tuple ``(decoded,)`` (a repeated IE's field takes it as
# is); it is cleared when it holds MEMO_LIMIT entries, so a peer cannot make it grow without
# bound, and values that stop repeating leave it. Values longer than MEMO_MAX_OCTETS are not
# stored (nor looked up): the usual ones are far shorter, and a peer's large IEs must not fill
# the memory.
MEMO_TYPES = frozenset(
    {
        IEType.NETWORK_INSTANCE,
        IEType.APN_DNN,
        IEType.NODE_ID,
        IEType.OUTER_HEADER_REMOVAL,
        IEType.SDF_FILTER,
        IEType.APPLICATION_ID,
        IEType.MBR,
        IEType.GBR,
        IEType.VOLUME_THRESHOLD,
        IEType.VOLUME_QUOTA,
        IEType.REPORTING_TRIGGERS,
        IEType.FORWARDING_POLICY,
        # grouped
        IEType.FORWARDING_PARAMETERS,
        IEType.DUPLICATING_PARAMETERS,
        IEType.CREATE_URR,
        IEType.CREATE_QER,
        IEType.CREATE_BAR,
        IEType.UPDATE_URR,
        IEType.UPDATE_QER,
        IEType.UPDATE_BAR_SESSION_MODIFICATION_REQUEST,
        IEType.REMOVE_PDR,
        IEType.REMOVE_FAR,
        IEType.REMOVE_URR,
        IEType.REMOVE_QER,
        IEType.REMOVE_BAR,
        IEType.REMOVE_TRAFFIC_ENDPOINT,
        IEType.QUERY_URR,
        IEType.ETHERNET_PACKET_FILTER,
        IEType.AGGREGATED_URRS,
        IEType.ADDITIONAL_MONITORING_TIME,
    }
)
MEMO_LIMIT = 1024
MEMO_MAX_OCTETS = 256
MEMOS: dict[int, dict[bytes, tuple[Any]]] = {t: {} for t in MEMO_TYPES}

# ``(n,)`` for small n: a repeated integer IE (QFI, URR ID, QER ID...) that comes once takes
# its field's tuple from here instead of building one.
_SINGLETONS = tuple((n,) for n in range(256))

_U8 = struct.Struct("!HHB")


def _ie_name(t: int) -> str:
    try:
        return IEType(t).name
    except ValueError:
        return str(t)


def _err_trunc(name: str) -> DecodeError:
    return DecodeError(Cause.INVALID_LENGTH, f"{name}: truncated IE header")


def _err_bounds(name: str, t: int, ln: int, pos: int, end: int) -> DecodeError:
    """An IE header (``pos`` is just past it) or value runs past ``end``."""
    if pos > end:
        return _err_trunc(name)
    return DecodeError(Cause.INVALID_LENGTH, f"{name}: IE {t} length {ln} overruns", t)


def _err_short(t: int, ln: int) -> DecodeError:
    return DecodeError(Cause.INVALID_LENGTH, f"{_ie_name(t)}: length {ln}", t)


def _err_missing(name: str, t: int) -> DecodeError:
    return DecodeError(Cause.MANDATORY_IE_MISSING, f"{name}: {_ie_name(t)} missing", t)


def _err_length(t: int, exc: Exception) -> DecodeError:
    return DecodeError(Cause.INVALID_LENGTH, f"{_ie_name(t)}: {exc}", t)


def _err_content(t: int, exc: Exception) -> DecodeError:
    return DecodeError(Cause.MANDATORY_IE_INCORRECT, f"{_ie_name(t)}: {exc}", t)


def _extra(extras: list[RawIe] | None, data: bytes, pos: int, vend: int, t: int) -> list[RawIe]:
    from pfcp.ies.base import VENDOR_IE_MIN, RawIe

    if extras is None:
        extras = []
    if t >= VENDOR_IE_MIN:
        if vend - pos < 2:
            raise DecodeError(Cause.INVALID_LENGTH, f"vendor IE {t} without Enterprise ID", t)
        extras.append(RawIe(t, bytes(data[pos + 2 : vend]), U16.unpack_from(data, pos)[0]))
    else:
        extras.append(RawIe(t, bytes(data[pos:vend])))
    return extras


def ie_order(data: bytes, pos: int, end: int) -> tuple[int, ...]:
    """The IE types in ``data[pos:end]``, in order (the IEs were checked by the decoder)."""
    unpack = TL.unpack_from
    out = []
    while pos < end:
        t, ln = unpack(data, pos)
        out.append(t)
        pos += 4 + ln
    return tuple(out)


def encode_in_order(spec: Spec, obj: Any, w: Writer) -> bool:
    """Append ``obj``'s IEs in the order ``obj._ie_order`` names, if that order fits the fields
    (the same IEs, each in the field decoding would put it in); else append nothing and return
    False (the caller then writes table order, or raises for a missing mandatory IE)."""
    from pfcp.ies.base import encode_item, push_raw

    order = obj._ie_order
    queues: dict[int, list[Any]] = {}
    for e in spec.entries:
        v = getattr(obj, e.name)
        items = list(v) if e.multiple else ([] if v is None else [v])
        if e.mandatory and not items:
            return False
        items.reverse()  # pop() from the end: arrival order
        queues[e.ie_type] = items
    extras = list(obj.extra_ies)
    extras.reverse()
    out = Writer()
    for t in order:
        q = queues.get(t)
        if q:
            encode_item(spec.by_type[t], q.pop(), out)
        elif extras and extras[-1].ie_type == t:
            push_raw(out, extras.pop())
        else:
            return False
    if extras or any(queues.values()):
        return False
    w += out
    return True


class _Holder:
    """Collects a decoded object's fields when the spec has no twin class."""


def _enc_missing(name: str, field: str) -> EncodeError:
    return EncodeError(f"{name}.{field}: mandatory IE missing")


def compile_spec(spec: Spec) -> tuple[Callable[..., Any], Callable[[Any, Writer], None]]:
    from pfcp.ies.base import _MISSING, K_ENUM8, K_FLAGS, K_GROUP, K_U8, K_U16, K_U32, push_raw
    from pfcp.ies.masked import group_decoder

    ns: dict[str, Any] = {
        "_M": _MISSING,
        "_TL": TL.unpack_from,
        "_U16": U16.unpack_from,
        "_U32": U32.unpack_from,
        "_pk": U16.pack_into,
        "_PK8": _U8.pack,
        "_SE": struct.error,
        "_BRE": BufferReadError,
        "_IVE": IeValueError,
        "_err_trunc": _err_trunc,
        "_err_bounds": _err_bounds,
        "_err_short": _err_short,
        "_err_missing": _err_missing,
        "_err_length": _err_length,
        "_err_content": _err_content,
        "_extra": _extra,
        "_T1": _SINGLETONS,
        "_V1TL": struct.Struct("!BHH").unpack_from,
        "_V2TL": struct.Struct("!HHH").unpack_from,
        "_V4TL": struct.Struct("!IHH").unpack_from,
        "_order": ie_order,
        "_in_order": encode_in_order,
        "_enc_missing": _enc_missing,
        "_push_raw": push_raw,
        "_spec": spec,
        "_cls": spec.cls,
        "_twin": spec.twin,
        "_build": spec.build,
        "NAME": spec.name,
    }
    names = [f.name for f in dataclasses.fields(spec.cls)]
    is_message = names[0] == "sequence"
    local = {e.name: f"f{i}" for i, e in enumerate(spec.entries)}
    # hot names bound as default arguments: LOAD_FAST instead of LOAD_GLOBAL
    bound = "_TL=_TL, _M=_M"

    # --- decode ---------------------------------------------------------------------------
    # The decoder writes straight into a bare instance of the spec's plain slotted twin (every
    # slot set before the loop, each IE into its slot) and switches it to the frozen class at
    # the end: no __init__ frame and no per-field argument passing. Without a twin (an
    # interpreter that refuses the class switch) a plain holder object collects the fields.
    d: list[str] = []
    ns["_new"] = object.__new__
    ns["_holder"] = spec.twin if spec.twin is not None else _Holder
    bound += ", _new=_new, _holder=_holder"
    if is_message:
        d.append(f"def decode(buf, sequence, seid, priority, {bound}):")
        d.append("    data = buf.data; start = pos = buf.pos; end = buf.end")
    else:  # grouped IEs: called with the value's bounds; buf serves the leaf pulls
        d.append(f"def decode(data, pos, end, buf, {bound}):")
        d.append("    start = pos")
    d.append("    o = _new(_holder)")
    dfields = {f.name: f for f in dataclasses.fields(spec.cls)}
    for n in names:
        if n in local:
            e = spec.by_name[n]
            init = "()" if e.multiple else ("_M" if e.mandatory else "None")
        elif is_message and n in _HEADER:
            init = n
        elif n in ("extra_ies", ORDER_FIELD):
            continue  # set after the loop
        else:  # a field no row of this table fills: its default
            ns[f"_d_{n}"] = dfields[n].default
            init = f"_d_{n}"
        d.append(f"    o.{n} = {init}")
    # Two passes over the IEs. The in-order pass takes the table's rows once each, in order
    # (a repeated row while its type repeats): for IEs in the encoder's order it is the only
    # pass, and costs one comparison per row, with no duplicate or order bookkeeping. At the
    # first IE it cannot place (unknown, repeated, or out of table order) it hands over to the
    # general loop, an if/elif chain over all rows; an IE that loop places in a field was out
    # of order (``ooo``: its arrival order is then recorded).
    read = [
        "t, ln = _TL(data, pos); pos += 4; vend = pos + ln",
        "if vend > end: raise _err_bounds(NAME, t, ln, pos, end)",
    ]
    # (the usual case in the else branch: CPython lays it out with no jump)
    advance = ["pos = vend", "if pos >= end:", "    t = -1", "else:", *("    " + r for r in read)]

    def singletons(i: int, e: Any) -> bool:
        """For a repeated one-octet enum, ``_s{i}``: each value's 1-tuple (if the table
        converts every value)."""
        if e.kind != K_ENUM8 or not e.multiple or e.mask > 255:
            return False
        if f"_s{i}" not in ns:
            try:
                ns[f"_s{i}"] = tuple((e.table[v],) for v in range(e.mask + 1))
            except Exception:
                ns[f"_s{i}"] = None
        return ns[f"_s{i}"] is not None

    def value_lines(i: int, e: Any, ind: str) -> list[str]:
        out: list[str] = []
        if e.kind in (K_U8, K_U16, K_U32):
            size = {K_U8: 1, K_U16: 2, K_U32: 4}[e.kind]
            rd = {K_U8: "data[pos]", K_U16: "_U16(data, pos)[0]", K_U32: "_U32(data, pos)[0]"}[e.kind]
            out.append(f"if ln < {size}: raise _err_short(t, ln)")
            if e.multiple:
                out.append(f"v = {rd}")
                out.append(f"o.{e.name} += _T1[v] if v < 256 else (v,)")
                return [ind + line for line in out]
            value = rd
        elif e.kind == K_ENUM8:
            ns[f"_c{i}"] = e.table
            out.append("if ln < 1: raise _err_short(t, ln)")
            value = f"_c{i}[data[pos] & {e.mask}]"
            if singletons(i, e):
                out.append(f"o.{e.name} += _s{i}[data[pos] & {e.mask}]")
                return [ind + line for line in out]
        elif e.kind == K_FLAGS:
            ns[f"_c{i}"] = e.table
            ns[f"_p{i}"] = e.pull
            out.append("if ln == 1:")
            out.append(f"    v = _c{i}[data[pos]]")
            out.append("else:")
            out.append("    buf.pos = pos; buf.end = vend")
            out.append(f"    v = _p{i}(buf)")
            value = "v"
        else:
            if e.fast is not None:
                ns[f"_f{i}"] = e.fast
                value = f"_f{i}(data, pos, vend)"
            elif e.kind == K_GROUP and e.spec is not None:  # (MASKED_TYPES: pfcp.ies.masked)
                ns[f"_g{i}"] = group_decoder(e.ie_type, e.spec)
                value = f"_g{i}(data, pos, vend, buf)"
            else:
                ns[f"_p{i}"] = e.pull
                out.append("buf.pos = pos; buf.end = vend")
                value = f"_p{i}(buf)"
            if e.ie_type in MEMO_TYPES:  # (value,) by the value's octets
                ns[f"_m{i}"] = MEMOS[e.ie_type]
                memo = [
                    f"key = data[pos:vend] if ln <= {MEMO_MAX_OCTETS} else None",
                    f"v = _m{i}.get(key)",
                    "if v is None:",
                    *("    " + line for line in out),
                    f"    v = ({value},)",
                    "    if key is not None:",
                    f"        if len(_m{i}) >= {MEMO_LIMIT}: _m{i}.clear()",
                    f"        _m{i}[key] = v",
                ]
                out = memo
                if e.multiple:
                    out.append(f"o.{e.name} += v")
                else:
                    out.append(f"o.{e.name} = v[0]")
                return [ind + line for line in out]
        if e.multiple:
            out.append(f"o.{e.name} += ({value},)")
        else:
            out.append(f"o.{e.name} = {value}")
        return [ind + line for line in out]

    def fused_lines(i: int, e: Any) -> list[str]:
        """A one-, two- or four-octet value of its usual length that another IE follows in the
        same list: the value and the next IE's type and length in one unpack (the rest of
        such an IE, and the last one, go the general way). The value is converted before
        ``t`` moves on, so a conversion error names this IE."""
        if e.kind in (K_U8, K_U16, K_U32):  # (no conversion: straight into t, ln)
            size = {K_U8: 1, K_U16: 2, K_U32: 4}[e.kind]
            store = f"o.{e.name} += _T1[v] if v < 256 else (v,)" if e.multiple else f"o.{e.name} = v"
            return [
                f"if ln == {size} and vend + 4 <= end:",
                f"    v, t, ln = _V{size}TL(data, pos)",
                f"    {store}",
                "    pos = vend + 4; vend = pos + ln",
                "    if vend > end: raise _err_bounds(NAME, t, ln, pos, end)",
            ]
        if e.kind == K_ENUM8:  # (its table _c{i} is set by value_lines)
            if singletons(i, e):
                store = f"o.{e.name} += _s{i}[v & {e.mask}]"
            elif e.multiple:
                store = f"o.{e.name} += (_c{i}[v & {e.mask}],)"
            else:
                store = f"o.{e.name} = _c{i}[v & {e.mask}]"
        elif e.kind == K_FLAGS and not e.multiple:
            store = f"o.{e.name} = _c{i}[v]"
        else:
            return []
        return [
            "if ln == 1 and vend + 4 <= end:",
            "    v, nt, nl = _V1TL(data, pos)",
            f"    {store}",
            "    t = nt; ln = nl; pos = vend + 4; vend = pos + ln",
            "    if vend > end: raise _err_bounds(NAME, t, ln, pos, end)",
        ]

    d.append("    extras = None; t = 0; ooo = False")
    d.append("    try:")
    d.append("        if pos >= end:")
    d.append("            t = -1")
    d.append("        else:")
    d.extend("            " + r for r in read)
    ind = "        "
    for i, e in enumerate(spec.entries):
        if i and i % 6 == 0 and len(spec.entries) - i > 2:  # past the last IE: skip the rest
            d.append(f"{ind}if t >= 0:")
            ind += "    "
        d.append(f"{ind}{'while' if e.multiple else 'if'} t == {e.ie_type}:")
        fused = fused_lines(i, e)
        if fused:
            d.extend(ind + "    " + line for line in fused)
            d.append(f"{ind}    else:")
            d.extend(value_lines(i, e, ind + "        "))
            d.extend(ind + "        " + r for r in advance)
        else:
            d.extend(value_lines(i, e, ind + "    "))
            d.extend(ind + "    " + r for r in advance)
    d.append("        while t >= 0:")
    kw = "if"
    for i, e in enumerate(spec.entries):
        cond = f"t == {e.ie_type}"
        if not e.multiple:
            cond += f" and o.{e.name} is {'_M' if e.mandatory else 'None'}"
        d.append(f"            {kw} {cond}:")
        kw = "elif"
        d.append("                ooo = True")
        d.extend(value_lines(i, e, "                "))
    if spec.entries:
        d.append("            else:")
        d.append("                extras = _extra(extras, data, pos, vend, t)")
    else:
        d.append("            extras = _extra(extras, data, pos, vend, t)")
    d.extend("            " + r for r in advance)
    d.append("    except _SE:")
    d.append("        raise _err_trunc(NAME) from None")
    d.append("    except _BRE as exc:")
    d.append("        raise _err_length(t, exc) from None")
    d.append("    except _IVE as exc:")
    d.append("        raise _err_content(t, exc) from None")
    if is_message:
        d.append("    buf.pos = end; buf.end = end")
    for e in spec.entries:
        if e.mandatory:
            test = f"not o.{e.name}" if e.multiple else f"o.{e.name} is _M"
            d.append(f"    if {test}: raise _err_missing(NAME, {e.ie_type})")
    d.append("    o.extra_ies = tuple(extras) if extras is not None else ()")
    d.append(f"    o.{ORDER_FIELD} = _order(data, start, end) if ooo else None")
    if spec.twin is not None:
        d.append("    o.__class__ = _cls")
    else:
        ns["_names"] = tuple(names)
        d.append("    o = _build([getattr(o, n) for n in _names])")
    for k, check in enumerate(spec.checks):
        ns[f"_k{k}"] = check
        d.append(f"    _k{k}(o)")
    d.append("    return o")

    # --- encode ---------------------------------------------------------------------------
    c: list[str] = ["def encode(o, w):"]
    c.append("    if o._ie_order is not None and _in_order(_spec, o, w): return")
    for i, e in enumerate(spec.entries):
        c.append(f"    v = o.{e.name}")
        if e.mandatory:
            test = "not v" if e.multiple else "v is None"
            c.append(f"    if {test}: raise _enc_missing(NAME, {e.name!r})")
        indent = "    "
        if e.multiple:
            c.append("    for x in v:")
            indent = "        "
            item = "x"
        else:
            if not e.mandatory:
                c.append("    if v is not None:")
                indent = "        "
            item = "v"
        ns[f"_h{i}"] = struct.pack("!HH", e.ie_type, 0)
        if e.int_struct is not None:
            ns[f"_s{i}"] = e.int_struct.pack
            c.append(f"{indent}w += _s{i}({e.ie_type}, {e.size}, {item})")
        elif e.enc_mask is not None:  # one octet, masked (-1: as is)
            mask = f" & {e.enc_mask}" if e.enc_mask != -1 else ""
            c.append(f"{indent}w += _PK8({e.ie_type}, 1, {item}{mask})")
        elif e.flag_len:  # flag octets, little-endian by octet: the usual short value inline
            ns[f"_e{i}"] = e.push
            nf = e.flag_len
            c.append(f"{indent}if 0 <= {item} < {1 << (8 * nf)}:")
            if nf == 1:
                c.append(f"{indent}    w += _PK8({e.ie_type}, 1, {item})")
            else:
                ns[f"_hl{i}"] = struct.pack("!HH", e.ie_type, nf)
                c.append(f"{indent}    w += _hl{i}; w += {item}.to_bytes({nf}, 'little')")
            c.append(f"{indent}else:")
            c.append(f"{indent}    w += _h{i}; s = len(w); _e{i}(w, {item}); _pk(w, s - 2, len(w) - s)")
        elif (parts := getattr(e.tlv, "parts", None)) is not None:  # the usual shapes, else the rest
            ns[f"_xf{i}"], ns[f"_xs{i}"] = parts
            c.append(f"{indent}b = _xf{i}({item})")
            c.append(f"{indent}w += _xs{i}({item}) if b is None else b")
        elif e.tlv is not None:
            ns[f"_x{i}"] = e.tlv
            c.append(f"{indent}w += _x{i}({item})")
        else:
            fn = f"_e{i}"
            ns[fn] = e.spec.encode if e.kind == K_GROUP and e.spec is not None else e.push
            c.append(f"{indent}w += _h{i}; s = len(w)")
            # a grouped IE's encoder takes (obj, w); a leaf IE's push takes (w, value)
            call = f"({item}, w)" if e.kind == K_GROUP else f"(w, {item})"
            c.append(f"{indent}{fn}{call}")
            c.append(f"{indent}_pk(w, s - 2, len(w) - s)")
    c.append("    for r in o.extra_ies: _push_raw(w, r)")

    source = "\n".join(d) + "\n\n" + "\n".join(c) + "\n"
    code = compile(source, f"<pfcp compiled {spec.name}>", "exec")
    exec(code, ns)
    decode = ns["decode"]
    encode = ns["encode"]
    decode.__qualname__ = f"decode_{spec.name}"
    encode.__qualname__ = f"encode_{spec.name}"
    decode.source = source
    return decode, encode


__all__ = ["MEMOS", "MEMO_LIMIT", "MEMO_MAX_OCTETS", "MEMO_TYPES", "ORDER_FIELD", "compile_spec", "encode_in_order", "ie_order"]
