"""End to end: `upf run` in a namespace, an SMF built on scapy's PFCP, GTP-U traffic.

The SMF is independent of our codec (scapy.contrib.pfcp) and shapes its requests like
Open5GS, free5GC and OAI do. Traffic proves that the rules take effect: uplink GTP-U from
the gNB arrives decapsulated at the DN, downlink from the DN arrives at the gNB in GTP-U with
the TEID the SMF gave; a modification moves downlink to a new gNB tunnel; a deletion stops
both directions.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.scapy_smf import (
    CauseValue,
    Flavor,
    ScapySmf,
    SessionSpec,
    cause_of,
    offending_ie,
    parse_establishment,
)
from upf.testbed import Traffic, UpfProcess, descendants, xdp_prog_ids
from upf.testbed import testbed as upf_testbed
from upf.topology import SMF_IF, UpfTopology

ROOT = Path(__file__).resolve().parents[2]

pytestmark = [
    pytest.mark.root,
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root (namespaces, BPF)"),
    pytest.mark.skipif(
        not (Path(__file__).resolve().parents[2] / "build/xdp/upf.o").exists(),
        reason="build/xdp/upf.o not built (make bpf)",
    ),
]

N = 2  # sessions per scenario
PACKETS = 20

Bed = tuple[UpfTopology, UpfProcess, Traffic]


ALLOWED_UNASSOCIATED = "10.50.0.5"  # in the allow-list, never associates
NOT_ALLOWED = "10.50.0.6"  # outside the allow-list


# Every test on the bed runs against one agent and against two N4 workers (processes
# sharing the N4 port, upf/workers.py): the SMF cannot tell the difference.
@pytest.fixture(scope="module", params=[1, 2], ids=["1worker", "2workers"])
def bed(request: pytest.FixtureRequest) -> Iterator[Bed]:
    overrides = {
        "smf.allow": ["10.50.0.1/32", f"{ALLOWED_UNASSOCIATED}/32"],
        "metrics.enabled": True,
        "metrics.address": "127.0.0.1",
        "n4.workers": request.param,
    }
    with upf_testbed(f"upfe2e{request.param}", overrides=overrides) as b:
        topo = b[0]
        for extra in (ALLOWED_UNASSOCIATED, NOT_ALLOWED):
            topo.smf.add_addr(SMF_IF, extra, topo.addr.prefixlen)
        yield b


def make_smf(topo: UpfTopology, addr: str | None = None) -> ScapySmf:
    a = topo.addr
    with topo.smf.entered():
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((addr or a.smf, 0))
    return ScapySmf(s, (a.upf_n4, 8805), addr or a.smf)


@pytest.fixture
def smf(bed: Bed) -> Iterator[ScapySmf]:
    topo, _, traffic = bed
    s = make_smf(topo)
    assert s.associate() == CauseValue.REQUEST_ACCEPTED
    traffic.drain()
    yield s
    s.sock.close()


def ue(scenario: int, i: int) -> str:
    return f"10.45.{scenario}.{i + 1}"


def expect_forwarding(
    traffic: Traffic, sessions: list[tuple[str, int, int, str]], packets: int = PACKETS
) -> None:
    """Each (ue, ul_teid, gnb_teid, gnb) forwards both ways, everything arriving."""
    for u, ul_teid, _, _ in sessions:
        traffic.send_uplink(ul_teid, u, packets)
    got_ul = traffic.recv_uplink()
    for u, _, _, _ in sessions:
        traffic.send_downlink(u, packets)
    got_dl = traffic.recv_downlink()
    assert {u: got_ul[u] for u, *_ in sessions} == {u: packets for u, *_ in sessions}
    assert {(g, t, u): got_dl[(g, t, u)] for u, _, t, g in sessions} == {
        (g, t, u): packets for u, _, t, g in sessions
    }


def expect_nothing(traffic: Traffic, sessions: list[tuple[str, int, int, str]]) -> None:
    for u, ul_teid, _, _ in sessions:
        traffic.send_uplink(ul_teid, u, 5)
        traffic.send_downlink(u, 5)
    assert sum(traffic.recv_uplink(0.5).values()) == 0
    assert sum(traffic.recv_downlink(0.3).values()) == 0


@pytest.mark.parametrize("flavor", list(Flavor))
def test_session_lifecycle(bed: Bed, smf: ScapySmf, flavor: Flavor) -> None:
    topo, _, traffic = bed
    a = topo.addr
    scenario = 10 + list(Flavor).index(flavor)
    sessions: list[tuple[str, int, int, str]] = []
    seids: list[int] = []
    for i in range(N):
        spec = SessionSpec(
            cp_seid=0x1000 * scenario + i, ue=ue(scenario, i), gnb=a.gnb,
            gnb_teid=0x100 * scenario + i, flavor=flavor,
        )  # fmt: skip
        est = smf.establish(spec)
        assert est is not None, "no Session Establishment Response"
        assert est.cause == CauseValue.REQUEST_ACCEPTED
        assert est.up_seid != 0
        assert est.ul_teid != 0
        assert est.ul_addr == a.upf_n3
        seids.append(est.up_seid)
        sessions.append((spec.ue, est.ul_teid, spec.gnb_teid, a.gnb))
    assert len({t for _, t, _, _ in sessions}) == N, "uplink TEIDs must be unique"

    if flavor is Flavor.OPEN5GS:
        # Downlink is buffered (dropped by the fast path) until the gNB tunnel is known.
        traffic.send_downlink(sessions[0][0], 5)
        assert sum(traffic.recv_downlink(0.3).values()) == 0
        for seid, (_, _, gnb_teid, gnb) in zip(seids, sessions, strict=True):
            rsp = smf.modify_to_gnb(seid, gnb, gnb_teid)
            assert rsp is not None and cause_of(rsp) == CauseValue.REQUEST_ACCEPTED

    expect_forwarding(traffic, sessions)

    # Handover: the first session's downlink moves to gNB 2 with a new TEID.
    u0, ul0, _, _ = sessions[0]
    rsp = smf.modify_to_gnb(seids[0], a.gnb2, 0xABC000 + scenario)
    assert rsp is not None and cause_of(rsp) == CauseValue.REQUEST_ACCEPTED
    sessions[0] = (u0, ul0, 0xABC000 + scenario, a.gnb2)
    expect_forwarding(traffic, sessions)

    for seid in seids:
        rsp = smf.delete(seid)
        assert rsp is not None and cause_of(rsp) == CauseValue.REQUEST_ACCEPTED
    expect_nothing(traffic, sessions)
    # A second deletion finds no session.
    rsp = smf.delete(seids[0])
    assert rsp is not None and cause_of(rsp) == CauseValue.SESSION_CONTEXT_NOT_FOUND


def test_duplicate_request_answered_once(bed: Bed, smf: ScapySmf) -> None:
    topo, _, traffic = bed
    spec = SessionSpec(cp_seid=0x2000, ue=ue(20, 0), gnb=topo.addr.gnb, gnb_teid=0x2000)
    req = bytes(smf.establishment(spec))
    seq = int.from_bytes(req[12:15], "big")
    smf.send_raw(req)
    first = smf.recv(seq)
    smf.send_raw(req)  # a retransmission: same sequence number, same bytes
    second = smf.recv(seq)
    assert first is not None and second is not None
    assert bytes(second) == bytes(first), "a retransmitted request gets the cached response"
    est = parse_establishment(first)
    assert est.cause == CauseValue.REQUEST_ACCEPTED
    expect_forwarding(traffic, [(spec.ue, est.ul_teid, spec.gnb_teid, spec.gnb)], 5)
    rsp = smf.delete(est.up_seid)
    assert rsp is not None and cause_of(rsp) == CauseValue.REQUEST_ACCEPTED
    # Had the duplicate created a second session, its UE route would still forward.
    expect_nothing(traffic, [(spec.ue, est.ul_teid, spec.gnb_teid, spec.gnb)])


def test_unknown_seid(smf: ScapySmf, bed: Bed) -> None:
    rsp = smf.modify_to_gnb(0xDEAD0000BEEF, bed[0].addr.gnb, 1)
    assert rsp is not None
    assert cause_of(rsp) == CauseValue.SESSION_CONTEXT_NOT_FOUND
    assert rsp.seid == 0  # TS 29.244 7.2.2.4.2: SEID 0 when the session is unknown
    rsp = smf.delete(0xDEAD0000BEF0)
    assert rsp is not None and cause_of(rsp) == CauseValue.SESSION_CONTEXT_NOT_FOUND


def test_missing_mandatory_ie(smf: ScapySmf, bed: Bed) -> None:
    topo, _, traffic = bed
    spec = SessionSpec(cp_seid=0x3000, ue=ue(30, 0), gnb=topo.addr.gnb, gnb_teid=0x3000)
    rsp = smf.request(smf.establishment(spec, omit=57))  # no CP F-SEID
    assert rsp is not None
    assert cause_of(rsp) == CauseValue.MANDATORY_IE_MISSING
    assert offending_ie(rsp) == 57
    traffic.send_downlink(spec.ue, 3)  # nothing was installed
    assert sum(traffic.recv_downlink(0.3).values()) == 0


def test_not_associated_peer(bed: Bed) -> None:
    topo, _, _ = bed
    peer = make_smf(topo, ALLOWED_UNASSOCIATED)
    try:
        spec = SessionSpec(cp_seid=0x4000, ue=ue(40, 0), gnb=topo.addr.gnb, gnb_teid=0x4000)
        est = peer.establish(spec)
        assert est is not None
        assert est.cause == CauseValue.NO_ESTABLISHED_PFCP_ASSOCIATION
    finally:
        peer.sock.close()


def test_not_allowed_peer_cannot_associate(bed: Bed) -> None:
    topo, _, _ = bed
    peer = make_smf(topo, NOT_ALLOWED)
    try:
        cause = peer.associate(timeout=1.0)
        assert cause is None or cause != CauseValue.REQUEST_ACCEPTED
        spec = SessionSpec(cp_seid=0x4200, ue=ue(42, 0), gnb=topo.addr.gnb, gnb_teid=0x4200)
        est = peer.establish(spec)
        assert est is None or est.cause != CauseValue.REQUEST_ACCEPTED
    finally:
        peer.sock.close()


def test_smf_restart_purges_its_sessions(bed: Bed, smf: ScapySmf) -> None:
    topo, _, traffic = bed
    spec = SessionSpec(cp_seid=0x5000, ue=ue(50, 0), gnb=topo.addr.gnb, gnb_teid=0x5000)
    est = smf.establish(spec)
    assert est is not None and est.cause == CauseValue.REQUEST_ACCEPTED
    flows = [(spec.ue, est.ul_teid, spec.gnb_teid, spec.gnb)]
    expect_forwarding(traffic, flows, 5)
    smf.restart()  # new Recovery Time Stamp: the SMF lost its state
    assert smf.associate() == CauseValue.REQUEST_ACCEPTED
    time.sleep(0.2)
    expect_nothing(traffic, flows)
    rsp = smf.delete(est.up_seid)
    assert rsp is not None and cause_of(rsp) == CauseValue.SESSION_CONTEXT_NOT_FOUND


def test_sessions_after_smf_restart_survive_the_purge(bed: Bed, smf: ScapySmf) -> None:
    """The purge of a restarted SMF's old sessions must not take the new ones with it."""
    topo, _, traffic = bed
    old = SessionSpec(cp_seid=0x5100, ue=ue(51, 0), gnb=topo.addr.gnb, gnb_teid=0x5100)
    est_old = smf.establish(old)
    assert est_old is not None and est_old.cause == CauseValue.REQUEST_ACCEPTED
    smf.restart()
    assert smf.associate() == CauseValue.REQUEST_ACCEPTED
    new = SessionSpec(cp_seid=0x5101, ue=ue(51, 1), gnb=topo.addr.gnb, gnb_teid=0x5101)
    est_new = smf.establish(new)  # at once, as an SMF does after re-associating
    assert est_new is not None and est_new.cause == CauseValue.REQUEST_ACCEPTED
    # A heartbeat with the (new) recovery time stamp the association already announced is
    # no second restart.
    assert smf.heartbeat() is not None
    time.sleep(0.3)
    rsp = smf.modify_to_gnb(est_new.up_seid, topo.addr.gnb, new.gnb_teid)
    assert rsp is not None and cause_of(rsp) == CauseValue.REQUEST_ACCEPTED
    expect_forwarding(traffic, [(new.ue, est_new.ul_teid, new.gnb_teid, new.gnb)], 5)
    rsp = smf.delete(est_new.up_seid)
    assert rsp is not None and cause_of(rsp) == CauseValue.REQUEST_ACCEPTED


