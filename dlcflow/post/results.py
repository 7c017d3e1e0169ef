"""DLC's evaluation results files, shared by the single- and multi-animal evaluations:
the columns of ``-results.csv`` / ``CombinedEvaluation-results.csv`` and their writer,
the per-keypoint table, and the dpi the evaluation figures are drawn at."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from dlcflow.core.fileio import atomic_path

#: DLC's columns of ``-results.csv`` and ``CombinedEvaluation-results.csv`` (sic).
RESULT_COLUMNS = [
    "Training iterations:",
    "%Training dataset",
    "Shuffle number",
    " Train error(px)",
    " Test error(px)",
    "p-cutoff used",
    "Train error with p-cutoff",
    "Test error with p-cutoff",
]
_KEY = RESULT_COLUMNS[:3]
KEYPOINT_ROWS = (
    "Train error (px)",
    "Test error (px)",
    "Train error (px) with p-cutoff",
    "Test error (px) with p-cutoff",
)
#: matplotlib's dpi for DLC's evaluation figures: marker sizes are points at this dpi.
PLOT_DPI = 100


def nanmean(values: np.ndarray) -> float:
    finite = values[np.isfinite(values)]
    return float(finite.mean()) if finite.size else float("nan")


def keypoint_errors(
    dist: np.ndarray,
    cut: np.ndarray,
    bodyparts: Sequence[str],
    train_idx: np.ndarray,
    test_idx: np.ndarray,
) -> pd.DataFrame:
    """DLC's per-keypoint table: rows KEYPOINT_ROWS (index ``Error Type``), one column
    per body part, mean distances (NaN-skipping)."""
    rows = []
    for values, idx in ((dist, train_idx), (dist, test_idx), (cut, train_idx), (cut, test_idx)):
        rows.append([nanmean(values[idx, j]) for j in range(len(bodyparts))])
    table = pd.DataFrame(rows, columns=list(bodyparts), index=list(KEYPOINT_ROWS))
    table.index.name = "Error Type"
    return table


def upsert_results(path: Path, new: pd.DataFrame) -> None:
    """Append rows to a results csv; a row for the same (iterations, %, shuffle) is replaced."""
    frames = []
    if path.is_file():
        old = pd.read_csv(path, index_col=0)
        missing = [c for c in RESULT_COLUMNS if c not in old.columns]
        if missing:
            raise ValueError(f"{path}: not an evaluation results file (no column {missing[0]!r})")
        frames.append(old[RESULT_COLUMNS])
    frames.append(new[RESULT_COLUMNS])
    df = pd.concat(frames, ignore_index=True)
    df = df.drop_duplicates(subset=_KEY, keep="last").reset_index(drop=True)
    with atomic_path(path) as tmp:
        df.to_csv(tmp)
