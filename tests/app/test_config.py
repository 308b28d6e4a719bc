"""upf.config: defaults, overrides (file < environment < --set), and errors that name the key."""

from __future__ import annotations

from ipaddress import IPv4Address, IPv4Network, IPv6Network
from pathlib import Path

import pytest

from upf import config
from upf.config import ConfigError, LossPolicy, XdpMode

EXAMPLE = Path(__file__).resolve().parents[2] / "containers" / "upf.yaml"

MINIMAL = """
interfaces:
  n3: {name: n3, address: 10.100.0.2}
  n6: {name: n6}
smf:
  allow: [10.50.0.0/24]
"""


def write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "upf.yaml"
    p.write_text(text)
    return p


def load(tmp_path: Path, text: str = MINIMAL, **kw: object) -> config.Config:
    return config.load(write(tmp_path, text), **kw)  # type: ignore[arg-type]


def error(tmp_path: Path, text: str = MINIMAL, **kw: object) -> str:
    with pytest.raises(ConfigError) as info:
        load(tmp_path, text, **kw)
    return str(info.value)


def test_example_config_is_valid() -> None:
    cfg = config.load(EXAMPLE)
    assert cfg.interfaces.n3.address == IPv4Address("10.100.0.2")
    assert cfg.ue_pools["internet"].v6 == (IPv6Network("2001:db8:45::/48"),)
    assert cfg.interfaces.n9 is None


def test_defaults(tmp_path: Path) -> None:
    cfg = load(tmp_path)
    assert (cfg.n4.address, cfg.n4.port) == (IPv4Address("0.0.0.0"), 8805)
    assert cfg.limits == config.Limits(100_000, 400_000, 400_000, 200_000, 65_536)
    assert cfg.xdp.mode is XdpMode.NATIVE
    assert cfg.xdp.pin_dir == Path("/sys/fs/bpf/upf")
    assert cfg.xdp.keep_maps is False
    assert cfg.smf.loss_policy is LossPolicy.KEEP
    assert cfg.smf.restart_policy is LossPolicy.PURGE
    assert cfg.smf.heartbeat_interval == 10.0
    assert cfg.metrics.port == 9100
    assert cfg.log_level == "info"
    # N4 binds the wildcard: the node ID falls back to the N3 address.
    assert cfg.effective_node_id == "10.100.0.2"


def test_config_is_frozen(tmp_path: Path) -> None:
    cfg = load(tmp_path)
    with pytest.raises(AttributeError):
        cfg.log_level = config.LogLevel.DEBUG  # type: ignore[misc]


def test_environment_overrides_file(tmp_path: Path) -> None:
    env = {
        "UPF_N4__ADDRESS": "10.50.0.2",
        "UPF_N4__PORT": "8806",
        "UPF_LOG_LEVEL": "DEBUG",
        "UPF_XDP__KEEP_MAPS": "true",
        "UPF_SMF__ALLOW": "10.0.0.0/8, 192.0.2.1",
        "UPF_CONFIG": "/ignored/upf.yaml",  # names the file, not a key
        "PATH": "/usr/bin",
    }
    cfg = load(tmp_path, environ=env)
    assert (cfg.n4.address, cfg.n4.port) == (IPv4Address("10.50.0.2"), 8806)
    assert cfg.log_level is config.LogLevel.DEBUG
    assert cfg.xdp.keep_maps is True
    assert cfg.smf.allow == (IPv4Network("10.0.0.0/8"), IPv4Network("192.0.2.1/32"))
    assert cfg.effective_node_id == "10.50.0.2"


def test_set_overrides_environment(tmp_path: Path) -> None:
    cfg = load(
        tmp_path,
        environ={"UPF_LIMITS__SESSIONS": "10"},
        overrides=["limits.sessions=20", "ue_pools.ims.v4=[10.46.0.0/16, 10.47.0.0/16]"],
    )
    assert cfg.limits.sessions == 20
    assert cfg.ue_pools["ims"].v4 == (IPv4Network("10.46.0.0/16"), IPv4Network("10.47.0.0/16"))


def test_no_file_everything_from_overrides() -> None:
    cfg = config.load(
        None,
        overrides=[
            "interfaces.n3.name=eth0",
            "interfaces.n3.address=10.0.0.1",
            "interfaces.n6.name=eth1",
            "smf.allow=0.0.0.0/0",
            "interfaces.n9=null",
        ],
    )
    assert cfg.interfaces.n3.name == "eth0"
    assert cfg.smf_allowed(IPv4Address("203.0.113.9"))


def test_smf_allowed(tmp_path: Path) -> None:
    cfg = load(tmp_path, overrides=["smf.associate=[192.0.2.7]"])
    assert cfg.smf_allowed(IPv4Address("10.50.0.1"))
    assert cfg.smf_allowed(IPv4Address("192.0.2.7"))
    assert not cfg.smf_allowed(IPv4Address("10.51.0.1"))


