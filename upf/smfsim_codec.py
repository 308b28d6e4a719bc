"""The SMF simulator's wire format: requests patched into templates, responses read by a scan.

This module does not import `pfcp`: loading the codec's IE and message tables costs about
0.6 s of CPU, more than the whole 20,000-session run of the load generator it serves. So the
few messages the simulator sends are written here by hand, once per run, as templates with
holes (sequence number, SEIDs, UE address, TEIDs); each request is one `struct` pack of a
template's constant pieces and its hole values. Responses are read by a top-level TLV scan
for the IEs the simulator checks (Cause, Offending IE, F-SEID, Created PDR / F-TEID), with
every length checked. tests/app/test_smfsim.py holds both to account: each template decodes
with pfcp.codec and scapy to the message intended, and the scan reads responses encoded by
both, rejections and broken bytes included.
"""

from __future__ import annotations

import ipaddress
import struct
from collections.abc import Callable
from operator import itemgetter
from typing import Any, NamedTuple

# TS 29.244 7.3, Table 7.3-1
HEARTBEAT_REQUEST = 1
HEARTBEAT_RESPONSE = 2
ASSOCIATION_SETUP_REQUEST = 5
ASSOCIATION_SETUP_RESPONSE = 6
VERSION_NOT_SUPPORTED_RESPONSE = 11
SESSION_ESTABLISHMENT_REQUEST = 50
SESSION_ESTABLISHMENT_RESPONSE = 51
SESSION_MODIFICATION_REQUEST = 52
SESSION_MODIFICATION_RESPONSE = 53
SESSION_DELETION_REQUEST = 54
SESSION_DELETION_RESPONSE = 55
SESSION_REPORT_REQUEST = 56
SESSION_REPORT_RESPONSE = 57
REQUESTS = frozenset({1, 3, 5, 7, 9, 12, 14, 50, 52, 54, 56})

# TS 29.244 8.1.2, Table 8.1.2-1
IE_CREATE_PDR = 1
IE_PDI = 2
IE_CREATE_FAR = 3
IE_FORWARDING_PARAMETERS = 4
IE_CREATE_QER = 7
IE_CREATED_PDR = 8
IE_UPDATE_FAR = 10
IE_UPDATE_FORWARDING_PARAMETERS = 11
IE_CAUSE = 19
IE_SOURCE_INTERFACE = 20
IE_F_TEID = 21
IE_NETWORK_INSTANCE = 22
IE_GATE_STATUS = 25
IE_MBR = 26
IE_PRECEDENCE = 29
IE_OFFENDING_IE = 40
IE_DESTINATION_INTERFACE = 42
IE_APPLY_ACTION = 44
IE_PDR_ID = 56
IE_F_SEID = 57
IE_NODE_ID = 60
IE_OUTER_HEADER_CREATION = 84
IE_UE_IP_ADDRESS = 93
IE_OUTER_HEADER_REMOVAL = 95
IE_RECOVERY_TIME_STAMP = 96
IE_FAR_ID = 108
IE_QER_ID = 109
IE_QFI = 124

REQUEST_ACCEPTED = 1
# TS 29.244 8.2.1, Table 8.2.1-1; a test checks it against pfcp.enums.Cause.
CAUSE_NAMES = {
    0: "RESERVED",
    1: "REQUEST_ACCEPTED",
    2: "MORE_USAGE_REPORT_TO_SEND",
    64: "REQUEST_REJECTED",
    65: "SESSION_CONTEXT_NOT_FOUND",
    66: "MANDATORY_IE_MISSING",
    67: "CONDITIONAL_IE_MISSING",
    68: "INVALID_LENGTH",
    69: "MANDATORY_IE_INCORRECT",
    70: "INVALID_FORWARDING_POLICY",
    71: "INVALID_F_TEID_ALLOCATION_OPTION",
    72: "NO_ESTABLISHED_PFCP_ASSOCIATION",
    73: "RULE_CREATION_MODIFICATION_FAILURE",
    74: "PFCP_ENTITY_IN_CONGESTION",
    75: "NO_RESOURCES_AVAILABLE",
    76: "SERVICE_NOT_SUPPORTED",
    77: "SYSTEM_FAILURE",
    78: "REDIRECTION_REQUESTED",
    79: "ALL_DYNAMIC_ADDRESSES_ARE_OCCUPIED",
    80: "UNKNOWN_PRE_DEFINED_RULE",
    81: "UNKNOWN_APPLICATION_ID",
}