def test_restarted_smf_reusing_sequence_numbers(bed: Bed) -> None:
    """A restarted SMF (same address and port) numbers its requests from 1 again."""
    topo, upf, _ = bed
    a = topo.addr
    with topo.smf.entered():
        s1 = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s1.bind((a.smf, 0))
    port = s1.getsockname()[1]
    first = ScapySmf(s1, (a.upf_n4, 8805), a.smf)
    assert first.associate() == CauseValue.REQUEST_ACCEPTED
    spec = SessionSpec(cp_seid=0x5200, ue=ue(52, 0), gnb=a.gnb, gnb_teid=0x5200)
    est1 = first.establish(spec)
    assert est1 is not None and est1.cause == CauseValue.REQUEST_ACCEPTED
    s1.close()
    with topo.smf.entered():
        s2 = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s2.bind((a.smf, port))
    second = ScapySmf(s2, (a.upf_n4, 8805), a.smf)  # sequence numbers start over
    second.recovery = first.recovery + 10
    try:
        assert second.associate() == CauseValue.REQUEST_ACCEPTED
        spec2 = SessionSpec(cp_seid=0x5201, ue=ue(52, 1), gnb=a.gnb, gnb_teid=0x5201)
        est2 = second.establish(spec2)
        assert est2 is not None and est2.cause == CauseValue.REQUEST_ACCEPTED
        assert est2.up_seid != est1.up_seid, "answered from the first SMF's cached response"
        rsp = second.modify_to_gnb(est2.up_seid, a.gnb, spec2.gnb_teid)
        assert rsp is not None and cause_of(rsp) == CauseValue.REQUEST_ACCEPTED
        # The restart purged the first instance's session.
        rsp = second.delete(est1.up_seid)
        assert rsp is not None and cause_of(rsp) == CauseValue.SESSION_CONTEXT_NOT_FOUND, upf.log()
        second.delete(est2.up_seid)
    finally:
        s2.close()


