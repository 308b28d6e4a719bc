"""The N4 endpoint: asyncio glue around the sans-I/O PFCP node, and the request handlers.

Datagrams go into :class:`pfcp.node.PfcpNode`; its events are handled here:
association requests are answered directly, session requests are decoded ->
compiled (control/compile.py) -> applied (control/apply.py) -> answered. A
handler never writes a map. Retransmitted requests are answered by the node
from its response cache, so a request is never applied twice. Session requests
are handled without a task each; their plans share one batched write per loop
turn (see "sessions" below).

End Markers (handover with SNDEM) are sent from the GTP-U socket bound to
``AgentConfig.gtpu_listen`` (our N3 address, port 2152) once the FAR change is
in the maps; the same socket counts GTP-U signalling the fast path passes to
the kernel (Error Indication, End Marker). One socket serves every local
address: with several N3 addresses the End Marker leaves from that one.

asyncio-dgram owns the N4 socket (binds, receives, closes). PFCP datagrams are sent with
``sendto`` on a duplicate of its descriptor, without asyncio-dgram's coroutine per datagram;
asyncio-dgram's ``send`` takes over when the socket would block, and as long as its
transport holds datagrams, so that they leave in order (see _flush).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import gc
import ipaddress
import logging
import socket
import sys
import time
from collections.abc import Callable, Coroutine, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol

import asyncio_dgram

from control import compile as cc
from control.alloc import Allocator, AllocTxn
from control.apply import Applied, CoalescingApplier, Done, MapWriter
from control.config import AgentConfig, PeerLossPolicy
from control.errors import ControlError, KeyConflict
from control.gtpu import GtpuMessageType, end_marker, parse_signal
from control.layout import MapName
from control.plan import EndMarker
from control.render import rule_for_key
from control.responses import (
    EstablishmentAccepted,
    csid_set,
    deletion_accepted,
    error_response,
    failed_rule_id,
    modification_accepted,
    offending_ie,
    socket_address,
    with_remote_seid,
)
from control.session import Session, frozen
from control.shards import Followers
from control.template import Templates
from control.usage import report, urr_slots, usage_by_urr
from pfcp import (
    AssociationReleaseRequest,
    AssociationReleaseResponse,
    AssociationSetupRequest,
    AssociationSetupResponse,
    AssociationUpdateRequest,
    AssociationUpdateResponse,
    Cause,
    FSeid,
    Message,
    MessageType,
    NodeId,
    PfcpsmReqFlags,
    SessionDeletionRequest,
    SessionDeletionResponse,
    SessionEstablishmentRequest,
    SessionEstablishmentResponse,
    SessionModificationRequest,
    SessionModificationResponse,
    SessionSetDeletionRequest,
    SessionSetDeletionResponse,
    UpFeatures,
    UserPlaneIpResourceInformation,
)
from pfcp.node import (
    Address,
    Event,
    InvalidRequest,
    InvalidResponse,
    NodeConfig,
    PeerFailed,
    PeerRestarted,
    PfcpNode,
    RequestReceived,
    RequestTimedOut,
    ResponseReceived,
)
from pfcp.shapes import ShapeTable

log = logging.getLogger("upf.control.agent")

_ESTABLISHMENT = MessageType.SESSION_ESTABLISHMENT_REQUEST
_MODIFICATION = MessageType.SESSION_MODIFICATION_REQUEST
# (by the header's type: a shaped request's message is not built unless it is read)
_SESSION_REQUEST_TYPES = frozenset({_ESTABLISHMENT, _MODIFICATION,
                                    MessageType.SESSION_DELETION_REQUEST})

# What the fast path and this agent really do (TS 29.244 8.2.25):
# FTUP: F-TEID allocation; UEIP: UE IP allocation; EMPU: End Marker on SNDEM.
HELD_MAX = 4096  # session requests held per host while its association is set up (_hold)
UP_FEATURES = UpFeatures.FTUP | UpFeatures.UEIP | UpFeatures.EMPU

_NTP_OFFSET = 2208988800  # seconds from 1900-01-01 to 1970-01-01


def _map_size(writer: MapWriter, name: MapName) -> int | None:
    """The size of a map if the writer can tell (KernelMaps, MemoryMaps), else None."""
    max_entries = getattr(writer, "max_entries", None)
    if max_entries is None:
        return None
    try:
        return int(max_entries(name))
    except ControlError:
        return None


def _seid_space(index: int, count: int, end: int = 1 << 32) -> Iterator[int]:
    """Our SEIDs, for N4 worker ``index`` of ``count``: those the steering program sends
    to it (control/steer.py: the low 32 bits modulo ``count``), below 2**32 so that the
    rule is ``seid % count == index``, and round again after the last (_new_seid skips
    those still in use). SEID 0 is never ours (it means none, TS 29.244 7.2.2.4.2)."""
    while True:
        yield from range(index or count, end, count)


class _Transport(Protocol):
    """What _flush asks of asyncio-dgram's datagram transport."""

    def is_closing(self) -> bool: ...

    def get_write_buffer_size(self) -> int: ...


def _direct(stream: asyncio_dgram.aio.DatagramStream
            ) -> tuple[socket.socket | None, _Transport | None]:
    """A socket object on the stream's socket to send with, and the stream's transport.

    The object is a duplicate descriptor (of the same socket: non-blocking, bound to the
    same address), because the one asyncio-dgram's ``socket`` returns has no sendto (asyncio
    and uvloop hide the transport's own); asyncio-dgram has no accessor for the transport.
    (None, None) if the stream is not as expected: then everything goes through its send."""
    transport = getattr(stream, "_transport", None)
    if transport is None or not callable(getattr(transport, "get_write_buffer_size", None)):
        return None, None
    sock = stream.socket.dup()
    sock.setblocking(False)
    return sock, transport


