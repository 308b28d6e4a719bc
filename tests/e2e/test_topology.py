"""upf/topology.py itself: unique names, wiring, entering, teardown on failure, reaping."""

from __future__ import annotations

import os
import socket
import subprocess
from collections.abc import Iterator

import pytest

from upf import topology
from upf.topology import Topology, UpfTopology, veth

pytestmark = [
    pytest.mark.root,
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root (network namespaces)"),
]

PREFIX = "upftt"


def _existing() -> set[str]:
    d = topology.NETNS_RUN_DIR
    return set(os.listdir(d)) if os.path.isdir(d) else set()


def _own_netns() -> str:
    return os.readlink("/proc/thread-self/ns/net")


@pytest.fixture
def topo() -> Iterator[UpfTopology]:
    with UpfTopology(PREFIX) as t:
        yield t


def test_unique_names() -> None:
    names = {topology.unique_name(PREFIX) for _ in range(100)}
    assert len(names) == 100
    assert all(n.startswith(f"{PREFIX}{os.getpid()}-") for n in names)


def test_upf_topology_wiring(topo: UpfTopology) -> None:
    a = topo.addr
    assert [ns.name for ns in topo.namespaces] == [
        f"{topo.name}-{role}" for role in ("gnb", "upf", "dn", "smf")
    ]
    assert set(ns.name for ns in topo.namespaces) <= _existing()
    routes = topo.dn.run(["ip", "-4", "route", "show"]).stdout
    assert f"{a.ue_pool} via {a.upf_n6} dev dn0" in routes
    assert "default" not in routes + topo.upf.run(["ip", "-4", "route", "show"]).stdout
    with topo.upf.entered(), open("/proc/sys/net/ipv4/ip_forward") as f:
        assert f.read().strip() == "1"
    neigh = topo.upf.run(["ip", "neigh", "show"]).stdout
    assert f"{a.dn} dev n6 lladdr {topo.dn.mac('dn0')} PERMANENT" in neigh
    assert f"{a.gnb2} dev n3 lladdr {topo.gnb.mac('gnb0')} PERMANENT" in neigh
    with topo.upf.entered():
        rx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    with topo.smf.entered():
        tx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    with rx, tx:
        rx.bind((a.upf_n4, 0))
        rx.settimeout(3)
        tx.sendto(b"n4", rx.getsockname())
        assert rx.recvfrom(16) == (b"n4", (a.smf, tx.getsockname()[1]))
    # nothing of ours in the root namespace
    root_links = subprocess.run(["ip", "-br", "link"], capture_output=True, text=True).stdout
    assert not {"gnb0", "dn0", "n3", "n6", "n4", "smf0"} & {
        line.split("@")[0].split()[0] for line in root_links.splitlines()
    }


def test_veth_ends_have_gro_on(topo: UpfTopology) -> None:
    """GRO on lets XDP_REDIRECT into a veth deliver without an XDP program there (RIG.md)."""
    for ns, ifname in ((topo.gnb, "gnb0"), (topo.upf, "n3"), (topo.dn, "dn0")):
        features = ns.run(["ethtool", "-k", ifname]).stdout
        assert "generic-receive-offload: on" in features
        assert "tx-checksumming: off" in features


def test_entered_switches_this_thread_only_and_back(topo: UpfTopology) -> None:
    before = _own_netns()
    with topo.upf.entered():
        inside = _own_netns()
        assert inside != before
        assert os.path.exists("/sys/fs/bpf")  # no remount, unlike `ip netns exec`
        with topo.dn.entered():  # nests
            assert _own_netns() not in (before, inside)
        assert _own_netns() == inside
    assert _own_netns() == before
    with pytest.raises(ZeroDivisionError), topo.dn.entered():
        _ = 1 / 0
    assert _own_netns() == before


def test_removed_on_failure_with_what_runs_inside() -> None:
    names: list[str] = []
    with pytest.raises(RuntimeError), Topology(PREFIX) as t:
        a, b = t.netns("a"), t.netns("b")
        veth(a, "a0", b, "b0")
        names = [a.name, b.name]
        sleeper = subprocess.Popen(a.argv(["sleep", "60"]))
        raise RuntimeError("test failure inside the block")
    assert names and _existing().isdisjoint(names)
    assert sleeper.wait(timeout=5) == -9  # killed, not left running in a removed namespace


def test_stale_namespaces_of_dead_processes_are_reaped() -> None:
    proc = subprocess.Popen(["true"])
    proc.wait()
    stale = f"{PREFIX}{proc.pid}-dead00-upf"
    subprocess.run(["ip", "netns", "add", stale], check=True)
    try:
        assert stale in topology.reap_stale(PREFIX)
        assert stale not in _existing()
    finally:
        subprocess.run(["ip", "netns", "del", stale], capture_output=True, check=False)
