"""The UPF's configuration: a YAML file, then UPF_* environment variables, then `--set` flags.

Everything is validated once, at start, into frozen dataclasses. An error names the key that
is wrong and where the value came from::

    config: interfaces.n3.address: '10.0.0.300' is not an IPv4 address

Overrides address a key by its dotted path. In the environment the path separator is a
double underscore: ``UPF_N4__ADDRESS=10.0.0.1`` sets ``n4.address``, ``UPF_LOG_LEVEL=debug``
sets ``log_level``. On the command line: ``--set n4.address=10.0.0.1``. An override value is
a string that the key's type parses (``8805``, ``true``, ``a,b`` or ``[a, b]`` for lists).

The validator is a small type-driven converter over the dataclasses below (no extra
dependency): each field's annotation says how to read it.
"""

from __future__ import annotations

import dataclasses
import enum
import ipaddress
import re
import types
import typing
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network
from pathlib import Path
from typing import Any

import yaml

ENV_PREFIX = "UPF_"
ENV_CONFIG_FILE = "UPF_CONFIG"  # names the config file; not a key


class ConfigError(Exception):
    """A configuration value is wrong. `key` is the dotted path, `source` where it came from."""

    def __init__(self, key: str, message: str, source: str = "") -> None:
        self.key = key
        self.message = message
        self.source = source
        where = f" (from {source})" if source else ""
        prefix = f"{key}: " if key else ""
        super().__init__(f"config: {prefix}{message}{where}")


_ANY_V4 = IPv4Address("0.0.0.0")
_LOOPBACK_V4 = IPv4Address("127.0.0.1")


class XdpMode(enum.StrEnum):
    NATIVE = "native"
    GENERIC = "generic"


class LossPolicy(enum.StrEnum):
    """What happens to an SMF's sessions when its association is lost (heartbeats fail)."""

    KEEP = "keep"  # keep forwarding; the SMF re-associates and takes over (TS 23.527)
    PURGE = "purge"  # delete the sessions from the datapath


class LogLevel(enum.StrEnum):
    DEBUG = "debug"
    INFO = "info"
    WARNING = "warning"
    ERROR = "error"


@dataclass(frozen=True, slots=True)
class Interface:
    """A network interface the XDP program attaches to, by name, with its IPv4 address."""

    name: str
    address: IPv4Address | None = None


@dataclass(frozen=True, slots=True)
class Interfaces:
    n3: Interface  # access: GTP-U from and to the gNBs; address is our N3 F-TEID address
    n6: Interface  # core: plain IP to and from the data network
    n9: Interface | None = None  # optional: GTP-U to and from peer UPFs


MAX_N4_WORKERS = 64  # control/steer.py's limit


@dataclass(frozen=True, slots=True)
class N4:
    address: IPv4Address | IPv6Address = _ANY_V4
    port: int = 8805
    # Agent processes sharing the N4 port (control/shards.py): session rate scales with
    # cores. Worker 0 handles the node messages; sessions are spread over all of them.
    workers: int = 1


@dataclass(frozen=True, slots=True)
class Smf:
    # Peers allowed to send PFCP to us (addresses or CIDRs). The `associate` addresses are
    # allowed implicitly.
    allow: tuple[IPv4Network | IPv6Network, ...] = ()
    # SMFs we set up a PFCP association with ourselves (UPF-initiated, TS 29.244 6.2.6.2).
    associate: tuple[IPv4Address | IPv6Address, ...] = ()
    heartbeat_interval: float = 10.0  # seconds between Heartbeat Requests; 0 disables
    loss_policy: LossPolicy = LossPolicy.KEEP  # association lost (heartbeats unanswered)
    restart_policy: LossPolicy = LossPolicy.PURGE  # the SMF restarted (new Recovery Time Stamp)


@dataclass(frozen=True, slots=True)
class UePool:
    """The UE address pools of one network instance (DNN), as the SMF allocates them."""

    v4: tuple[IPv4Network, ...] = ()
    v6: tuple[IPv6Network, ...] = ()


@dataclass(frozen=True, slots=True)
class Limits:
    """Map sizes; defaults are those of xdp/upf_shared.h (enum upf_limits)."""

    sessions: int = 100_000
    pdrs: int = 400_000
    fars: int = 400_000
    qers: int = 200_000
    nexthops: int = 65_536


@dataclass(frozen=True, slots=True)
class Xdp:
    mode: XdpMode = XdpMode.NATIVE
    pin_dir: Path = Path("/sys/fs/bpf/upf")  # maps are pinned here
    keep_maps: bool = False  # leave maps pinned on exit (sessions survive a restart)
    object: Path | None = None  # compiled XDP object; None = the loader's default


@dataclass(frozen=True, slots=True)
class Metrics:
    enabled: bool = True
    address: IPv4Address | IPv6Address = _LOOPBACK_V4
    port: int = 9100


