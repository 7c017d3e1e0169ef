"""dlcflow.post.idmetrics and the multi-animal demo report: identity-tracking scores with
known answers (synthetic animals, the demo's rendered ground truth)."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from dlcflow.data.pose import SINGLE, make_poses
from dlcflow.devtools import mademo
from dlcflow.devtools.mademoreport import (
    MADemoReportError,
    assembly_table,
    identity_table,
    mademo_report,
)
from dlcflow.io.tracks import read_tracks, save_tracks
from dlcflow.post.evaluate_multianimal import ASSEMBLY_COLUMNS
from dlcflow.post.idmetrics import (
    GATE_FACTOR,
    IdentityScoreError,
    animal_size,
    identity_scores,
    load_groundtruth,
    score_track_file,
)

FIXTURES = Path(__file__).resolve().parents[2] / "shared" / "fixtures"
PARTS = ["snout", "middle", "tail"]
N = 20


@pytest.fixture(scope="module")
def demo_truth(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The rendered ground truth of one demo video (3 mice, 40 frames)."""
    root = tmp_path_factory.mktemp("mademo")
    config = mademo.make_multi_animal_demo_project(
        root, n_videos=1, nframes=40, numframes2pick=4, seed=1
    )
    return config.parent.parent / "data" / "mice1_groundtruth.h5"


def animals(n_animals: int = 2, n: int = N) -> np.ndarray:
    """(n, animals, parts, 2): straight 20 px long animals 150 px apart, walking right."""
    pos = np.zeros((n, n_animals, len(PARTS), 2))
    for a in range(n_animals):
        pos[:, a, :, 0] = 50 + 150 * a + np.arange(n)[:, None] + np.array([0.0, 10.0, 20.0])
        pos[:, a, :, 1] = 100.0
    return pos


def dataset(xy: np.ndarray, names: list[str], feeder: bool = True) -> xr.Dataset:
    """A multi-animal pose dataset of (n, individuals, parts, 2) positions, with a unique
    ``feeder`` under ``single`` unless ``feeder`` is False."""
    n, k = xy.shape[0], len(names)
    keypoints, individuals = list(PARTS[: xy.shape[2]]), list(names)
    pos = xy.transpose(0, 3, 2, 1)  # time, space, keypoints, individuals
    if feeder:
        pos = np.concatenate([pos, np.full((n, 2, len(keypoints), 1), np.nan)], axis=3)
        pos = np.concatenate([pos, np.full((n, 2, 1, k + 1), np.nan)], axis=2)
        pos[:, :, -1, -1] = 7.0  # the feeder differs between tracks and truth: ignored
        keypoints.append("feeder")
        individuals.append(SINGLE)
    return make_poses(
        pos,
        np.ones((n, len(keypoints), len(individuals))),
        keypoints=keypoints,
        individuals=individuals,
        unique_keypoints=["feeder"] if feeder else [],
    )


def truth_and_tracks(truth: np.ndarray, tracks: np.ndarray) -> tuple[xr.Dataset, xr.Dataset]:
    names = [f"mouse{a + 1}" for a in range(truth.shape[1])]
    ids = [f"ind{j + 1}" for j in range(tracks.shape[1])]
    return dataset(tracks, ids), dataset(truth, names)


def test_perfect_tracks_permuted_and_renamed() -> None:
    truth = animals(3)
    tracks, gt = truth_and_tracks(truth, truth[:, [2, 0, 1]])
    s = identity_scores(tracks, gt)
    assert s.gate_px == pytest.approx(GATE_FACTOR * 20.0)
    assert (s.frames, s.animals, s.tracks) == (N, 3, 3)
    assert s.switches == 0 and s.misses == 0 and s.false_positives == 0
    assert s.idf1 == 1.0 and s.mota == 1.0 and s.identity_kept == 1.0
    assert s.idtp == 3 * N and s.idfp == 0 and s.idfn == 0
    assert s.mean_px == 0.0 and s.median_px == 0.0 and s.within_5px == 1.0
    assert s.points == s.truth_points == 3 * N * len(PARTS)
    assert s.matching == (("mouse1", "ind2"), ("mouse2", "ind3"), ("mouse3", "ind1"))


