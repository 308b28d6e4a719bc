"""The `upf` command: run the UPF, simulate an SMF, run the demo, inspect counters.

    upf run --config /etc/upf/upf.yaml [--set n4.port=8806 ...]
    upf config --config FILE [--set ...]          # validate, print the effective config
    upf smf-sim --upf 10.50.0.2 --sessions 1000 --json
    upf demo
    upf stats [--pin-dir /sys/fs/bpf/upf] [--json]

Each subcommand imports what it needs only when it runs, so `upf --help` and `upf config`
work on a machine without the datapath pieces.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Sequence

log = logging.getLogger("upf.cli")


def _config_args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "-c",
        "--config",
        default=os.environ.get("UPF_CONFIG"),
        help="YAML config file (default: $UPF_CONFIG)",
    )
    p.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY.PATH=VALUE",
        help="override one config key (repeatable); applied after UPF_* variables",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="upf", description="An XDP 5G User Plane Function")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("run", help="run the UPF (datapath, PFCP agent, metrics)")
    _config_args(p)

    p = sub.add_parser("config", help="validate the configuration and print it")
    _config_args(p)

    p = sub.add_parser("smf-sim", help="an SMF simulator and PFCP load generator")
    from upf.smfsim import add_arguments

    add_arguments(p)

    p = sub.add_parser("demo", help="run the UPF on a namespace topology and show it working")
    p.add_argument("--sessions", type=int, default=4, help="PDU sessions to establish")
    p.add_argument("--packets", type=int, default=50, help="packets per direction per session")
    p.add_argument("--keep", action="store_true", help="keep the namespaces (debugging)")

    p = sub.add_parser("stats", help="print the datapath counters from the pinned maps")
    p.add_argument("--pin-dir", default="/sys/fs/bpf/upf", help="bpffs directory of the maps")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.add_argument("--all", action="store_true", help="include zero counters")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO,
        format="%(asctime)s %(levelname)-7s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    try:
        rc: int = _dispatch(args)
    except KeyboardInterrupt:
        return 130
    return rc


def _dispatch(args: argparse.Namespace) -> int:
    if args.command in ("run", "config"):
        from upf import config  # (not for smf-sim: a load generator should start light)

        try:
            cfg = config.load(args.config, environ=os.environ, overrides=args.overrides)
        except config.ConfigError as e:
            print(e, file=sys.stderr)
            return 2
        if args.command == "config":
            import yaml

            print(yaml.safe_dump(config.dump(cfg), sort_keys=False), end="")
            return 0
        logging.getLogger().setLevel(cfg.log_level.upper())
        from upf.service import run

        return run(cfg)
    if args.command == "smf-sim":
        from upf.smfsim import main as smfsim_main

        return smfsim_main(args)
    if args.command == "demo":
        from upf.demo import main as demo_main

        return demo_main(sessions=args.sessions, packets=args.packets, keep=args.keep)
    if args.command == "stats":
        from upf.metrics import read_stats

        stats = read_stats(args.pin_dir, include_zero=args.all)
        if args.json:
            print(json.dumps(stats, indent=2))
        else:
            for row in stats["xdp"]:
                print(
                    f"{row['ifname']:<12} {row['reason']:<26} "
                    f"{row['packets']:>14} pkts {row['bytes']:>16} bytes"
                )
        return 0
    raise AssertionError(args.command)  # pragma: no cover
