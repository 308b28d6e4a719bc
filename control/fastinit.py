"""``fast_init`` for the control plane's frozen dataclasses: the one in pfcp (pfcp/fastinit.py)."""

from pfcp.fastinit import fast_init

__all__ = ["fast_init"]
