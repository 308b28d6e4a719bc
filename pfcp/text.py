"""Readable, JSON-ready views of decoded messages (for logs and ``python -m pfcp decode``).

Addresses become text, SEIDs and TEIDs hex strings ``"0x..."``, enums their names, flags a
list of names, octet strings hex. Absent IEs (None, empty tuples) are left out.
"""

from __future__ import annotations

import dataclasses
from enum import IntEnum, IntFlag
from ipaddress import IPv4Address, IPv6Address
from typing import Any

from pfcp.ies.simple import NetworkInstance
from pfcp.messages import Message

_HEX_FIELDS = frozenset({"seid", "teid"})


def to_jsonable(obj: Any, name: str = "") -> Any:
    if isinstance(obj, IntFlag):
        return [m.name for m in type(obj) if m.value & obj.value and m.name] + (
            [f"0x{int(obj) & ~sum(m.value for m in type(obj)):x}"]
            if int(obj) & ~sum(m.value for m in type(obj))
            else []
        )
    if isinstance(obj, IntEnum):
        return obj.name
    if isinstance(obj, bool) or obj is None:
        return obj
    if isinstance(obj, int):
        return f"0x{obj:x}" if name in _HEX_FIELDS else obj
    if isinstance(obj, IPv4Address | IPv6Address | str):
        return str(obj)
    if isinstance(obj, bytes):
        return obj.hex()
    if isinstance(obj, NetworkInstance):
        return {"text": obj.text, "hex": obj.raw.hex()}
    if isinstance(obj, tuple):
        return [to_jsonable(x, name) for x in obj]
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        out: dict[str, Any] = {}
        if isinstance(obj, Message):
            out["message_type"] = obj.message_type.name
        for f in dataclasses.fields(obj):
            if f.name.startswith("_"):  # _ie_order: how it arrived, not what it says
                continue
            v = getattr(obj, f.name)
            if v is None or v is False or v == ():
                continue
            out[f.name] = to_jsonable(v, f.name)
        return out
    return repr(obj)


def message_to_json(msg: Message) -> dict[str, Any]:
    result: dict[str, Any] = to_jsonable(msg)
    return result