NTP_UNIX_OFFSET = 2_208_988_800  # seconds from 1900-01-01 to 1970-01-01
NETWORK_INSTANCE = "internet"


def cause_name(cause: int) -> str:
    return CAUSE_NAMES.get(cause) or f"CAUSE_{cause}"


class MalformedError(Exception):
    """The peer's message: a short header, a length past the end, an IE too short."""


# -- reading -------------------------------------------------------------------------------------


def peek(data: bytes) -> tuple[int, int]:
    """(message type, sequence number) from a header, without reading the body."""
    if len(data) < 8 or data[0] >> 5 != 1:
        raise MalformedError("not PFCP v1")
    off = 12 if data[0] & 1 else 4
    if len(data) < off + 4:
        raise MalformedError("short header")
    return data[1], int.from_bytes(data[off : off + 3], "big")


def is_request(message_type: int) -> bool:
    return message_type in REQUESTS


class Response(NamedTuple):
    """What the simulator checks in a response; -1 marks an absent field (ul_teid -2: an
    uplink F-TEID that is there but has CHOOSE set or no address)."""

    seid: int  # the header's
    cause: int
    offending_ie: int
    up_seid: int
    ul_teid: int
    ul_addr: bytes  # the uplink F-TEID's address (4 or 16 octets), b"" when absent


_TL = struct.Struct("!HH")
_U32 = struct.Struct("!I")
_U64 = struct.Struct("!Q")
_ABSENT = (-1, -2, b"")  # appended to the values read: `pick` takes absent fields from here
_UNUSABLE = 6  # a pseudo-field: the uplink F-TEID is unusable


class _Layout(NamedTuple):
    """Where a response's fields are, and the structural octets that put them there: the
    header's flags, type and length, every IE type and length the walk read, the F-SEID and
    F-TEID flags and the PDR IDs. `values` reads the fields present, in octet order; `pick`
    orders those and _ABSENT as a Response."""

    skeleton: struct.Struct
    expected: tuple[Any, ...]
    values: struct.Struct
    pick: Callable[[tuple[Any, ...]], tuple[Any, ...]]


def _struct_at(specs: list[tuple[int, str]]) -> struct.Struct:
    """A struct reading `code` at each offset (ascending) and skipping the octets between."""
    fmt, pos = ["!"], 0
    for off, code in specs:
        fmt.append(f"{off - pos}x{code}")
        pos = off + struct.calcsize("!" + code)
    return struct.Struct("".join(fmt))


