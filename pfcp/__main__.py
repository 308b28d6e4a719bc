"""Operator tool: ``python -m pfcp decode --hex HEX`` (or the hex on stdin) prints JSON.

Exit status: 0 decoded, 1 the message was rejected (the cause is printed), 2 bad usage/input.
"""

from __future__ import annotations

import argparse
import json
import sys

from pfcp.codec import decode_message
from pfcp.errors import DecodeError, VersionNotSupportedError
from pfcp.text import message_to_json


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pfcp", description="PFCP (TS 29.244) codec tools")
    sub = parser.add_subparsers(dest="command", required=True)
    dec = sub.add_parser("decode", help="decode one PFCP message given as hex")
    dec.add_argument("--hex", help="the message as hex (spaces and colons allowed); default: stdin")
    dec.add_argument("--compact", action="store_true", help="one line of JSON")
    args = parser.parse_args(argv)

    text = args.hex if args.hex is not None else sys.stdin.read()
    cleaned = "".join(text.split()).replace(":", "")
    if cleaned.startswith(("0x", "0X")):
        cleaned = cleaned[2:]
    try:
        data = bytes.fromhex(cleaned)
    except ValueError as exc:
        print(f"error: input is not hex: {exc}", file=sys.stderr)
        return 2
    try:
        msg = decode_message(data)
    except VersionNotSupportedError as exc:
        print(f"error: {exc} (answer: Version Not Supported Response)", file=sys.stderr)
        return 1
    except DecodeError as exc:
        where = f" in message type {exc.message_type}" if exc.message_type is not None else ""
        ie = f", offending IE {exc.ie_type}" if exc.ie_type is not None else ""
        print(f"error: cause {exc.cause.name} ({int(exc.cause)}){where}{ie}: {exc.detail}", file=sys.stderr)
        return 1
    print(json.dumps(message_to_json(msg), indent=None if args.compact else 2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
