"""The sans-I/O PFCP node: transactions, retransmission, response cache, heartbeats.

The node never reads the clock and never touches a socket (the aioquic/h11 shape). Feed it
datagrams with `receive_datagram`, send what `datagrams_to_send` returns, call `handle_timer`
when `get_timer` says, and act on `next_event`. The agent talks PFCP through `send_request`
and `send_response` (or `send_encoded_response`, with octets it encoded itself); the node
assigns sequence numbers, retransmits, answers retransmitted requests from its cache and runs
heartbeats by itself.

What the node answers by itself, and what it leaves to the agent:
- a message of another PFCP version: Version Not Supported Response (TS 29.244 7.6.2),
  unless the message is itself a response;
- a Heartbeat Request: Heartbeat Response with our Recovery Time Stamp (TS 29.244 6.2.2),
  even when its body is malformed (the response has no Cause to report it with);
- a retransmitted request: the cached response, byte for byte (TS 29.244 6.4), or nothing
  while the first copy is still with the agent;
- any other request whose header reads but whose body does not decode: `InvalidRequest`,
  and the agent answers with the Cause it carries (TS 29.244 7.6);
- unknown message types, bytes too short for a header, responses nobody waits for: silently
  discarded (TS 29.244 7.6, 7.6.3), counted in `stats`.
Nothing a peer sends raises out of `receive_datagram`.
"""

from __future__ import annotations

import dataclasses
import heapq
import itertools
import logging
import struct
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass

from pfcp import (
    DecodeError,
    HeartbeatRequest,
    HeartbeatResponse,
    Message,
    MessageType,
    PfcpError,
    UnknownMessageTypeError,
    VersionNotSupportedResponse,
    decode_message,
    encode_message,
)
from pfcp.node.config import NodeConfig
from pfcp.node.errors import NodeUsageError
from pfcp.node.events import (
    Address,
    Event,
    InvalidRequest,
    InvalidResponse,
    PeerFailed,
    PeerRestarted,
    RequestReceived,
    RequestTimedOut,
    ResponseReceived,
)
from pfcp.node.header import PFCP_VERSION, Header, peek_header
from pfcp.node.liveness import PeerLiveness, PeerState
from pfcp.shapes import SHAPED_TYPES, ShapeTable

__all__ = ["NodeStats", "PfcpNode"]

logger = logging.getLogger("pfcp.node")

_SEQUENCE_MODULUS = 1 << 24  # TS 29.244 7.2.2.1: a 3-octet Sequence Number

_REQUEST_TYPES = frozenset(t for t in MessageType if t.name.endswith("_REQUEST"))
_RESPONSE_TYPES = frozenset(t for t in MessageType if t.name.endswith("_RESPONSE"))
_TYPES = {int(t): t for t in MessageType}  # MessageType(n) costs a call into enum; this a get
_SESSION_HEADER = struct.Struct("!BBHQI").unpack_from  # TS 29.244 7.2.2.1: flags, type,
_NODE_HEADER = struct.Struct("!BBHI").unpack_from  # length, [SEID], sequence << 8 | spare

# An inbound request, as TS 29.244 6.4 identifies a retransmission of it.
_CacheKey = tuple[Address, int, int, int | None]  # peer, sequence, message type, SEID


@dataclass(slots=True)
class NodeStats:
    """Counters for metrics; the node only ever increments them."""

    datagrams_received: int = 0
    datagrams_sent: int = 0
    requests_received: int = 0
    responses_received: int = 0
    retransmissions_sent: int = 0
    duplicates_answered: int = 0  # retransmitted requests answered from the cache
    sequence_reused: int = 0  # a new request under a cached sequence number (peer restarted)
    duplicates_dropped: int = 0  # retransmitted requests still with the agent
    requests_timed_out: int = 0
    heartbeats_answered: int = 0
    malformed: int = 0  # header unreadable or body failed to decode
    unknown_type: int = 0
    unexpected_responses: int = 0  # no matching outstanding request (late duplicate, stray)
    version_not_supported: int = 0
    second_answers_dropped: int = 0  # send_response for a request already answered
    codec_failures: int = 0  # our codec broke (decode raised a non-DecodeError, encode failed)


