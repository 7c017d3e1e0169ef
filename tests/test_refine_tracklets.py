"""DLC's refine_tracklets: the gap fill, the swap finding and the placement of a pickle's
tracklets (constructed data and DLC's montblanc files), and the tracklet view serving a
pickle or a tracks file with those options (its swaps and trail routes, DLC's save)."""

from __future__ import annotations

import json
import shutil
import urllib.request
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from dlcflow.cli.main import build_parser
from dlcflow.core.video import VideoWriter
from dlcflow.io.tracklets import read_tracklets
from dlcflow.labeler.tracks import TrackEditError, backup_path, open_tracks
from dlcflow.labeler.trackserver import TrackLabeler, refine_tracklets
from dlcflow.tracking.refine import (
    FILLED_LIKELIHOOD,
    fill_gaps,
    find_swapping_bodypart_pairs,
    place_tracklets,
    spline_fill,
    tracklets_table,
)
from dlcflow.tracking.tracklet import Tracklet

FIXTURES = Path(__file__).resolve().parents[2] / "shared" / "fixtures" / "dlc-unittest-multianimal"
SCORER = "DLC_resnet50_MontBlancDec16shuffle1_30000"
BIRDS = ["bird1", "bird2", "bird3"]
CONFIG = """\
Task: MontBlanc
scorer: Daniel
date: Dec16
multianimalproject: true
identity: false
project_path: {root}
video_sets: {{}}
individuals: [bird1, bird2, bird3]
multianimalbodyparts: [head, tail, leftwing, rightwing]
uniquebodyparts: [center]
bodyparts: MULTI!
skeleton: []
iteration: 0
TrainingFraction: [0.95]
"""


@pytest.fixture
def montblanc(tmp_path: Path) -> tuple[Path, Path, Path]:
    """(config.yaml, a copy of DLC's montblanc tracklets pickle, of its tracks h5)."""
    config = tmp_path / "config.yaml"
    config.write_text(CONFIG.format(root=tmp_path))
    pickle_file = tmp_path / f"montblanc{SCORER}_el.pickle"
    h5 = tmp_path / "h5" / f"montblanc{SCORER}_el.h5"
    h5.parent.mkdir()
    shutil.copyfile(FIXTURES / "montblanc_tracklets.pickle", pickle_file)
    shutil.copyfile(FIXTURES / "montblanc_tracks.h5", h5)
    return config, pickle_file, h5


# -- the gap fill ------------------------------------------------------------------------
def test_spline_fill_fills_gaps_up_to_max_gap() -> None:
    t = np.arange(40, dtype=float)
    cubic = 0.01 * t**3 - 0.3 * t**2 + 2 * t + 50  # a cubic spline reproduces a cubic
    col = cubic.copy()
    col[[0]] = np.nan  # a 1-frame gap at the start
    col[10:12] = np.nan  # 2 frames
    col[20:25] = np.nan  # 5 frames
    few = np.full(40, np.nan)
    few[[3, 9, 30]] = 1.0  # 3 values: no spline
    out = spline_fill(np.c_[col, few], max_gap=2)
    np.testing.assert_allclose(out[10:12, 0], cubic[10:12], rtol=1e-9)
    np.testing.assert_allclose(out[0, 0], cubic[0], rtol=1e-9)  # extrapolated
    assert np.isnan(out[20:25, 0]).all()  # longer than max_gap
    np.testing.assert_array_equal(out[:, 1], few)
    kept = ~np.isnan(col)
    np.testing.assert_array_equal(out[kept, 0], col[kept])  # only missing cells change
    every = spline_fill(col, max_gap=0)  # 0: every gap
    np.testing.assert_allclose(every[:, 0], cubic, rtol=1e-9)


