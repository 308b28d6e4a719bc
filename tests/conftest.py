"""Test-wide settings.

Under CI (CI=true) hypothesis runs derandomized: the same examples every run, so a
submission's result does not depend on the draw. Bug hunting with fresh draws happens in
development runs (and with CONTROL_EXAMPLES=N / more examples where a test offers it).
"""

from __future__ import annotations

import os

from hypothesis import settings

settings.register_profile("ci", derandomize=True)
if os.environ.get("CI"):
    settings.load_profile("ci")
