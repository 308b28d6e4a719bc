"""Datapath: load and size, pins and their reuse, XDP attach in a namespace, test runs."""

from __future__ import annotations

import ctypes
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.datapath.dp_support import (
    REPO,
    XDP_PASS,
    compile_snippet,
    netns,
    remove_pins,
    unique,
    upf_object,
)
from upf.datapath import abi, libbpf
from upf.datapath.libbpf import BpfObject, LoadError, MapFullError
from upf.datapath.loader import (
    BPF_FS_MAGIC,
    DEFAULT_PIN_ROOT,
    Datapath,
    DatapathLimits,
    PinMismatchError,
    XdpMode,
    fs_magic,
)

pytestmark = [pytest.mark.root, pytest.mark.skipif(os.geteuid() != 0, reason="needs root")]

SMALL = DatapathLimits(sessions=256, pdrs=256, fars=256, qers=16, nexthops=16)


def test_defaults_come_from_the_header() -> None:
    d = DatapathLimits()
    assert (d.sessions, d.pdrs, d.fars, d.qers, d.nexthops) == (
        abi.Limits.DEFAULT_SESSIONS,
        abi.Limits.DEFAULT_PDRS,
        abi.Limits.DEFAULT_FARS,
        abi.Limits.DEFAULT_QERS,
        abi.Limits.DEFAULT_NEXTHOPS,
    )
    big = DatapathLimits.for_sessions(1_000_000)
    assert (big.sessions, big.pdrs, big.fars, big.qers) == (
        1_000_000,
        4_000_000,
        4_000_000,
        2_000_000,
    )


def test_load_with_default_limits() -> None:
    d = DatapathLimits()
    with Datapath(upf_object()) as dp:
        sizes = {name: libbpf.map_info(dp.maps[name].fd).max_entries for name in abi.MAPS}
        assert dp.prog_fd >= 0
    assert sizes == {
        "uplink_pdrs": d.sessions,
        "uplink_by_teid": d.sessions + 1,  # index 0 is never a TEID's
        "downlink_pdrs_v4": d.sessions,
        "downlink_pdrs_v6": d.sessions,
        "fars": d.fars,
        "qers": d.qers,
        "pdr_stats": d.pdrs,
        "nh_cache": d.nexthops,
        "local_addrs": abi.Limits.MAX_LOCAL_ADDRS,
        "xdp_stats": abi.Limits.MAX_IFACES * abi.Reason.REASON_MAX,
        "runtime": 1,
    }


def test_load_one_million_sessions() -> None:
    with Datapath(upf_object(), limits=DatapathLimits.for_sessions(1_000_000)) as dp:
        assert libbpf.map_info(dp.uplink_pdrs.fd).max_entries == 1_000_000
        assert libbpf.map_info(dp.downlink_pdrs_v4.fd).max_entries == 1_000_000
        last = 4_000_000 - 1  # the edge of the resized arrays
        dp.fars.set(last, abi.Far(action=abi.ApplyAction.DROP))
        assert dp.fars.get(last).action == abi.ApplyAction.DROP  # type: ignore[union-attr]
        with pytest.raises(MapFullError):
            dp.fars.set(last + 1, abi.Far())
        dp.pdr_stats.set(last, abi.Counter())


def test_test_run_and_runtime() -> None:
    with Datapath(upf_object(), limits=SMALL) as dp:
        dp.runtime.set(0, abi.Runtime(nh_gen=0xA1B2C3D4))
        assert dp.runtime.get(0).nh_gen == 0xA1B2C3D4  # type: ignore[union-attr]
        frame = bytes(range(64))  # EtherType 0x0c0d: not IP, passed on untouched
        verdict, out = dp.test_run(frame)
        assert (verdict, out) == (XDP_PASS, frame)
        c = dp.xdp_stats.get_sum(1 * abi.Reason.REASON_MAX + abi.Reason.PASS_NOT_IP)
        assert c is not None and (c.packets, c.bytes) == (1, 64)  # ingress lo (ifindex 1)
        verdict, _ = dp.test_run(bytes(64), ingress_ifindex=None)
        assert verdict == XDP_PASS
        r = dp.run_timed(bytes(64), repeat=100)
        assert r.retval == XDP_PASS and r.duration_ns > 0


