"""What both sides of the compatibility check share: which files are tables, and how a
table is written down for comparison. Runs under pandas 2 (NumPy 1) and pandas 3."""

from __future__ import annotations

import csv
import itertools
import math
import re
from pathlib import Path

import pandas as pd

HEADER_NAMES = {"scorer", "individuals", "bodyparts", "coords"}
#: An analysis output: ``<video stem>DLC_<net>_<Task><date>shuffle<n>_<iterations>.h5``.
ANALYSIS = re.compile(r"DLC_\w+shuffle\d+_\d+\.h5$")
#: The entry of the expected record that holds dlcflow's pose dataset of one analysis file.
MODEL_KEY = "dlcflow data model"


def holds_table(path: Path) -> bool:
    """Whether an h5 file holds a pandas table (Keras snapshots do not)."""
    with pd.HDFStore(path, mode="r") as store:
        return bool(store.keys())


def csv_layout(path: Path) -> tuple[int, int] | None:
    """(header rows, index columns) of a DLC table csv, None for other csv files."""
    with path.open(newline="", encoding="utf-8") as fh:
        rows = list(itertools.islice(csv.reader(fh), 5))
    header = 0
    while header < len(rows) and rows[header] and rows[header][0] in HEADER_NAMES:
        header += 1
    if header < 2:
        return None
    index = 1
    while index < len(rows[0]) and rows[0][index] == "":
        index += 1
    return header, index


def read_table_csv(path: Path, header: int, index: int) -> pd.DataFrame:
    """A DLC csv as DLC reads it, parsed exactly: pandas 2's default float parser may be
    one unit in the last place off the written decimal, pandas 3's is not."""
    return pd.read_csv(
        path,
        header=list(range(header)),
        index_col=list(range(index)),
        float_precision="round_trip",
    )


def _plain(value: object) -> object:
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
    if isinstance(value, float) and math.isnan(value):
        return None
    if hasattr(value, "item"):
        return _plain(value.item())
    return value


def describe(df: pd.DataFrame) -> dict:
    """A table as plain JSON values: level names, column tuples, rows, values."""
    return {
        "column_names": [_plain(n) for n in df.columns.names],
        "columns": [_plain(c) for c in df.columns],
        "index": [_plain(i) for i in df.index],
        "values": [[_plain(v) for v in row] for row in df.to_numpy().tolist()],
    }


def read_tables(folder: Path) -> dict:
    """Every pose table under ``folder`` (h5 read with no key, DLC csv), described."""
    found = {}
    for path in sorted(folder.rglob("*.h5")):
        if holds_table(path):
            found[str(path.relative_to(folder))] = describe(pd.read_hdf(path))
    for path in sorted(folder.rglob("*.csv")):
        layout = csv_layout(path)
        if layout is not None:
            header, index = layout
            df = read_table_csv(path, header, index)
            found[str(path.relative_to(folder))] = describe(df)
    return found
