"""upf/datapath/abi.py is exactly what abigen makes of the object's BTF."""

from __future__ import annotations

import ctypes
import enum
import subprocess
import sys

import pytest

from tests.datapath.dp_support import REPO, compile_snippet, upf_object
from upf.datapath import abi, abigen

ABI_PY = REPO / "upf" / "datapath" / "abi.py"


@pytest.fixture(scope="module")
def parsed() -> abigen.Abi:
    return abigen.parse(upf_object())


def test_regenerated_equals_committed() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "upf.datapath.abigen", str(upf_object())],
        check=True,
        capture_output=True,
        text=True,
        cwd=REPO,
    ).stdout
    assert out == ABI_PY.read_text(), "abi.py is stale: run `make abi`"


def test_output_is_deterministic(parsed: abigen.Abi) -> None:
    assert abigen.render(parsed) == abigen.render(abigen.parse(upf_object()))


def test_struct_sizes_and_offsets_match_btf(parsed: abigen.Abi) -> None:
    assert parsed.structs, "no structs found in BTF"
    for s in parsed.structs.values():
        cls = getattr(abi, s.py_name)
        assert ctypes.sizeof(cls) == s.size, s.c_name
        for f in s.fields:
            assert (getattr(cls, f.name).offset, getattr(cls, f.name).size) == (f.offset, f.size)


def test_enums_match_btf(parsed: abigen.Abi) -> None:
    for e in parsed.enums.values():
        cls = getattr(abi, e.py_name)
        assert issubclass(cls, enum.IntFlag if e.is_flag else enum.IntEnum)
        # __members__ keeps aliases (upf_limits has equal values: DEFAULT_FARS = DEFAULT_PDRS)
        assert [(n, m.value) for n, m in cls.__members__.items()] == list(e.members)


def test_the_contract_is_all_there() -> None:
    """The header's structs and enums, and the maps the brief names, are in abi.py."""
    for name in (
        "PdrRule",
        "PdrSet",
        "TeidKey",
        "UeV4Key",
        "UeV6Key",
        "Far",
        "Qer",
        "LocalAddrKey",
        "LocalAddr",
        "Counter",
        "NhKey",
        "NhEntry",
        "Runtime",
    ):
        assert issubclass(getattr(abi, name), ctypes.Structure), name
    assert (int(abi.ApplyAction.FORW), int(abi.Ohr.NONE)) == (2, 255)
    assert len(abi.Reason) - 1 == abi.Reason.REASON_MAX
    assert ctypes.sizeof(abi.PdrSet) == 8 + 36 * abi.Limits.RULES_PER_KEY
    assert abi.MAPS["uplink_pdrs"].key is abi.TeidKey
    assert abi.MAPS["xdp_stats"].max_entries == abi.Limits.MAX_IFACES * abi.Reason.REASON_MAX
    assert set(abi.MAPS) >= {
        "uplink_pdrs",
        "downlink_pdrs_v4",
        "downlink_pdrs_v6",
        "fars",
        "qers",
        "local_addrs",
        "pdr_stats",
        "xdp_stats",
        "nh_cache",
        "runtime",
    }


def test_padding_is_explicit() -> None:
    src = """
    #include <linux/types.h>
    struct gappy { __u8 a; __u32 b; __u8 c; };
    struct upf_btf_anchor { struct gappy g; };
    __attribute__((section(".upf_btf"), used)) struct upf_btf_anchor upf_btf_anchor;
    """
    a = abigen.parse(compile_snippet("gappy", src))
    fields = [(f.name, f.offset, f.size) for f in a.structs["gappy"].fields]
    assert fields == [("a", 0, 1), ("_pad_1", 1, 3), ("b", 4, 4), ("c", 8, 1), ("_pad_9", 9, 3)]
    ns: dict[str, object] = {}
    exec(abigen.render(a), ns)  # the rendered module runs and has the right size
    assert ctypes.sizeof(ns["Gappy"]) == 12  # type: ignore[arg-type]


def test_bitfields_are_refused() -> None:
    src = """
    #include <linux/types.h>
    struct bits { __u32 a : 3; __u32 b : 29; };
    struct upf_btf_anchor { struct bits g; };
    __attribute__((section(".upf_btf"), used)) struct upf_btf_anchor upf_btf_anchor;
    """
    with pytest.raises(abigen.AbiGenError, match="bitfield"):
        abigen.parse(compile_snippet("bits", src))


@pytest.mark.parametrize(
    ("names", "prefix"),
    [
        (["UPF_ACTION_DROP", "UPF_ACTION_FORW"], "UPF_ACTION_"),
        (["UPF_FWD_UPLINK", "UPF_FWD_UPLINK_N9"], "UPF_FWD_"),
        (["UPF_OHR_IPV4", "UPF_OHR_1"], "UPF_"),  # never leave a name starting with a digit
        (["UPF_ONLY"], "UPF_"),
    ],
)
def test_enum_prefix(names: list[str], prefix: str) -> None:
    assert abigen._strip_prefix(names) == prefix


def test_camel() -> None:
    assert [abigen.camel(n) for n in ("upf_apply_action", "ue_v4_key", "far")] == [
        "ApplyAction",
        "UeV4Key",
        "Far",
    ]


def test_private_maps_are_left_out() -> None:
    """Maps whose value is not in the anchor's contract are datapath-private."""
    src = """
    #include <linux/bpf.h>
    #include <bpf/bpf_helpers.h>
    struct shared { __u32 a; };
    struct scratch { __u64 b; };
    struct { __uint(type, BPF_MAP_TYPE_ARRAY); __uint(max_entries, 2);
             __type(key, __u32); __type(value, struct shared); } pub SEC(".maps");
    struct { __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY); __uint(max_entries, 1);
             __type(key, __u32); __type(value, struct scratch); } priv SEC(".maps");
    struct upf_btf_anchor { struct shared s; };
    __attribute__((section(".upf_btf"), used)) struct upf_btf_anchor upf_btf_anchor;
    """
    a = abigen.parse(compile_snippet("private_map", src))
    assert set(a.structs) == {"shared"}
    assert set(a.maps) == {"pub"}
    assert (a.maps["pub"].key, a.maps["pub"].value) == ("ctypes.c_uint32", "Shared")