def _walk(data: bytes) -> _Layout:
    """One TLV walk of a response, every length checked: its layout. Raises MalformedError."""
    n = len(data)
    if n < 8 or data[0] >> 5 != 1:
        raise MalformedError("not PFCP v1")
    end = 4 + (data[2] << 8 | data[3])
    if end > n:
        raise MalformedError("message length past the datagram")
    skel = [(0, "B"), (1, "B"), (2, "H")]
    fields: dict[int, tuple[int, str]] = {}  # Response field index -> (offset, struct code)
    i = 16 if data[0] & 1 else 8
    if end < i:
        raise MalformedError("short header")
    if data[0] & 1:
        fields[0] = (4, "Q")
    uplink = False
    while i < end:
        if i + 4 > end:
            raise MalformedError(f"IE header at octet {i} cut short")
        skel.append((i, "HH"))
        t, ln = _TL.unpack_from(data, i)
        i += 4
        e = i + ln
        if e > end:
            raise MalformedError(f"IE {t} longer than the message")
        if t == IE_CAUSE:
            if ln < 1:
                raise MalformedError("Cause IE empty")
            fields[1] = (i, "B")
        elif t == IE_OFFENDING_IE:
            if ln < 2:
                raise MalformedError("Offending IE too short")
            fields[2] = (i, "H")
        elif t == IE_F_SEID:  # TS 29.244 8.2.37
            if ln < 9:
                raise MalformedError("F-SEID IE too short")
            skel.append((i, "B"))
            flags = data[i]
            if ln < 9 + 4 * (flags >> 1 & 1) + 16 * (flags & 1):
                raise MalformedError("F-SEID IE too short for its addresses")
            fields[3] = (i + 1, "Q")
        elif t == IE_CREATED_PDR and not uplink:
            uplink = _created_pdr(data, i, e, skel, fields)
        i = e
    present = sorted((spec, f) for f, spec in fields.items() if f != _UNUSABLE)
    index = {f: j for j, (_, f) in enumerate(present)}
    absent = len(present) + _ABSENT.index(-1)
    index.setdefault(4, len(present) + _ABSENT.index(-2) if _UNUSABLE in fields else absent)
    index.setdefault(5, len(present) + _ABSENT.index(b""))
    skeleton = _struct_at(skel)
    return _Layout(
        skeleton,
        skeleton.unpack_from(data),
        _struct_at([spec for spec, _ in present]),
        itemgetter(*(index.get(f, absent) for f in range(6))),
    )


def _created_pdr(
    data: bytes, i: int, end: int, skel: list[tuple[int, str]], fields: dict[int, tuple[int, str]]
) -> bool:
    """Walks a Created PDR; if it has PDR ID 1 (uplink), records its F-TEID and says so."""
    pdr_id = -1
    fteid: dict[int, tuple[int, str]] = {}
    while i < end:
        if i + 4 > end:
            raise MalformedError("Created PDR: IE header cut short")
        skel.append((i, "HH"))
        t, ln = _TL.unpack_from(data, i)
        i += 4
        e = i + ln
        if e > end:
            raise MalformedError(f"Created PDR: IE {t} longer than the group")
        if t == IE_PDR_ID:
            if ln < 2:
                raise MalformedError("PDR ID too short")
            skel.append((i, "H"))
            pdr_id = data[i] << 8 | data[i + 1]
        elif t == IE_F_TEID:  # TS 29.244 8.2.3
            if ln < 1:
                raise MalformedError("F-TEID empty")
            skel.append((i, "B"))
            flags = data[i]
            v4, v6 = flags & 1, flags >> 1 & 1
            if flags & 0x04 or not (v4 or v6):  # CHOOSE in a response, or no address
                fteid = {_UNUSABLE: (i, "B")}
            elif ln < 5 + 4 * v4 + 16 * v6:
                raise MalformedError("F-TEID too short for its addresses")
            else:
                fteid = {4: (i + 1, "I"), 5: (i + 5, "4s" if v4 else "16s")}
        i = e
    if pdr_id != 1:
        return False
    fields.update(fteid)
    return True


class ResponseReader:
    """Reads responses like `read_response`, remembering layouts by datagram length.

    A UPF answers every session of a run with the same layout, so after one full walk a
    response costs a struct unpack of its structural octets, a tuple comparison and a struct
    unpack of its fields. A response whose structural octets differ is walked again (its
    layout replaces the remembered one): the result is always that of the full walk.
    """

    def __init__(self, max_layouts: int = 64) -> None:
        self._layouts: dict[int, _Layout] = {}
        self._max = max_layouts

    def read(self, data: bytes) -> Response:
        lay = self._layouts.get(len(data))
        if lay is None or lay.skeleton.unpack_from(data) != lay.expected:
            lay = _walk(data)
            if len(self._layouts) >= self._max:
                self._layouts.clear()
            self._layouts[len(data)] = lay
        return _new(Response, lay.pick(lay.values.unpack_from(data) + _ABSENT))


