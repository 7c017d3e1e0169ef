"""Logging for Snakemake rule scripts: what a job prints goes to its log and the console."""

from __future__ import annotations

import contextlib
import functools
import logging
import re
import sys
import traceback
import warnings
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import IO, Any, NoReturn

from dlcflow.core.log import plain_warnings
from dlcflow.core.quiet import filter_native_stderr


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


class _LogFile:
    """The file side of a rule log: a line redrawn with carriage returns (a progress bar)
    is kept in its last state only, so the log holds one line per update, no ``\\r``."""

    def __init__(self, fh: IO[str]):
        self.fh, self.line = fh, ""

    def write(self, text: str) -> int:
        *done, self.line = (self.line + text).split("\n")
        for line in done:
            self.fh.write(_last_state(line) + "\n")
        return len(text)

    def flush(self) -> None:
        self.fh.flush()

    def close(self) -> None:
        last = _last_state(self.line)
        if last:
            self.fh.write(last + "\n")
        self.line = ""
        self.fh.flush()


def _last_state(line: str) -> str:
    return line.rstrip("\r").rsplit("\r", 1)[-1]


#: Exceptions that point at a bug rather than at the input: their one line names the type.
_BUGS = (AttributeError, AssertionError, IndexError, KeyError, NameError, TypeError)


@contextlib.contextmanager
def rule_log(log: Sequence[Any] | str | None) -> Iterator[None]:
    """Send stdout, stderr, warnings and logging of the block to the rule's log file too.

    Warnings print once each as ``warning: <message>``. An exception ends the job with
    one line ``error: <message>`` on the terminal (and in the log), and exit status 1;
    the log file alone keeps the traceback, so the terminal shows the cause, not a wall.
    """
    paths = [log] if isinstance(log, str) else list(log or [])
    if not paths:
        yield
        return
    path = Path(str(paths[0]))
    path.parent.mkdir(parents=True, exist_ok=True)
    filter_native_stderr()
    with path.open("w", encoding="utf-8") as fh:
        logfile = _LogFile(fh)
        out, err = _Tee(sys.stdout, logfile), _Tee(sys.stderr, logfile)  # type: ignore[arg-type]
        handler = logging.StreamHandler(err)
        root = logging.getLogger()
        root.addHandler(handler)
        root.setLevel(logging.INFO)
        logging.getLogger("matplotlib").setLevel(logging.WARNING)  # "generated new fontManager"
        try:
            with (
                contextlib.redirect_stdout(out),  # type: ignore[type-var]
                contextlib.redirect_stderr(err),  # type: ignore[type-var]
                warnings.catch_warnings(),
            ):
                warnings.simplefilter("default")
                warnings.showwarning = plain_warnings(err)  # type: ignore[arg-type]
                try:
                    yield
                except Exception as exc:
                    logfile.write(traceback.format_exc())
                    err.write(f"error: {error_line(exc, path)}\n")
                    raise SystemExit(1) from None
        finally:
            root.removeHandler(handler)
            logfile.close()


def error_line(exc: BaseException, log: Path) -> str:
    """The one line an exception shows: its message; for a likely bug also its type and
    where the traceback is."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    if isinstance(exc, _BUGS):
        return f"{type(exc).__name__}: {text} (traceback in {log})"
    return text


def failure_summary(snakemake_logs: Sequence[str | Path]) -> list[str]:
    """One line per failed job of a Snakemake run: the rule and the ``error:`` line its
    log ends with (read from Snakemake's own log, as ``onerror`` gets it)."""
    lines = []
    for snakemake_log in snakemake_logs:
        try:
            text = Path(snakemake_log).read_text(encoding="utf-8", errors="replace")
        except OSError:
            continue
        for rule, logs in _failed_jobs(text):
            cause = next((c for c in map(_last_error, logs) if c), None)
            where = f" (log: {logs[0]})" if logs else ""
            lines.append(f"dlcflow: {rule} failed: {cause or 'see above'}{where}")
    return lines


def _failed_jobs(text: str) -> list[tuple[str, list[Path]]]:
    jobs: list[tuple[str, list[Path]]] = []
    for block in re.split(r"^Error in rule ", text, flags=re.M)[1:]:
        rule = block.split(":", 1)[0].strip()
        match = re.search(
            r"^\s+log: (.+?)(?: \(check log file\(s\) for error details\))?$", block, flags=re.M
        )
        logs = [Path(p.strip()) for p in match.group(1).split(",")] if match else []
        jobs.append((rule, logs))
    return jobs


def _last_error(log: Path) -> str | None:
    try:
        lines = log.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return None
    errors = [line[len("error: ") :] for line in lines if line.startswith("error: ")]
    return errors[-1] if errors else None


#: The errors dlcflow raises on purpose about its input (config, files, videos, labels).
EXPECTED = (OSError, ValueError, RuntimeError)


def stop(exc: BaseException) -> NoReturn:
    """End the Snakemake process with one line: what the workflow (its Snakefile or an
    input function) found wrong, before any job runs. SystemExit passes through
    Snakemake, where another exception becomes a traceback block."""
    print(f"error: {exc}", file=sys.stderr, flush=True)
    raise SystemExit(1)


def one_line(function: Callable[..., Any]) -> Callable[..., Any]:
    """An input function whose expected errors stop the run with :func:`stop`."""

    @functools.wraps(function)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        try:
            return function(*args, **kwargs)
        except EXPECTED as exc:
            stop(exc)

    return wrapped
