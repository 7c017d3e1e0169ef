"""dlcflow's one progress channel: a line for the user on stderr, flushed at once.

Rule scripts tee stderr into the rule's log (:mod:`dlcflow.workflow.rulelog`), so what a
stage says reaches both the terminal and its log file. A stage that keeps a log file of
its own (training's ``log.txt``) sends a logger to that file and stderr with
:func:`file_and_stderr`; records logged with ``extra=CONSOLE`` go to stderr only.
"""

from __future__ import annotations

import contextlib
import logging
import sys
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TextIO

#: ``logger.info(message, extra=CONSOLE)``: a line for stderr, kept out of the log file.
CONSOLE = {"console": True}


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
    once, unless ``-W`` or ``PYTHONWARNINGS`` says otherwise). Deprecations are for the
    developers of the code that triggers them: only dlcflow's own are shown (Snakemake's
    use of PuLP, say, is not the user's to fix)."""
    if not sys.warnoptions:
        warnings.simplefilter("default")
        warnings.simplefilter("ignore", ResourceWarning)  # other packages' leaks at exit
        for category in (DeprecationWarning, PendingDeprecationWarning):
            warnings.filterwarnings("ignore", category=category)
            warnings.filterwarnings("default", category=category, module=r"dlcflow(\.|$)")
    warnings.showwarning = plain_warnings()


@contextlib.contextmanager
def file_and_stderr(logger: logging.Logger, path: Path) -> Iterator[None]:
    """While the block runs, ``logger``'s INFO lines go to ``path`` (appended; not those
    with ``extra=CONSOLE``) and to stderr, each with a timestamp, and not to its parents."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fmt = logging.Formatter("%(asctime)s %(message)s", "%Y-%m-%d %H:%M:%S")
    handlers = [logging.FileHandler(path, "a", "utf-8"), logging.StreamHandler(sys.stderr)]
    handlers[0].addFilter(lambda record: not getattr(record, "console", False))
    for handler in handlers:
        handler.setFormatter(fmt)
        logger.addHandler(handler)
    level, propagate = logger.level, logger.propagate
    logger.setLevel(logging.INFO)
    logger.propagate = False
    try:
        yield
    finally:
        for handler in handlers:
            logger.removeHandler(handler)
            handler.close()
        logger.setLevel(level)
        logger.propagate = propagate
