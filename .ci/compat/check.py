"""Read a folder's pose tables in a DLC user's environment (pandas 2, NumPy 1) and compare
them with what pandas 3 read (``expected.py``); then load an analysis file with movement's
and dlc2kinematics' DLC loaders.

Usage: python check.py FOLDER EXPECTED.json REWRITTEN

Each h5 table is also written again here, by pandas 2, under REWRITTEN (same key, same
format), so that ``reread.py`` can check that dlcflow reads what pandas 2 writes.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd
from tables_io import MODEL_KEY, read_tables


def check_tools(path: Path, model: dict) -> list[str]:
    """movement's and dlc2kinematics' loaders on one analysis file: the values of the table,
    and for movement the same dataset (dims, coordinates, values) as dlcflow's data model."""
    from dlc2kinematics import load_data
    from movement.io import load_poses

    table = pd.read_hdf(path)
    xy = table.loc[:, table.columns.get_level_values("coords") != "likelihood"].to_numpy()
    xy = xy.reshape(len(table), -1, 2)  # frames, body parts, (x, y)
    problems = []
    ds = load_poses.from_dlc_file(path)
    position = ds["position"].transpose("time", "keypoints", "space", "individuals").values
    if not np.array_equal(position[..., 0], xy, equal_nan=True):
        problems.append(f"{path}: movement's positions differ from the table's")
    if list(ds["position"].dims) != model["dims"]:
        problems.append(
            f"{path}: movement's dims {list(ds['position'].dims)}, dlcflow's {model['dims']}"
        )
    for dim in ("space", "keypoints"):
        if [str(v) for v in ds[dim].values] != model["coords"][dim]:
            problems.append(f"{path}: movement's {dim} differ from dlcflow's")
    for name in ("position", "confidence"):
        theirs = ds[name].transpose(*ds[name].dims).values
        ours = np.array(model[name], dtype=float)
        if theirs.shape != ours.shape or not np.array_equal(theirs, ours, equal_nan=True):
            problems.append(f"{path}: movement's {name} differs from dlcflow's data model")
    df, bodyparts, scorer = load_data(str(path))
    if not np.array_equal(df.to_numpy(), table.to_numpy(), equal_nan=True):
        problems.append(f"{path}: dlc2kinematics' values differ from the table's")
    print(
        f"check: movement {dict(ds['position'].sizes)} (as dlcflow's data model) and "
        f"dlc2kinematics {df.shape} read {path.name}"
    )
    return problems


def rewrite(folder: Path, names: list[str], out: Path) -> None:
    """Write every h5 table again with this pandas, as it was (key, fixed or table)."""
    for name in names:
        with pd.HDFStore(folder / name, mode="r") as store:
            key = store.keys()[0]
            df, table = store.get(key), store.get_storer(key).is_table
        target = out / name
        target.parent.mkdir(parents=True, exist_ok=True)
        df.to_hdf(target, key=key, mode="w", format="table" if table else "fixed")


def main(folder: Path, expected_file: Path, rewritten: Path) -> None:
    expected = json.loads(expected_file.read_text())
    model = expected.pop(MODEL_KEY, None)
    found = read_tables(folder)
    problems = [f"{name}: not read here" for name in expected if name not in found]
    problems += [
        f"{name}: reads differently under pandas {pd.__version__}"
        for name, table in expected.items()
        if name in found and found[name] != table
    ]
    if model is None:
        problems.append("no analysis file to load with movement and dlc2kinematics")
    else:
        problems += check_tools(folder / model["file"], model)
    rewrite(folder, [name for name in found if name.endswith(".h5")], rewritten)
    n_h5 = sum(name.endswith(".h5") for name in found)
    print(
        f"check: pandas {pd.__version__}, NumPy {np.__version__}: read {n_h5} h5 and "
        f"{len(found) - n_h5} csv tables, {len(expected)} expected"
    )
    for line in problems:
        print(f"check: {line}", file=sys.stderr)
    sys.exit(1 if problems else 0)


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3]))