def test_identity_swap_from_frame_k() -> None:
    """Two tracks trade animals from frame k on: each animal changes track once (2
    switches, MOT); globally each animal gets the track it has longer (n − k frames)."""
    k = 8
    truth = animals(2)
    swapped = truth.copy()
    swapped[k:] = truth[k:, ::-1]
    tracks, gt = truth_and_tracks(truth, swapped)
    s = identity_scores(tracks, gt)
    assert s.switches == 2
    assert s.matches == 2 * N and s.misses == 0 and s.false_positives == 0
    assert s.mota == pytest.approx(1 - 2 / (2 * N))
    assert s.matching == (("mouse1", "ind2"), ("mouse2", "ind1"))
    idtp = 2 * (N - k)
    assert (s.idtp, s.idfp, s.idfn) == (idtp, 2 * N - idtp, 2 * N - idtp)
    assert s.idf1 == pytest.approx(2 * idtp / (4 * N))  # 0.6
    assert s.frames_identity_kept == N - k and s.identity_kept == pytest.approx(0.6)
    # the first k frames put each animal 150 px from its global track
    assert s.mean_px == pytest.approx(150 * k / N)
    assert s.median_px == 0.0 and s.within_5px == pytest.approx((N - k) / N)


def test_missing_stretch_counts_idfn() -> None:
    truth = animals(2)
    gap = truth.copy()
    gap[5:10, 1] = np.nan  # animal 2's track lost for 5 frames
    tracks, gt = truth_and_tracks(truth, gap)
    s = identity_scores(tracks, gt)
    assert s.switches == 0 and s.misses == 5 and s.false_positives == 0
    assert (s.idtp, s.idfp, s.idfn) == (2 * N - 5, 0, 5)
    assert s.idf1 == pytest.approx(2 * (2 * N - 5) / (4 * N - 5))
    assert s.idr == pytest.approx((2 * N - 5) / (2 * N)) and s.idp == 1.0
    assert s.mota == pytest.approx(1 - 5 / (2 * N))
    assert s.frames_identity_kept == N - 5
    assert s.points == s.truth_points - 5 * len(PARTS) and s.mean_px == 0.0


def test_new_track_after_a_gap_is_a_switch() -> None:
    """Animal 2 on track 2 for frames 0-4, lost, then on a new track 3 from frame 10: one
    switch across the gap; globally it is track 3's (10 frames against 5)."""
    truth = animals(2)
    three = np.full((N, 3, len(PARTS), 2), np.nan)
    three[:, 0] = truth[:, 0]
    three[:5, 1] = truth[:5, 1]
    three[10:, 2] = truth[10:, 1]
    tracks, gt = truth_and_tracks(truth, three)
    s = identity_scores(tracks, gt)
    assert s.switches == 1 and s.misses == 5
    assert s.matching == (("mouse1", "ind1"), ("mouse2", "ind3"))
    assert (s.idtp, s.idfp, s.idfn) == (N + 10, 5, 10)
    assert s.idf1 == pytest.approx(2 * (N + 10) / (2 * N + N + 15))
    assert s.frames_identity_kept == N - 10


def test_gate_decides_matches() -> None:
    truth = animals(2)
    for offset, matched in ((9.0, True), (11.0, False)):  # default gate: 10 px
        moved = truth.copy()
        moved[:, 1, :, 1] += offset
        s = identity_scores(*truth_and_tracks(truth, moved))
        assert s.matches == (2 * N if matched else N)
        assert s.false_positives == s.misses == (0 if matched else N)
        assert s.idf1 == pytest.approx(1.0 if matched else 0.5)
        # the keypoint error of the globally matched pairs only
        assert s.mean_px == pytest.approx(offset / 2 if matched else 0.0)
    s = identity_scores(*truth_and_tracks(truth, moved), gate_px=12.0)
    assert s.gate_px == 12.0 and s.idf1 == 1.0