def scrape(topo: UpfTopology) -> dict[str, float]:
    """/metrics of the UPF (its exporter listens on 127.0.0.1 inside the UPF namespace)."""
    with topo.upf.entered():
        s = socket.create_connection(("127.0.0.1", 9100), timeout=5)
    with s:
        s.sendall(b"GET /metrics HTTP/1.0\r\nHost: upf\r\n\r\n")
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    out: dict[str, float] = {}
    for line in data.decode().split("\r\n\r\n", 1)[1].splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            out[name] = float(value)
    return out


def test_metrics(bed: Bed, smf: ScapySmf) -> None:
    topo, _, traffic = bed
    spec = SessionSpec(cp_seid=0x7000, ue=ue(70, 0), gnb=topo.addr.gnb, gnb_teid=0x7000)
    est = smf.establish(spec)
    assert est is not None and est.cause == CauseValue.REQUEST_ACCEPTED
    expect_forwarding(traffic, [(spec.ue, est.ul_teid, spec.gnb_teid, spec.gnb)], 5)
    m = scrape(topo)
    assert m['upf_xdp_packets_total{interface="n3",reason="fwd_uplink"}'] >= 5
    assert m['upf_xdp_packets_total{interface="n6",reason="fwd_downlink"}'] >= 5
    assert m['upf_xdp_bytes_total{interface="n3",reason="fwd_uplink"}'] > 0
    assert m["upf_pfcp_sessions"] >= 1
    assert m["upf_pfcp_associations"] >= 1
    key = (
        'upf_pfcp_messages_total{cause="REQUEST_ACCEPTED",direction="tx",'
        'type="SESSION_ESTABLISHMENT_RESPONSE"}'
    )
    assert m[key] >= 1
    assert (
        m['upf_pfcp_messages_total{cause="",direction="rx",type="ASSOCIATION_SETUP_REQUEST"}'] >= 1
    )
    rsp = smf.delete(est.up_seid)
    assert rsp is not None and cause_of(rsp) == CauseValue.REQUEST_ACCEPTED


