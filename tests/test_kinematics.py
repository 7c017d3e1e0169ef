"""Kinematics (dlcflow.post.kinematics, .kinematicsfiles, io.kinematics, plots): analytic
cases, the demos' synthetic ground truth, 2D / multi-animal / 3D pose files, the CLI."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from dlcflow.cli.main import main
from dlcflow.data.pose import SINGLE, make_poses
from dlcflow.devtools.demo import BODYPARTS, make_demo_project, read_groundtruth, simulate
from dlcflow.devtools.demoreport import speed_errors
from dlcflow.devtools.mademo import simulate_group
from dlcflow.io.kinematics import load_kinematics, read_kinematics
from dlcflow.io.poses import save_poses
from dlcflow.io.poses3d import save_poses_3d
from dlcflow.io.tables import to_dataset
from dlcflow.plots.kinematics import plot_kinematics
from dlcflow.post.kinematics import KinematicsError, KinematicsOptions, bouts_of, kinematics
from dlcflow.post.kinematicsfiles import (
    kinematics_file,
    kinematics_files,
    project_pcutoff,
    summary_rows,
)
from dlcflow.project.paths import Project
from dlcflow.workflow.settings import analyses, settings, stage_targets
from dlcflow.workflow.settings import kinematics_files as kinematics_files_of

FPS = 30.0
REPO = Path(__file__).resolve().parents[1]


def circle(n: int = 300, r: float = 50.0, w: float = 2.0) -> np.ndarray:
    t = np.arange(n) / FPS
    return np.stack([100 + r * np.cos(w * t), 100 + r * np.sin(w * t)], axis=1)


def with_likelihood(ds):
    """A ground truth (no likelihood) as a pose file's dataset: likelihood 1 where visible."""
    out = ds.copy()
    out["confidence"] = (
        out["confidence"].fillna(1.0).where(out["position"].notnull().all("space"), 0.0)
    )
    out.attrs["has_confidence"] = True
    out.attrs["fps"] = FPS
    return out


def poses(xy: dict[str, np.ndarray], conf: dict[str, np.ndarray] | None = None, fps=FPS):
    names = list(xy)
    pos = np.stack([xy[k] for k in names], axis=2)  # time, space, keypoints
    c = np.stack([conf[k] for k in names], 1) if conf else np.ones((len(pos), len(names)))
    return make_poses(pos, c, keypoints=names, fps=fps, scorer="DLC_test")


# central differences: relative error (w/fps)^2/6; a 9-frame cubic smooths a little more
@pytest.mark.parametrize("window,polyorder,rtol", [(0, 2, 5e-3), (9, 3, 1e-2)])
def test_circle_speed_and_acceleration(window: int, polyorder: int, rtol: float) -> None:
    r, w = 50.0, 2.0
    ds = poses({"a": circle(r=r, w=w)})
    kin = kinematics(ds, KinematicsOptions(window=window, polyorder=polyorder))
    inner = slice(5, -5)
    speed = kin["speed"].values[inner, 0, 0]
    acc = kin["acceleration_norm"].values[inner, 0, 0]
    np.testing.assert_allclose(speed, r * w, rtol=1e-3)
    np.testing.assert_allclose(acc, r * w * w, rtol=rtol)
    assert kin.attrs["unit"] == "px"
    # mm scale: 2 px per mm halves every length and speed
    mm = kinematics(ds, KinematicsOptions(window=window, polyorder=polyorder, pixels_per_mm=2.0))
    np.testing.assert_allclose(mm["speed"].values[inner, 0, 0], r * w / 2, rtol=1e-3)
    assert mm.attrs["unit"] == "mm"