def test_verifier_log_is_in_the_exception(caplog: pytest.LogCaptureFixture) -> None:
    bad = compile_snippet(
        "bad_prog",
        """
        #include <linux/bpf.h>
        #include <bpf/bpf_helpers.h>
        SEC("xdp") int upf_xdp(struct xdp_md *ctx)
        { return *(char *)(long)ctx->data; }  /* no bounds check */
        char LICENSE[] SEC("license") = "GPL";
        """,
    )
    with BpfObject.open(bad) as obj, pytest.raises(LoadError) as ei:
        obj.load()
    assert ei.value.errno == 13  # EACCES from the verifier
    assert "invalid access to packet" in ei.value.log
    assert "invalid access to packet" in str(ei.value)
    # and libbpf's own messages reach the Python logger
    assert any(
        r.name == "upf.datapath.libbpf" and "BEGIN PROG LOAD LOG" in r.getMessage()
        for r in caplog.records
    )


def test_percpu_value_size() -> None:
    n = libbpf.num_possible_cpus()
    assert n >= 1
    assert (libbpf.percpu_value_size(16), libbpf.percpu_value_size(20)) == (16 * n, 24 * n)


def test_open_missing_object() -> None:
    with pytest.raises(libbpf.BpfError) as ei:
        BpfObject.open("/nonexistent/upf.o")
    assert ei.value.errno == 2


# ---------------------------------------------------------------------------
# pins


def test_pin_and_unpin() -> None:
    inst = unique()
    pin_dir = Path(DEFAULT_PIN_ROOT) / inst
    try:
        with Datapath(upf_object(), limits=SMALL, instance=inst) as dp:
            assert fs_magic(str(pin_dir)) == BPF_FS_MAGIC
            assert sorted(p.name for p in pin_dir.iterdir()) == sorted(set(dp.maps) & set(abi.MAPS))
            fd = libbpf.obj_get(str(pin_dir / "fars"))
            try:  # the pin is the very map the handle writes
                dp.fars.set(1, abi.Far(action=abi.ApplyAction.FORW))
                v = abi.Far()
                assert libbpf.map_lookup_elem(fd, ctypes.c_uint32(1), v) and v.action == 2
            finally:
                os.close(fd)
        assert not pin_dir.exists()
    finally:
        remove_pins(pin_dir)


def test_keep_pins_reuses_maps_across_restarts() -> None:
    inst = unique()
    pin_dir = Path(DEFAULT_PIN_ROOT) / inst
    key = abi.TeidKey(0x0A0B0C0D)
    try:
        with Datapath(upf_object(), limits=SMALL, instance=inst, keep_pins=True) as dp1:
            assert dp1.reused == set()
            dp1.fars.set(7, abi.Far(action=abi.ApplyAction.FORW, teid=0x11223344))
            dp1.uplink_pdrs.set(key, abi.PdrSet(count=1))
            dp1.runtime.set(0, abi.Runtime(nh_gen=41))
            dp1.test_run(bytes(64))
        assert (pin_dir / "fars").exists()  # still pinned after close
        # a restart that asks for other sizes keeps the pinned maps (and their sizes)
        limits = DatapathLimits(sessions=512, pdrs=256, fars=256, qers=16, nexthops=16)
        with Datapath(upf_object(), limits=limits, instance=inst, keep_pins=True) as dp2:
            assert dp2.reused == set(dp2.maps) & set(abi.MAPS)
            assert dp2.fars.get(7).teid == 0x11223344  # type: ignore[union-attr]
            assert dp2.uplink_pdrs.get(key) is not None
            assert dp2.uplink_pdrs.max_entries == 256
            assert dp2.runtime.get(0).nh_gen == 41  # type: ignore[union-attr]
            # the new program counts into the reused maps: its packet and dp1's
            assert dp2.test_run(bytes(64))[0] == XDP_PASS
            c = dp2.xdp_stats.get_sum(1 * abi.Reason.REASON_MAX + abi.Reason.PASS_NOT_IP)
            assert c is not None and c.packets >= 2
        # without keep_pins, stale pins are replaced by fresh maps and removed at close
        with Datapath(upf_object(), limits=SMALL, instance=inst) as dp3:
            assert dp3.reused == set()
            assert dp3.fars.get(7).teid == 0  # type: ignore[union-attr]
        assert not pin_dir.exists()
    finally:
        remove_pins(pin_dir)


def test_incompatible_pin_is_refused() -> None:
    inst = unique()
    pin_dir = Path(DEFAULT_PIN_ROOT) / inst
    try:
        with Datapath(upf_object(), limits=SMALL) as other:
            pin_dir.mkdir(parents=True)
            libbpf.obj_pin(other.fars.fd, str(pin_dir / "qers"))  # 20-byte values, qers has 24
        with pytest.raises(PinMismatchError, match="qers"):
            Datapath(upf_object(), limits=SMALL, instance=inst, keep_pins=True).open()
    finally:
        remove_pins(pin_dir)