def test_extra_track_is_false_positive() -> None:
    truth = animals(2)
    extra = np.concatenate([truth, truth[:, :1] + [0.0, 60.0]], axis=1)  # 60 px below animal 1
    s = identity_scores(*truth_and_tracks(truth, extra))
    assert s.tracks == 3 and s.false_positives == N and s.idfp == N and s.idfn == 0
    assert s.mota == pytest.approx(0.5) and s.idf1 == pytest.approx(4 * N / (5 * N))
    assert s.identity_kept == 1.0 and s.switches == 0


def test_demo_truth_perfect_and_noisy(demo_truth: Path) -> None:
    gt = load_groundtruth(demo_truth)
    n_truth = int(gt["position"].sel(individuals=["mouse1", "mouse2", "mouse3"]).notnull().sum())
    assert np.isnan(gt["position"].values).any()  # hidden parts are NaN
    tracks = gt.copy(deep=True).sel(individuals=["mouse3", "mouse1", "mouse2", SINGLE])
    tracks = tracks.assign_coords(individuals=["ind1", "ind2", "ind3", SINGLE])
    s = identity_scores(tracks, gt)
    assert s.switches == 0 and s.idf1 == 1.0 and s.mean_px == 0.0 and s.identity_kept == 1.0
    assert s.points == s.truth_points == n_truth // 2
    assert s.matching == (("mouse1", "ind2"), ("mouse2", "ind3"), ("mouse3", "ind1"))
    xy = gt["position"].sel(space=["x", "y"]).transpose("time", "individuals", "keypoints", "space")
    assert s.gate_px == pytest.approx(GATE_FACTOR * animal_size(xy.values[:, :3, :4]))
    rng = np.random.default_rng(0)
    for r in (2.5, 7.0):  # every point moved r px in a random direction
        angle = rng.uniform(0, 2 * np.pi, gt["position"].shape[:1] + gt["position"].shape[2:])
        noisy = tracks.copy(deep=True)
        noisy["position"].values[:, 0] += r * np.cos(angle)
        noisy["position"].values[:, 1] += r * np.sin(angle)
        s = identity_scores(noisy, gt)
        assert s.mean_px == pytest.approx(r) and s.median_px == pytest.approx(r)
        assert s.within_5px == (1.0 if r < 5 else 0.0)
        assert s.idf1 == 1.0 and s.switches == 0 and s.motp_px == pytest.approx(r)


def test_demo_truth_swap_and_files(demo_truth: Path, tmp_path: Path) -> None:
    """mouse1 and mouse2's tracks trade places from the frame where the two are farthest
    apart; a 1 px gate counts only exact positions, so IDF1 follows by hand."""
    gt = load_groundtruth(demo_truth)
    xy = gt["position"].transpose("time", "individuals", "keypoints", "space").values
    apart = np.nanmean(np.linalg.norm(xy[:, 0, :4] - xy[:, 1, :4], axis=-1), axis=1)
    k = int(np.argmax(apart[5:-5])) + 5
    values = gt["position"].values.copy()
    values[k:, :, :, [0, 1]] = values[k:, :, :, [1, 0]]
    tracks = gt.copy(deep=True)
    tracks["position"].values[:] = values
    tracks = tracks.assign_coords(individuals=["ind1", "ind2", "ind3", SINGLE])
    present = ~np.isnan(xy[:, :3, :4]).all(axis=(2, 3))
    assert present.all()  # no mouse is ever hidden whole in this video
    s = identity_scores(tracks, gt, gate_px=1.0)
    assert s.switches == 2
    idtp = 2 * max(k, 40 - k) + 40  # mouse1 and mouse2 on their longer stretch, mouse3 all
    assert s.idtp == idtp and s.idf1 == pytest.approx(idtp / 120)
    assert s.identity_kept == pytest.approx(max(k, 40 - k) / 40)
    assert s.switches == identity_scores(tracks, gt).switches == 2  # the default gate too
    # through the files: DLC's tracks layout (x, y, likelihood), key 'tracks'
    h5 = tmp_path / "mice1DLC_dlcrnetms5_mademoDec1shuffle1_5_el.h5"
    save_tracks(tracks, h5)
    assert score_track_file(h5, demo_truth, gate_px=1.0) == s