@pytest.mark.parametrize(
    ("override", "message"),
    [
        (
            "interfaces.n3.address=10.0.0.300",
            "config: interfaces.n3.address: '10.0.0.300' is not an IPv4 address",
        ),
        ("n4.port=99999", "config: n4.port: 99999 is not a port (1-65535)"),
        ("n4.port=eighty", "config: n4.port: 'eighty' is not an integer"),
        (
            "n4.address=nowhere",
            "config: n4.address: 'nowhere' is not an IPv4 address or an IPv6 address",
        ),
        ("xdp.mode=turbo", "config: xdp.mode: 'turbo' is not one of native, generic"),
        ("smf.loss_policy=forget", "config: smf.loss_policy: 'forget' is not one of keep, purge"),
        ("xdp.keep_maps=perhaps", "config: xdp.keep_maps: 'perhaps' is not a boolean"),
        ("limits.sessions=0", "config: limits.sessions: 0 is out of range"),
        ("smf.allow=[10.50.0.1/24]", "config: smf.allow[0]: '10.50.0.1/24' has host bits set"),
        (
            "ue_pools.internet.v4=[10.45.0.0/16, 10.45.8.0/24]",
            "config: ue_pools.internet.v4[1]: 10.45.8.0/24 overlaps ue_pools.internet.v4[0]",
        ),
        (
            "ue_pools.internet.v6=[2001:db8::/80]",
            "config: ue_pools.internet.v6[0]: 2001:db8::/80 is longer than /64",
        ),
        ("node_id=not_a_host!", "config: node_id: 'not_a_host!' is not an IP address or FQDN"),
        (
            "xdp.pin_dir=relative/dir",
            "config: xdp.pin_dir: 'relative/dir' must be an absolute path",
        ),
        ("smf.heartbeat_interval=-1", "config: smf.heartbeat_interval: must be >= 0"),
        (
            "interfaces.n3.name=has space",
            "config: interfaces.n3.name: 'has space' is not an interface name",
        ),
    ],
)
def test_bad_values_name_the_key(tmp_path: Path, override: str, message: str) -> None:
    text = error(tmp_path, overrides=[override])
    assert text.startswith(message), text
    assert "(from --set " in text


def test_bad_value_in_file_names_the_key(tmp_path: Path) -> None:
    text = error(tmp_path, MINIMAL.replace("10.100.0.2", "10.0.0.300"))
    assert text == "config: interfaces.n3.address: '10.0.0.300' is not an IPv4 address"


def test_bad_environment_names_the_variable(tmp_path: Path) -> None:
    text = error(tmp_path, environ={"UPF_METRICS__PORT": "http"})
    assert (
        text
        == "config: metrics.port: 'http' is not an integer (from environment UPF_METRICS__PORT)"
    )


def test_unknown_key(tmp_path: Path) -> None:
    text = error(tmp_path, MINIMAL + "n4:\n  adress: 10.0.0.1\n")
    assert text.startswith(
        "config: n4.adress: unknown key (expected one of: address, port, workers)")


def test_unknown_environment_key(tmp_path: Path) -> None:
    text = error(tmp_path, environ={"UPF_N4__ADRESS": "10.0.0.1"})
    assert "n4.adress: unknown key" in text
    assert "UPF_N4__ADRESS" in text


def test_missing_required(tmp_path: Path) -> None:
    text = error(
        tmp_path, "interfaces:\n  n3: {name: n3, address: 10.0.0.1}\nsmf: {allow: [0.0.0.0/0]}\n"
    )
    assert text == "config: interfaces.n6: missing (required)"


def test_gtpu_interfaces_need_an_address(tmp_path: Path) -> None:
    text = error(tmp_path, overrides=["interfaces.n9.name=n9"])
    assert text.startswith("config: interfaces.n9.address: missing")


def test_empty_allow_list_is_refused(tmp_path: Path) -> None:
    text = error(tmp_path, overrides=["smf.allow=[]"])
    assert text.startswith("config: smf.allow: empty")


def test_wrong_shapes(tmp_path: Path) -> None:
    assert error(tmp_path, "- a\n- b\n").startswith("config: ")
    assert "interfaces: expected a mapping, got a list" in error(tmp_path, "interfaces: [a]\n")
    assert "n3.address: 10 is not an IPv4 address" not in error(
        tmp_path, MINIMAL + "log_level: 3\n"
    )


def test_unreadable_and_invalid_yaml(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        config.load(tmp_path / "absent.yaml")
    assert "not valid YAML" in error(tmp_path, "interfaces: [\n")


def test_bad_set_syntax(tmp_path: Path) -> None:
    assert "expected key.path=value" in error(tmp_path, overrides=["limits.sessions"])


def test_dump_round_trips(tmp_path: Path) -> None:
    cfg = config.load(EXAMPLE)
    again = config.from_dict(config.dump(cfg))
    assert again == cfg


def test_peer_policies_reach_the_agent(tmp_path: Path) -> None:
    from control.config import PeerLossPolicy
    from upf.wiring import agent_config

    acfg = agent_config(load(tmp_path))
    assert (acfg.on_peer_failure, acfg.on_peer_restart) == (
        PeerLossPolicy.KEEP,
        PeerLossPolicy.PURGE,
    )
    cfg = load(tmp_path, overrides=["smf.loss_policy=purge", "smf.restart_policy=keep"])
    acfg = agent_config(cfg)
    assert (acfg.on_peer_failure, acfg.on_peer_restart) == (
        PeerLossPolicy.PURGE,
        PeerLossPolicy.KEEP,
    )


def test_n4_workers_out_of_range_names_the_key(tmp_path: Path) -> None:
    for bad in ("0", "65"):
        text = error(tmp_path, MINIMAL + f"n4:\n  workers: {bad}\n")
        assert text == f"config: n4.workers: {bad} is not 1-64"