_new = tuple.__new__


def read_response(data: bytes) -> Response:
    """Header SEID, Cause, Offending IE, the UP F-SEID and the uplink F-TEID (of the Created
    PDR with PDR ID 1) of a response, by one TLV walk. Raises MalformedError, nothing else."""
    lay = _walk(data)
    return _new(Response, lay.pick(lay.values.unpack_from(data) + _ABSENT))


def address_text(packed: bytes) -> str:
    return str(ipaddress.ip_address(packed)) if packed else ""


# -- writing -------------------------------------------------------------------------------------


class _Hole(NamedTuple):
    name: str
    code: str  # a struct code: I, Q


_Piece = bytes | _Hole


def _size(pieces: list[_Piece]) -> int:
    return sum(len(p) if isinstance(p, bytes) else struct.calcsize("!" + p.code) for p in pieces)


def _ie(ie_type: int, *parts: bytes | _Hole | list[_Piece]) -> list[_Piece]:
    flat: list[_Piece] = []
    for p in parts:
        flat.extend(p if isinstance(p, list) else [p])
    return [_TL.pack(ie_type, _size(flat)), *flat]


def _u8(ie_type: int, v: int) -> list[_Piece]:
    return _ie(ie_type, bytes([v]))


def _u32(ie_type: int, v: int) -> list[_Piece]:
    return _ie(ie_type, _U32.pack(v))


def _session_message(message_type: int, seid: _Piece, body: list[_Piece]) -> list[_Piece]:
    """TS 29.244 7.2.2: version 1, S=1, length, SEID, sequence (3 octets) and a spare octet;
    the `seq` hole is packed as an u32 of sequence << 8."""
    length = (_size(body) + 12).to_bytes(2, "big")
    return [bytes([0x21, message_type]), length, seid, _Hole("seq", "I"), *body]


def node_message(message_type: int, seq: int, body: bytes) -> bytes:
    """A node message (S=0): version 1, type, length, sequence, spare."""
    return (
        bytes([0x20, message_type])
        + (len(body) + 4).to_bytes(2, "big")
        + (seq << 8).to_bytes(4, "big")
        + body
    )


def session_message(message_type: int, seid: int, seq: int, body: bytes) -> bytes:
    return (
        bytes([0x21, message_type])
        + (len(body) + 12).to_bytes(2, "big")
        + _U64.pack(seid)
        + (seq << 8).to_bytes(4, "big")
        + body
    )


def dns_labels(name: str) -> bytes:
    """TS 29.244 8.2.38 / RFC 1035 3.1: an FQDN as length-prefixed labels (no root label)."""
    return b"".join(bytes([len(x)]) + x.encode() for x in name.rstrip(".").split("."))


def node_id_ie(node_id: str) -> bytes:
    """TS 29.244 8.2.38: an IPv4 address, an IPv6 address or an FQDN."""
    try:
        ip = ipaddress.ip_address(node_id)
    except ValueError:
        body = b"\x02" + dns_labels(node_id)
    else:
        body = (b"\x00" if ip.version == 4 else b"\x01") + ip.packed
    return _TL.pack(IE_NODE_ID, len(body)) + body


def recovery_time_stamp_ie(unix_seconds: float) -> bytes:
    return _TL.pack(IE_RECOVERY_TIME_STAMP, 4) + _U32.pack(
        (int(unix_seconds) + NTP_UNIX_OFFSET) & 0xFFFFFFFF
    )


def cause_ie(cause: int) -> bytes:
    return _TL.pack(IE_CAUSE, 1) + bytes([cause])


def heartbeat_request(seq: int, recovery_time: float) -> bytes:
    return node_message(HEARTBEAT_REQUEST, seq, recovery_time_stamp_ie(recovery_time))