def test_bad_input_names_the_files(demo_truth: Path, tmp_path: Path) -> None:
    truth = animals(2)
    tracks, gt = truth_and_tracks(truth, truth)
    tracks.attrs["source_file"], gt.attrs["source_file"] = "a_el.h5", "a_groundtruth.h5"
    fewer = tracks.sel(keypoints=["snout", "middle", "feeder"])
    with pytest.raises(IdentityScoreError, match=r"^a_el.h5 vs a_groundtruth.h5: body parts"):
        identity_scores(fewer, gt)
    with pytest.raises(IdentityScoreError, match="no frames to compare .0 tracked, 20 in"):
        identity_scores(tracks.isel(time=slice(0, 0)), gt)
    with pytest.raises(IdentityScoreError, match="the tracks hold no track"):
        identity_scores(tracks.sel(individuals=[SINGLE]), gt)
    with pytest.raises(IdentityScoreError, match="gate_px must be a positive number"):
        identity_scores(tracks, gt, gate_px=0)
    one_part = dataset(truth[:, :, :1], ["mouse1", "mouse2"], feeder=False)
    with pytest.raises(IdentityScoreError, match="give gate_px"):
        identity_scores(one_part, one_part.sel(keypoints=["snout"]))
    assert identity_scores(tracks.isel(time=slice(0, 5)), gt).frames == 5  # the shorter
    missing = tmp_path / "none_groundtruth.h5"
    with pytest.raises(IdentityScoreError, match=f"^{missing}: ground truth file not found$"):
        score_track_file(demo_truth, missing)
    flat = tmp_path / "flat.h5"
    pd.DataFrame({"x": [1.0]}).to_hdf(flat, key="df")
    with pytest.raises(IdentityScoreError, match=f"^{flat}: not a multi-animal table"):
        score_track_file(demo_truth, flat)


def cells(line: str) -> list[str]:
    """A table line's cells (columns are two or more spaces apart)."""
    return re.split(r"\s{2,}", line.strip())


def test_identity_table_aligned() -> None:
    truth = animals(2)
    swapped = truth.copy()
    swapped[8:] = truth[8:, ::-1]
    scores = {
        "mice1.mp4": identity_scores(*truth_and_tracks(truth, truth)),
        "mice10.mp4": identity_scores(*truth_and_tracks(truth, swapped)),
    }
    lines = identity_table(scores, {"mice1.mp4": "labeled", "mice10.mp4": "held-out"})
    assert len(lines) == 3 and len({len(line) for line in lines}) == 1
    head, first, second = map(cells, lines)
    assert dict(zip(head, second, strict=True)) == {
        "video": "mice10.mp4",
        "kind": "held-out",
        "frames": "20",
        "animals": "2",
        "tracks": "2",
        "gate": "10.00 px",
        "IDF1": "0.600",
        "switches": "2",
        "MOTA": "0.950",
        "kept": "60.0%",
        "mean error": "60.00 px",
        "median": "0.00 px",
        "within 5 px": "60.0%",
    }
    assert first[:4] == ["mice1.mp4", "labeled", "20", "2"] and first[6:9] == [
        "1.000",
        "0",
        "1.000",
    ]
    for word in head[2:]:  # right-aligned: every column ends where its header ends
        end = lines[0].index(word) + len(word)
        assert lines[1][end - 1] != " " and (end == len(lines[1]) or lines[1][end] == " ")


