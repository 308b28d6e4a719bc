"""`python -m upf ...` is the `upf` command."""

import sys

from upf.cli import main

sys.exit(main())
