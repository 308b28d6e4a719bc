"""A faster ``__init__`` for frozen, slotted dataclasses (PFCP messages and IEs, session state).

The ``__init__`` that ``dataclass(frozen=True)`` generates sets each field with
``object.__setattr__`` (~0.4 µs a field here); a Session Establishment Response has 15
fields, so building one costs more than encoding it. ``fast_init`` replaces it with one
that calls the slot descriptors directly, ~5x faster, with the same signature (keyword-only
fields stay keyword-only), defaults, default factories and ``__post_init__`` call. The class
stays frozen for everyone else.
"""

from __future__ import annotations

import dataclasses
from typing import Any, TypeVar

T = TypeVar("T")


def _slot(cls: type, name: str) -> Any:
    """The slot descriptor of ``name`` (in ``cls`` or the base class that declares it)."""
    for klass in cls.__mro__:
        descriptor = klass.__dict__.get(name)
        if descriptor is not None:
            if not hasattr(descriptor, "__set__"):
                raise TypeError(f"{cls.__name__}.{name} is not a slot")
            return descriptor
    raise TypeError(f"{cls.__name__} has no slot {name!r}")


def is_frozen_slotted(cls: object) -> bool:
    """A frozen dataclass with slots: what ``fast_init`` applies to."""
    params = getattr(cls, "__dataclass_params__", None)
    return isinstance(cls, type) and params is not None and params.frozen and \
        "__slots__" in cls.__dict__


def fast_init(cls: type[T]) -> type[T]:
    """Give a frozen, slotted dataclass a faster ``__init__`` (same signature and result)."""
    params: list[str] = []
    kw_params: list[str] = []
    env: dict[str, Any] = {"_MISSING": dataclasses.MISSING}
    body: list[str] = []
    for f in dataclasses.fields(cls):  # type: ignore[arg-type]
        env[f"_s_{f.name}"] = _slot(cls, f.name).__set__
        if f.default is not dataclasses.MISSING:
            env[f"_d_{f.name}"] = f.default
            value = f"_d_{f.name}"
        elif f.default_factory is not dataclasses.MISSING:
            env[f"_f_{f.name}"] = f.default_factory
            value = "_MISSING"
            if f.init:
                body.append(f"    if {f.name} is _MISSING: {f.name} = _f_{f.name}()")
            else:
                value = f"_f_{f.name}()"
        else:
            value = ""
        if not f.init:
            if not value:
                raise TypeError(f"{cls.__name__}.{f.name}: init=False field without a default")
            body.append(f"    _s_{f.name}(self, {value})")
            continue
        (kw_params if f.kw_only else params).append(f"{f.name}={value}" if value else f.name)
        body.append(f"    _s_{f.name}(self, {f.name})")
    if hasattr(cls, "__post_init__"):
        body.append("    self.__post_init__()")
    signature = ", ".join(["self", *params] + (["*", *kw_params] if kw_params else []))
    src = f"def __init__({signature}):\n" + ("\n".join(body) or "    pass") + "\n"
    exec(src, env)  # built from the field names of a dataclass of ours only
    init = env["__init__"]
    init.__qualname__ = f"{cls.__qualname__}.__init__"
    init.__module__ = __name__  # (so callers can tell it is ours)
    cls.__init__ = init  # type: ignore[method-assign]
    return cls
