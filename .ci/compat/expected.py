"""Record what every pose table of a folder holds, as read in this (pandas 3) environment.

Usage: python expected.py FOLDER OUT.json

Every ``*.h5`` that holds a pandas table (Keras weights files hold none and are skipped)
and every ``*.csv`` with DLC's header rows is read as DLC's readers read it
(``pd.read_hdf(path)`` with no key; ``pd.read_csv`` with DLC's header rows and index
columns); its column tuples, level names, row index and values go to OUT.json, which
``check.py`` compares against in another environment.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pandas as pd
from tables_io import csv_layout, describe, holds_table, read_table_csv


def main(folder: Path, out: Path) -> None:
    record = {}
    for path in sorted(folder.rglob("*.h5")):
        if holds_table(path):
            record[str(path.relative_to(folder))] = describe(pd.read_hdf(path))
    for path in sorted(folder.rglob("*.csv")):
        layout = csv_layout(path)
        if layout is not None:
            header, index = layout
            df = read_table_csv(path, header, index)
            record[str(path.relative_to(folder))] = describe(df)
    if not record:
        sys.exit(f"expected: no pose tables under {folder}")
    out.write_text(json.dumps(record))
    n_h5 = sum(k.endswith(".h5") for k in record)
    print(f"expected: {n_h5} h5 and {len(record) - n_h5} csv tables under {folder}")


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]))
