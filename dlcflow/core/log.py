"""dlcflow's one progress channel: a line for the user on stderr, flushed at once.

Rule scripts tee stderr into the rule's log (:mod:`dlcflow.workflow.rulelog`), so what a
stage says reaches both the terminal and its log file.
"""

from __future__ import annotations

import sys


def log(message: str) -> None:
    """Print one progress or status line to stderr."""
    print(message, file=sys.stderr, flush=True)