def _descendants(pid: int) -> list[tuple[int, str]]:
    """(pid, command line) of every process below ``pid``."""
    return [(child, Path(f"/proc/{child}/cmdline").read_bytes().replace(b"\0", b" ").decode())
            for child in descendants(pid)]


def test_n4_workers_share_the_sessions(bed: Bed, smf: ScapySmf) -> None:
    """n4.workers: 2 really runs a second agent process, which takes its share of the
    sessions; the metrics count the sessions of every worker."""
    topo, upf, _ = bed
    workers = 2 if topo.name.startswith("upfe2e2") else 1
    followers = [cmd for _, cmd in _descendants(upf.proc.pid) if "upf.workers" in cmd]
    assert len(followers) == workers - 1
    time.sleep(1.2)  # the followers' counts of earlier tests' deletions have reached the lead
    before = scrape(topo)["upf_pfcp_sessions"]
    ests = []
    for i in range(4):
        spec = SessionSpec(cp_seid=0x7100 + i, ue=ue(71, i), gnb=topo.addr.gnb,
                           gnb_teid=0x7100 + i)
        est = smf.establish(spec)
        assert est is not None and est.cause == CauseValue.REQUEST_ACCEPTED
        ests.append(est)
    # Worker k makes the SEIDs k mod N: consecutive requests reach both workers.
    assert {e.up_seid % workers for e in ests} == set(range(workers))
    deadline = time.monotonic() + 5  # the lead polls its followers' counters every second
    while scrape(topo)["upf_pfcp_sessions"] != before + 4:
        assert time.monotonic() < deadline, scrape(topo)["upf_pfcp_sessions"]
        time.sleep(0.2)
    for est in ests:
        rsp = smf.delete(est.up_seid)
        assert rsp is not None and cause_of(rsp) == CauseValue.REQUEST_ACCEPTED