def assembly_csv(path: Path, rows: list[list[float]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(rows, columns=ASSEMBLY_COLUMNS).to_csv(path)
    return path


def test_report_text(demo_truth: Path, tmp_path: Path) -> None:
    project = demo_truth.parent.parent
    config = next(project.glob("mademo-oracle-*/config.yaml"))
    model = config.parent / "evaluation-results" / "iteration-0" / "mademoDec1-trainset95shuffle1"
    csv = assembly_csv(
        model / "DLC_x-assembly-results.csv",
        [
            [5, 95, 1, 12.346, 20.5, 0.51234, 0.25, 0.6, 0.3, False],
            [10, 95, 1, 3.1, 4.2, 0.9, 0.8, 1, 1, True],
        ],
    )
    lines = assembly_table([csv])
    assert len({len(line) for line in lines}) == 1
    assert cells(lines[0])[4:] == ["RMSE train", "RMSE test", "mAP train", "mAP test"]
    assert cells(lines[1]) == ["0", "1", "95", "5", "12.35 px", "20.50 px", "0.512", "0.250"]
    assert cells(lines[2]) == ["0", "1", "95", "10", "3.10 px", "4.20 px", "0.900", "0.800"]
    gt = load_groundtruth(demo_truth)
    h5 = config.parent / "videos" / "mice1DLC_dlcrnetms5_mademoDec1shuffle1_10_el.h5"
    save_tracks(gt.assign_coords(individuals=["ind1", "ind2", "ind3", SINGLE]), h5)
    out = tmp_path / "report.txt"
    text = mademo_report(config, [h5], [csv], out=out)
    assert out.read_text() == text
    assert "RMSE train" in text and "12.35 px" in text and "mAP test" in text
    row = next(line for line in text.splitlines() if line.startswith("mice1.mp4"))
    assert row.split()[:5] == ["mice1.mp4", "held-out", "40", "3", "3"]  # no frames extracted
    assert "1.000" in row and "100.0%" in row and "0.00 px" in row
    with pytest.raises(MADemoReportError, match="no demo video of the project matches"):
        mademo_report(config, [tmp_path / "otherDLC_x_el.h5"])
    bad = tmp_path / "bad.csv"
    pd.DataFrame({"a": [1]}).to_csv(bad)
    with pytest.raises(MADemoReportError, match=f"^{bad}: not an assembly results file"):
        assembly_table([bad])


def test_dlc_tracks_file_against_itself(tmp_path: Path) -> None:
    """DLC's stitched tracks (montblanc, key 'df', x/y/likelihood, gaps) scored against
    themselves as ground truth under other names: every identity kept, no error."""
    tracks_h5 = FIXTURES / "dlc-unittest-multianimal" / "montblanc_tracks.h5"
    df = read_tracks(tracks_h5)
    truth = df.drop(columns="likelihood", level="coords")
    names = {"bird1": "b3", "bird2": "b1", "bird3": "b2"}
    truth = truth.rename(columns=names, level="individuals")
    gt_h5 = tmp_path / "montblanc_groundtruth.h5"
    truth.to_hdf(gt_h5, key="df_with_missing")
    s = score_track_file(tracks_h5, gt_h5)
    assert (s.frames, s.animals, s.tracks) == (180, 3, 3)
    assert s.switches == 0 and s.idf1 == 1.0 and s.mota == 1.0 and s.identity_kept == 1.0
    assert s.mean_px == 0.0 and s.points == s.truth_points > 0
    assert sorted(s.matching) == [("b1", "bird2"), ("b2", "bird3"), ("b3", "bird1")]
    present = ~df.drop(columns=["single"], level="individuals").isna().T.groupby(level=1).all().T
    assert s.truth_presences == int(present.to_numpy().sum())