def test_angle_heading_distance_of_a_known_triangle() -> None:
    n = 20
    const = {
        "tail": np.tile([0.0, 0.0], (n, 1)),
        "mid": np.tile([3.0, 0.0], (n, 1)),
        "head": np.tile([3.0, 4.0], (n, 1)),
    }
    opts = KinematicsOptions(
        pairs=(("tail", "head"),),
        angles=(("tail", "mid", "head"), ("mid", "tail", "head")),
        heading=("tail", "head"),
    )
    kin = kinematics(poses(const), opts)
    np.testing.assert_allclose(kin["distance"].values[:, 0, 0], 5.0)
    np.testing.assert_allclose(kin["angle"].values[:, 0, 0], 90.0)
    np.testing.assert_allclose(kin["angle"].values[:, 1, 0], np.degrees(np.arctan2(4, 3)))
    np.testing.assert_allclose(kin["heading"].values[:, 0], np.degrees(np.arctan2(4, 3)))
    # 3D: the same triangle lifted, heading in the x-y plane
    pos3 = np.stack([np.column_stack([v, np.full(n, 7.0)]) for v in const.values()], axis=2)
    ds3 = make_poses(pos3, None, keypoints=list(const), space=("x", "y", "z"), fps=FPS)
    kin3 = kinematics(ds3, opts)
    np.testing.assert_allclose(kin3["angle"].values[:, 0, 0], 90.0)
    np.testing.assert_allclose(kin3["distance"].values[:, 0, 0], 5.0)
    assert kin3.attrs["unit"] == "mm"


def test_a_pause_is_one_freezing_bout() -> None:
    # 1 s moving at 100 px/s, 2 s still, 1 s moving: one freeze starting at frame 30, 60 frames
    v = np.r_[np.full(30, 100.0), np.zeros(60), np.full(30, 100.0)] / FPS
    x = np.cumsum(v)
    xy = np.column_stack([x, np.zeros_like(x)])
    opts = KinematicsOptions(freeze_speed=20, min_freeze_s=1.0, move_speed=60, min_move_s=0.5)
    kin = kinematics(poses({"a": xy}), opts)
    bouts = bouts_of(kin, "individual_0")
    freezes = [b for b in bouts if b.kind == "freezing"]
    assert len(freezes) == 1
    # central differences smear the two edges by one frame each
    assert abs(freezes[0].start - 30) <= 1 and abs(freezes[0].frames - 60) <= 2
    assert abs(freezes[0].duration_s - 2.0) <= 2 / FPS
    assert [b.kind for b in bouts] == ["moving", "freezing", "moving"]


def test_gaps_pcutoff_and_max_gap() -> None:
    xy = circle(60)
    conf = np.ones(60)
    conf[10:13] = 0.05  # 3 frames under pcutoff: filled
    conf[30:40] = 0.05  # 10 frames: stays missing, never bridged
    kin = kinematics(poses({"a": xy}, {"a": conf}), KinematicsOptions(max_gap=5), pcutoff=0.6)
    pos = kin["position"].values[:, :, 0, 0]
    assert np.isfinite(pos[10:13]).all()
    assert np.isnan(pos[30:40]).all()
    assert np.isnan(kin["speed"].values[30:40, 0, 0]).all()
    assert np.isfinite(kin["speed"].values[[29, 40], 0, 0]).all()  # one-sided at the ends
    # pcutoff 0: nothing is missing
    kin0 = kinematics(poses({"a": xy}, {"a": conf}), KinematicsOptions(max_gap=5))
    assert np.isfinite(kin0["position"].values).all()
    # the options' pcutoff wins over the argument
    kin1 = kinematics(poses({"a": xy}, {"a": conf}), KinematicsOptions(pcutoff=0.01), pcutoff=0.6)
    assert np.isfinite(kin1["position"].values).all()


def test_unknown_part_names_the_source_and_part() -> None:
    with pytest.raises(KinematicsError, match=r"^cfg\.yaml: .*'paw'") as err:
        kinematics(
            poses({"a": circle(10)}), KinematicsOptions(pairs=(("a", "paw"),)), where="cfg.yaml"
        )
    assert "\n" not in str(err.value)
    with pytest.raises(ValueError, match="window 4"):
        KinematicsOptions(window=4)


