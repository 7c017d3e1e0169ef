"""core.progress: the time cadence of progress lines, speed, time left and their format."""

from __future__ import annotations

import pytest

from dlcflow.core.progress import Progress, format_duration, format_rate


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0, "0s"),
        (42.4, "42s"),
        (59.6, "1m00s"),
        (293, "4m53s"),
        (3599, "59m59s"),
        (3600, "1h00m"),
        (11880, "3h18m"),
        (86400 + 5 * 3600 + 59, "1d05h"),
        (-3, "0s"),
    ],
)
def test_format_duration(seconds: float, text: str) -> None:
    assert format_duration(seconds) == text


def test_format_rate() -> None:
    assert [format_rate(r) for r in (123.4, 41.26, 4.1, 0.25, 0.0123)] == [
        "123",
        "41.3",
        "4.1",
        "0.25",
        "0.012",
    ]


def test_lines_come_at_the_time_cadence_with_speed_and_time_left() -> None:
    clock, lines = FakeClock(), []
    progress = Progress(1000, 50000, every=30, clock=clock, emit=lines.append)
    clock.now += 12  # the first iteration traces the graph
    first = progress.update(1001, 0.5, 0.005)
    assert first == "iteration 1001/50000  loss 0.5000  lr 0.005  first iteration took 12s"
    # then 4 iterations a second: nothing until 30 s have passed since the last line
    emitted = {}
    for it in range(1002, 1200):
        clock.now += 0.25
        line = progress.update(it, 0.01 if it % 2 else 0.03, 0.005)
        if line is not None:
            emitted[it] = line
    assert list(emitted) == [1121]  # 120 iterations x 0.25 s = 30 s after the first line
    assert emitted[1121] == (
        "iteration 1121/50000  loss 0.0200  lr 0.005  4.0 it/s  elapsed 42s  left 3h23m"
    )
    assert format_duration((50000 - 1121) / 4.0) == "3h23m"  # 12219.75 s
    assert lines == [first, emitted[1121]]
    # the speed and the mean loss are those since the previous line
    for it in range(1200, 1230):
        clock.now += 1.0
        progress.update(it, 0.1, 0.002)
    # 19.5 s at 4 it/s (mean loss 0.02), then 1 it/s at 0.1: 30 s are over at 1210
    mean = (78 * 0.02 + 11 * 0.1) / 89
    rate = (1210 - 1121) / 30.5
    assert f"{mean:.4f}" == "0.0299" and f"{rate:.1f}" == "2.9"
    assert lines[2:] == [
        "iteration 1210/50000  loss 0.0299  lr 0.002  2.9 it/s  elapsed 1m12s  left 4h38m"
    ]
    assert format_duration((50000 - 1210) / rate) == "4h38m"  # 4h38m40s


def test_the_last_iteration_always_reports() -> None:
    clock, lines = FakeClock(), []
    progress = Progress(0, 5, every=30, clock=clock, emit=lines.append)
    for it in range(1, 6):
        clock.now += 2.0
        progress.update(it, 1.0, 0.01)
    assert lines == [
        "iteration 1/5  loss 1.0000  lr 0.01  first iteration took 2s",
        "iteration 5/5  loss 1.0000  lr 0.01  0.5 it/s  elapsed 10s  left 0s",
    ]
    assert all("\r" not in line and "\n" not in line for line in lines)


def test_without_loss_or_lr() -> None:
    clock, lines = FakeClock(), []
    progress = Progress(0, 100, every=1, clock=clock, emit=lines.append)
    progress.update(1)
    clock.now += 10
    progress.update(21)
    assert lines[-1] == "iteration 21/100  2.0 it/s  elapsed 10s  left 40s"
