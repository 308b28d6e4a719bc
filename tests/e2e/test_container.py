"""The container image (containers/Containerfile) runs the UPF in a namespace topology.

Skipped unless podman and the image localhost/xdp-upf exist (building it takes minutes:
see containers/README.md). The container joins the UPF namespace of the topology, attaches
XDP from inside, answers PFCP from a scapy SMF, forwards GTP-U, and exits cleanly on
`podman stop` (exit code 0, XDP detached, pins removed).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.e2e.scapy_smf import CauseValue, ScapySmf, SessionSpec
from upf.testbed import testbed as upf_testbed
from upf.testbed import xdp_prog_ids

IMAGE = "localhost/xdp-upf"


def _image_present() -> bool:
    if shutil.which("podman") is None or os.geteuid() != 0:
        return False
    proc = subprocess.run(["podman", "image", "exists", IMAGE], capture_output=True)
    return proc.returncode == 0


pytestmark = [
    pytest.mark.root,
    pytest.mark.slow,
    pytest.mark.skipif(not _image_present(), reason=f"podman image {IMAGE} not built"),
]


def test_container_runs_the_upf() -> None:
    with upf_testbed("upfctr", start=False) as (topo, upf, traffic):
        xdp = dict(upf.config["xdp"])  # type: ignore[call-overload]
        xdp["object"] = "/usr/lib/upf/upf.o"
        cfg_path = upf.workdir / "upf.yaml"
        cfg_path.write_text(yaml.safe_dump({**upf.config, "xdp": xdp}))
        name = f"upf-{topo.name}"
        run = subprocess.run(
            # runc and modest rlimits: what podman needs on our VMs (RIG.md)
            ["podman", "--runtime", "runc", "run", "-d", "--name", name, "--privileged",
             "--ulimit", "nofile=20000:20000", "--ulimit", "nproc=4096:4096",
             "--network", f"ns:{topo.upf.path}", "-v", "/sys/fs/bpf:/sys/fs/bpf",
             "-v", f"{cfg_path}:/etc/upf/upf.yaml:ro", IMAGE],
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert run.returncode == 0, run.stderr
        try:
            upf.wait_ready(30)
            assert all(xdp_prog_ids(topo).values())
            with topo.smf.entered():
                s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            s.bind((topo.addr.smf, 0))
            smf = ScapySmf(s, (topo.addr.upf_n4, 8805), topo.addr.smf)
            assert smf.associate() == CauseValue.REQUEST_ACCEPTED
            spec = SessionSpec(cp_seid=1, ue="10.45.9.1", gnb=topo.addr.gnb, gnb_teid=0x99)
            est = smf.establish(spec)
            assert est is not None and est.cause == CauseValue.REQUEST_ACCEPTED
            traffic.send_uplink(est.ul_teid, spec.ue, 10)
            assert traffic.recv_uplink()[spec.ue] == 10
            traffic.send_downlink(spec.ue, 10)
            assert traffic.recv_downlink()[(spec.gnb, spec.gnb_teid, spec.ue)] == 10
            s.close()
            stop = subprocess.run(["podman", "stop", "-t", "10", name], capture_output=True)
            assert stop.returncode == 0
            code = subprocess.run(
                ["podman", "inspect", "-f", "{{.State.ExitCode}}", name],
                capture_output=True, text=True,
            ).stdout.strip()  # fmt: skip
            assert code == "0"
            assert xdp_prog_ids(topo) == {"n3": 0, "n6": 0}
            assert not Path(upf.pin_dir).exists()
        finally:
            subprocess.run(["podman", "rm", "-f", name], capture_output=True)