@dataclass(slots=True)
class _Transaction:
    """One request of ours, until answered or given up (TS 29.244 6.4)."""

    tid: int
    peer: Address
    request: Message
    request_type: int
    data: bytes
    deadline: float
    retries_left: int
    heartbeat: bool  # the node's own heartbeat: answered inside the node, no event


@dataclass(slots=True)
class _CacheEntry:
    expires_at: float
    response: bytes | None  # None while the agent is still working on the request
    request: bytes | None  # what the peer sent; a retransmission is the same bytes


class PfcpNode:
    """One PFCP endpoint (one local address and port), driven by the caller's clock."""

    def __init__(self, config: NodeConfig, now: float) -> None:
        self._config = config
        self._next_sequence = config.initial_sequence
        self._tids = itertools.count()
        self._outstanding: dict[int, _Transaction] = {}  # by sequence: unique per endpoint
        self._retransmit_heap: list[tuple[float, int, int]] = []  # (deadline, tid, sequence)
        self._cache: dict[_CacheKey, _CacheEntry] = {}
        # Expiry order == insertion order (fixed lifetime from arrival). Kept in a deque, not
        # read from the dict's order: a dict emptied from the front makes next(iter()) slow.
        self._expiry: deque[tuple[float, _CacheKey, _CacheEntry]] = deque()
        self._peers: dict[Address, PeerLiveness] = {}
        self._to_send: list[tuple[bytes, Address]] = []
        self._events: deque[Event] = deque()
        self.stats = NodeStats()
        # Request shapes (pfcp/shapes.py): set a ShapeTable to decode requests shaped like
        # earlier ones by substitution; RequestReceived.shaped then says which shape.
        self.shapes: ShapeTable | None = None

    # ---------------------------------------------------------------- configuration, peers

    @property
    def config(self) -> NodeConfig:
        return self._config

    @property
    def recovery_time_stamp(self) -> int:
        return self._config.recovery_time_stamp

    @property
    def peers(self) -> Mapping[Address, PeerState]:
        return {addr: peer.state for addr, peer in self._peers.items()}

    def add_peer(self, addr: Address, now: float, recovery_time_stamp: int | None = None) -> None:
        """Start heartbeats to `addr` (e.g. once an association is set up).

        `recovery_time_stamp` is the peer's, if the agent already saw it (Association Setup);
        a later different value yields `PeerRestarted`. Adding a known peer starts it afresh.
        """
        self.remove_peer(addr)
        self._peers[addr] = PeerLiveness(now + self._config.heartbeat_interval, recovery_time_stamp)

    def remove_peer(self, addr: Address) -> None:
        """Stop heartbeats to `addr`; a heartbeat in flight is abandoned silently."""
        peer = self._peers.pop(addr, None)
        if peer is not None and peer.heartbeat_sequence is not None:
            self._outstanding.pop(peer.heartbeat_sequence, None)

    # ---------------------------------------------------------------- the sans-I/O surface

    def receive_datagram(self, data: bytes, addr: Address, now: float) -> None:
        """Take one UDP payload from `addr`; it may bundle several messages (TS 29.244 6.5)."""
        self.stats.datagrams_received += 1
        self._expire_cache(now)
        offset = 0
        while True:
            header = peek_header(data, offset)
            if header is None:
                self.stats.malformed += 1
                logger.debug(
                    "discarding %d octets from %s: no PFCP header", len(data) - offset, addr
                )
                return
            end = offset + header.total_length
            # The last (or only) message gets the rest of the datagram, so the decoder can
            # check the Message Length against it (TS 29.244 7.6.3).
            chunk = data[offset:end] if header.follow_on else data[offset:]
            self._receive_message(chunk, header, addr, now)
            if not header.follow_on or header.version != PFCP_VERSION or end >= len(data):
                return
            offset = end

    def datagrams_to_send(self, now: float) -> list[tuple[bytes, Address]]:
        """Everything queued for sending, in order; the caller sends each to its address."""
        out, self._to_send = self._to_send, []
        self.stats.datagrams_sent += len(out)
        return out

    def get_timer(self) -> float | None:
        """When `handle_timer` should next be called (same clock as `now`), or None."""
        heap = self._retransmit_heap
        while heap and not self._heap_entry_live(heap[0]):
            heapq.heappop(heap)
        deadlines = [heap[0][0]] if heap else []
        expiry = self._expiry
        while expiry and self._cache.get(expiry[0][1]) is not expiry[0][2]:
            expiry.popleft()  # forgotten early (peer restart)
        if expiry:
            deadlines.append(expiry[0][0])
        deadlines.extend(
            p.next_heartbeat_at for p in self._peers.values() if p.next_heartbeat_at is not None
        )
        return min(deadlines, default=None)

    def handle_timer(self, now: float) -> None:
        """Retransmit, give up, expire cached responses and send heartbeats that are due."""
        self._expire_cache(now)
        heap = self._retransmit_heap
        while heap and heap[0][0] <= now:
            entry = heapq.heappop(heap)
            if self._heap_entry_live(entry):
                self._on_retransmit_timer(self._outstanding[entry[2]], now)
        for addr, peer in list(self._peers.items()):
            if peer.next_heartbeat_at is not None and peer.next_heartbeat_at <= now:
                self._send_heartbeat(addr, peer, now)

    def next_event(self) -> Event | None:
        return self._events.popleft() if self._events else None

    # ---------------------------------------------------------------- the agent's PFCP

    def send_request(self, message: Message, addr: Address, now: float) -> int:
        """Send `message` to `addr` with the next sequence number, which is returned.

        The request is retransmitted every T1 until answered, at most N1 times; then
        `RequestTimedOut`. The answer arrives as `ResponseReceived` (or `InvalidResponse`).
        """
        return self._start_transaction(message, addr, now, heartbeat=False).request.sequence

    def send_response(
        self, request: RequestReceived | InvalidRequest, message: Message, now: float
    ) -> None:
        """Answer `request` with `message` (its sequence number is copied from the request).

        The encoded response is kept for retransmissions of the request (TS 29.244 6.4).
        The SEID in the header is the agent's to set (the peer's F-SEID). A second answer to
        the same request is dropped (the first one stands); an answer of the wrong message
        type raises `NodeUsageError`.
        """
        if message.sequence != request.header.sequence:  # replace() costs ~10 us: skip if set
            message = dataclasses.replace(message, sequence=request.header.sequence)
        data = encode_message(message)
        if data[1] != request.header.message_type + 1:
            raise NodeUsageError(
                f"{type(message).__name__} does not answer message type {request.header.message_type}"
            )
        self._answer(request, data, now)

    def send_encoded_response(
        self, request: RequestReceived | InvalidRequest, data: bytes, now: float
    ) -> None:
        """`send_response` for a response the agent encoded itself (a byte template on a
        hot path): one whole PFCP message answering `request`, with its sequence number.

        The node checks the header (version, the response type, the sequence number, the
        length), then caches and sends the bytes as they are, exactly as `send_response`
        does the ones it encodes; a header that does not answer `request` raises
        `NodeUsageError`.
        """
        asked = request.header
        try:  # (peek_header would build a Header: 1 us, as much as all the rest here)
            if data[0] & 0x01:  # S: a session message
                flags, message_type, length, _, word = _SESSION_HEADER(data)
            else:
                flags, message_type, length, word = _NODE_HEADER(data)
        except (IndexError, struct.error):
            raise NodeUsageError(f"{len(data)} octets are no PFCP message") from None
        if (
            flags & 0xE4 != PFCP_VERSION << 5  # version 1, no FO (one message)
            or message_type != asked.message_type + 1
            or word >> 8 != asked.sequence
            or length + 4 != len(data)
        ):
            raise NodeUsageError(f"{peek_header(data)} does not answer {asked}")
        self._answer(request, data, now)

    def _answer(self, request: RequestReceived | InvalidRequest, data: bytes, now: float) -> None:
        """Cache the encoded answer to `request` for its retransmissions and queue it."""
        key = _cache_key(request.peer, request.header)
        entry = self._cache.get(key)
        if entry is not None and entry.response is not None:
            # Already answered (twice delivered after the cache expired, or an agent bug):
            # the first answer stands, as every retransmission must get the same one.
            self.stats.second_answers_dropped += 1
            logger.warning("request %s from %s already answered", request.header, request.peer)
            return
        if entry is None:  # the agent took longer than the cache lifetime; remember it anew
            entry = self._remember(key, None, now)
        entry.response = data
        self._to_send.append((data, request.peer))

    # ---------------------------------------------------------------- inbound

    def _receive_message(self, data: bytes, header: Header, addr: Address, now: float) -> None:
        if header.version != PFCP_VERSION:
            self._answer_version_not_supported(header, addr)
            return
        mtype = _TYPES.get(header.message_type)
        if mtype is None:
            mtype = MessageType(header.message_type)  # open enum: unknown values do not raise
        if mtype in _REQUEST_TYPES:
            self._receive_request(data, header, mtype, addr, now)
        elif mtype in _RESPONSE_TYPES:
            self._receive_response(data, header, addr, now)
        else:
            self.stats.unknown_type += 1  # TS 29.244 7.6: unknown message, silently discarded
            logger.debug("discarding unknown message type %d from %s", header.message_type, addr)

    def _receive_request(
        self, data: bytes, header: Header, mtype: MessageType, addr: Address, now: float
    ) -> None:
        key = _cache_key(addr, header)
        entry = self._cache.get(key)
        if entry is not None and entry.request not in (None, data):
            # Same peer, sequence number and type but other bytes: not a retransmission
            # (which is identical, TS 29.244 6.4) but a new request, e.g. from a peer that
            # restarted on the same address and numbers its requests afresh.
            self.stats.sequence_reused += 1
            entry = None
        if entry is not None:  # a retransmission (TS 29.244 6.4)
            if entry.response is None:
                self.stats.duplicates_dropped += 1
            else:
                self.stats.duplicates_answered += 1
                self._to_send.append((entry.response, addr))
            return
        self.stats.requests_received += 1
        shapes = self.shapes
        if shapes is not None and mtype in SHAPED_TYPES:
            shaped = shapes.match(data)
            if shaped is not None:  # (its message is built if and when it is read)
                stamp = shaped.shape.recovery_time_stamp
                if stamp is not None:
                    self._check_recovery(addr, stamp)
                self._remember(key, None, now, data)
                self._events.append(RequestReceived(addr, None, header, shaped))
                return
        message = self._decode(data, header, addr)
        if shapes is not None and mtype in SHAPED_TYPES and isinstance(message, Message):
            shapes.learn(data, message)
        if mtype == MessageType.HEARTBEAT_REQUEST:
            if isinstance(message, HeartbeatRequest):
                self._check_recovery(addr, message.recovery_time_stamp)
            # Answered even if malformed: a Heartbeat Response has no Cause to object with.
            self._answer_heartbeat(key, header, data, addr, now)
            return
        if message is None:
            return  # the decoder itself failed; already logged
        if isinstance(message, DecodeError):
            self._remember(key, None, now, data)
            self._events.append(InvalidRequest(addr, header, message))
            return
        # Before remembering: a restart drops the peer's cached entries, not this one.
        self._check_recovery_of(addr, message)  # e.g. an Association Setup Request
        self._remember(key, None, now, data)
        self._events.append(RequestReceived(addr, message, header))

    def _receive_response(self, data: bytes, header: Header, addr: Address, now: float) -> None:
        tx = self._outstanding.get(header.sequence)
        if (
            tx is None
            or tx.peer != addr
            or header.message_type
            not in (
                tx.request_type + 1,
                MessageType.VERSION_NOT_SUPPORTED_RESPONSE,
            )
        ):
            self.stats.unexpected_responses += 1  # TS 29.244 7.6: silently discarded
            logger.debug("discarding unexpected response %s from %s", header, addr)
            return
        message = self._decode(data, header, addr)
        if message is None:
            return  # decoder failure: let the request retransmit and time out
        self.stats.responses_received += 1
        del self._outstanding[header.sequence]
        if tx.heartbeat:
            self._on_heartbeat_response(addr, message, now)
        elif isinstance(message, DecodeError):
            # TS 29.244 7.6.1: stop retransmitting and tell the application.
            self._events.append(InvalidResponse(addr, tx.request, message))
        else:
            self._check_recovery_of(addr, message)  # e.g. an Association Setup Response
            self._events.append(ResponseReceived(addr, tx.request, message))

    def _decode(self, data: bytes, header: Header, addr: Address) -> Message | DecodeError | None:
        """The message, or the DecodeError it raised, or None if the decoder broke."""
        try:
            return decode_message(data)
        except UnknownMessageTypeError:
            self.stats.unknown_type += 1  # a type our decoder lacks: as unknown, TS 29.244 7.6
            logger.debug("discarding undecodable message type %s from %s", header, addr)
            return None
        except DecodeError as err:
            self.stats.malformed += 1
            logger.info("malformed PFCP message %s from %s: %s", header, addr, err)
            return err
        except Exception:
            # A bug in the codec, not the peer's fault; never let it out of the node.
            self.stats.codec_failures += 1
            logger.exception("PFCP decoder failed on %s from %s: %s", header, addr, data.hex())
            return None

    def _encode_own(self, message: Message) -> bytes | None:
        """Encode an answer the node makes by itself; None (logged) if our encoder fails."""
        try:
            return encode_message(message)
        except PfcpError:
            self.stats.codec_failures += 1
            logger.exception("cannot encode our %s", type(message).__name__)
            return None

    def _answer_version_not_supported(self, header: Header, addr: Address) -> None:
        self.stats.version_not_supported += 1
        if header.message_type in _RESPONSE_TYPES:
            return  # never answer a response (two peers could bounce these forever)
        data = self._encode_own(VersionNotSupportedResponse(sequence=header.sequence))
        if data is not None:
            self._to_send.append((data, addr))

    # ---------------------------------------------------------------- outbound

    def _start_transaction(
        self, message: Message, addr: Address, now: float, *, heartbeat: bool
    ) -> _Transaction:
        sequence = self._allocate_sequence()
        request = dataclasses.replace(message, sequence=sequence)
        data = encode_message(request)
        header = peek_header(data)
        if header is None or header.message_type not in _REQUEST_TYPES:
            raise NodeUsageError(f"{type(message).__name__} is not a PFCP request")
        tx = _Transaction(
            tid=next(self._tids),
            peer=addr,
            request=request,
            request_type=header.message_type,
            data=data,
            deadline=now + self._config.t1,
            retries_left=self._config.n1,
            heartbeat=heartbeat,
        )
        self._outstanding[sequence] = tx
        heapq.heappush(self._retransmit_heap, (tx.deadline, tx.tid, sequence))
        self._to_send.append((data, addr))
        return tx

    def _allocate_sequence(self) -> int:
        # TS 29.244 6.4: unique among our outstanding requests; 24 bits, wrapping.
        if len(self._outstanding) >= _SEQUENCE_MODULUS:
            raise NodeUsageError("all 2**24 sequence numbers are in use")
        sequence = self._next_sequence
        while sequence in self._outstanding:
            sequence = (sequence + 1) % _SEQUENCE_MODULUS
        self._next_sequence = (sequence + 1) % _SEQUENCE_MODULUS
        return sequence

    def _heap_entry_live(self, entry: tuple[float, int, int]) -> bool:
        deadline, tid, sequence = entry
        tx = self._outstanding.get(sequence)
        return tx is not None and tx.tid == tid and tx.deadline == deadline

    def _on_retransmit_timer(self, tx: _Transaction, now: float) -> None:
        if tx.retries_left > 0:
            tx.retries_left -= 1
            tx.deadline = now + self._config.t1
            heapq.heappush(self._retransmit_heap, (tx.deadline, tx.tid, tx.request.sequence))
            self.stats.retransmissions_sent += 1
            self._to_send.append((tx.data, tx.peer))
            return
        del self._outstanding[tx.request.sequence]
        self.stats.requests_timed_out += 1
        if tx.heartbeat:
            peer = self._peers.get(tx.peer)
            if peer is not None and peer.heartbeat_sequence == tx.request.sequence:
                peer.heartbeat_timed_out()
                logger.warning("PFCP peer %s failed: no Heartbeat Response", tx.peer)
                self._events.append(PeerFailed(tx.peer))
        else:
            logger.info("request 0x%06x to %s timed out", tx.request.sequence, tx.peer)
            self._events.append(RequestTimedOut(tx.peer, tx.request))

    # ---------------------------------------------------------------- heartbeats, restarts

    def _send_heartbeat(self, addr: Address, peer: PeerLiveness, now: float) -> None:
        request = HeartbeatRequest(sequence=0, recovery_time_stamp=self.recovery_time_stamp)
        try:
            tx = self._start_transaction(request, addr, now, heartbeat=True)
        except PfcpError:  # our encoder's bug; never let it stop the timer loop
            self.stats.codec_failures += 1
            logger.exception("cannot encode our Heartbeat Request to %s", addr)
            peer.heartbeat_postponed(now + self._config.heartbeat_interval)
            return
        peer.heartbeat_sent(tx.request.sequence)

    def _on_heartbeat_response(
        self, addr: Address, message: Message | DecodeError, now: float
    ) -> None:
        if isinstance(message, HeartbeatResponse):
            self._check_recovery(addr, message.recovery_time_stamp)
        peer = self._peers.get(addr)
        if peer is None or peer.state is not PeerState.PROBING:
            return
        peer.heartbeat_answered(now + self._config.heartbeat_interval)  # any answer: alive

    def _answer_heartbeat(
        self, key: _CacheKey, header: Header, request: bytes, addr: Address, now: float
    ) -> None:
        response = HeartbeatResponse(
            sequence=header.sequence, recovery_time_stamp=self.recovery_time_stamp
        )
        data = self._encode_own(response)
        if data is None:
            return
        self._remember(key, data, now, request)
        self.stats.heartbeats_answered += 1
        self._to_send.append((data, addr))

    def _check_recovery_of(self, addr: Address, message: Message) -> None:
        stamp = getattr(message, "recovery_time_stamp", None)
        if isinstance(stamp, int):
            self._check_recovery(addr, stamp)

    def _check_recovery(self, addr: Address, stamp: int) -> None:
        found = self._peer_for(addr)
        if found is None:
            return
        peer_addr, peer = found
        old = peer.recovery_time_stamp
        peer.recovery_time_stamp = stamp
        if old is not None and old != stamp:
            logger.warning(
                "PFCP peer %s restarted: recovery time stamp %d -> %d", peer_addr, old, stamp
            )
            # A restarted peer numbers its requests afresh: answers cached for its earlier
            # life must not answer its new requests.
            host = peer_addr[0]
            for key in [k for k in self._cache if k[0][0] == host]:
                del self._cache[key]
            self._events.append(PeerRestarted(peer_addr, old, stamp))

    def _peer_for(self, addr: Address) -> tuple[Address, PeerLiveness] | None:
        """The associated peer `addr` belongs to: same address, else same host (a peer's
        requests may come from another source port than the one we probe)."""
        peer = self._peers.get(addr)
        if peer is not None:
            return addr, peer
        for peer_addr, peer in self._peers.items():
            if peer_addr[0] == addr[0]:
                return peer_addr, peer
        return None

    # ---------------------------------------------------------------- response cache

    def _remember(
        self, key: _CacheKey, response: bytes | None, now: float, request: bytes | None = None
    ) -> _CacheEntry:
        entry = _CacheEntry(now + self._config.cache_ttl, response, request)
        self._cache[key] = entry
        self._expiry.append((entry.expires_at, key, entry))
        return entry

    def _expire_cache(self, now: float) -> None:
        cache, expiry = self._cache, self._expiry
        while expiry and expiry[0][0] <= now:
            _, key, entry = expiry.popleft()
            if cache.get(key) is entry:
                del cache[key]


def _cache_key(addr: Address, header: Header) -> _CacheKey:
    return (addr, header.sequence, header.message_type, header.seid)
