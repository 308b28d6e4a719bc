"""pfcp.fastinit: the faster __init__ builds exactly what the dataclass one does."""

from __future__ import annotations

import dataclasses
import ipaddress
from dataclasses import KW_ONLY, dataclass, field

import pytest

from pfcp import (
    Cause,
    CreatedPdr,
    FSeid,
    FTeid,
    NodeId,
    SessionEstablishmentRequest,
    SessionEstablishmentResponse,
    decode_message,
    encode_message,
)
from pfcp.fastinit import TWIN_FIELDS, fast_init, is_frozen_slotted, twin_of
from pfcp.ies.base import IE_CODECS
from pfcp.messages import MESSAGE_CLASSES


@dataclass(frozen=True, slots=True)
class _Plain:
    a: int
    b: str = "x"
    c: tuple[int, ...] = field(default_factory=tuple)
    _: KW_ONLY
    d: int | None = None


@fast_init
@dataclass(frozen=True, slots=True)
class _Fast:
    a: int
    b: str = "x"
    c: tuple[int, ...] = field(default_factory=tuple)
    _: KW_ONLY
    d: int | None = None


@fast_init
@dataclass(frozen=True, slots=True)
class _Checked:
    a: int
    seen: list[int] = field(default_factory=list, compare=False)

    def __post_init__(self) -> None:
        if self.a < 0:
            raise ValueError("negative")


@dataclass(frozen=True, slots=True)
class _PlainWide:
    a: int
    b: int
    c: int
    d: int
    e: int
    f: int = 6
    g: tuple[int, ...] = field(default_factory=tuple)
    _: KW_ONLY
    h: int | None = None


@fast_init
@dataclass(frozen=True, slots=True)
class _Wide:  # enough fields to be built through its twin
    a: int
    b: int
    c: int
    d: int
    e: int
    f: int = 6
    g: tuple[int, ...] = field(default_factory=tuple)
    _: KW_ONLY
    h: int | None = None

    def __post_init__(self) -> None:
        if self.a < 0:
            self.a = 0  # type: ignore[misc]  # must raise: the object is frozen again here


class _WideChild(_Wide):
    __slots__ = ()


def _fields(obj: object) -> tuple[object, ...]:
    return tuple(getattr(obj, f.name) for f in dataclasses.fields(obj))  # type: ignore[arg-type]


def test_same_values_defaults_and_factories() -> None:
    for args, kw in [((1,), {}), ((1, "y"), {}), ((1, "y", (2,)), {"d": 3}), ((), {"a": 5})]:
        assert _fields(_Fast(*args, **kw)) == _fields(_Plain(*args, **kw))
    assert _Fast(1).c is _Fast(2).c or _Fast(1).c == ()  # a factory default, not shared state


def test_keyword_only_stays_keyword_only_and_errors_match() -> None:
    with pytest.raises(TypeError):
        _Fast(1, "y", (), 4)  # type: ignore[misc]
    with pytest.raises(TypeError):
        _Fast()  # type: ignore[call-arg]
    with pytest.raises(TypeError):
        _Fast(1, e=2)  # type: ignore[call-arg]


def test_still_frozen_and_post_init_runs() -> None:
    obj = _Fast(1)
    with pytest.raises(dataclasses.FrozenInstanceError):
        obj.a = 2  # type: ignore[misc]
    with pytest.raises(ValueError):
        _Checked(-1)
    assert _Checked(1).seen == [] and _Checked(1).seen is not _Checked(1).seen


def test_a_wide_class_is_built_through_its_twin_and_ends_frozen() -> None:
    assert len(dataclasses.fields(_Wide)) >= TWIN_FIELDS
    assert _Wide.__init__.__globals__["_twin"] is twin_of(_Wide) is not None  # the twin path
    # One twin per class: a message's __init__ and its decoder build the same one.
    ser = SessionEstablishmentRequest
    assert ser.__init__.__globals__["_twin"] is ser._spec.twin is not None  # type: ignore[attr-defined]
    for args, kw in [((1, 2, 3, 4, 5), {}), ((1, 2, 3, 4, 5, 7, (8,)), {"h": 9})]:
        obj = _Wide(*args, **kw)
        assert type(obj) is _Wide
        assert _fields(obj) == _fields(_PlainWide(*args, **kw))
        assert obj == _Wide(*args, **kw) and hash(obj) == hash(_Wide(*args, **kw))
        with pytest.raises(dataclasses.FrozenInstanceError):
            obj.b = 0  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):  # __post_init__ sees it frozen
        _Wide(-1, 2, 3, 4, 5)
    with pytest.raises(TypeError):
        _Wide(1, 2, 3, 4, 5, 6, (), 8)  # type: ignore[misc]


def test_a_subclass_instance_keeps_its_class() -> None:
    obj = _WideChild(1, 2, 3, 4, 5, h=8)
    assert type(obj) is _WideChild
    assert _fields(obj) == _fields(_PlainWide(1, 2, 3, 4, 5, h=8))
    with pytest.raises(dataclasses.FrozenInstanceError):
        obj.a = 0  # type: ignore[misc]


def test_every_pfcp_message_and_ie_class_has_it() -> None:
    classes = [c.cls for c in IE_CODECS.values() if is_frozen_slotted(c.cls)]
    classes += list(MESSAGE_CLASSES.values())
    assert len(classes) > 90
    for cls in classes:
        assert cls.__dict__["__init__"].__module__ == "pfcp.fastinit", cls


def test_a_response_built_fast_encodes_as_before() -> None:
    n4 = ipaddress.IPv4Address("192.0.2.1")
    msg = SessionEstablishmentResponse(
        7, NodeId(n4), Cause.REQUEST_ACCEPTED, up_f_seid=FSeid(0x1234, ipv4=n4),
        created_pdr=(CreatedPdr(1, local_f_teid=FTeid(0x99, n4, None)),), seid=0x5000)
    back = decode_message(encode_message(msg))
    assert back == msg and back.seid == 0x5000
