"""Keep the chatter of native libraries off the terminal (``DLCFLOW_VERBOSE=1`` keeps it).

TensorFlow prints its start-up notes (absl's "All log messages before
absl::InitializeLog()", oneDNN, CPU features, "Sharding callback duration") from C++ to
file descriptor 2, whatever ``TF_CPP_MIN_LOG_LEVEL`` says, and FFmpeg names every file it
cannot parse ("moov atom not found"), which dlcflow then reports itself in one line.
:func:`quiet_environment` sets the libraries' own switches before they load;
:func:`filter_native_stderr` sends descriptor 2 through a thread that drops the lines
TensorFlow prints below ``TF_CPP_MIN_LOG_LEVEL`` and passes every other byte on.
"""

from __future__ import annotations

import atexit
import os
import re
import select
import threading

VERBOSE = "DLCFLOW_VERBOSE"

#: absl's log lines: severity, date, time, thread, file:line]
_ABSL = re.compile(rb"^([IWEF])\d{4} \d\d:\d\d:\d+\.\d+ +\d+ [\w./-]+:\d+\] ")
_NOISE = (
    re.compile(rb"^WARNING: All log messages before absl::InitializeLog\(\) is called"),
    re.compile(rb"^To enable the following instructions: .* rebuild TensorFlow"),
    re.compile(rb"^Sharding callback duration: \d+ microseconds"),
)
_LEVELS = {b"I": 0, b"W": 1, b"E": 2, b"F": 3}
_state: dict[str, object] = {}


def verbose() -> bool:
    return os.environ.get(VERBOSE, "").strip().lower() not in ("", "0", "false", "no")


def quiet_environment() -> None:
    """Default switches of TensorFlow and FFmpeg (a variable the user set is kept)."""
    if verbose():
        return
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")  # AV_LOG_QUIET


def is_noise(line: bytes, min_level: int) -> bool:
    """Whether a native stderr line is start-up chatter below ``min_level`` (0-3)."""
    match = _ABSL.match(line)
    if match:
        return _LEVELS[match.group(1)] < min_level
    return min_level > 0 and any(p.match(line) for p in _NOISE)


def filter_native_stderr() -> None:
    """Route descriptor 2 through the noise filter, once per process (never when
    verbose, or when descriptor 2 cannot be duplicated)."""
    if verbose() or "thread" in _state:
        return
    try:
        level = int(os.environ.get("TF_CPP_MIN_LOG_LEVEL", "0") or 0)
        target = os.dup(2)
        read, write = os.pipe()
        os.dup2(write, 2)
        os.close(write)
    except (OSError, ValueError):
        return
    thread = threading.Thread(target=_pump, args=(read, target, level), daemon=True)
    _state.update(thread=thread, target=target)
    thread.start()
    atexit.register(_restore)


def _restore() -> None:
    """Put descriptor 2 back; the thread forwards what is left and ends."""
    target = _state.get("target")
    if isinstance(target, int):
        os.dup2(target, 2)
        thread = _state["thread"]
        assert isinstance(thread, threading.Thread)
        thread.join(timeout=2)


def _pump(read: int, target: int, level: int) -> None:
    pending = b""
    while True:
        ready, _, _ = select.select([read], [], [], 0.2 if pending else None)
        if not ready:  # a partial line (a progress bar) waited long enough
            _write(target, pending)
            pending = b""
            continue
        chunk = os.read(read, 65536)
        if not chunk:
            break
        *lines, pending = re.split(rb"(?<=[\n\r])", pending + chunk)
        _write(target, b"".join(line for line in lines if not is_noise(line, level)))
    if pending and not is_noise(pending, level):
        _write(target, pending)


def _write(fd: int, data: bytes) -> None:
    while data:
        data = data[os.write(fd, data) :]
