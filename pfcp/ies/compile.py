"""Generate a specialised decode and encode function for each message/grouped IE table.

The table interpreter in :mod:`pfcp.ies.base` (``decode_ies``/``encode_ies``) is the reference;
this module turns the same :class:`~pfcp.ies.base.Spec` into straight-line Python (one local
variable per field, an ``if``/``elif`` chain over the IE types in table order, fixed-size
integers unpacked inline, grouped IEs decoded by direct calls) because a generic loop costs
several times more per IE. tests/pfcp/test_compiled.py checks both agree.

Generated functions:
    decode(data, pos, end, buf)              -> grouped IE  (value in data[pos:end]; buf, with
                                                buf.data is data, is
                                                scratch for the leaf IEs' pull functions)
    decode(buf, sequence, seid, priority)    -> message     (IEs in buf.pos..buf.end)
    encode(obj, w)                           -> appends the IEs (no header of its own)
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

# IEs whose values repeat across sessions (the DNN, the peer's Node ID, the usual QoS and
# thresholds...): their decoded, immutable values are memoised by their octets. Per-session
# IEs (F-TEID, F-SEID, UE IP, Outer Header Creation) are not. Each memo stops growing at
# MEMO_LIMIT entries, so a peer cannot make it grow without bound.
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
    }
)
MEMO_LIMIT = 1024
MEMOS: dict[int, dict[bytes, Any]] = {t: {} for t in MEMO_TYPES}


def _ie_name(t: int) -> str:
    try:
        return IEType(t).name
    except ValueError:
        return str(t)


def _err_trunc(name: str) -> DecodeError:
    return DecodeError(Cause.INVALID_LENGTH, f"{name}: truncated IE header")


def _err_overrun(name: str, t: int, ln: int) -> DecodeError:
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


def _enc_missing(name: str, field: str) -> EncodeError:
    return EncodeError(f"{name}.{field}: mandatory IE missing")


def compile_spec(spec: Spec) -> tuple[Callable[..., Any], Callable[[Any, Writer], None]]:
    from pfcp.ies.base import _MISSING, K_ENUM8, K_FLAGS, K_GROUP, K_U8, K_U16, K_U32, push_raw

    ns: dict[str, Any] = {
        "_M": _MISSING,
        "_TL": TL.unpack_from,
        "_U16": U16.unpack_from,
        "_U32": U32.unpack_from,
        "_pk": U16.pack_into,
        "_BRE": BufferReadError,
        "_IVE": IeValueError,
        "_err_trunc": _err_trunc,
        "_err_overrun": _err_overrun,
        "_err_short": _err_short,
        "_err_missing": _err_missing,
        "_err_length": _err_length,
        "_err_content": _err_content,
        "_extra": _extra,
        "_enc_missing": _enc_missing,
        "_push_raw": push_raw,
        "_cls": spec.cls,
        "_twin": spec.twin,
        "_build": spec.build,
        "_checks": spec.checks,
        "NAME": spec.name,
    }
    names = [f.name for f in dataclasses.fields(spec.cls)]
    is_message = names[0] == "sequence"
    local = {e.name: f"f{i}" for i, e in enumerate(spec.entries)}

    # --- decode ---------------------------------------------------------------------------
    d: list[str] = []
    if is_message:
        d.append("def decode(buf, sequence, seid, priority):")
        d.append("    data = buf.data; pos = buf.pos; end = buf.end; extras = None; t = 0")
    else:  # grouped IEs: called with the value's bounds; buf serves the leaf pulls
        d.append("def decode(data, pos, end, buf):")
        d.append("    extras = None; t = 0")
    for i, e in enumerate(spec.entries):
        init = "()" if e.multiple else ("_M" if e.mandatory else "None")
        d.append(f"    f{i} = {init}")
    d.append("    try:")
    d.append("        while pos < end:")
    d.append("            if pos + 4 > end: raise _err_trunc(NAME)")
    d.append("            t, ln = _TL(data, pos); pos += 4; vend = pos + ln")
    d.append("            if vend > end: raise _err_overrun(NAME, t, ln)")
    kw = "if"
    for i, e in enumerate(spec.entries):
        cond = f"t == {e.ie_type}"
        if not e.multiple:
            cond += f" and f{i} is {'_M' if e.mandatory else 'None'}"
        d.append(f"            {kw} {cond}:")
        kw = "elif"
        if e.kind in (K_U8, K_U16, K_U32):
            size = {K_U8: 1, K_U16: 2, K_U32: 4}[e.kind]
            read = {K_U8: "data[pos]", K_U16: "_U16(data, pos)[0]", K_U32: "_U32(data, pos)[0]"}[e.kind]
            d.append(f"                if ln < {size}: raise _err_short(t, ln)")
            value = read
        elif e.kind == K_ENUM8:
            ns[f"_c{i}"] = e.table
            d.append("                if ln < 1: raise _err_short(t, ln)")
            value = f"_c{i}[data[pos] & {e.mask}]"
        elif e.kind == K_FLAGS:
            ns[f"_c{i}"] = e.table
            ns[f"_p{i}"] = e.pull
            d.append("                buf.pos = pos; buf.end = vend")
            value = f"(_c{i}[data[pos]] if ln == 1 else _p{i}(buf))"
        elif e.fast is not None:
            ns[f"_f{i}"] = e.fast
            value = f"_f{i}(data, pos, vend)"
        elif e.ie_type in MEMO_TYPES:
            ns[f"_p{i}"] = e.pull
            ns[f"_m{i}"] = MEMOS[e.ie_type]
            d.append("                key = data[pos:vend]")
            d.append(f"                v = _m{i}.get(key)")
            d.append("                if v is None:")
            d.append("                    buf.pos = pos; buf.end = vend")
            d.append(f"                    v = _p{i}(buf)")
            d.append(f"                    if len(_m{i}) < {MEMO_LIMIT}: _m{i}[key] = v")
            value = "v"
        elif e.kind == K_GROUP and e.spec is not None:
            ns[f"_g{i}"] = e.spec.decode
            value = f"_g{i}(data, pos, vend, buf)"
        else:
            fn = f"_p{i}"
            ns[fn] = e.pull
            d.append("                buf.pos = pos; buf.end = vend")
            value = f"{fn}(buf)"
        if e.multiple:
            d.append(f"                f{i} = (*f{i}, {value})")
        else:
            d.append(f"                f{i} = {value}")
    if spec.entries:
        d.append("            else:")
        d.append("                extras = _extra(extras, data, pos, vend, t)")
    else:
        d.append("            extras = _extra(extras, data, pos, vend, t)")
    d.append("            pos = vend")
    d.append("    except _BRE as exc:")
    d.append("        raise _err_length(t, exc) from None")
    d.append("    except _IVE as exc:")
    d.append("        raise _err_content(t, exc) from None")
    if is_message:
        d.append("    buf.pos = end; buf.end = end")
    for i, e in enumerate(spec.entries):
        if e.mandatory:
            test = f"not f{i}" if e.multiple else f"f{i} is _M"
            d.append(f"    if {test}: raise _err_missing(NAME, {e.ie_type})")
    args = []
    for n in names:
        if n in local:
            args.append(local[n])
        elif n == "extra_ies":
            args.append("(tuple(extras) if extras is not None else ())")
        elif is_message and n in _HEADER:
            args.append(n)
        else:  # a field no row of this table fills: its default
            field = next(f for f in dataclasses.fields(spec.cls) if f.name == n)
            ns[f"_d_{n}"] = field.default
            args.append(f"_d_{n}")
    if spec.twin is not None:
        d.append(f"    o = _twin({', '.join(args)})")
        d.append("    o.__class__ = _cls")
    else:
        d.append(f"    o = _build([{', '.join(args)}])")
    if spec.checks:
        d.append("    for c in _checks: c(o)")
    d.append("    return o")

    # --- encode ---------------------------------------------------------------------------
    c: list[str] = ["def encode(o, w):"]
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
        if e.int_struct is not None:
            ns[f"_s{i}"] = e.int_struct.pack
            c.append(f"{indent}w += _s{i}({e.ie_type}, {e.size}, {item})")
        else:
            ns[f"_h{i}"] = struct.pack("!HH", e.ie_type, 0)
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


__all__ = ["MEMOS", "MEMO_TYPES", "compile_spec"]
