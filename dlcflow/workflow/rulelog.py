"""Logging for Snakemake rule scripts: what a job prints goes to its log and the console."""

from __future__ import annotations

import contextlib
import logging
import sys
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import IO, Any


class _Tee:
    def __init__(self, *streams: IO[str]):
        self.streams = streams

    def write(self, text: str) -> int:
        for stream in self.streams:
            stream.write(text)
            stream.flush()
        return len(text)

    def flush(self) -> None:
        for stream in self.streams:
            stream.flush()

    def isatty(self) -> bool:
        return False

    def close(self) -> None:
        """Loggers may close their stream at exit; the real streams stay open."""


@contextlib.contextmanager
def rule_log(log: Sequence[Any] | str | None) -> Iterator[None]:
    """Send stdout, stderr, warnings and logging of the block to the rule's log file too.

    An exception is written to the log as one line (its message) before it propagates,
    so the log and Snakemake's report both name the cause.
    """
    paths = [log] if isinstance(log, str) else list(log or [])
    if not paths:
        yield
        return
    path = Path(str(paths[0]))
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as fh:
        out, err = _Tee(sys.stdout, fh), _Tee(sys.stderr, fh)
        handler = logging.StreamHandler(err)
        root = logging.getLogger()
        root.addHandler(handler)
        root.setLevel(logging.INFO)
        try:
            with (
                contextlib.redirect_stdout(out),  # type: ignore[type-var]
                contextlib.redirect_stderr(err),  # type: ignore[type-var]
                warnings.catch_warnings(),
            ):
                warnings.simplefilter("default")
                warnings.showwarning = _show_warning(err)
                try:
                    yield
                except Exception as exc:
                    err.write(f"error: {exc}\n")
                    raise
        finally:
            root.removeHandler(handler)


def _show_warning(stream: _Tee):
    def show(message, category, filename, lineno, file=None, line=None):  # noqa: ANN001
        stream.write(f"warning: {message}\n")

    return show