def ntp_now() -> int:
    return (int(time.time()) + _NTP_OFFSET) & 0xFFFFFFFF


@dataclass(slots=True)
class Association:
    """An established PFCP association (TS 29.244 6.2.6)."""

    node_id: NodeId
    addr: Address
    recovery_time_stamp: int | None


@dataclass(slots=True)
class AgentStats:
    sessions_established: int = 0
    establishments_from_templates: int = 0  # compiled by replaying their shape's template
    sessions_modified: int = 0
    sessions_deleted: int = 0
    requests_rejected: int = 0
    end_markers_sent: int = 0
    gtpu_error_indications: int = 0
    gtpu_end_markers: int = 0
    gtpu_other: int = 0
    socket_errors: int = 0  # reported by asyncio-dgram (ICMP errors, failed sends)
    by_cause: dict[str, int] = field(default_factory=dict)


class Agent:
    """The PFCP agent. ``await start()`` binds and runs it; ``await stop()`` ends it.

    ``writer`` is where plans are applied (control.kernel.KernelMaps for the loaded
    object, control.memory.MemoryMaps in tests). ``clock`` is monotonic seconds.
    """

    def __init__(
        self,
        config: AgentConfig,
        writer: MapWriter,
        *,
        clock: Callable[[], float] = time.monotonic,
        recovery_time_stamp: int | None = None,
        sock: socket.socket | None = None,
    ) -> None:
        self.config = config
        self.writer = writer
        self.clock = clock
        self.recovery_time_stamp = recovery_time_stamp or ntp_now()
        self.alloc = Allocator(config.alloc, _map_size(writer, MapName.UPLINK_BY_TEID))
        self.applier = CoalescingApplier(writer)
        self.sessions: dict[int, Session] = {}
        self.associations: dict[str, Association] = {}  # by peer host
        self.stats = AgentStats()
        self.node = PfcpNode(
            NodeConfig(
                recovery_time_stamp=self.recovery_time_stamp,
                t1=config.t1,
                n1=config.n1,
                heartbeat_interval=config.heartbeat_interval,
            ),
            clock(),
        )
        # Establishments by request shape (pfcp/shapes.py, control/template.py).
        self.templates: Templates | None = None
        if config.templates:
            self.node.shapes = ShapeTable()
            self.templates = Templates(self.alloc)
        self._node_id = NodeId(config.node_id)
        # N4 workers (control/shards.py): worker k of N makes the SEIDs that steer to it.
        self._seids = _seid_space(*config.alloc.shard)
        self._n4_socket = sock  # a bound socket to serve on instead of binding config.listen
        self.followers: Followers | None = None  # the other workers, when this is the lead
        # SEIDs with a request in progress, each with the jobs waiting for it (see _exclusive).
        self._busy: dict[int, list[Callable[[], None]]] = {}
        self._sent = asyncio.Event()  # responses or End Markers are waiting to be sent
        self._end_markers: list[EndMarker] = []
        self._tasks: set[asyncio.Task[None]] = set()
        self._sock: asyncio_dgram.aio.DatagramServer | None = None
        self._direct: socket.socket | None = None  # sends on _sock's socket (see _flush)
        self._transport: _Transport | None = None  # _sock's
        self._gtpu: asyncio_dgram.aio.DatagramServer | None = None
        self._wake = asyncio.Event()
        self._rearm_soon = False  # a _rearm() is scheduled for the end of this loop turn
        self._armed: float | None = None  # the deadline the timer loop sleeps until
        self._pending_setup: set[Address] = set()
        # Session requests from a host whose UPF-initiated Association Setup is under way,
        # held until it is settled (see _hold).
        self._held: dict[str, list[RequestReceived]] = {}
        self._n4: ipaddress.IPv4Address | None = None  # our F-SEID address, once known
        self._establishment_accepted: EstablishmentAccepted | None = None
        self._since_freeze = 0  # session changes since the last gc.freeze()
        self._frozen = False  # a full collection and freeze has run (see _collect)
        self._gc_was_enabled = gc.isenabled()

    # ------------------------------------------------------------------ lifecycle

    @property
    def address(self) -> Address:
        """The bound PFCP (host, port)."""
        if self._sock is None:
            raise RuntimeError("agent not started")
        return socket_address(self._sock.sockname)

    @property
    def gtpu_address(self) -> Address | None:
        if self._gtpu is None:
            return None
        return socket_address(self._gtpu.sockname)

    async def start(self) -> None:
        if self._n4_socket is not None:
            sock = await asyncio_dgram.from_socket(self._n4_socket)
            assert isinstance(sock, asyncio_dgram.aio.DatagramServer)  # (not connected)
            self._sock = sock
        else:
            self._sock = await asyncio_dgram.bind(self.config.listen)
        self._direct, self._transport = _direct(self._sock)
        if self.config.gtpu_listen is not None:
            self._gtpu = await asyncio_dgram.bind(self.config.gtpu_listen)
            self._spawn(self._gtpu_loop())
        self.applier.on_flushed = self._sent.set
        self._spawn(self._recv_loop())
        self._spawn(self._send_loop())
        self._spawn(self._timer_loop())
        for peer in self.config.smf_peers:
            self._spawn(self._associate(peer))
        if self.config.manage_gc:
            self._gc_was_enabled = gc.isenabled()
            gc.disable()
            self._spawn(self._gc_loop())
        log.info("PFCP agent %s listening on %s:%d", self.config.node_id, *self.address)

    async def stop(self) -> None:
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        if self._sock is not None:
            self._sock.close()
        if self._direct is not None:
            self._direct.close()
            self._direct = None
        if self._gtpu is not None:
            self._gtpu.close()
        if self.config.manage_gc and self._gc_was_enabled:
            gc.enable()

    async def __aenter__(self) -> Agent:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("agent task failed", exc_info=task.exception())

    # ------------------------------------------------------------------ I/O glue

    async def _recv_loop(self) -> None:
        assert self._sock is not None
        sock = self._sock
        # asyncio-dgram's receive queue (private; no public accessor): the datagrams uvloop
        # delivered in one loop turn are taken from it directly, without a recv() each
        # (a coroutine, and an exception raised and caught to check for socket errors).
        # An error or the closing marker is left for the next recv() to raise.
        queue: asyncio.Queue[tuple[bytes | None, Any]] | None = getattr(sock, "_recvq", None)
        errors: asyncio.Queue[Exception] | None = getattr(sock, "_excq", None)
        if queue is None or errors is None:  # (another asyncio-dgram: one recv() each)
            queue = errors = None
        node, clock = self.node, self.clock
        while True:
            data, addr = await self._next_datagram(sock)
            while True:
                try:
                    node.receive_datagram(data, socket_address(addr), clock())
                    self._dispatch_events()  # session requests are compiled right here
                except Exception:  # a bug must not stop the N4 endpoint
                    log.exception("handling a datagram from %s failed", addr)
                if queue is None or errors is None or queue.empty() or not errors.empty():
                    break
                more, addr = queue.get_nowait()
                if more is None:  # closed: recv() raises it
                    queue.put_nowait((more, addr))
                    break
                data = more
            try:  # what the node answered by itself, once for the datagrams of this turn
                await self._after_node()
            except Exception:
                log.exception("sending after the datagrams from %s failed", addr)

    async def _next_datagram(self, sock: asyncio_dgram.aio.DatagramStream
                             ) -> tuple[bytes, Any]:
        """The next datagram on ``sock``. asyncio-dgram raises a socket error it was told
        of (an ICMP error, a send that failed) from the next recv(): it is logged and
        counted, and receiving goes on; it must not stop the endpoint. Closing (stop())
        still raises TransportClosed."""
        while True:
            try:
                data, addr = await sock.recv()
                return data, addr
            except OSError as exc:
                self.stats.socket_errors += 1
                log.warning("socket error on %s: %s", sock.sockname, exc)

    async def _timer_loop(self) -> None:
        while True:
            deadline = self._armed = self.node.get_timer()
            timeout = None if deadline is None else max(0.0, deadline - self.clock())
            # asyncio.timeout, not wait_for: wait_for can swallow a cancellation (stop()).
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(timeout):
                    await self._wake.wait()
            self._wake.clear()
            try:
                self.node.handle_timer(self.clock())
                await self._after_node(wake_timer=False)
            except Exception:  # a bug must not stop retransmissions and heartbeats
                log.exception("handling the PFCP timers failed")

    def _dispatch_events(self) -> None:
        next_event = self.node.next_event
        while (event := next_event()) is not None:
            self._dispatch(event)

    async def _after_node(self, *, wake_timer: bool = True) -> None:
        self._dispatch_events()
        if not self._end_markers:  # else the sender sends them first, then the responses
            await self._flush()
        if wake_timer and not self._rearm_soon:  # once per loop turn, not per datagram
            self._rearm_soon = True
            asyncio.get_running_loop().call_soon(self._rearm)

    def _rearm(self) -> None:
        """Wake the timer loop if the node now wants to be called earlier than planned."""
        self._rearm_soon = False
        deadline = self.node.get_timer()
        if deadline is not None and (self._armed is None or deadline < self._armed):
            self._wake.set()

    async def _flush(self) -> None:
        """Send the node's datagrams: on the socket itself while asyncio-dgram's transport
        has nothing queued, else (and for the rest of the batch, in order) through it."""
        if self._sock is None:
            return
        out = self.node.datagrams_to_send(self.clock())
        sent = self._send_direct(out) if out else 0
        for data, addr in out[sent:] if sent else out:
            try:
                await self._sock.send(data, addr)
            except OSError as exc:
                log.warning("PFCP send to %s failed: %s", addr, exc)

    def _send_direct(self, out: list[tuple[bytes, Address]]) -> int:
        """Send from the start of ``out`` with sendto on the socket while it does not block;
        how many were done with (sent, or failed and logged as _flush logs a failed send)."""
        direct, transport = self._direct, self._transport
        # Not while the transport holds datagrams (after a would-block): they go first.
        if direct is None or transport is None or transport.is_closing() or \
                transport.get_write_buffer_size():
            return 0
        sendto = direct.sendto
        for i, (data, addr) in enumerate(out):
            try:
                sendto(data, addr)
            except (BlockingIOError, InterruptedError):
                return i
            except OSError as exc:
                log.warning("PFCP send to %s failed: %s", addr, exc)
        return len(out)

    async def _gtpu_loop(self) -> None:
        assert self._gtpu is not None
        while True:
            data, raw_addr = await self._next_datagram(self._gtpu)
            addr = socket_address(raw_addr)
            sig = parse_signal(data)
            if sig is None:
                self.stats.gtpu_other += 1
            elif sig.message_type == GtpuMessageType.ERROR_INDICATION:
                self.stats.gtpu_error_indications += 1
                log.warning("GTP-U Error Indication from %s (TEID %#010x)", addr[0], sig.teid)
            elif sig.message_type == GtpuMessageType.END_MARKER:
                self.stats.gtpu_end_markers += 1
                log.info("GTP-U End Marker from %s for TEID %#010x", addr[0], sig.teid)
            else:
                self.stats.gtpu_other += 1

    # ------------------------------------------------------------------ events

    def _dispatch(self, event: Event) -> None:
        if isinstance(event, RequestReceived) and \
                event.header.message_type in _SESSION_REQUEST_TYPES:
            if event.peer[0] in self.associations:
                self._session_request(event)  # no task: see "sessions" below
                return
            if self._hold(event):
                return
        if isinstance(event, RequestReceived | InvalidRequest):
            self._spawn(self._answer(event))
        elif isinstance(event, ResponseReceived):
            self._on_response(event.peer, event.request, event.response)
        elif isinstance(event, RequestTimedOut | InvalidResponse):
            if isinstance(event.request, AssociationSetupRequest):
                self._pending_setup.discard(event.peer)
                self._spawn(self._setup_settled(event.peer[0]))
                self._spawn(self._associate(event.peer, delay=self.config.association_retry))
        elif isinstance(event, PeerFailed):
            self._spawn(self._peer_lost(event.peer, self.config.on_peer_failure, "failed"))
        elif isinstance(event, PeerRestarted):
            self._spawn(self._peer_lost(event.peer, self.config.on_peer_restart, "restarted"))

    async def _answer(self, event: RequestReceived | InvalidRequest) -> None:
        try:
            response = await self._handle(event)
        except Exception:
            log.exception("handler failed for %s from %s", event.header, event.peer)
            response = self._reject(event, Cause.SYSTEM_FAILURE)
        if response is None:
            return
        self._respond(event, response)

    def _respond(self, event: RequestReceived | InvalidRequest, response: Message) -> None:
        """Hand a response to the node (which caches it) and wake the sender."""
        cause = getattr(response, "cause", None)
        if cause is not Cause.REQUEST_ACCEPTED and isinstance(cause, Cause):
            self.stats.requests_rejected += 1
            self.stats.by_cause[cause.name] = self.stats.by_cause.get(cause.name, 0) + 1
        self.node.send_response(event, response, self.clock())
        self._sent.set()

    def _respond_encoded(self, event: RequestReceived, data: bytes) -> None:
        """_respond for an accepted session request: the response as octets (their
        encoders in control/responses.py stand for the message objects and the codec)."""
        self.node.send_encoded_response(event, data, self.clock())
        self._sent.set()

    async def _send_loop(self) -> None:
        """Send what the handlers produced: End Markers first (their FAR change is in the
        maps), then the node's datagrams. Runs once per batch, not once per request."""
        while True:
            await self._sent.wait()
            self._sent.clear()
            try:
                if self._end_markers:
                    markers, self._end_markers = self._end_markers, []
                    await self._send_end_markers(markers)
                await self._flush()
                self._rearm()  # cached responses to expire, maybe a new peer to probe
            except Exception:  # a bug must not stop the sending
                log.exception("sending failed")

    def _peer_seid(self, event: RequestReceived | InvalidRequest) -> int:
        """The SEID to put in a response header: the CP's SEID of the session, else 0."""
        if isinstance(event, RequestReceived):
            msg = event.message
            if isinstance(msg, SessionEstablishmentRequest):
                return msg.cp_f_seid.seid
        seid = event.header.seid
        session = self.sessions.get(seid) if seid is not None else None
        return session.remote_seid if session is not None else 0

    async def _handle(self, event: RequestReceived | InvalidRequest) -> Message | None:
        if isinstance(event, InvalidRequest):
            err = event.error
            log.info("invalid request %s from %s: %s", event.header, event.peer, err)
            return self._reject(event, err.cause, err.ie_type)
        msg, peer = event.message, event.peer
        if isinstance(msg, AssociationSetupRequest):
            response = self._association_setup(msg, peer)
            await self._tell_association(peer[0])  # before the SMF may send session requests
            return response
        if isinstance(msg, AssociationUpdateRequest):
            ok = peer[0] in self.associations
            return AssociationUpdateResponse(
                0, self._node_id,
                Cause.REQUEST_ACCEPTED if ok else Cause.NO_ESTABLISHED_PFCP_ASSOCIATION,
                up_function_features=UP_FEATURES)
        if isinstance(msg, AssociationReleaseRequest):
            return await self._association_release(peer)
        if isinstance(msg, SessionSetDeletionRequest):
            return await self._session_set_deletion(msg, peer)
        if msg.is_session and peer[0] not in self.associations:
            return self._reject(event, Cause.NO_ESTABLISHED_PFCP_ASSOCIATION)
        log.info("no handler for %s from %s", type(msg).__name__, peer)
        return self._reject(event, Cause.SERVICE_NOT_SUPPORTED)

    def _reject(self, event: RequestReceived | InvalidRequest, cause: Cause,
                ie_type: int | None = None) -> Message | None:
        """The response to ``event`` carrying ``cause`` (and the offending IE)."""
        return error_response(event.header.message_type, cause, ie_type, self._node_id,
                               self._peer_seid(event), self.recovery_time_stamp)

    # ------------------------------------------------------------------ associations

    def _setup_response_fields(self) -> dict[str, object]:
        info: tuple[UserPlaneIpResourceInformation, ...] = ()
        if self.config.advertise_ip_resources:
            info = tuple(
                UserPlaneIpResourceInformation(ipv4=ep.ipv4, ipv6=ep.ipv6)
                for ep in self.config.alloc.endpoints
            )
        return {"up_function_features": UP_FEATURES, "user_plane_ip_resource_information": info}

    def _association_setup(self, msg: AssociationSetupRequest, peer: Address) -> Message:
        if not self.config.allowed(peer[0]):
            log.warning("association setup from %s (%s) refused: not an allowed SMF",
                        peer, msg.node_id.value)
            return AssociationSetupResponse(0, self._node_id, Cause.REQUEST_REJECTED,
                                            self.recovery_time_stamp)
        self._associated(peer, msg.node_id, msg.recovery_time_stamp)
        return AssociationSetupResponse(
            0, self._node_id, Cause.REQUEST_ACCEPTED, self.recovery_time_stamp,
            **self._setup_response_fields(),  # type: ignore[arg-type]
        )

    def _associated(self, peer: Address, node_id: NodeId, stamp: int | None) -> None:
        known = self.associations.get(peer[0])
        self.associations[peer[0]] = Association(node_id, peer, stamp)
        if known is None or known.addr != peer:
            if known is not None:
                self.node.remove_peer(known.addr)
            self.node.add_peer(peer, self.clock(), stamp)
        log.info("PFCP association with %s (node %s) up", peer, node_id.value)
        self._release_held(peer[0])

    async def _association_release(self, peer: Address) -> Message:
        if peer[0] not in self.associations:
            return AssociationReleaseResponse(0, self._node_id,
                                              Cause.NO_ESTABLISHED_PFCP_ASSOCIATION)
        await self._drop_association(peer[0])
        await self._purge_everywhere(peer[0])
        log.info("PFCP association with %s released", peer)
        return AssociationReleaseResponse(0, self._node_id, Cause.REQUEST_ACCEPTED)

    async def _drop_association(self, host: str) -> None:
        """Forget ``host``'s association here and in every follower; what was held for it
        is answered No established PFCP Association."""
        assoc = self.associations.pop(host, None)
        if assoc is not None:
            self.node.remove_peer(assoc.addr)
        self._release_held(host)
        await self._tell("drop", host)

    async def _associate(self, peer: Address, delay: float = 0.0) -> None:
        """UPF-initiated Association Setup towards a configured SMF (retried on failure)."""
        if delay:
            await asyncio.sleep(delay)
        if peer[0] in self.associations or peer in self._pending_setup:
            return
        self._pending_setup.add(peer)
        self._held.setdefault(peer[0], [])
        await self._tell("pending", peer[0])  # the SMF may send sessions right after answering
        request = AssociationSetupRequest(
            0, self._node_id, self.recovery_time_stamp,
            up_function_features=UP_FEATURES,
            user_plane_ip_resource_information=self._setup_response_fields()[
                "user_plane_ip_resource_information"],  # type: ignore[arg-type]
        )
        self.node.send_request(request, peer, self.clock())
        await self._flush()
        self._rearm()

    def _on_response(self, peer: Address, request: Message, response: Message) -> None:
        if not isinstance(request, AssociationSetupRequest):
            return
        self._pending_setup.discard(peer)
        if isinstance(response, AssociationSetupResponse) and \
                response.cause is Cause.REQUEST_ACCEPTED:
            self._associated(peer, response.node_id, response.recovery_time_stamp)
            self._spawn(self._tell_association(peer[0]))
        else:
            log.warning("association setup with %s refused: %s", peer,
                        getattr(response, "cause", response))
            self._spawn(self._setup_settled(peer[0]))
            self._spawn(self._associate(peer, delay=self.config.association_retry))

    # Between sending a UPF-initiated Association Setup Request and handling its response,
    # the SMF may already hold the association up and send session requests; with N4
    # workers they can reach a follower before the lead has even read the response. They
    # are held (up to HELD_MAX per host) and handled once the association is up, or answered
    # No established PFCP Association if the setup fails.

    def _hold(self, event: RequestReceived) -> bool:
        """Hold a session request of a host whose association is being set up."""
        held = self._held.get(event.peer[0])
        if held is None or len(held) >= HELD_MAX:
            return False
        held.append(event)
        return True

    def _release_held(self, host: str) -> None:
        """The host's association is up (or gone, or its setup failed): handle what was
        held for it (session requests, or No established PFCP Association)."""
        for event in self._held.pop(host, ()):
            self._dispatch(event)

    async def _setup_settled(self, host: str) -> None:
        """A UPF-initiated setup failed: answer what was held, here and in every follower."""
        self._setup_failed(host)
        await self._tell("settled", host)

    def _setup_failed(self, host: str) -> None:
        """Answer what was held for ``host``, unless its association came up meanwhile
        (then it was handled when it did)."""
        if host not in self.associations:
            self._release_held(host)

    async def _peer_lost(self, peer: Address, policy: PeerLossPolicy, what: str) -> None:
        sessions = [s for s in self.sessions.values() if s.peer == peer[0]]
        log.warning("PFCP peer %s %s: %s its %d sessions", peer, what,
                    "purging" if policy is PeerLossPolicy.PURGE else "keeping", len(sessions))
        if what == "failed":
            await self._drop_association(peer[0])
            if peer in [tuple(p) for p in self.config.smf_peers]:
                self._spawn(self._associate(peer, delay=self.config.association_retry))
        if policy is PeerLossPolicy.PURGE:
            await self._purge_everywhere(peer[0])

    # ------------------------------------------------------------------ N4 workers

    async def _tell(self, op: str, *args: Any) -> list[Any]:
        """Tell the followers (control/shards.py), if any; their answers."""
        if self.followers is None:
            return []
        return await self.followers.tell(op, *args)

    async def _tell_association(self, host: str) -> None:
        assoc = self.associations.get(host)
        if assoc is not None:
            await self._tell("up", host, assoc.addr, assoc.node_id.value,
                             assoc.recovery_time_stamp)

    async def _purge_everywhere(self, host: str,
                                csids: frozenset[tuple[str, int]] | None = None) -> int:
        """Delete ``host``'s sessions (those with one of ``csids``, if given) here and in
        every follower; how many."""
        here: int
        there: list[Any]
        here, there = await asyncio.gather(self._purge(host, csids),
                                           self._tell("purge", host, csids))
        return here + sum(int(n) for n in there)

    async def follow(self, op: str, args: tuple[Any, ...]) -> Any:
        """A follower: do what the lead says (see control/shards.py)."""
        if op == "up":
            host, addr, node_id, stamp = args
            self.associations[host] = Association(NodeId(node_id), tuple(addr), stamp)
            self._release_held(host)
            return None
        if op == "pending":
            self._held.setdefault(args[0], [])
            return None
        if op == "settled":
            self._setup_failed(args[0])
            return None
        if op == "drop":
            self.associations.pop(args[0], None)
            self._release_held(args[0])
            return None
        if op == "purge":
            host, csids = args
            return await self._purge(host, csids)
        raise ValueError(f"unknown control request {op!r}")

    async def _purge(self, host: str, csids: frozenset[tuple[str, int]] | None = None) -> int:
        """Delete the sessions of ``host`` (all, or those with one of ``csids``); how many.

        Each deletion queues behind the session's requests in progress. Establishments still
        being applied (their SEID is busy but not in the session table yet) are covered:
        purging all of a host's sessions queues behind them too; a purge by FQ-CSID first
        waits for them, then matches their FQ-CSIDs with the others'."""
        pending = [seid for seid in self._busy if seid not in self.sessions]
        if csids is not None:
            await self._settled(pending)
        victims = [s.local_seid for s in self.sessions.values()
                   if s.peer == host and (csids is None or s.fq_csids & csids)]
        if csids is None:
            victims += pending
        loop = asyncio.get_running_loop()
        futures: list[asyncio.Future[bool]] = []
        for seid in victims:
            future: asyncio.Future[bool] = loop.create_future()
            futures.append(future)
            self._exclusive(seid, functools.partial(self._delete, seid, None, future, host))
        results = await asyncio.gather(*futures, return_exceptions=True)
        return sum(1 for r in results if r is True)

    async def _settled(self, seids: Iterable[int]) -> None:
        """Wait until the requests in progress (and queued) on ``seids`` are done."""
        loop = asyncio.get_running_loop()
        futures: list[asyncio.Future[None]] = []
        for seid in seids:
            future: asyncio.Future[None] = loop.create_future()
            futures.append(future)

            def job(seid: int = seid, future: asyncio.Future[None] = future) -> None:
                if not future.done():  # (cancelled if the purge was)
                    future.set_result(None)
                self._release(seid)

            self._exclusive(seid, job)
        await asyncio.gather(*futures)

    # ------------------------------------------------------------------ sessions

    def _changed(self) -> None:
        """A session was established or modified: count it towards the next collection.

        The collection runs on the next loop turn, not here in the middle of a plan's
        completion: by then the batch of plans just applied (their map ops, callbacks and
        decoded requests) is gone, freed by reference counting, so the collection walks
        little but the sessions it then freezes (31% fewer objects measured, 250
        establishments a collection)."""
        self._since_freeze += 1
        if self._since_freeze == self.config.gc_freeze_every:
            asyncio.get_running_loop().call_soon(self._collect)

    def _collect(self, *, full: bool = False) -> None:
        """Collect, then move everything alive into the GC's permanent generation
        (gc.freeze), so that no later collection walks it. A collection only walks what is
        not frozen yet: the objects made since the last one. Held sessions are freed by
        reference counting when deleted, frozen or not; the collection first ensures no
        cyclic garbage is frozen.

        With automatic collection off (and nothing else in the process collecting), every
        object made since the last freeze is in the youngest generation, so collecting that
        one walks the same objects as a full collection, without the full one's extra work
        (it also empties the interpreter's free lists, which then have to be refilled).
        ``full``: the periodic collection; the first one is full too, as it also sees what
        was made before the agent took over."""
        self._since_freeze = 0
        started = time.monotonic()
        if full or not self._frozen:
            gc.collect()
        else:
            gc.collect(0)
        gc.freeze()
        self._frozen = True
        if log.isEnabledFor(logging.DEBUG):  # get_freeze_count() walks every frozen object
            log.debug("gc: %d objects frozen in %.1f ms", gc.get_freeze_count(),
                      (time.monotonic() - started) * 1e3)

    async def _gc_loop(self) -> None:
        """With manage_gc: the periodic collection (cyclic garbage of associations, tasks
        and errors is reclaimed even when no session changes)."""
        while True:
            await asyncio.sleep(self.config.gc_interval)
            self._collect(full=True)

    def _new_seid(self) -> int:
        while True:
            seid = next(self._seids)
            if seid not in self.sessions and seid not in self._busy:
                return seid

    def _accepted(self) -> EstablishmentAccepted:
        """The accepted Session Establishment Response of our Node ID and F-SEID address."""
        n4 = self._n4
        if n4 is None:
            n4 = self._n4_address()
            if self._sock is not None:  # fixed once bound
                self._n4 = n4
        accepted = self._establishment_accepted
        if accepted is None or (accepted.ipv4 is not n4 and accepted.ipv4 != n4):
            accepted = self._establishment_accepted = EstablishmentAccepted(self._node_id, n4)
        return accepted

    def _n4_address(self) -> ipaddress.IPv4Address:
        if self.config.n4_address is not None:
            return self.config.n4_address
        with contextlib.suppress(ValueError):
            addr = ipaddress.ip_address(self.address[0])
            if isinstance(addr, ipaddress.IPv4Address) and not addr.is_unspecified:
                return addr
        if isinstance(self.config.node_id, ipaddress.IPv4Address):
            return self.config.node_id
        return self.config.alloc.endpoints[0].ipv4

    # ------------------------------------------------------------------ sessions
    #
    # Session requests run without a task each (at thousands of requests a second the
    # task, lock and future per request cost as much as compiling it). A request is
    # compiled when it arrives; its plan joins the applier's batch of this loop turn; the
    # plan's completion callback commits or aborts the allocations, updates the session
    # table and hands the response to the node. The requests of one session run one at
    # a time in arrival order (_exclusive / _release); those of different sessions share
    # one batched map write.

    def _exclusive(self, seid: int, job: Callable[[], None]) -> None:
        """Run ``job`` now if no request of ``seid`` is in progress, else after those.
        Every job calls ``_release(seid)`` exactly once, when it is done."""
        waiting = self._busy.get(seid)
        if waiting is not None:
            waiting.append(job)
            return
        self._busy[seid] = []
        job()

    def _release(self, seid: int) -> None:
        waiting = self._busy.get(seid)
        if waiting:
            waiting.pop(0)()
        else:
            self._busy.pop(seid, None)

    def _completion(self, seid: int, txn: AllocTxn, applied: Callable[[Applied], None],
                    failed: Callable[[BaseException], None], new: Session | None = None
                    ) -> Done:
        """The applier's callback for a job's plan: commit and ``applied`` (which answers),
        or abort and ``failed``; then the SEID is free for its next request. ``new``: the
        session the plan installs (a key another N4 worker holds names its PDR)."""
        def done(result: Applied | None, error: BaseException | None) -> None:
            try:
                if error is not None:
                    txn.abort()
                    if isinstance(error, KeyConflict) and error.failed_rule is None:
                        error.failed_rule = rule_for_key(new, error.map_name, error.key)
                    failed(error)
                    return
                assert result is not None
                txn.commit()
                applied(result)
            except Exception as exc:  # a bug while answering: System failure, not silence
                failed(exc)
            finally:
                self._release(seid)
        return done

    def _session_request(self, event: RequestReceived) -> None:
        mtype = event.header.message_type
        if mtype == _ESTABLISHMENT:
            seid = self._new_seid()
            self._exclusive(seid, functools.partial(self._establish, event, seid))
        elif mtype == _MODIFICATION:
            seid = event.message.seid or 0
            self._exclusive(seid, functools.partial(self._modify, event, seid))
        else:
            seid = event.message.seid or 0
            self._exclusive(seid, functools.partial(self._delete, seid, event, None))

    def _rejection(self, what: str, exc: BaseException) -> tuple[Cause, dict[str, Any]]:
        """The Cause (and Offending IE / Failed Rule ID) answering a failed request."""
        if isinstance(exc, ControlError):
            log.info("%s rejected: %s", what, exc)
            return exc.cause, {"offending_ie": offending_ie(exc.offending_ie),
                               "failed_rule_id": failed_rule_id(exc)}
        log.error("%s failed", what, exc_info=exc)
        return Cause.SYSTEM_FAILURE, {}

    def _unknown_session(self, event: RequestReceived, seid: int) -> bool:
        """Answer Session context not found if ``seid`` is not a session of this peer."""
        session = self.sessions.get(seid)
        if session is not None and session.peer == event.peer[0]:
            return False
        msg = event.message
        log.info("%s for unknown SEID %#018x from %s", type(msg).__name__, seid, event.peer)
        cls = (SessionDeletionResponse if isinstance(msg, SessionDeletionRequest)
               else SessionModificationResponse)
        self._respond(event, cls(0, Cause.SESSION_CONTEXT_NOT_FOUND, seid=0))
        return True

    # Each job below calls _release(seid) exactly once: at once if the request is answered
    # without a plan (rejected, unknown SEID), else from its plan's completion callback.
    # Everything a job does before submitting its plan is inside one try, so a bug answers
    # System failure and frees the SEID instead of leaving it busy.

    def _establish(self, event: RequestReceived, seid: int) -> None:
        shaped, templates = event.shaped, self.templates
        template = None
        if shaped is not None:  # (its message is not built unless compiled in full)
            remote: FSeid = shaped.field("cp_f_seid")
            if templates is not None:
                template = templates.get(shaped.shape)
        else:
            msg = event.message
            assert isinstance(msg, SessionEstablishmentRequest)
            remote = msg.cp_f_seid

        def reject(exc: BaseException) -> None:
            cause, extra = self._rejection(f"session establishment from {event.peer}", exc)
            self._respond(event, SessionEstablishmentResponse(0, self._node_id, cause,
                                                              seid=remote.seid, **extra))

        try:
            peer = sys.intern(event.peer[0])
            txn = self.alloc.begin()
            result = None
            if template is not None:
                assert shaped is not None
                result = template.replay(seid, peer, shaped, txn)
                if result is None:  # txn aborted: compiled in full, which answers it
                    txn = self.alloc.begin()
                else:
                    self.stats.establishments_from_templates += 1
            if result is None:
                msg = event.message
                assert isinstance(msg, SessionEstablishmentRequest)
                base = Session(local_seid=seid, remote_seid=remote.seid, peer=peer,
                               remote_ipv4=remote.ipv4, remote_ipv6=remote.ipv6,
                               fq_csids=csid_set(msg.fq_csid))
                rules = cc.SessionRules(create_pdr=msg.create_pdr, create_far=msg.create_far,
                                        create_qer=msg.create_qer, create_urr=msg.create_urr)
                result = cc.establish(seid, base, rules, self.alloc, txn)  # aborts on failure
                if shaped is not None and templates is not None:
                    templates.learn(shaped, result)
        except Exception as exc:
            self._release(seid)
            reject(exc)
            return

        def applied(_: Applied) -> None:
            session = result.session
            assert session is not None
            self.sessions[seid] = session
            self.stats.sessions_established += 1
            self._changed()
            # Per session at DEBUG: at thousands a second an INFO line each (about 15 µs) is
            # a tenth of the session rate; the metrics count them.
            if log.isEnabledFor(logging.DEBUG):  # (not even the arguments otherwise)
                log.debug("%s established: %d PDRs", session, len(session.pdrs))
            self._respond_encoded(event, self._accepted().encode(
                event.header.sequence, remote.seid, seid, result.created))

        self.applier.submit(result.plan,
                            self._completion(seid, txn, applied, reject, result.session))

    def _modify(self, event: RequestReceived, seid: int) -> None:
        msg = event.message
        assert isinstance(msg, SessionModificationRequest)
        old = self.sessions.get(seid)
        remote_seid = old.remote_seid if old is not None else 0

        def reject(exc: BaseException) -> None:
            cause, extra = self._rejection(f"{old} modification", exc)
            self._respond(event, SessionModificationResponse(0, cause, seid=remote_seid,
                                                             **extra))

        txn = self.alloc.begin()
        try:
            if self._unknown_session(event, seid):
                self._release(seid)
                return
            assert old is not None
            session = old
            if msg.cp_f_seid is not None:  # the SMF moved the session (TS 29.244 7.5.4)
                session = with_remote_seid(session, msg.cp_f_seid)
            if msg.fq_csid:
                session = dataclasses.replace(session, fq_csids=csid_set(msg.fq_csid))
            rules = cc.SessionRules(
                create_pdr=msg.create_pdr, create_far=msg.create_far,
                create_qer=msg.create_qer, create_urr=msg.create_urr,
                update_pdr=msg.update_pdr, update_far=msg.update_far,
                update_qer=msg.update_qer, update_urr=msg.update_urr,
                remove_pdr=msg.remove_pdr, remove_far=msg.remove_far,
                remove_qer=msg.remove_qer, remove_urr=msg.remove_urr,
            )
            # Usage reports: removed URRs (final) and queried ones (TS 29.244 7.5.4, 5.2.2.3).
            removed_urrs = {r.urr_id for r in msg.remove_urr}
            queried = {q.urr_id for q in msg.query_urr}
            if msg.pfcpsmreq_flags is not None and msg.pfcpsmreq_flags & PfcpsmReqFlags.QAURR:
                queried |= set(session.urrs)
            result = cc.modify(session, rules, self.alloc, txn)  # aborts txn on failure
            new = result.session
            assert new is not None
            queried &= set(new.urrs)
            plan = result.plan
            reads = urr_slots(session, removed_urrs) | urr_slots(new, queried)
            if reads:
                plan = dataclasses.replace(plan, reads=tuple(sorted(reads | set(plan.reads))))
        except Exception as exc:
            txn.abort()  # (idempotent; compile aborts it itself)
            self._release(seid)
            reject(exc)
            return

        def applied(done: Applied) -> None:
            assert new is not None
            self._end_markers.extend(plan.end_markers)
            final, _ = report(session, done.counters, removed_urrs)
            current, updated = report(new, done.counters, queried)
            stored = new
            if updated:
                stored = dataclasses.replace(new, urrs=frozen({**new.urrs, **updated}))
            self.sessions[seid] = stored
            self.stats.sessions_modified += 1
            self._changed()
            self._respond_encoded(event, modification_accepted(
                event.header.sequence, session.remote_seid, result.created, final, current))

        self.applier.submit(plan, self._completion(seid, txn, applied, reject, new))

    def _delete(self, seid: int, event: RequestReceived | None,
                future: asyncio.Future[bool] | None, host: str | None = None) -> None:
        """Delete a session: for a Deletion Request (``event``) or a purge of ``host``'s
        sessions (``future``)."""
        session = self.sessions.get(seid)
        if session is not None and host is not None and session.peer != host:
            session = None  # not one of the purged peer's (an SEID busy for another peer)
        remote_seid = session.remote_seid if session is not None else 0

        def fail(exc: BaseException) -> None:
            cause, _ = self._rejection(f"{session} deletion", exc)
            if event is not None:
                self._respond(event, SessionDeletionResponse(0, cause, seid=remote_seid))
            if future is not None and not future.done():
                future.set_exception(exc)

        txn = self.alloc.begin()
        try:
            if event is not None and self._unknown_session(event, seid):
                self._release(seid)
                return
            if session is None:  # gone meanwhile, or not the purged peer's
                self._release(seid)
                if future is not None and not future.done():
                    future.set_result(False)
                return
            result = cc.delete(session, txn)
        except Exception as exc:
            txn.abort()  # (idempotent; compile aborts it itself)
            self._release(seid)
            fail(exc)
            return

        def applied(done: Applied) -> None:
            assert session is not None
            del self.sessions[seid]
            self.stats.sessions_deleted += 1
            log.debug("%s deleted", session)  # (per session: DEBUG, as "established")
            if event is not None:
                self._respond_encoded(event, deletion_accepted(
                    event.header.sequence, remote_seid, usage_by_urr(session, done.counters)))
            if future is not None and not future.done():
                future.set_result(True)

        self.applier.submit(result.plan, self._completion(seid, txn, applied, fail))

    async def _send_end_markers(self, markers: Iterable[EndMarker]) -> None:
        for em in markers:
            if self._gtpu is None:
                log.warning("End Marker for TEID %#010x to %s not sent: no GTP-U socket",
                            em.teid, em.peer)
                continue
            try:
                dest = (str(em.peer), self.config.gtpu_peer_port)
                await self._gtpu.send(end_marker(em.teid), dest)
            except OSError as exc:
                log.warning("End Marker to %s failed: %s", em.peer, exc)
                continue
            self.stats.end_markers_sent += 1
            log.info("End Marker sent to %s for TEID %#010x", em.peer, em.teid)

    async def _session_set_deletion(self, msg: SessionSetDeletionRequest,
                                    peer: Address) -> Message:
        """TS 29.244 6.2.9: delete the peer's sessions whose FQ-CSIDs match the request's
        (all of the peer's sessions when the request carries no FQ-CSID)."""
        if peer[0] not in self.associations:
            return SessionSetDeletionResponse(0, self._node_id,
                                              Cause.NO_ESTABLISHED_PFCP_ASSOCIATION)
        wanted = csid_set(msg.fq_csid)
        count = await self._purge_everywhere(peer[0], wanted or None)
        log.info("session set deletion from %s: %d sessions deleted", peer, count)
        return SessionSetDeletionResponse(0, self._node_id, Cause.REQUEST_ACCEPTED)
