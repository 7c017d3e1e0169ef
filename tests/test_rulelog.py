"""Rule logs and the terminal: one line per error and warning, native chatter dropped."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from dlcflow.core.quiet import is_noise
from dlcflow.workflow.rulelog import error_line, failure_summary, rule_log

ONEDNN = b"I0000 00:00:1796189744.608835    6167 port.cc:153] oneDNN custom operations are on.\n"


def run_python(code: str, **env: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        env={"PATH": "/usr/bin:/bin", **env},
        timeout=120,
    )


def test_an_error_ends_the_job_in_one_line(tmp_path: Path, capsys) -> None:  # noqa: ANN001
    log = tmp_path / "logs" / "job.log"
    with pytest.raises(SystemExit) as stop, rule_log([str(log)]):
        print("working")
        raise FileNotFoundError(f"{tmp_path}/v.mp4: video not found")
    assert stop.value.code == 1
    err = capsys.readouterr().err
    assert err == f"error: {tmp_path}/v.mp4: video not found\n"
    text = log.read_text()
    assert text.startswith("working\nTraceback (most recent call last):")
    assert text.endswith(f"error: {tmp_path}/v.mp4: video not found\n")


def test_bugs_name_their_type_and_the_log(tmp_path: Path) -> None:
    log = tmp_path / "a.log"
    assert error_line(KeyError("bodyparts"), log) == f"KeyError: 'bodyparts' (traceback in {log})"
    assert error_line(ValueError("x.h5: bad\nmore"), log) == "x.h5: bad"


def test_warnings_print_once_without_source(tmp_path: Path, capsys) -> None:  # noqa: ANN001
    import warnings

    with rule_log([str(tmp_path / "w.log")]):
        for _ in range(3):
            warnings.warn("config.yaml: unknown key 'bodypart'", stacklevel=1)
    err = capsys.readouterr().err
    assert err == "warning: config.yaml: unknown key 'bodypart'\n"


def test_failure_summary_reads_snakemakes_log(tmp_path: Path) -> None:
    job_log = tmp_path / "frames.log"
    job_log.write_text("Traceback ...\nerror: v.mp4: cannot open video\n")
    snakemake_log = tmp_path / "run.snakemake.log"
    snakemake_log.write_text(
        "Error in rule extract_frames:\n    jobid: 3\n"
        f"    log: {job_log} (check log file(s) for error details)\n"
        "Error in rule train:\n    jobid: 4\n"
    )
    assert failure_summary([snakemake_log]) == [
        f"dlcflow: extract_frames failed: v.mp4: cannot open video (log: {job_log})",
        "dlcflow: train failed: see above",
    ]


def test_native_noise() -> None:
    assert is_noise(ONEDNN, 2) and not is_noise(ONEDNN, 0)
    assert is_noise(b"WARNING: All log messages before absl::InitializeLog() is called x\n", 2)
    assert not is_noise(b"E0000 00:00:17.1 61 cuda.cc:12] real error\n", 2)
    assert not is_noise(b"iteration 100: loss 0.01\n", 2)


def test_native_stderr_filter() -> None:
    """What C++ writes to descriptor 2 below TF_CPP_MIN_LOG_LEVEL is dropped; the rest,
    partial lines and Python's own stderr pass in order; DLCFLOW_VERBOSE keeps all."""
    code = f"""
        import os, sys
        from dlcflow.core.quiet import filter_native_stderr
        filter_native_stderr()
        os.write(2, {ONEDNN!r})
        os.write(2, b"Sharding callback duration: 938 microseconds\\n")
        print("dlcflow line", file=sys.stderr, flush=True)
        os.write(2, b"progress 50%\\r")
    """
    env = {"PYTHONPATH": str(Path(__file__).parents[1]), "TF_CPP_MIN_LOG_LEVEL": "2"}
    assert run_python(code, **env).stderr == b"dlcflow line\nprogress 50%\r"
    loud = run_python(code, **env, DLCFLOW_VERBOSE="1").stderr
    assert b"oneDNN" in loud and b"Sharding" in loud


def test_progress_bars_leave_one_line_in_the_log(tmp_path: Path, capsys) -> None:  # noqa: ANN001
    log = tmp_path / "bar.log"
    with rule_log([str(log)]):
        print("mouse1.mp4 kmeans: 0%\rmouse1.mp4 kmeans: 50%", end="", file=sys.stderr)
        print("\rmouse1.mp4 kmeans: 100%\n\ndone", file=sys.stderr)
    assert log.read_text() == "mouse1.mp4 kmeans: 100%\n\ndone\n"
    assert "\r" in capsys.readouterr().err  # the terminal still redraws it
