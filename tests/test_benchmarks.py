"""Smoke tests of the benchmark scripts: they run end to end on tiny settings and print
their ``NAME ratio=VALUE`` line (the speeds themselves are never asserted)."""

from __future__ import annotations

import math
import os
import re
import subprocess
import sys
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]


def _run_benchmark(name: str, *args: str) -> str:
    path = os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])
    env = dict(os.environ, PYTHONPATH=path)
    script = ROOT / "benchmarks" / name
    done = subprocess.run(
        [sys.executable, str(script), *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


def test_ma_train_benchmark_runs() -> None:
    """benchmarks/ma_train.py on a 160x120 project, 64x64 crops, batch 2, two measured
    iterations: the cached batch and targets have the crop's shapes (stride 8), and the
    ratio is the train / bare speeds it prints."""
    out = _run_benchmark(
        "ma_train.py",
        *("--rounds", "1", "--warmup", "1", "--iterations", "2", "--display", "1"),
        *("--nframes", "40", "--frames", "5", "--size", "160", "120"),
        *("--crop", "64", "64", "--batch", "2"),
    )
    assert "cached batch (2, 64, 64, 3)" in out
    # 4 multi-animal parts + the unique feeder (no identity channels); the PAF graph is
    # the complete graph of the 4 multi-animal parts: 6 limbs, 2 channels each
    assert "part (8, 8, 5)" in out and "locref (8, 8, 10)" in out
    assert "pairwise (8, 8, 12)" in out
    pipeline = float(re.search(r"^ma_train_pipeline it_per_s=([\d.]+)$", out, re.M).group(1))
    bare = float(re.search(r"^ma_train_bare it_per_s=([\d.]+)$", out, re.M).group(1))
    ratio = float(re.search(r"^ma_train ratio=([\d.]+)$", out, re.M).group(1))
    cpu = float(re.search(r"^ma_train_cpu ratio=([\d.]+)$", out, re.M).group(1))
    assert pipeline > 0 and bare > 0 and cpu > 0
    assert math.isclose(ratio, pipeline / bare, rel_tol=0.02, abs_tol=2e-3)
    assert out.rstrip().splitlines()[-1].startswith("ma_train ratio=")


def test_ma_analyze_benchmark_runs() -> None:
    """benchmarks/ma_analyze.py on 12 frames with TensorFlow: every stage after the network
    reports its time, and the ratio is the network's share of the whole analysis."""
    out = _run_benchmark(
        "ma_analyze.py", "--frames", "12", "--engine", "tensorflow", "--rounds", "1"
    )
    times = {
        name: float(ms)
        for name, ms in re.findall(r"^  (\S[\w +]*?)\s+([\d.]+) ms/frame", out, re.M)
    }
    stages = ("detection", "write detections", "assembly", "tracking", "stitching + tracks file")
    assert set(stages) <= set(times) and "network" in times
    whole = float(re.search(r"whole analysis ([\d.]+) ms/frame", out).group(1))
    assert math.isclose(whole, times["network"] + sum(times[s] for s in stages), rel_tol=0.01)
    ratio = float(re.search(r"^ma_analyze ratio=([\d.]+)$", out, re.M).group(1))
    assert math.isclose(ratio, times["network"] / whole, rel_tol=0.02)
    assert out.rstrip().splitlines()[-1].startswith("ma_analyze ratio=")


def test_ma_quality_script_runs(tmp_path: Path) -> None:
    """benchmarks/ma_quality.py end to end on one small video and two training iterations:
    it prints the evaluation's errors, RMSE and mAP, as read back from the result files,
    and the train / test split of the Documentation pickle."""
    out = _run_benchmark(
        "ma_quality.py",
        str(tmp_path / "q"),
        *("--size", "160", "120", "--videos", "1", "--frames", "5"),
        *("--iterations", "2", "--crop", "64", "--train-fraction", "0.6"),
    )
    assert "ma_quality images train=3 test=2" in out
    values = dict(re.findall(r"^ma_quality (\w+)=([\d.na]+)$", out, re.M))
    assert set(values) == {
        *("error_train", "error_test", "rmse_train", "rmse_test", "mAP_train", "mAP_test")
    }
    (csv,) = (tmp_path / "q").rglob("*-assembly-results.csv")
    errors = csv.with_name(csv.name.replace("-assembly-results", "-results"))
    row = pd.read_csv(csv).iloc[-1].to_dict()
    error_row = pd.read_csv(errors).iloc[-1]
    row |= {
        "error_train": error_row[" Train error(px)"],
        "error_test": error_row[" Test error(px)"],
    }
    for key, text in values.items():
        assert text == "nan" or math.isclose(float(text), row[key], rel_tol=1e-3)