def test_demo_groundtruth_file_and_round_trip(tmp_path) -> None:
    scene = simulate(120, fps=FPS, seed=3)
    truth = with_likelihood(to_dataset(scene.groundtruth()))
    h5 = tmp_path / "vidDLC_test.h5"
    save_poses(truth, h5)
    opts = KinematicsOptions(centre=("snout", "tailbase"), heading=("tailbase", "snout"))
    out = kinematics_file(h5, options=KinematicsOptions(**{**opts.to_config(), "fps": FPS}))
    assert out.name == "vidDLC_test_kinematics.h5"
    # speed of every part on frames whose neighbours are visible: the central difference
    # of the true positions
    speed_true = np.linalg.norm(np.gradient(scene.keypoints, 1 / FPS, axis=0), axis=2)
    tables = load_kinematics(out)
    df = tables["individual_0"]
    vis = scene.visible
    ok = vis & np.roll(vis, 1, 0) & np.roll(vis, -1, 0)
    ok[[0, -1]] = False
    for j, part in enumerate(BODYPARTS):
        np.testing.assert_allclose(df[part]["speed"].to_numpy()[ok[:, j]], speed_true[ok[:, j], j])
    # heading: tailbase -> snout of the truth
    d = (
        scene.keypoints[:, BODYPARTS.index("snout")]
        - scene.keypoints[:, BODYPARTS.index("tailbase")]
    )
    both = vis[:, BODYPARTS.index("snout")] & vis[:, BODYPARTS.index("tailbase")]
    heading = np.degrees(np.arctan2(d[:, 1], d[:, 0]))
    np.testing.assert_allclose(df["heading"]["heading"].to_numpy()[both], heading[both])
    # csv and h5 hold the same table
    table, meta = read_kinematics(out)
    csv = pd.read_csv(out.with_suffix(".csv"), header=[0, 1, 2, 3], index_col=0)
    np.testing.assert_allclose(csv.to_numpy(), table.to_numpy(), rtol=1e-9, equal_nan=True)
    assert list(csv.columns) == list(table.columns)
    assert meta["fps"] == FPS and meta["unit"] == "px"
    # one table in the h5: DLC's readers (pd.read_hdf without a key) read it
    assert pd.read_hdf(out).equals(table)
    rows = summary_rows(out)
    assert rows[0]["frames"] == 120 and rows[0]["unit"] == "px"
    speeds = df["centre"]["speed"].to_numpy()
    assert rows[0]["max_speed"] == pytest.approx(np.nanmax(speeds))
    pngs = plot_kinematics(out, tmp_path / "s.png", tmp_path / "o.png", 20, 60)
    assert all(p.stat().st_size > 1000 for p in pngs)


def test_multi_animal_tracks_and_3d(tmp_path) -> None:
    scene = simulate_group(60, n_animals=2, fps=FPS, seed=1)
    ds = with_likelihood(to_dataset(scene.groundtruth()))
    h5 = tmp_path / "miceDLC_test_el.h5"
    save_poses(ds, h5)
    out = kinematics_file(h5, options=KinematicsOptions(fps=FPS))
    tables = load_kinematics(out)
    assert set(tables) == {*scene.individuals, SINGLE}
    first = scene.individuals[0]
    pos = ds["position"].sel(individuals=first).transpose("time", "keypoints", "space").values
    kp0 = str(ds["keypoints"].values[0])
    truth = np.linalg.norm(np.gradient(pos[:, 0], 1 / FPS, axis=0), axis=1)
    got = tables[first][kp0]["speed"].to_numpy()
    ok = np.isfinite(pos[:, 0, 0])
    ok &= np.roll(ok, 1) & np.roll(ok, -1)
    ok[[0, -1]] = False
    np.testing.assert_allclose(got[ok], truth[ok])
    assert kp0 not in tables[SINGLE].columns.get_level_values(0)  # single: unique parts only
    # 3D file: mm, fps from the options
    n = 90
    xy = circle(n, r=40.0, w=1.0)
    pos3 = np.column_stack([xy, np.linspace(0, 10, n)])[:, :, None]
    ds3 = make_poses(pos3, None, keypoints=["a"], space=("x", "y", "z"), scorer="DLC_3D")
    h53 = tmp_path / "rec_DLC_3D.h5"
    save_poses_3d(ds3, h53)
    config = tmp_path / "config.yaml"
    config.write_text("pcutoff: 0.6\n")
    (out3,) = kinematics_files(config, [h53], options=KinematicsOptions(fps=FPS))
    df3 = load_kinematics(out3)["individual_0"]
    expected = np.hypot(40.0, 10 / ((n - 1) / FPS))
    np.testing.assert_allclose(df3["a"]["speed"].to_numpy()[3:-3], expected, rtol=1e-3)
    summary = pd.read_csv(tmp_path / "kinematics-summary.csv")
    assert summary["unit"].tolist() == ["mm"]