def test_a_lost_n4_worker_stops_the_upf() -> None:
    """A follower that dies leaves a share of the SEIDs unanswered: the UPF stops (exit 3,
    XDP detached, maps unpinned) for its supervisor to restart it whole."""
    with upf_testbed("upfe2elost", overrides={"n4.workers": 2}) as (topo, upf, _):
        assert upf.proc is not None
        (pid,) = [p for p, cmd in _descendants(upf.proc.pid) if "upf.workers" in cmd]
        os.kill(pid, 9)
        assert upf.proc.wait(15) == 3, upf.log()
        assert "N4 worker 1" in upf.log() and "stopping the UPF" in upf.log()
        assert not Path(upf.pin_dir).exists() or not any(Path(upf.pin_dir).iterdir())
        assert not any(xdp_prog_ids(topo).values()), upf.log()


def test_sigterm_stops_every_n4_worker() -> None:
    with upf_testbed("upfe2ew3", overrides={"n4.workers": 3}) as (_, upf, _):
        assert upf.proc is not None
        pids = [p for p, cmd in _descendants(upf.proc.pid) if "upf.workers" in cmd]
        assert len(pids) == 2
        assert upf.stop() == 0
        for pid in pids:
            assert not Path(f"/proc/{pid}").exists() or \
                Path(f"/proc/{pid}/stat").read_text().split()[2] == "Z"