def test_pins_under_ip_netns_exec() -> None:
    """`ip netns exec` hides /sys/fs/bpf: pins must still land in the host's bpffs."""
    inst = unique()
    pin_dir = Path(DEFAULT_PIN_ROOT) / inst
    code = (
        "import sys; from upf.datapath.loader import Datapath, DatapathLimits\n"
        "dp = Datapath(sys.argv[1], limits=DatapathLimits(256, 256, 256, 16, 16),"
        " instance=sys.argv[2], keep_pins=True).open()\n"
        "dp.fars.set(3, __import__('upf.datapath.abi').datapath.abi.Far(action=2))\n"
        "print(dp.pin_dir)\n"
    )
    try:
        with netns() as ns:
            r = subprocess.run(
                ["ip", "netns", "exec", ns, sys.executable, "-c", code, str(upf_object()), inst],
                cwd=REPO,
                capture_output=True,
                text=True,
                timeout=60,
            )
            assert r.returncode == 0, r.stderr
        assert (pin_dir / "fars").exists(), r.stdout
        with Datapath(upf_object(), limits=SMALL, instance=inst, keep_pins=True) as dp:
            assert dp.fars.get(3).action == 2  # type: ignore[union-attr]
    finally:
        remove_pins(pin_dir)


def test_bad_instance_name() -> None:
    with pytest.raises(ValueError):
        Datapath(upf_object(), instance="../x")


# ---------------------------------------------------------------------------
# XDP attach


def _xdp_state(ns: str, ifindex: int) -> tuple[str | None, int | None]:
    from pyroute2 import IPRoute

    with IPRoute(netns=ns) as ipr:
        x = ipr.get_links(ifindex)[0].get_attr("IFLA_XDP")
    return x.get_attr("IFLA_XDP_ATTACHED"), x.get_attr("IFLA_XDP_PROG_ID")


def test_attach_detach_on_veth_in_netns() -> None:
    from pyroute2 import IPRoute

    with netns() as ns:
        with IPRoute(netns=ns) as ipr:
            ipr.link("add", ifname="upfa", kind="veth", peer={"ifname": "upfb"})
            for name in ("upfa", "upfb"):
                ipr.link("set", index=ipr.link_lookup(ifname=name)[0], state="up")
        with Datapath(upf_object(), limits=SMALL) as dp:
            idx = dp.attach("upfa", netns=ns)
            mode, prog_id = _xdp_state(ns, idx)
            assert mode == "xdp" and prog_id  # native
            dp.detach("upfa", netns=ns)
            assert _xdp_state(ns, idx) == (None, None)
            idx = dp.attach("upfa", netns=ns, mode=XdpMode.GENERIC)
            assert _xdp_state(ns, idx)[0] == "xdpgeneric"
            dp.detach("upfa", netns=ns)
            assert _xdp_state(ns, idx) == (None, None)
            idx_b = dp.attach("upfb", netns=ns)
            assert _xdp_state(ns, idx_b)[0] == "xdp"
            with pytest.raises(libbpf.BpfError):
                dp.attach("nosuchif", netns=ns)
        assert _xdp_state(ns, idx_b) == (None, None)  # close() detached it


def test_limits_are_checked() -> None:
    with pytest.raises(ValueError):
        DatapathLimits(sessions=0)
    with pytest.raises(ValueError):
        DatapathLimits.for_sessions(2**32)


def test_real_object_pins_round_trip() -> None:
    """The real object (internal .rodata, datapath-private maps) pins, reuses and unpins."""
    inst = unique()
    pin_dir = Path(DEFAULT_PIN_ROOT) / inst
    try:
        with Datapath(upf_object(), limits=SMALL, instance=inst, keep_pins=True) as dp:
            dp.fars.set(3, abi.Far(action=abi.ApplyAction.FORW))
            assert {p.name for p in pin_dir.iterdir()} == set(abi.MAPS)
        with Datapath(upf_object(), limits=SMALL, instance=inst, keep_pins=True) as dp:
            assert dp.reused == set(abi.MAPS)
            assert dp.fars.get(3).action == abi.ApplyAction.FORW  # type: ignore[union-attr]
        with Datapath(upf_object(), limits=SMALL, instance=inst):
            pass
        assert not pin_dir.exists()
    finally:
        remove_pins(pin_dir)