@dataclass(frozen=True, slots=True)
class Config:
    interfaces: Interfaces
    node_id: str = ""  # PFCP Node ID: IPv4, IPv6 or FQDN; "" = the N4 (else N3) address
    n4: N4 = field(default_factory=N4)
    smf: Smf = field(default_factory=Smf)
    ue_pools: Mapping[str, UePool] = field(default_factory=dict)
    limits: Limits = field(default_factory=Limits)
    xdp: Xdp = field(default_factory=Xdp)
    metrics: Metrics = field(default_factory=Metrics)
    log_level: LogLevel = LogLevel.INFO

    @property
    def effective_node_id(self) -> str:
        if self.node_id:
            return self.node_id
        if not self.n4.address.is_unspecified:
            return str(self.n4.address)
        assert self.interfaces.n3.address is not None  # checked in _check
        return str(self.interfaces.n3.address)

    def smf_allowed(self, addr: IPv4Address | IPv6Address) -> bool:
        return addr in self.smf.associate or any(addr in net for net in self.smf.allow)


# ---------------------------------------------------------------------------------------------
# Loading and overrides


def load(
    path: str | Path | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    overrides: Iterable[str] = (),
) -> Config:
    """Read `path` (may be None), apply environment then `--set` overrides, validate."""
    raw: dict[str, Any] = {}
    if path is not None:
        try:
            text = Path(path).read_text()
        except OSError as e:
            raise ConfigError("", f"cannot read {path}: {e.strerror}") from None
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as e:
            raise ConfigError("", f"{path} is not valid YAML: {e}") from None
        if data is None:
            data = {}
        if not isinstance(data, dict):
            raise ConfigError("", f"{path}: top level must be a mapping, not {_kind(data)}")
        raw = data
    sources: dict[str, str] = {}
    for name, value in sorted((environ or {}).items()):
        if not name.startswith(ENV_PREFIX) or name == ENV_CONFIG_FILE:
            continue
        parts = [p.lower() for p in name[len(ENV_PREFIX) :].split("__")]
        _set_path(raw, parts, _override_value(value), f"environment {name}", sources)
    for item in overrides:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ConfigError("", f"--set {item!r}: expected key.path=value", "--set")
        _set_path(raw, key.split("."), _override_value(value), f"--set {key}", sources)
    return from_dict(raw, sources)


def from_dict(raw: Mapping[str, Any], sources: Mapping[str, str] | None = None) -> Config:
    """Validate an already parsed mapping into a Config."""
    conv = _Converter(sources or {})
    cfg = conv.convert(Config, raw, "")
    assert isinstance(cfg, Config)
    _check(cfg, conv)
    return cfg


def _override_value(value: str) -> Any:
    """Lists and mappings in flow style are YAML; everything else stays a string."""
    s = value.strip()
    if s[:1] in ("[", "{"):
        try:
            return yaml.safe_load(s)
        except yaml.YAMLError:
            return value
    if s.lower() in ("null", "~", "none"):
        return None
    return value


def _set_path(
    raw: dict[str, Any], parts: list[str], value: Any, source: str, sources: dict[str, str]
) -> None:
    node = raw
    for part in parts[:-1]:
        nxt = node.get(part)
        if not isinstance(nxt, dict):
            nxt = {}
            node[part] = nxt
        node = nxt
    node[parts[-1]] = value
    sources[".".join(parts)] = source


def _kind(v: object) -> str:
    return {dict: "a mapping", list: "a list", str: "a string", bool: "a boolean"}.get(
        type(v), type(v).__name__
    )


# ---------------------------------------------------------------------------------------------
# The type-driven converter

_LABEL = r"[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_FQDN = re.compile(rf"^(?=.{{1,253}}$)({_LABEL}\.)*{_LABEL}$")
_TRUE = {"true", "yes", "on", "1"}
_FALSE = {"false", "no", "off", "0"}