def heartbeat_response(seq: int, recovery_time: float) -> bytes:
    return node_message(HEARTBEAT_RESPONSE, seq, recovery_time_stamp_ie(recovery_time))


def association_setup_request(seq: int, node_id: str, recovery_time: float) -> bytes:
    body = node_id_ie(node_id) + recovery_time_stamp_ie(recovery_time)
    return node_message(ASSOCIATION_SETUP_REQUEST, seq, body)


def session_report_response(seq: int, seid: int) -> bytes:
    return session_message(SESSION_REPORT_RESPONSE, seid, seq, cause_ie(REQUEST_ACCEPTED))


def answer_request(
    data: bytes, recovery_time: float, up_seid_of: Callable[[int], int]
) -> bytes | None:
    """Heartbeat Requests and Session Report Requests from the UPF are answered; a report's
    response carries the session's UP SEID (`up_seid_of` our CP SEID, 0 if unknown)."""
    try:
        mtype, seq = peek(data)
    except MalformedError:
        return None
    if mtype == HEARTBEAT_REQUEST:
        return heartbeat_response(seq, recovery_time)
    if mtype == SESSION_REPORT_REQUEST and data[0] & 1:
        cp_seid = _U64.unpack_from(data, 4)[0]
        return session_report_response(seq, up_seid_of(cp_seid))
    return None


class _Compiled:
    """A template's constant pieces and one struct over the whole message: pack(c0, v0, c1,
    v1, ..., cn) with the holes' values in the order of `names`."""

    def __init__(self, pieces: list[_Piece]) -> None:
        fmt = ["!"]
        consts: list[bytes] = []
        names: list[str] = []
        run = b""
        for p in pieces:
            if isinstance(p, bytes):
                run += p
                continue
            fmt.append(f"{len(run)}s{p.code}")
            consts.append(run)
            names.append(p.name)
            run = b""
        fmt.append(f"{len(run)}s")
        consts.append(run)
        self.struct = struct.Struct("".join(fmt))
        self.consts = tuple(consts)
        self.names = tuple(names)


