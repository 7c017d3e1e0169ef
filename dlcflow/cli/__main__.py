"""``python -m dlcflow.cli``: the ``dlcflow`` command."""

import sys

from dlcflow.cli.main import run

sys.exit(run())