class _Converter:
    def __init__(self, sources: Mapping[str, str]) -> None:
        self.sources = sources

    def error(self, key: str, message: str) -> ConfigError:
        return ConfigError(key, message, self._source(key))

    def _source(self, key: str) -> str:
        k = re.sub(r"\[\d+\]", "", key)
        while k:
            if k in self.sources:
                return self.sources[k]
            k = k.rpartition(".")[0]
        return ""

    def convert(self, tp: Any, value: Any, key: str) -> Any:
        origin = typing.get_origin(tp)
        if origin in (types.UnionType, typing.Union):
            return self._union(typing.get_args(tp), value, key)
        if dataclasses.is_dataclass(tp) and isinstance(tp, type):
            return self._dataclass(tp, value, key)
        if origin is tuple:
            return self._tuple(typing.get_args(tp)[0], value, key)
        if origin in (Mapping, dict):
            return self._mapping(typing.get_args(tp)[1], value, key)
        if isinstance(tp, type) and issubclass(tp, enum.Enum):
            choices = [m.value for m in tp]
            if isinstance(value, str) and value.lower() in choices:
                return tp(value.lower())
            raise self.error(key, f"{value!r} is not one of {', '.join(choices)}")
        scalar = _SCALARS.get(tp)
        if scalar is None:  # pragma: no cover - a programming error in the dataclasses
            raise TypeError(f"config: no converter for {tp!r} at {key}")
        return scalar(self, value, key)

    def _dataclass(self, tp: type, value: Any, key: str) -> Any:
        if not isinstance(value, Mapping):
            raise self.error(key or "(top level)", f"expected a mapping, got {_kind(value)}")
        hints = typing.get_type_hints(tp)
        fields = {f.name: f for f in dataclasses.fields(tp)}
        for name in value:
            if name not in fields:
                sub = _join(key, str(name))
                raise self.error(sub, f"unknown key (expected one of: {', '.join(fields)})")
        kwargs: dict[str, Any] = {}
        for name, f in fields.items():
            sub = _join(key, name)
            if name in value:
                kwargs[name] = self.convert(hints[name], value[name], sub)
            elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                raise self.error(sub, "missing (required)")
        return tp(**kwargs)

    def _union(self, args: tuple[Any, ...], value: Any, key: str) -> Any:
        if value is None and type(None) in args:
            return None
        options = [a for a in args if a is not type(None)]
        if value is None:
            raise self.error(key, "must not be empty")
        errors: list[ConfigError] = []
        for a in options:
            try:
                return self.convert(a, value, key)
            except ConfigError as e:
                errors.append(e)
        if len(options) == 1:
            raise errors[0]
        specific = [e for e in errors if not e.message.startswith(f"{value!r} is not")]
        if specific:  # e.g. "has host bits set" beats "is not an IPv6 network"
            raise specific[0]
        names = " or ".join(_type_name(a) for a in options)
        raise self.error(key, f"{value!r} is not {names}")

    def _tuple(self, item: Any, value: Any, key: str) -> tuple[Any, ...]:
        if value is None:
            return ()
        if isinstance(value, str):
            value = [v.strip() for v in value.split(",") if v.strip()]
        elif not isinstance(value, list):
            value = [value]
        return tuple(self.convert(item, v, f"{key}[{i}]") for i, v in enumerate(value))

    def _mapping(self, item: Any, value: Any, key: str) -> dict[str, Any]:
        if value is None:
            return {}
        if not isinstance(value, Mapping):
            raise self.error(key, f"expected a mapping, got {_kind(value)}")
        out: dict[str, Any] = {}
        for k, v in value.items():
            if not isinstance(k, str) or not k:
                raise self.error(key, f"key {k!r} must be a non-empty string")
            out[k] = self.convert(item, {} if v is None else v, _join(key, k))
        return out


def _join(key: str, name: str) -> str:
    return f"{key}.{name}" if key else name


def _type_name(tp: Any) -> str:
    return {
        IPv4Address: "an IPv4 address",
        IPv6Address: "an IPv6 address",
        IPv4Network: "an IPv4 network",
        IPv6Network: "an IPv6 network",
    }.get(tp, getattr(tp, "__name__", str(tp)))


def _str(c: _Converter, v: Any, key: str) -> str:
    if isinstance(v, bool) or not isinstance(v, str | int | float):
        raise c.error(key, f"expected a string, got {_kind(v)}")
    return str(v)


def _int(c: _Converter, v: Any, key: str) -> int:
    if isinstance(v, int) and not isinstance(v, bool):
        return v
    if isinstance(v, str):
        try:
            return int(v.replace("_", ""), 0)
        except ValueError:
            pass
    raise c.error(key, f"{v!r} is not an integer")


def _float(c: _Converter, v: Any, key: str) -> float:
    if isinstance(v, int | float) and not isinstance(v, bool):
        return float(v)
    if isinstance(v, str):
        try:
            return float(v)
        except ValueError:
            pass
    raise c.error(key, f"{v!r} is not a number")


def _bool(c: _Converter, v: Any, key: str) -> bool:
    if isinstance(v, bool):
        return v
    if isinstance(v, str) and v.lower() in _TRUE | _FALSE:
        return v.lower() in _TRUE
    raise c.error(key, f"{v!r} is not a boolean (true or false)")


def _path(c: _Converter, v: Any, key: str) -> Path:
    if not isinstance(v, str) or not v:
        raise c.error(key, f"{v!r} is not a path")
    return Path(v)


def _ip(tp: Any, what: str) -> Any:
    def conv(c: _Converter, v: Any, key: str) -> Any:
        if isinstance(v, str):
            try:
                return tp(v.strip())
            except ValueError:
                pass
        raise c.error(key, f"{v!r} is not {what}")

    return conv


