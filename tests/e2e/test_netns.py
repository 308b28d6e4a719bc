"""tests/netns.py itself: unique names, entering, teardown on failure, stale reaping."""

from __future__ import annotations

import os
import subprocess

import pytest

from tests import netns
from tests.netns import Topology, netns_topology  # noqa: F401  (fixture)

pytestmark = [
    pytest.mark.root,
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root (network namespaces)"),
]


def _existing() -> set[str]:
    return set(os.listdir(netns.NETNS_RUN_DIR)) if os.path.isdir(netns.NETNS_RUN_DIR) else set()


def _own_netns() -> str:
    return os.readlink("/proc/thread-self/ns/net")


def test_unique_names() -> None:
    names = {netns.unique_name() for _ in range(100)}
    assert len(names) == 100
    assert all(n.startswith(f"{netns.DEFAULT_PREFIX}{os.getpid()}-") for n in names)


def test_topology_wiring(netns_topology: Topology) -> None:  # noqa: F811
    t = netns_topology
    assert {t.gnb.name, t.upf.name, t.dn.name} <= _existing()
    routes = t.dn.run(["ip", "-4", "route", "show"]).stdout
    assert "10.45.0.0/16 via 10.200.6.1 dev dn0" in routes
    assert "default" not in routes + t.upf.run(["ip", "-4", "route", "show"]).stdout
    with t.upf.entered(), open("/proc/sys/net/ipv4/ip_forward") as f:
        assert f.read().strip() == "1"
    neigh = t.upf.run(["ip", "neigh", "show"]).stdout
    assert f"10.200.6.2 dev n6 lladdr {t.dn.mac('dn0')} PERMANENT" in neigh
    # nothing of ours in the root namespace
    root_links = subprocess.run(["ip", "-br", "link"], capture_output=True, text=True).stdout
    assert not {"gnb0", "dn0", "n3", "n6"} & {
        line.split("@")[0].split()[0] for line in root_links.splitlines()
    }


def test_entered_switches_this_thread_only_and_back(netns_topology: Topology) -> None:  # noqa: F811
    before = _own_netns()
    with netns_topology.upf.entered():
        inside = _own_netns()
        assert inside != before
        assert os.path.exists("/sys/fs/bpf")  # no remount, unlike `ip netns exec`
    assert _own_netns() == before
    with pytest.raises(ZeroDivisionError), netns_topology.dn.entered():
        _ = 1 / 0
    assert _own_netns() == before


def test_removed_on_failure() -> None:
    names: list[str] = []
    with pytest.raises(RuntimeError), netns.topology() as t:
        names = [t.gnb.name, t.upf.name, t.dn.name]
        raise RuntimeError("test failure inside the block")
    assert names and _existing().isdisjoint(names)


def test_stale_namespaces_of_dead_processes_are_reaped() -> None:
    proc = subprocess.Popen(["true"])
    proc.wait()
    stale = f"{netns.DEFAULT_PREFIX}{proc.pid}-dead00-upf"
    subprocess.run(["ip", "netns", "add", stale], check=True)
    try:
        assert stale in netns.reap_stale()
        assert stale not in _existing()
    finally:
        subprocess.run(["ip", "netns", "del", stale], capture_output=True, check=False)


def test_far_ends_get_an_xdp_program(netns_topology: Topology) -> None:  # noqa: F811
    t = netns_topology
    t.far_ends_xdp_pass()
    for ns, ifname in ((t.gnb, "gnb0"), (t.dn, "dn0")):
        assert "prog/xdp id" in ns.run(["ip", "link", "show", ifname]).stdout