def test_full_maps_reject_without_side_effects() -> None:
    limits = {"limits.sessions": 2, "limits.pdrs": 4, "limits.fars": 4, "limits.qers": 2}
    with upf_testbed("upfe2efull", overrides=limits) as (topo, _, traffic):
        smf = make_smf(topo)
        try:
            assert smf.associate() == CauseValue.REQUEST_ACCEPTED
            flows = []
            causes = []
            for i in range(4):
                spec = SessionSpec(
                    cp_seid=0x6000 + i, ue=ue(60, i), gnb=topo.addr.gnb, gnb_teid=0x6000 + i
                )
                est = smf.establish(spec)
                assert est is not None
                causes.append(est.cause)
                if est.cause == CauseValue.REQUEST_ACCEPTED:
                    flows.append((spec.ue, est.ul_teid, spec.gnb_teid, spec.gnb))
            assert causes[0] == CauseValue.REQUEST_ACCEPTED
            assert causes[-1] in (
                CauseValue.NO_RESOURCES_AVAILABLE,
                CauseValue.RULE_CREATION_MODIFICATION_FAILURE,
            )
            # The accepted sessions still forward; the rejected ones left nothing behind.
            expect_forwarding(traffic, flows, 5)
            rejected = [ue(60, i) for i, c in enumerate(causes) if c != CauseValue.REQUEST_ACCEPTED]
            for u in rejected:
                traffic.send_downlink(u, 3)
            assert sum(traffic.recv_downlink(0.3).values()) == 0
        finally:
            smf.sock.close()


def test_sigterm_detaches_and_unpins() -> None:
    with upf_testbed("upfe2eexit") as (topo, upf, _):
        assert all(xdp_prog_ids(topo).values()), "XDP attached to n3 and n6"
        assert Path(upf.pin_dir).is_dir()
        assert upf.stop() == 0, upf.log()
        assert xdp_prog_ids(topo) == {"n3": 0, "n6": 0}
        assert not Path(upf.pin_dir).exists()


def test_keep_maps_leaves_pins_and_forwarding_state() -> None:
    """xdp.keep_maps: the maps stay pinned after exit and a restarted UPF reuses them."""
    with upf_testbed("upfe2ekeep", overrides={"xdp.keep_maps": True}) as (topo, upf, traffic):
        smf = make_smf(topo)
        try:
            assert smf.associate() == CauseValue.REQUEST_ACCEPTED
            spec = SessionSpec(cp_seid=0x9000, ue=ue(90, 0), gnb=topo.addr.gnb, gnb_teid=0x9000)
            est = smf.establish(spec)
            assert est is not None and est.cause == CauseValue.REQUEST_ACCEPTED
        finally:
            smf.sock.close()
        assert upf.stop() == 0, upf.log()
        assert xdp_prog_ids(topo) == {"n3": 0, "n6": 0}
        assert (Path(upf.pin_dir) / "uplink_pdrs").exists(), "maps kept pinned"
        upf.start()  # reuses the pinned maps: the session's rules are still there
        flows = [(spec.ue, est.ul_teid, spec.gnb_teid, spec.gnb)]
        expect_forwarding(traffic, flows, 5)


def test_ip_netns_exec_pins_in_the_host_bpffs() -> None:
    """`ip netns exec` remounts /sys; the maps must still be pinned where the host sees them."""
    with upf_testbed("upfe2ense", start=False) as (topo, upf, traffic):
        upf.start(ip_netns_exec=True)
        assert all(xdp_prog_ids(topo).values())
        assert (Path(upf.pin_dir) / "xdp_stats").exists(), upf.log()
        smf = make_smf(topo)
        try:
            assert smf.associate() == CauseValue.REQUEST_ACCEPTED
            spec = SessionSpec(cp_seid=0x8000, ue=ue(80, 0), gnb=topo.addr.gnb, gnb_teid=0x8000)
            est = smf.establish(spec)
            assert est is not None and est.cause == CauseValue.REQUEST_ACCEPTED
            expect_forwarding(traffic, [(spec.ue, est.ul_teid, spec.gnb_teid, spec.gnb)], 5)
        finally:
            smf.sock.close()
        assert upf.stop() == 0, upf.log()
        assert xdp_prog_ids(topo) == {"n3": 0, "n6": 0}
        assert not Path(upf.pin_dir).exists()


def test_upf_config_error_exits_2() -> None:
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "upf",
            "run",
            "-c",
            str(ROOT / "containers" / "upf.yaml"),
            "--set",
            "interfaces.n3.address=10.0.0.300",
        ],
        capture_output=True,
        text=True,
        timeout=30,
        env={k: v for k, v in os.environ.items() if not k.startswith("UPF_")},
    )
    assert proc.returncode == 2
    assert "config: interfaces.n3.address: '10.0.0.300' is not an IPv4 address" in proc.stderr
