"""Benchmark: is the tracklet view interactive on a long multi-animal video?

Builds a synthetic tracks file like a 30-minute, 30 fps recording (54,000 frames, 4 animals,
8 body parts each, plus one unique part; random walks with gaps, a seeded likelihood),
written as DLC's stitching writes it (``save``-format table under ``tracks``), then times,
each the median of ``--rounds``:

* open: :class:`TrackSession` reading the h5;
* timeline: the 2,000-column timeline of all tracks, as the JSON bytes the server sends;
* swap: one swap of two animals from the middle of the video to its end;
* edit round trip: a swap plus the timeline the page then redraws from (the cost of one
  edit as a person sees it, without the network and the drawing);
* save: DLC's save (table format, ``df_with_missing``, atomic, backup on the first save).

The last line is ``tracklet_view ratio=<edit round trip / 0.1 s>``: below 1 means an edit and
its redraw payload fit in 100 ms (interactive).

    .venv/bin/python benchmarks/tracklet_view.py
    .venv/bin/python benchmarks/tracklet_view.py --frames 2000 --rounds 2
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from dlcflow.io.hdf import write_frame
from dlcflow.labeler.tracks import TrackSession

SCORER = "DLC_dlcrnetms5_benchJan1shuffle1_50000"
GOAL_S = 0.1


def make_tracks(path: Path, nframes: int, n_animals: int, n_parts: int, seed: int) -> None:
    """A tracks file: random-walk animals, parts around them, 2% of parts missing."""
    rng = np.random.default_rng(seed)
    cols, arrays = [], []
    parts = [f"part{k + 1}" for k in range(n_parts)]
    groups = [(f"animal{i + 1}", parts) for i in range(n_animals)] + [("single", ["feeder"])]
    for ind, names in groups:
        centre = np.cumsum(rng.normal(0, 1.5, (nframes, 2)), axis=0) + rng.uniform(100, 500, 2)
        for name in names:
            xy = centre + rng.normal(0, 10, 2) + rng.normal(0, 0.5, (nframes, 2))
            p = rng.uniform(0.3, 1.0, nframes)
            gone = rng.random(nframes) < 0.02
            xy[gone] = np.nan
            p[gone] = np.nan
            for coord, values in zip(
                ("x", "y", "likelihood"), (xy[:, 0], xy[:, 1], p), strict=True
            ):
                cols.append((SCORER, ind, name, coord))
                arrays.append(values)
    columns = pd.MultiIndex.from_tuples(
        cols, names=["scorer", "individuals", "bodyparts", "coords"]
    )
    df = pd.DataFrame(np.column_stack(arrays), columns=columns)
    write_frame(df, path, table=True, key="tracks")


def timed(fn: Callable[[], object], rounds: int) -> tuple[float, object]:
    """(median seconds, last result) of ``rounds`` calls."""
    times, result = [], None
    for _ in range(rounds):
        t0 = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=54000)
    ap.add_argument("--animals", type=int, default=4)
    ap.add_argument("--parts", type=int, default=8)
    ap.add_argument("--columns", type=int, default=2000)
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"video{SCORER}_el.h5"
        make_tracks(path, args.frames, args.animals, args.parts, seed=0)
        size_mb = path.stat().st_size / 1e6
        t_open, session = timed(lambda: TrackSession(path), args.rounds)
        assert isinstance(session, TrackSession)

        def payload() -> bytes:
            tl = session.timeline(args.columns)
            return json.dumps(tl, separators=(",", ":")).encode()

        t_timeline, body = timed(payload, args.rounds)
        middle = args.frames // 2
        t_swap, _ = timed(lambda: session.swap("animal1", "animal2", middle), args.rounds)

        def round_trip() -> bytes:
            session.swap("animal3", "animal4", middle // 2)
            return payload()

        t_edit, _ = timed(round_trip, args.rounds)
        t_save, _ = timed(session.save, args.rounds)
    print(
        f"tracks: {args.frames} frames, {args.animals} animals x {args.parts} parts "
        f"+ 1 unique ({size_mb:.1f} MB h5)"
    )
    print(f"open:     {t_open * 1000:8.1f} ms")
    print(
        f"timeline: {t_timeline * 1000:8.1f} ms for {args.columns} columns "
        f"({len(body) / 1e3:.0f} kB JSON)"
    )  # type: ignore[arg-type]
    print(f"swap:     {t_swap * 1000:8.1f} ms (animal1/animal2 from frame {middle} on)")
    print(f"edit:     {t_edit * 1000:8.1f} ms (a swap + the timeline payload)")
    print(f"save:     {t_save * 1000:8.1f} ms")
    print(f"tracklet_view ratio={t_edit / GOAL_S:.3f}")


if __name__ == "__main__":
    main()
