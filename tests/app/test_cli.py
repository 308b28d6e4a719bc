"""The `upf` command: help, `upf config` validation, exit codes (no root needed)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from upf.cli import build_parser, main

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "containers" / "upf.yaml"


def run_upf(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("UPF_")}
    clean.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "upf", *args],
        capture_output=True, text=True, timeout=60, cwd=ROOT, env=clean,
    )  # fmt: skip


def test_help_lists_subcommands() -> None:
    proc = run_upf("--help")
    assert proc.returncode == 0
    for cmd in ("run", "config", "smf-sim", "demo", "stats"):
        assert cmd in proc.stdout


@pytest.mark.parametrize("cmd", ["run", "config", "smf-sim", "demo", "stats"])
def test_subcommand_help(cmd: str) -> None:
    with pytest.raises(SystemExit) as info:
        main([cmd, "--help"])
    assert info.value.code == 0


def test_config_prints_effective_config() -> None:
    proc = run_upf("config", "-c", str(EXAMPLE), "--set", "n4.port=8806",
                   env={"UPF_LOG_LEVEL": "debug"})  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    out = yaml.safe_load(proc.stdout)
    assert out["n4"]["port"] == 8806
    assert out["log_level"] == "debug"
    assert out["interfaces"]["n3"]["address"] == "10.100.0.2"


def test_config_file_from_environment() -> None:
    proc = run_upf("config", env={"UPF_CONFIG": str(EXAMPLE)})
    assert proc.returncode == 0, proc.stderr
    assert yaml.safe_load(proc.stdout)["xdp"]["mode"] == "native"


def test_bad_config_exits_2_naming_the_key() -> None:
    proc = run_upf("run", "-c", str(EXAMPLE), "--set", "interfaces.n3.address=10.0.0.300")
    assert proc.returncode == 2
    assert proc.stderr.strip() == (
        "config: interfaces.n3.address: '10.0.0.300' is not an IPv4 address "
        "(from --set interfaces.n3.address)"
    )


def test_bad_environment_exits_2() -> None:
    proc = run_upf("config", "-c", str(EXAMPLE), env={"UPF_XDP__MODE": "turbo"})
    assert proc.returncode == 2
    assert "xdp.mode" in proc.stderr and "UPF_XDP__MODE" in proc.stderr


def test_missing_config_file() -> None:
    proc = run_upf("config", "-c", "/nonexistent/upf.yaml")
    assert proc.returncode == 2
    assert "cannot read /nonexistent/upf.yaml" in proc.stderr


def test_smf_sim_arguments() -> None:
    from upf.smfsim import config_from_args

    args = build_parser().parse_args(
        ["smf-sim", "--upf", "10.50.0.2", "--local", "10.50.0.1:9000", "-n", "10", "-w", "4"]
    )
    cfg = config_from_args(args)
    assert cfg.upf == ("10.50.0.2", 8805)
    assert cfg.local == ("10.50.0.1", 9000)
    assert (cfg.sessions, cfg.window) == (10, 4)


def test_stats_without_running_upf(tmp_path: Path) -> None:
    proc = run_upf("stats", "--pin-dir", str(tmp_path))
    assert proc.returncode != 0
    assert "no pinned xdp_stats" in proc.stderr