def _net(tp: Any, what: str) -> Any:
    def conv(c: _Converter, v: Any, key: str) -> Any:
        if isinstance(v, str):
            try:
                return tp(v.strip())  # strict: host bits must be zero; a bare address is /32
            except ValueError as e:
                if "host bits set" in str(e):
                    raise c.error(key, f"{v!r} has host bits set") from None
        raise c.error(key, f"{v!r} is not {what}")

    return conv


_SCALARS: dict[Any, Any] = {
    str: _str,
    int: _int,
    float: _float,
    bool: _bool,
    Path: _path,
    IPv4Address: _ip(IPv4Address, "an IPv4 address"),
    IPv6Address: _ip(IPv6Address, "an IPv6 address"),
    IPv4Network: _net(IPv4Network, "an IPv4 network"),
    IPv6Network: _net(IPv6Network, "an IPv6 network"),
}


# ---------------------------------------------------------------------------------------------
# Checks across fields


def _check(cfg: Config, conv: _Converter) -> None:
    def fail(key: str, message: str) -> ConfigError:
        return conv.error(key, message)

    ifs = cfg.interfaces
    for role in ("n3", "n6", "n9"):
        itf: Interface | None = getattr(ifs, role)
        if itf is None:
            continue
        if not re.fullmatch(r"[^\s/:]{1,15}", itf.name):
            raise fail(f"interfaces.{role}.name", f"{itf.name!r} is not an interface name")
        if role in ("n3", "n9") and itf.address is None:
            raise fail(f"interfaces.{role}.address", "missing (the GTP-U endpoint address)")
    for key, port in (("n4.port", cfg.n4.port), ("metrics.port", cfg.metrics.port)):
        if not 1 <= port <= 65535:
            raise fail(key, f"{port} is not a port (1-65535)")
    if not 1 <= cfg.n4.workers <= MAX_N4_WORKERS:
        raise fail("n4.workers", f"{cfg.n4.workers} is not 1-{MAX_N4_WORKERS}")
    if cfg.node_id and not _valid_node_id(cfg.node_id):
        raise fail("node_id", f"{cfg.node_id!r} is not an IP address or FQDN")
    if cfg.smf.heartbeat_interval < 0:
        raise fail("smf.heartbeat_interval", "must be >= 0 (0 disables heartbeats)")
    if not cfg.smf.allow and not cfg.smf.associate:
        raise fail(
            "smf.allow",
            "empty: no SMF could ever associate (list SMF addresses or CIDRs; 0.0.0.0/0 allows any)",
        )
    for name in ("sessions", "pdrs", "fars", "qers", "nexthops"):
        v = getattr(cfg.limits, name)
        if not 1 <= v <= 1 << 26:
            raise fail(f"limits.{name}", f"{v} is out of range (1-{1 << 26})")
    seen: list[tuple[str, IPv4Network | IPv6Network]] = []
    for dnn, pool in cfg.ue_pools.items():
        nets: list[tuple[str, IPv4Network | IPv6Network]] = [
            (f"ue_pools.{dnn}.v4[{i}]", n) for i, n in enumerate(pool.v4)
        ] + [(f"ue_pools.{dnn}.v6[{i}]", n) for i, n in enumerate(pool.v6)]
        for key, net in nets:
            for other_key, other in seen:
                if net.version == other.version and net.overlaps(other):
                    raise fail(key, f"{net} overlaps {other_key} ({other})")
            seen.append((key, net))
        for i, n6 in enumerate(pool.v6):
            if n6.prefixlen > 64:
                raise fail(f"ue_pools.{dnn}.v6[{i}]", f"{n6} is longer than /64")
    if not str(cfg.xdp.pin_dir).startswith("/"):
        raise fail("xdp.pin_dir", f"{str(cfg.xdp.pin_dir)!r} must be an absolute path")


def _valid_node_id(s: str) -> bool:
    try:
        ipaddress.ip_address(s)
    except ValueError:
        return bool(_FQDN.match(s))
    return True


def dump(cfg: Config) -> dict[str, Any]:
    """The effective configuration as plain YAML-able data (for `upf config`)."""

    def plain(v: Any) -> Any:
        if dataclasses.is_dataclass(v) and not isinstance(v, type):
            return {f.name: plain(getattr(v, f.name)) for f in dataclasses.fields(v)}
        if isinstance(v, Mapping):
            return {k: plain(x) for k, x in v.items()}
        if isinstance(v, tuple | list):
            return [plain(x) for x in v]
        if isinstance(v, enum.Enum):
            return v.value
        if isinstance(v, bool | int | float) or v is None:
            return v
        return str(v)

    out = plain(cfg)
    assert isinstance(out, dict)
    return out