def test_fill_gaps_gives_filled_parts_likelihood_001() -> None:
    t = np.arange(30, dtype=float)
    data = np.stack(
        [
            np.c_[t * 2 + 5, 100 - t, np.full(30, 0.9)],
            np.c_[t + 1, t * 0.5 + 3, np.full(30, 0.8)],
        ],
        axis=1,
    )  # (30 frames, 2 parts, 3)
    data[5:8, 0] = np.nan  # 3 frames of part 0
    data[15:25, 1] = np.nan  # 10 frames of part 1
    filled, mask = fill_gaps(data, max_gap=3)
    assert mask.sum() == 3 and mask[5:8, 0].all()
    np.testing.assert_allclose(filled[5:8, 0, 0], t[5:8] * 2 + 5)  # linear: exact
    assert (filled[5:8, 0, 2] == FILLED_LIKELIHOOD).all()
    assert np.isnan(filled[15:25, 1]).all()
    np.testing.assert_array_equal(filled[~mask], data[~mask])
    filled_all, mask_all = fill_gaps(data, max_gap=0)
    assert mask_all.sum() == 13 and (filled_all[15:25, 1, 2] == FILLED_LIKELIHOOD).all()
    np.testing.assert_allclose(filled_all[15:25, 1, 1], t[15:25] * 0.5 + 3)


# -- the swaps ---------------------------------------------------------------------------
def exchanging(nframes: int, starts: list[int]) -> np.ndarray:
    """Rows (individual 0 part, individual 1 part, individual 0 second part) of
    ``(rows, frames, 2)``: rows 0 and 1 exchange places at each of ``starts``."""
    a = np.tile([10.0, 20.0], (nframes, 1))
    b = np.tile([50.0, 70.0], (nframes, 1))
    flip = np.zeros(nframes, dtype=bool)
    for s in starts:
        flip[s:] = ~flip[s:]
    first = np.where(flip[:, None], b, a)
    second = np.where(flip[:, None], a, b)
    other = np.tile([0.0, 0.0], (nframes, 1))  # same individual as row 0, always below
    return np.stack([first, second, other])


@pytest.mark.parametrize("k", [1, 2, 3, 4])
def test_swaps_kept_when_they_cross_more_than_min_swap_len(k: int) -> None:
    starts = [10 + 7 * i for i in range(k)]  # k exchanges: k crossings
    xy = exchanging(60, starts)
    found = find_swapping_bodypart_pairs(xy, [0, 1, 0], min_swap_len=2)
    if k > 2:
        assert [(s.first, s.second) for s in found] == [(1, 0)]
        assert found[0].frames == tuple(s - 1 for s in starts)  # the frame before a change
    else:
        assert found == []
    # with min_swap_len 0 every crossing pair is kept; rows of one individual never pair
    every = find_swapping_bodypart_pairs(xy, [0, 1, 0], min_swap_len=0)
    assert (1, 0) in [(s.first, s.second) for s in every]
    assert (2, 0) not in [(s.first, s.second) for s in every]


def test_a_crossing_in_x_only_is_no_swap() -> None:
    xy = exchanging(40, [10, 20, 30])
    xy[1, :, 1] = 1000.0  # row 1 always far below in y: x crosses, y never does
    assert find_swapping_bodypart_pairs(xy, [0, 1, 0], min_swap_len=0) == []
    xy[1, 25, :] = np.nan  # missing values never cross either
    assert find_swapping_bodypart_pairs(xy, [0, 1, 0], min_swap_len=0) == []


