"""Progress of a long loop at a steady time cadence: one line per report, with the speed
and the time left.

:class:`Progress` is fed every iteration and says something when ``every`` seconds have
passed since its last line (and at the last iteration), e.g.::

    iteration 1200/50000  loss 0.0123  lr 0.005  4.1 it/s  elapsed 4m53s  left 3h18m

The speed is measured over the iterations since the previous line and the time left is
the iterations left at that speed. The first iteration gets a line of its own (how long
it took) and is not counted in the speed: it often includes one-off work such as graph
tracing and filling the input pipeline. The clock and where lines go are arguments, so
that a test can drive both. Lines never contain carriage returns: log files get one
line per report.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from dlcflow.core.log import log

__all__ = ["Progress", "format_duration", "format_rate"]


def format_duration(seconds: float) -> str:
    """A duration, short: ``42s``, ``4m53s``, ``3h18m``, ``2d05h``."""
    s = max(0, round(seconds))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    if s < 86400:
        return f"{s // 3600}h{s % 3600 // 60:02d}m"
    return f"{s // 86400}d{s % 86400 // 3600:02d}h"


def format_rate(rate: float) -> str:
    """Iterations per second with two or three significant digits (``123``, ``4.1``,
    ``0.25``)."""
    if rate >= 100:
        return f"{rate:.0f}"
    if rate >= 1:
        return f"{rate:.1f}"
    return f"{rate:.2g}"


class Progress:
    """Reports iterations ``start + 1 .. total`` of a loop.

    ``every``: seconds between lines; ``clock``: seconds, monotonic (``time.monotonic``);
    ``emit``: receives each line (:func:`dlcflow.core.log.log`); ``unit``: what is counted
    (``iteration``, ``epoch``). Call :meth:`update` after each iteration; it returns the
    line it emitted, if any.
    """

    def __init__(
        self,
        start: int,
        total: int,
        every: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
        emit: Callable[[str], None] = log,
        unit: str = "iteration",
    ) -> None:
        self.start, self.total, self.every = int(start), int(total), float(every)
        self.unit = unit
        self.per = "it" if unit == "iteration" else unit
        self.clock, self.emit = clock, emit
        self.t0 = self.t_mark = clock()
        self.it_mark = self.start
        self.loss_sum, self.n_loss = 0.0, 0

    def line(self, iteration: int, loss: float | None, lr: float | None, now: float) -> str:
        """The report of ``iteration`` at time ``now``: the speed since the last line and
        the time left at that speed (after the first iteration: how long it took)."""
        parts = [f"{self.unit} {iteration}/{self.total}"]
        if loss is not None:
            parts.append(f"loss {loss:.4f}")
        if lr is not None:
            parts.append(f"lr {lr:g}")
        done, took = iteration - self.it_mark, now - self.t_mark
        if iteration == self.start + 1:
            parts.append(f"first {self.unit} took {format_duration(took)}")
        elif done > 0 and took > 0:
            rate = done / took
            parts.append(f"{format_rate(rate)} {self.per}/s")
            parts.append(f"elapsed {format_duration(now - self.t0)}")
            parts.append(f"left {format_duration((self.total - iteration) / rate)}")
        else:
            parts.append(f"elapsed {format_duration(now - self.t0)}")
        return "  ".join(parts)

    def update(
        self, iteration: int, loss: float | None = None, lr: float | None = None
    ) -> str | None:
        """Count ``iteration`` (its ``loss`` goes into the mean of the next line); emit a
        line when it is the first or the last one, or ``every`` seconds have passed."""
        if loss is not None:
            self.loss_sum += float(loss)
            self.n_loss += 1
        now = self.clock()
        first = iteration == self.start + 1
        if not (first or iteration >= self.total or now - self.t_mark >= self.every):
            return None
        mean = self.loss_sum / self.n_loss if self.n_loss else None
        text = self.line(iteration, mean, lr, now)
        self.emit(text)
        self.t_mark, self.it_mark = now, iteration
        self.loss_sum, self.n_loss = 0.0, 0
        return text
