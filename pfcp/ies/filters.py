"""Traffic-description IEs: SDF Filter, Flow Information, PFD Contents, Redirect Information
(TS 29.244 8.2). Text is latin-1 so any octets survive a round trip."""

from __future__ import annotations

from dataclasses import dataclass

from pfcp.buffer import U16, U32, Buffer, Writer
from pfcp.enums import FlowDirection, IEType, RedirectAddressType
from pfcp.ies.base import fast_ctor, register


def _pull_str16(buf: Buffer) -> str:
    return buf.pull_bytes(buf.pull_u16()).decode("latin-1")


def _push_str16(w: Writer, s: str) -> None:
    raw = s.encode("latin-1")
    w += U16.pack(len(raw))
    w += raw


@dataclass(frozen=True, slots=True)
class SdfFilter:
    """TS 29.244 8.2.5 (flags FD, TTC, SPI, FL, BID)."""

    flow_description: str | None = None
    tos_traffic_class: int | None = None
    security_parameter_index: int | None = None
    flow_label: int | None = None
    sdf_filter_id: int | None = None


_new_sdf = fast_ctor(SdfFilter)


def _pull_sdf(buf: Buffer) -> SdfFilter:
    f = buf.pull_u8()
    buf.pull_u8()  # spare
    fd = _pull_str16(buf) if f & 0x01 else None
    ttc = buf.pull_u16() if f & 0x02 else None
    spi = buf.pull_u32() if f & 0x04 else None
    fl = buf.pull_u24() if f & 0x08 else None
    bid = buf.pull_u32() if f & 0x10 else None
    return _new_sdf(fd, ttc, spi, fl, bid)


def _push_sdf(w: Writer, v: SdfFilter) -> None:
    fd, ttc, spi, fl, bid = (
        v.flow_description,
        v.tos_traffic_class,
        v.security_parameter_index,
        v.flow_label,
        v.sdf_filter_id,
    )
    w.append(
        (fd is not None)
        | ((ttc is not None) << 1)
        | ((spi is not None) << 2)
        | ((fl is not None) << 3)
        | ((bid is not None) << 4)
    )
    w.append(0)
    if fd is not None:
        _push_str16(w, fd)
    if ttc is not None:
        w += U16.pack(ttc)
    if spi is not None:
        w += U32.pack(spi)
    if fl is not None:
        w += fl.to_bytes(3, "big")
    if bid is not None:
        w += U32.pack(bid)


register(IEType.SDF_FILTER, SdfFilter, _pull_sdf, _push_sdf)


@dataclass(frozen=True, slots=True)
class FlowInformation:
    """TS 29.244 8.2.61."""

    direction: FlowDirection
    flow_description: str


def _pull_flow(buf: Buffer) -> FlowInformation:
    return FlowInformation(FlowDirection(buf.pull_u8() & 0x07), _pull_str16(buf))


def _push_flow(w: Writer, v: FlowInformation) -> None:
    w.append(int(v.direction) & 0x07)
    _push_str16(w, v.flow_description)


register(IEType.FLOW_INFORMATION, FlowInformation, _pull_flow, _push_flow)


@dataclass(frozen=True, slots=True)
class PfdContents:
    """TS 29.244 8.2.39 (flags FD, URL, DN, CP, DNP, AFD, AURL, ADNP).

    The "additional" fields keep their inner encoding (a list of length-prefixed entries) as
    octets.
    """

    flow_description: str | None = None
    url: str | None = None
    domain_name: str | None = None
    custom_pfd_content: bytes | None = None
    domain_name_protocol: str | None = None
    additional_flow_description: bytes | None = None
    additional_url: bytes | None = None
    additional_domain_name_and_protocol: bytes | None = None


def _pull_pfd(buf: Buffer) -> PfdContents:
    f = buf.pull_u8()
    buf.pull_u8()  # spare
    fd = _pull_str16(buf) if f & 0x01 else None
    url = _pull_str16(buf) if f & 0x02 else None
    dn = _pull_str16(buf) if f & 0x04 else None
    cp = buf.pull_bytes(buf.pull_u16()) if f & 0x08 else None
    dnp = _pull_str16(buf) if f & 0x10 else None
    afd = buf.pull_bytes(buf.pull_u16()) if f & 0x20 else None
    aurl = buf.pull_bytes(buf.pull_u16()) if f & 0x40 else None
    adnp = buf.pull_bytes(buf.pull_u16()) if f & 0x80 else None
    return PfdContents(fd, url, dn, cp, dnp, afd, aurl, adnp)


def _push_pfd(w: Writer, v: PfdContents) -> None:
    fields = (
        v.flow_description,
        v.url,
        v.domain_name,
        v.custom_pfd_content,
        v.domain_name_protocol,
        v.additional_flow_description,
        v.additional_url,
        v.additional_domain_name_and_protocol,
    )
    flags = 0
    for i, x in enumerate(fields):
        if x is not None:
            flags |= 1 << i
    w.append(flags)
    w.append(0)
    for x in fields:
        if x is None:
            continue
        raw = x.encode("latin-1") if isinstance(x, str) else x
        w += U16.pack(len(raw))
        w += raw


register(IEType.PFD_CONTENTS, PfdContents, _pull_pfd, _push_pfd)


@dataclass(frozen=True, slots=True)
class RedirectInformation:
    """TS 29.244 8.2.20 (the other-server address is Rel-16, type IPv4 and IPv6)."""

    address_type: RedirectAddressType
    server_address: str
    other_server_address: str | None = None


def _pull_redirect(buf: Buffer) -> RedirectInformation:
    t = RedirectAddressType(buf.pull_u8() & 0x0F)
    addr = _pull_str16(buf)
    other = _pull_str16(buf) if buf.remaining() >= 2 else None
    return RedirectInformation(t, addr, other)


def _push_redirect(w: Writer, v: RedirectInformation) -> None:
    w.append(int(v.address_type) & 0x0F)
    _push_str16(w, v.server_address)
    if v.other_server_address is not None:
        _push_str16(w, v.other_server_address)


register(IEType.REDIRECT_INFORMATION, RedirectInformation, _pull_redirect, _push_redirect)