def test_swaps_on_dlcs_montblanc_tracks_match_the_all_pairs_definition() -> None:
    """On DLC's stitched montblanc tracks (13 rows, 180 frames): the pairs and frames
    equal those of DLC's definition evaluated on every pair of rows at once (sign of the
    x and y differences, > 0 against <= 0, flipping between t and t + 1)."""
    dlc = pd.read_hdf(FIXTURES / "montblanc_tracks.h5")
    data = dlc.to_numpy().reshape(180, -1, 3)
    xy = data[:, :, :2].swapaxes(0, 1)
    owner = [k // 4 for k in range(13)]  # bird1..3 (4 parts each), single
    diff = xy[:, None] - xy[None]  # (13, 13, 180, 2)
    with np.errstate(invalid="ignore"):
        above, below = diff > 0, diff <= 0
    flips = ((above[:, :, :-1] & below[:, :, 1:]) | (below[:, :, :-1] & above[:, :, 1:])).all(3)
    for min_swap_len in (0, 2, 4):
        want = [
            (a, b, tuple(np.flatnonzero(flips[a, b])))
            for a in range(13)
            for b in range(a)
            if owner[a] != owner[b] and flips[a, b].sum() > min_swap_len
        ]
        got = find_swapping_bodypart_pairs(xy, owner, min_swap_len)
        assert [(s.first, s.second, s.frames) for s in got] == want
    assert len(find_swapping_bodypart_pairs(xy, owner, 2)) > 0


# -- the placement of tracklets ----------------------------------------------------------
def tracklet(frames: range, x: float, p: float = 0.9, key: int = 0) -> Tracklet:
    n = len(frames)
    data = np.zeros((n, 1, 4))
    data[:, 0, 0] = x + np.arange(n)
    data[:, 0, 1] = 2 * x
    data[:, 0, 2] = p
    data[:, 0, 3] = -1
    return Tracklet(data, list(frames), key=key)


def test_place_tracklets_longest_first_into_free_individuals() -> None:
    long_a = tracklet(range(0, 10), 100.0, key=0)
    long_b = tracklet(range(0, 10), 300.0, key=1)
    later = tracklet(range(12, 20), 500.0, key=2)  # fits after long_b's individual
    short = tracklet(range(25, 27), 700.0, key=3)  # 2 frames: dropped (DLC keeps > 2)
    three = tracklet(range(30, 33), 900.0, key=4)  # 3 frames: kept
    out = place_tracklets([long_a, long_b, later, short, three], None, 2, min_tracklet_len=2)
    assert out.shape == (33, 2, 3)  # frames up to the last of any tracklet, dropped or not
    # equal lengths: the later one in the file is placed first (DLC pops a sorted list)
    np.testing.assert_array_equal(out[:10, 0, 0], long_b.data[:, 0, 0])
    np.testing.assert_array_equal(out[:10, 1, 0], long_a.data[:, 0, 0])
    np.testing.assert_array_equal(out[12:20, 0, 0], later.data[:, 0, 0])
    assert np.isnan(out[25:27]).all()
    np.testing.assert_array_equal(out[30:33, 0, :], three.data[:, 0, :3])
    assert np.isnan(out[10:12]).all() and np.isnan(out[12:20, 1]).all()
    kept_short = place_tracklets([long_a, short], None, 1, min_tracklet_len=1)
    np.testing.assert_array_equal(kept_short[25:27, 0, 0], short.data[:, 0, 0])


def test_place_tracklets_over_occupied_individuals_keeps_the_more_confident() -> None:
    one = tracklet(range(0, 10), 100.0, p=0.5, key=0)
    two = tracklet(range(0, 10), 300.0, p=0.5, key=1)
    near_two = tracklet(range(4, 7), 304.0, p=0.9, key=2)  # closer to two, more confident
    weak = tracklet(range(0, 3), 101.0, p=0.1, key=3)  # closer to one, less confident
    out = place_tracklets([one, two, near_two, weak], None, 2, min_tracklet_len=2)
    owner_two = 0  # equal lengths: two (later in the file) is placed first
    np.testing.assert_array_equal(out[4:7, owner_two, 0], near_two.data[:, 0, 0])
    np.testing.assert_array_equal(out[4:7, owner_two, 2], 0.9)
    np.testing.assert_array_equal(out[:3, 1 - owner_two, :], one.data[:3, 0, :3])
    np.testing.assert_array_equal(out[7:, owner_two, 0], two.data[7:, 0, 0])


def test_montblanc_pickle_placed_into_the_birds() -> None:
    tracklets = read_tracklets(FIXTURES / "montblanc_tracklets.pickle")
    table = tracklets_table(tracklets, BIRDS, min_tracklet_len=2)
    dlc = pd.read_hdf(FIXTURES / "montblanc_tracks.h5")
    assert table.columns.equals(dlc.columns)  # DLC's layout: bird1..3, then single
    assert len(table) == 180 and list(table.index) == list(range(180))
    data = table.to_numpy().reshape(180, -1, 3)
    # tracklets 1 and 2 (179 frames; 2 earlier in the file, so 1 first) take bird1 and
    # bird2, 0 (131 frames) bird3, and 3 (45 frames, from frame 135) fits after it
    where = {1: 0, 2: 1, 0: 2, 3: 2}
    for key, bird in where.items():
        frames = sorted(tracklets[key])
        inds = [int(f[5:]) for f in frames]
        values = np.array([tracklets[key][f][:, :3] for f in frames])
        np.testing.assert_array_equal(data[inds, 4 * bird : 4 * bird + 4], values)
    single = tracklets["single"]
    np.testing.assert_array_equal(
        data[sorted(single), 12], np.array([single[i][0] for i in sorted(single)])
    )
    # min_tracklet_len 45: the 45-frame tracklet is dropped (DLC keeps len > 45)
    dropped = tracklets_table(tracklets, BIRDS, min_tracklet_len=45).to_numpy()
    assert np.isnan(dropped.reshape(180, -1, 3)[135:, 8:12]).all()


# -- the tracklet view with DLC's options ------------------------------------------------
def request(lab: TrackLabeler, path: str, body: dict[str, Any] | None = None) -> Any:
    req = urllib.request.Request(
        f"http://127.0.0.1:{lab.port}{path}",
        data=None if body is None else json.dumps(body).encode(),
        headers={"X-Dlcflow-Token": lab.token, "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(req, timeout=10) as resp:
        return json.loads(resp.read())


def test_refine_tracklets_on_the_pickle_saves_dlcs_h5(montblanc: tuple[Path, Path, Path]) -> None:
    config, pickle_file, _ = montblanc
    lab = refine_tracklets(config, pickle_file, None, max_gap=0, trail_len=10, serve=False)
    try:
        info = request(lab, "/api/tracks")
        assert info["individuals"] == [*BIRDS, "single"] and info["nframes"] == 180
        assert info["file"] == pickle_file.name and info["dirty"]
        saved_to = pickle_file.with_suffix(".h5")
        assert info["path"] == str(saved_to) and info["filled"] > 0
        table = tracklets_table(read_tracklets(pickle_file), BIRDS, 2)
        filled, mask = fill_gaps(table.to_numpy().reshape(180, -1, 3), 0)
        assert info["filled"] == mask.sum()
        # the swaps route: DLC's pairs on the filled tracks
        swaps = request(lab, "/api/swaps")
        rows = [(ind, bp) for _s, ind, bp, c in table.columns if c == "x"]
        owner = [[*BIRDS, "single"].index(ind) for ind, _ in rows]
        expected = find_swapping_bodypart_pairs(filled[:, :, :2].swapaxes(0, 1), owner, 2)
        assert len(swaps["pairs"]) == len(expected) > 0
        for got, want in zip(swaps["pairs"], expected, strict=True):
            assert (got["individuals"][0], got["bodyparts"][0]) == rows[want.first]
            assert (got["individuals"][1], got["bodyparts"][1]) == rows[want.second]
            assert got["frames"] == list(want.frames)
        assert swaps["frames"] == sorted({f for s in expected for f in s.frames})
        # the trail: frames 45..54 around frame 50, per part
        trail = request(lab, "/api/frame?frame=50")["trail"]
        assert (trail["start"], trail["stop"]) == (45, 55)
        head = trail["individuals"]["bird2"][0]  # bird2's head
        np.testing.assert_allclose(head, filled[45:55, 4, :2], atol=0.05)
        assert (
            "trail" in request(lab, "/api/frame?frame=0")
            and request(lab, "/api/frame?frame=0")["trail"]["start"] == 0
        )
        saved = request(lab, "/api/save", {})
        assert saved["saved"] == str(saved_to) and saved["backup"] is None
    finally:
        lab.close()
    with pd.HDFStore(saved_to, "r") as store:
        assert store.keys() == ["/df_with_missing"]
    back = pd.read_hdf(saved_to)
    assert back.columns.equals(table.columns) and list(back.index) == list(range(180))
    np.testing.assert_allclose(back.to_numpy().reshape(180, -1, 3), filled)
    # opened again as the h5 DLC saved: nothing left to fill; a save keeps a .bak
    again = open_tracks(saved_to, config, max_gap=0)
    assert again.filled == 0 and not again.dirty
    again.save()
    pd.testing.assert_frame_equal(pd.read_hdf(backup_path(saved_to)), back)


def test_refine_tracklets_fills_a_tracks_file(montblanc: tuple[Path, Path, Path]) -> None:
    config, _, h5 = montblanc
    dlc = pd.read_hdf(h5)
    session = open_tracks(h5, config, max_gap=2, min_swap_len=2)
    filled, mask = fill_gaps(dlc.to_numpy().reshape(len(dlc), -1, 3), 2)
    assert session.filled == mask.sum() > 0 and session.dirty
    np.testing.assert_array_equal(session.to_frame().to_numpy(), filled.reshape(len(dlc), -1))
    unfilled = open_tracks(h5, config, max_gap=None)  # dlcflow's refine_tracks: no fill
    assert unfilled.filled == 0 and not unfilled.dirty
    # an edit clears the cached swaps: swapping bird1 and bird2 throughout renames them
    rename = {"bird1": "bird2", "bird2": "bird1"}

    def pairs(found: list[dict[str, Any]], names: dict[str, str]) -> set[Any]:
        return {
            (
                frozenset(
                    (names.get(i, i), b)
                    for i, b in zip(p["individuals"], p["bodyparts"], strict=True)
                ),
                tuple(p["frames"]),
            )
            for p in found
        }

    before = session.swaps()["pairs"]
    assert before
    session.swap("bird1", "bird2", 0)
    assert pairs(session.swaps()["pairs"], {}) == pairs(before, rename)


def test_a_body_part_swap_over_http_and_its_undo(
    montblanc: tuple[Path, Path, Path], capsys: pytest.CaptureFixture
) -> None:
    config, _, h5 = montblanc
    video = h5.with_name("montblanc.mp4")
    with VideoWriter(video, fps=30, size=(64, 48)) as writer:
        for _ in range(20):
            writer.write(np.zeros((48, 64, 3), np.uint8))
    dlc = pd.read_hdf(h5)
    lab = refine_tracklets(config, h5, video, max_gap=0, serve=False)
    try:
        assert "has 20 frames, the tracks 180" in capsys.readouterr().err  # DLC's warning
        body = {"individuals": ["bird1", "bird3"], "bodyparts": ["head", "tail"]}
        state = request(lab, "/api/swap", {**body, "start": 20, "stop": 29})
        assert state["edits"][-1] == {"op": "swap_parts", **body, "start": 20, "stop": 29}
        table = lab.session.to_frame()
        filled, _ = fill_gaps(dlc.to_numpy().reshape(180, -1, 3), 0)
        ref = pd.DataFrame(filled.reshape(180, -1), columns=dlc.columns)
        head1, tail3 = (SCORER, "bird1", "head"), (SCORER, "bird3", "tail")

        def part(df: pd.DataFrame, key: tuple[str, str, str]) -> np.ndarray:
            return df.iloc[:, [k for k, c in enumerate(df.columns) if c[:3] == key]].to_numpy()

        np.testing.assert_array_equal(part(table, head1)[20:30], part(ref, tail3)[20:30])
        np.testing.assert_array_equal(part(table, tail3)[20:30], part(ref, head1)[20:30])
        np.testing.assert_array_equal(part(table, head1)[30:], part(ref, head1)[30:])
        # the timeline follows: bird1's mean x over frames 20..29 uses bird3's tail now
        tl = request(lab, "/api/timeline?columns=18")
        parts = table[SCORER]["bird1"].xs("x", axis=1, level="coords").to_numpy()[20:30]
        assert tl["tracks"]["bird1"]["x"][2] == pytest.approx(np.nanmean(parts), abs=0.05)
        request(lab, "/api/undo", {})
        np.testing.assert_array_equal(lab.session.to_frame().to_numpy(), ref.to_numpy())
    finally:
        lab.close()
    with pytest.raises(TrackEditError, match="bird1 has no body part 'wing'"):
        open_tracks(h5, config).swap_parts(["bird1", "bird2"], ["wing", "head"], 0, 5)


def test_a_pickle_needs_a_multianimal_config(montblanc: tuple[Path, Path, Path]) -> None:
    config, pickle_file, _ = montblanc
    with pytest.raises(TrackEditError, match="needs the project's config.yaml") as info:
        open_tracks(pickle_file, None)
    assert "\n" not in str(info.value)
    broken = pickle_file.with_name("broken_el.pickle")
    broken.write_bytes(b"not a pickle")
    with pytest.raises(TrackEditError, match="broken_el.pickle: not a readable pickle"):
        open_tracks(broken, config)
    with pytest.raises(TrackEditError, match="must be >= 0"):
        open_tracks(pickle_file, config, trail_len=-1)


def test_the_cli_takes_dlcs_options() -> None:
    args = build_parser("refine-tracks").parse_args(
        ["refine-tracks", "config.yaml", "v_el.pickle", "--max-gap", "0", "--trail-len", "50"]
    )
    assert (args.max_gap, args.trail_len, args.min_swap_len, args.min_tracklet_len) == (0, 50, 2, 2)
    defaults = build_parser("refine-tracks").parse_args(["refine-tracks", "c.yaml", "t_el.h5"])
    assert (defaults.max_gap, defaults.trail_len, defaults.video) == (2, 0, None)
