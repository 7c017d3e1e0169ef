"""dlcflow's one progress channel: a line for the user on stderr, flushed at once.

Rule scripts tee stderr into the rule's log (:mod:`dlcflow.workflow.rulelog`), so what a
stage says reaches both the terminal and its log file.
"""

from __future__ import annotations

import sys
import warnings
from collections.abc import Callable
from typing import TextIO


def log(message: str) -> None:
    """Print one progress or status line to stderr."""
    print(message, file=sys.stderr, flush=True)


def plain_warnings(stream: TextIO | None = None) -> Callable[..., None]:
    """A ``warnings.showwarning`` that prints each distinct warning once, as one line
    ``warning: <message>`` (no file name, no source line); installed by the CLI, the
    workflow and rule scripts. ``stream`` defaults to the current ``sys.stderr``."""
    seen: set[str] = set()

    def show(message, category, filename, lineno, file=None, line=None) -> None:  # noqa: ANN001
        text = str(message)
        if text in seen:
            return
        seen.add(text)
        print(f"warning: {text}", file=stream or sys.stderr, flush=True)

    return show


def install_plain_warnings() -> None:
    """Show warnings with :func:`plain_warnings` from now on in this process (each
    once, unless ``-W`` or ``PYTHONWARNINGS`` says otherwise)."""
    if not sys.warnoptions:
        warnings.simplefilter("default")
    warnings.showwarning = plain_warnings()
