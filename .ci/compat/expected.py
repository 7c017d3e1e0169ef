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

from tables_io import ANALYSIS, MODEL_KEY, read_tables


def data_model(path: Path) -> dict:
    """dlcflow's pose dataset of an analysis file, for comparison with movement's."""
    from dlcflow.io.poses import load_poses

    ds = load_poses(path)
    return {
        "dims": list(ds["position"].dims),
        "coords": {
            d: [str(v) for v in ds[d].values] for d in ("space", "keypoints", "individuals")
        },
        "position": ds["position"].values.tolist(),
        "confidence": ds["confidence"].values.tolist(),
    }


def main(folder: Path, out: Path) -> None:
    record = read_tables(folder)
    if not record:
        sys.exit(f"expected: no pose tables under {folder}")
    analysis = [name for name in record if ANALYSIS.search(name)]
    if analysis:
        record[MODEL_KEY] = {"file": analysis[0], **data_model(folder / analysis[0])}
    out.write_text(json.dumps(record))
    n_h5 = sum(k.endswith(".h5") for k in record if k != MODEL_KEY)
    n_csv = sum(k.endswith(".csv") for k in record)
    print(f"expected: {n_h5} h5 and {n_csv} csv tables under {folder}")


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]))