def test_cli(tmp_path, capsys) -> None:
    h5 = tmp_path / "vidDLC_test.h5"
    save_poses(poses({"a": circle(90), "b": circle(90) + 5}), h5)
    config = tmp_path / "config.yaml"
    config.write_text("pcutoff: 0.6\n")
    args = ["kinematics", str(config), str(h5), "--fps", "30", "--pair", "a", "b", "--plots"]
    assert main(args) == 0
    assert (tmp_path / "vidDLC_test_kinematics.csv").is_file()
    assert (tmp_path / "vidDLC_test_kinematics_speed.png").is_file()
    df = load_kinematics(tmp_path / "vidDLC_test_kinematics.h5")["individual_0"]
    np.testing.assert_allclose(df["distance(a,b)"]["distance"], np.hypot(5, 5))
    assert main(["kinematics", str(config), str(h5), "--fps", "30", "--pair", "a", "paw"]) == 1
    err = capsys.readouterr().err
    assert "paw" in err and str(config) in err


def test_workflow_targets_and_demo_speed_errors(tmp_path) -> None:
    """The `kinematics` target's files of a demo project, made as its rules make them, and
    the demo report's speed errors against the ground truth (0 for the truth itself)."""
    config = make_demo_project(tmp_path, n_videos=1, nframes=60, numframes2pick=5)
    project = Project(config)
    workflow = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    st = settings({**workflow, "project": str(config)})
    targets = stage_targets(project, "kinematics", st)
    ((video, h5),) = analyses(project, st)
    truth = with_likelihood(to_dataset(read_groundtruth(video.resolve())))
    save_poses(truth, h5, metadata={"fps": FPS})
    (out,) = kinematics_files_of(project, st)
    assert targets == [
        str(project.root / "kinematics-summary.csv"),
        str(project.kinematics_plot(h5, "speed")),
        str(project.kinematics_plot(h5, "occupancy")),
    ]
    assert out == str(project.kinematics_output(h5))
    opts = st.kinematics
    kinematics_file(h5, out, opts, project_pcutoff(config, opts))
    exact = speed_errors(out, video, opts)
    assert exact["speed_mae"] == pytest.approx(0.0, abs=1e-9)
    assert exact["frames"] > 50 and exact["true_speed"] > 0
    noisy = truth.copy()
    rng = np.random.default_rng(0)
    noisy["position"] = noisy["position"] + rng.normal(0, 0.5, noisy["position"].shape)
    save_poses(noisy, h5, metadata={"fps": FPS})
    kinematics_file(h5, out, opts, project_pcutoff(config, opts))
    rough = speed_errors(out, video, opts)
    # central differences of independent 0.5 px noise: sd 0.5/sqrt(2) px per frame axis
    assert 5 < rough["speed_mae"] < 30
    assert rough["speed_rel"] == pytest.approx(rough["speed_mae"] / rough["true_speed"])


def test_config_section_schema_and_options_agree() -> None:
    config = yaml.safe_load((REPO / "config" / "config.yaml").read_text())["kinematics"]
    schema = yaml.safe_load((REPO / "workflow/schemas/config.schema.yaml").read_text())
    props = schema["properties"]["kinematics"]
    keys = set(KinematicsOptions.CONFIG_KEYS)
    assert set(props["properties"]) == set(props["required"]) == set(config) == keys
    assert KinematicsOptions.from_config(config) == KinematicsOptions()
    assert KinematicsOptions().to_config() == config
    opts = KinematicsOptions.from_config({"pairs": [["a", "b"]], "angles": [["a", "b", "c"]]})
    assert opts.pairs == (("a", "b"),) and opts.to_config()["angles"] == [["a", "b", "c"]]
    with pytest.raises(ValueError, match="KinematicsOptions: heading"):
        KinematicsOptions(heading=("a",))
