"""A small stitched-tracks file for the tracklet-view tests, from the multi-animal demo's
ground truth (x, y as rendered; a seeded likelihood where a part is present)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from dlcflow.devtools.mademo import make_multi_animal_demo_project
from dlcflow.io.tables import to_dataset
from dlcflow.io.tracks import save_tracks

SCORER = "DLC_dlcrnetms5_mademoDec2shuffle1_50"


def make_tracks_project(root: Path) -> tuple[Path, Path]:
    """(config.yaml, tracks h5 ``<video>/<stem><scorer>_el.h5`` beside the video)."""
    config = make_multi_animal_demo_project(root, n_videos=1, nframes=40, numframes2pick=4, seed=1)
    gt = pd.read_hdf(root / "data" / "mice1_groundtruth.h5")
    rng = np.random.default_rng(0)
    cols, arrays = [], []
    for scorer, ind, part in dict.fromkeys((s, i, b) for s, i, b, _c in gt.columns):
        x = gt[(scorer, ind, part, "x")].to_numpy()
        y = gt[(scorer, ind, part, "y")].to_numpy()
        p = np.where(np.isnan(x), np.nan, rng.uniform(0.5, 1.0, len(x)))
        for coord, values in zip(("x", "y", "likelihood"), (x, y, p), strict=True):
            cols.append((SCORER, ind, part, coord))
            arrays.append(values)
    df = pd.DataFrame(
        np.column_stack(arrays),
        index=gt.index,
        columns=pd.MultiIndex.from_tuples(cols, names=gt.columns.names),
    )
    tracks = root / "data" / f"mice1{SCORER}_el.h5"
    save_tracks(to_dataset(df), tracks)
    return config, tracks