class Templates:
    """The session requests of one simulator (its Node ID, F-SEID address and QFI).

    Each session is what a 5G SMF installs for a PDU session (TS 23.502 4.3.2):
      PDR 1 uplink:   PDI Access, F-TEID CHOOSE (the UPF allocates it), UE IP, QFI; OHR; FAR 1
      PDR 2 downlink: PDI Core, UE IP (destination); FAR 2
      FAR 1: FORW to Core;  FAR 2: FORW to Access with OHC GTP-U/UDP/IPv4 (gNB, TEID)
      QER 1: gates open, MBR, QFI
    A modification is a handover (FAR 2's OHC to another gNB address and TEID).
    """

    def __init__(self, node_id: str, cp_address: str, qfi: int) -> None:
        ni = _ie(IE_NETWORK_INSTANCE, dns_labels(NETWORK_INSTANCE))
        ue = _Hole("ue", "I")
        uplink = _ie(
            IE_CREATE_PDR,
            _ie(IE_PDR_ID, b"\x00\x01"),
            _u32(IE_PRECEDENCE, 255),
            _ie(
                IE_PDI,
                _u8(IE_SOURCE_INTERFACE, 0),  # Access
                _ie(IE_F_TEID, b"\x0d\x01"),  # CHOOSE, CHOOSE ID 1, IPv4
                ni,
                _ie(IE_UE_IP_ADDRESS, b"\x02", ue),  # V4, source
                _u8(IE_QFI, qfi),
            ),
            _u8(IE_OUTER_HEADER_REMOVAL, 0),  # GTP-U/UDP/IPv4
            _u32(IE_FAR_ID, 1),
            _u32(IE_QER_ID, 1),
        )
        downlink = _ie(
            IE_CREATE_PDR,
            _ie(IE_PDR_ID, b"\x00\x02"),
            _u32(IE_PRECEDENCE, 255),
            _ie(
                IE_PDI,
                _u8(IE_SOURCE_INTERFACE, 1),  # Core
                ni,
                _ie(IE_UE_IP_ADDRESS, b"\x06", ue),  # V4, destination
            ),
            _u32(IE_FAR_ID, 2),
            _u32(IE_QER_ID, 1),
        )
        far_ul = _ie(
            IE_CREATE_FAR,
            _u32(IE_FAR_ID, 1),
            _u8(IE_APPLY_ACTION, 0x02),  # FORW
            _ie(IE_FORWARDING_PARAMETERS, _u8(IE_DESTINATION_INTERFACE, 1), ni),  # Core
        )
        ohc = _ie(IE_OUTER_HEADER_CREATION, b"\x01\x00", _Hole("gnb_teid", "I"), _Hole("gnb", "I"))
        far_dl = _ie(
            IE_CREATE_FAR,
            _u32(IE_FAR_ID, 2),
            _u8(IE_APPLY_ACTION, 0x02),
            _ie(IE_FORWARDING_PARAMETERS, _u8(IE_DESTINATION_INTERFACE, 0), ni, ohc),  # Access
        )
        qer = _ie(
            IE_CREATE_QER,
            _u32(IE_QER_ID, 1),
            _u8(IE_GATE_STATUS, 0),  # UL and DL open
            _ie(IE_MBR, (100_000).to_bytes(5, "big"), (200_000).to_bytes(5, "big")),
            _u8(IE_QFI, qfi),
        )
        fseid = _ie(
            IE_F_SEID, b"\x02", _Hole("cp_seid", "Q"), ipaddress.IPv4Address(cp_address).packed
        )
        est = _Compiled(
            _session_message(
                SESSION_ESTABLISHMENT_REQUEST,
                bytes(8),  # SEID 0: the UPF has no session yet (TS 29.244 7.2.2.4.2)
                [node_id_ie(node_id), *fseid, *uplink, *downlink, *far_ul, *far_dl, *qer],
            )
        )
        if est.names != ("seq", "cp_seid", "ue", "ue", "gnb_teid", "gnb"):
            raise AssertionError(est.names)
        self._est, self._est_c = est.struct.pack, est.consts

        far = _ie(
            IE_UPDATE_FAR,
            _u32(IE_FAR_ID, 2),
            _u8(IE_APPLY_ACTION, 0x02),
            _ie(IE_UPDATE_FORWARDING_PARAMETERS, _u8(IE_DESTINATION_INTERFACE, 0), ni, ohc),
        )
        mod = _Compiled(_session_message(SESSION_MODIFICATION_REQUEST, _Hole("up_seid", "Q"), far))
        if mod.names != ("up_seid", "seq", "gnb_teid", "gnb"):
            raise AssertionError(mod.names)
        self._mod, self._mod_c = mod.struct.pack, mod.consts

        dele = _Compiled(_session_message(SESSION_DELETION_REQUEST, _Hole("up_seid", "Q"), []))
        if dele.names != ("up_seid", "seq"):
            raise AssertionError(dele.names)
        self._del, self._del_c = dele.struct.pack, dele.consts

    def establishment(self, seq: int, cp_seid: int, ue: int, gnb: int, gnb_teid: int) -> bytes:
        """Addresses as ints (`int(IPv4Address)`)."""
        c = self._est_c
        return self._est(
            c[0], seq << 8, c[1], cp_seid, c[2], ue, c[3], ue, c[4], gnb_teid, c[5], gnb, c[6]
        )

    def modification(self, seq: int, up_seid: int, gnb: int, gnb_teid: int) -> bytes:
        c = self._mod_c
        return self._mod(c[0], up_seid, c[1], seq << 8, c[2], gnb_teid, c[3], gnb, c[4])

    def deletion(self, seq: int, up_seid: int) -> bytes:
        c = self._del_c
        return self._del(c[0], up_seid, c[1], seq << 8, c[2])
