"""inference.engines / images / analyze: decoding, image batches, and video analysis.

Most tests use a stand-in engine whose output is under the test's control: it finds
coloured squares in each image and returns score maps that decode (through the one
decoding path, ``dlcflow.inference.decode.decode``) to the squares' centres, so coordinates,
cropping and frame bookkeeping can be checked to the pixel without training a network.
"""

from __future__ import annotations

import math
import pickle
import warnings
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest

from dlcflow.core.videofiles import list_videos
from dlcflow.inference.analyze import analyze_videos
from dlcflow.inference.batches import count_frames
from dlcflow.inference.engines import predict_batch
from dlcflow.inference.images import predict_images
from dlcflow.project import posecfg
from dlcflow.project.config import read_config, write_config
from dlcflow.project.create import create_new_project
from dlcflow.project.models import select_snapshots
from dlcflow.project.paths import Project
from dlcflow.workflow.settings import declared_snapshot

W, H = 160, 120
STRIDE, STDEV = 8, 7.2801
RED, GREEN = (255, 0, 0), (0, 255, 0)  # RGB
BG = 70
SIDE = 12  # square side: pixels x0 .. x0+11, centre x0 + 5.5
BODYPARTS = ["a", "b"]
META_KEYS = {
    "start",
    "stop",
    "run_duration",
    "Scorer",
    "DLC-model-config file",
    "fps",
    "batch_size",
    "frame_dimensions",
    "nframes",
    "iteration (active-learning)",
    "training set fraction",
    "cropping",
    "cropping_parameters",
}


# -- stand-in engine --------------------------------------------------------------------------
def encode(points: np.ndarray, height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    """Network outputs (prob, locref) that decode to ``points`` (B, J, 3: x, y, p)."""
    b, j, _ = points.shape
    h, w = 2 * math.ceil(height / 16), 2 * math.ceil(width / 16)
    prob = np.full((b, h, w, j), 0.001, np.float32)
    locref = np.zeros((b, h, w, 2 * j), np.float32)
    for i in range(b):
        for k in range(j):
            x, y, p = points[i, k]
            col = int(np.clip(math.floor(x / STRIDE), 0, w - 1))
            row = int(np.clip(math.floor(y / STRIDE), 0, h - 1))
            prob[i, row, col, k] = p
            locref[i, row, col, 2 * k] = (x - (col * STRIDE + STRIDE / 2)) / STDEV
            locref[i, row, col, 2 * k + 1] = (y - (row * STRIDE + STRIDE / 2)) / STDEV
    return prob, locref


def find_square(img: np.ndarray, color: Sequence[int]) -> tuple[float, float] | None:
    """Centre of the pixels close to ``color`` (None when there are none)."""
    mask = np.all(np.abs(img.astype(np.float32) - np.asarray(color, np.float32)) < 80, axis=-1)
    ys, xs = np.nonzero(mask)
    if xs.size < 4:
        return None
    return float(xs.mean()), float(ys.mean())


class SquareEngine:
    """Finds one coloured square per body part; returns its centre plus ``offsets``,
    with likelihood ``likelihoods`` (0.01 at (0, 0) when the square is not there)."""

    def __init__(
        self,
        colors: Sequence[Sequence[int]] = (RED, GREEN),
        offsets: Sequence[tuple[float, float]] = ((0, 0), (0, 0)),
        likelihoods: Sequence[float] = (0.9, 0.9),
    ) -> None:
        self.colors, self.offsets, self.likelihoods = colors, offsets, likelihoods
        self.shapes: list[tuple[int, ...]] = []
        self.dtypes: list[np.dtype] = []

    def __call__(self, batch: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        self.shapes.append(batch.shape)
        self.dtypes.append(batch.dtype)
        points = np.zeros((batch.shape[0], len(self.colors), 3))
        for i, img in enumerate(batch):
            for k, color in enumerate(self.colors):
                found = find_square(img, color)
                if found is None:
                    points[i, k] = (0.0, 0.0, 0.01)
                else:
                    dx, dy = self.offsets[k]
                    points[i, k] = (found[0] + dx, found[1] + dy, self.likelihoods[k])
        return encode(points, batch.shape[1], batch.shape[2])


class SubmitEngine(SquareEngine):
    """Takes batches with ``submit`` as ONNX Runtime's engine does, and computes each
    only when it is waited for, from the array it was given: outputs are right only if
    the caller leaves that array alone until then. Records submissions and waits."""

    def __init__(self) -> None:
        super().__init__()
        self.events: list[tuple[str, int]] = []

    def submit(self, batch: np.ndarray):  # noqa: ANN201
        number = sum(kind == "submit" for kind, _ in self.events)
        self.events.append(("submit", number))

        def wait() -> tuple[np.ndarray, np.ndarray]:
            self.events.append(("wait", number))
            return self(batch)

        return wait


class Factory:
    """Engine factory for ``engine=``: counts how often a model is loaded."""

    def __init__(self, engine: SquareEngine | None = None) -> None:
        self.engine = engine or SquareEngine()
        self.calls: list[Path] = []

    def __call__(self, cfg: dict, prefix: Path) -> SquareEngine:
        self.calls.append(prefix)
        return self.engine


# -- videos and projects ----------------------------------------------------------------------
def square_centres(i: int) -> np.ndarray:
    """True centres (2, 2) of the red and the green square in frame ``i``."""
    x0, y0 = 20 + 2 * i, 30 + i
    return np.array([[x0 + 5.5, y0 + 5.5], [x0 + 25.5, y0 + 35.5]])


def draw_frame(i: int, hidden: bool = False, size: tuple[int, int] = (W, H)) -> np.ndarray:
    """RGB frame ``i``: grey background, red and green squares (absent when ``hidden``)."""
    img = np.full((size[1], size[0], 3), BG, np.uint8)
    if not hidden:
        for (cx, cy), color in zip(square_centres(i), (RED, GREEN), strict=True):
            x0, y0 = int(cx - 5.5), int(cy - 5.5)
            img[y0 : y0 + SIDE, x0 : x0 + SIDE] = color
    return img


def make_video(
    path: Path, nframes: int = 24, hidden: Sequence[int] = (), size: tuple[int, int] = (W, H)
) -> Path:
    fourcc = "MJPG" if path.suffix == ".avi" else "mp4v"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*fourcc), 25.0, size)
    assert writer.isOpened()
    for i in range(nframes):
        frame = draw_frame(i, hidden=i in hidden, size=size)
        writer.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
    writer.release()
    return path


def corrupt_frame(video: Path, index: int) -> None:
    """Make one MJPG frame undecodable (its SOF marker becomes an unsupported one)."""
    data = bytearray(video.read_bytes())
    starts = [i for i in range(len(data) - 2) if data[i : i + 3] == b"\xff\xd8\xff"]
    sof = data.index(b"\xff\xc0", starts[index])
    data[sof + 2 : sof + 4] = b"\xc1\xe0"
    video.write_bytes(bytes(data))


def make_model(project: Project, iterations: Sequence[int] = (100, 200)) -> None:
    """A test pose_cfg and empty snapshot files (the stand-in engine needs no weights)."""
    fraction = project.training_fractions[0]
    cfg = {
        "all_joints": [[i] for i in range(len(BODYPARTS))],
        "all_joints_names": BODYPARTS,
        "dataset": "x.mat",
        "global_scale": 0.8,
        "init_weights": "none",
        "location_refinement": True,
        "locref_stdev": STDEV,
        "net_type": "mobilenet_v2_0.35",
        "num_joints": len(BODYPARTS),
        "scoremap_dir": "test",
    }
    posecfg.write_yaml(project.pose_cfg(fraction, 1, "test"), cfg)
    train = project.train_folder(fraction, 1)
    train.mkdir(parents=True, exist_ok=True)
    for it in iterations:
        (train / f"snapshot-{it}.index").write_bytes(b"")
        (train / f"snapshot-{it}.data-00000-of-00001").write_bytes(b"")


@pytest.fixture
def setup(tmp_path: Path) -> tuple[Project, Path]:
    """A project with a model (stand-in snapshots 100 and 200) and a 24-frame avi."""
    (tmp_path / "data").mkdir()
    video = make_video(tmp_path / "data" / "vid.avi")
    config = create_new_project("T", "me", [video], working_directory=tmp_path, bodyparts=BODYPARTS)
    project = Project(config)
    make_model(project)
    return project, video


def set_config(project: Project, **values: object) -> None:
    cfg = read_config(project.config_path)
    for key, value in values.items():
        cfg[key] = value
    write_config(project.config_path, cfg)


def expected(nframes: int) -> np.ndarray:
    return np.stack([square_centres(i) for i in range(nframes)])  # (n, 2, 2)


def xy_of(df: pd.DataFrame) -> np.ndarray:
    """(n, J, 2) x, y from an analysis table."""
    return df.to_numpy().reshape(len(df), -1, 3)[..., :2]


# -- decoding and images ----------------------------------------------------------------------
def test_predict_batch_decodes_through_targets_exactly() -> None:
    points = np.array(
        [[[10.25, 20.5, 0.9], [150.0, 3.0, 0.7]], [[0.0, 119.0, 0.2], [77.7, 61.1, 1.0]]]
    )

    def engine(batch: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        assert batch.dtype == np.float32
        return encode(points, batch.shape[1], batch.shape[2])

    cfg = {"stride": 8.0, "locref_stdev": STDEV, "location_refinement": True}
    poses = predict_batch(engine, np.zeros((2, H, W, 3), np.uint8), cfg)
    assert poses.shape == (2, 2, 3)
    np.testing.assert_allclose(poses, points, atol=1e-4)
    coarse = predict_batch(
        engine, np.zeros((2, H, W, 3), np.uint8), {**cfg, "location_refinement": False}
    )
    np.testing.assert_allclose(coarse[0, 0, :2], [12.0, 20.0])  # the cell centre


def test_predict_images_batches_by_size_keeps_order_and_rescales(tmp_path: Path) -> None:
    sizes = [(W, H), (96, 64), (W, H), (96, 64), (W, H)]
    images: list[np.ndarray | Path] = [draw_frame(i, size=s) for i, s in enumerate(sizes)]
    cv2.imwrite(str(tmp_path / "f.png"), cv2.cvtColor(draw_frame(7), cv2.COLOR_RGB2BGR))
    images.append(tmp_path / "f.png")
    engine = SquareEngine(colors=(RED,), offsets=((0, 0),), likelihoods=(0.9,))
    cfg = {"num_joints": 1, "stride": 8.0, "locref_stdev": STDEV}
    poses = predict_images(engine, images, cfg, batch_size=2)
    want = np.array([square_centres(i)[0] for i in (0, 1, 2, 3, 4, 7)])
    np.testing.assert_allclose(poses[:, 0, :2], want, atol=1e-3)
    assert [s[0] for s in engine.shapes] == [2, 2, 2]  # 4 images of one size, 2 of another
    assert {s[1:3] for s in engine.shapes} == {(H, W), (64, 96)}
    engine.shapes.clear()
    scaled = predict_images(engine, images, cfg, batch_size=8, scale=0.5)
    assert {s[1:3] for s in engine.shapes} == {(60, 80), (32, 48)}
    np.testing.assert_allclose(scaled[:, 0, :2], want, atol=1.0)  # back in original pixels


def test_select_snapshots() -> None:
    snaps = [Path("snapshot-5"), Path("snapshot-10"), Path("snapshot-20")]
    assert select_snapshots(snaps, -1) == [snaps[-1]]
    assert select_snapshots(snaps, 0) == [snaps[0]]
    assert select_snapshots(snaps, "all") == snaps
    assert select_snapshots(snaps, "all", allow_all=False) == [snaps[-1]]
    with pytest.raises(IndexError, match="snapshotindex 3 is out of range: 3 snapshot"):
        select_snapshots(snaps, 3)
    with pytest.raises(ValueError, match="integer or 'all'"):
        select_snapshots(snaps, "last")


# -- video analysis ---------------------------------------------------------------------------
def test_analysis_files_are_dlcs(setup, capsys) -> None:
    project, video = setup
    factory = Factory()
    scorer = analyze_videos(project.config_path, [video], save_as_csv=True, engine=factory)
    assert scorer == f"DLC_mobnet_35_T{project.date}shuffle1_200"  # the last snapshot
    assert [p.name for p in factory.calls] == ["snapshot-200"]
    h5 = video.parent / f"vid{scorer}.h5"
    with pd.HDFStore(h5, mode="r") as store:
        assert store.keys() == ["/df_with_missing"]
        assert store.get_storer("df_with_missing").is_table
    df = pd.read_hdf(h5, "df_with_missing")
    assert list(df.columns.names) == ["scorer", "bodyparts", "coords"]
    assert list(df.columns) == [
        (scorer, bp, c) for bp in BODYPARTS for c in ("x", "y", "likelihood")
    ]
    assert list(df.index) == list(range(24))
    np.testing.assert_allclose(xy_of(df), expected(24), atol=0.5)
    np.testing.assert_allclose(df.xs("likelihood", level="coords", axis=1), 0.9, atol=1e-6)
    csv = pd.read_csv(video.parent / f"vid{scorer}.csv", header=[0, 1, 2], index_col=0)
    assert list(csv.columns) == list(df.columns)
    np.testing.assert_allclose(csv.to_numpy(), df.to_numpy(), atol=1e-4)
    with open(video.parent / f"vid{scorer}_meta.pickle", "rb") as fh:
        meta = pickle.load(fh)
    assert set(meta) == {"data"} and set(meta["data"]) == META_KEYS
    data = meta["data"]
    assert data["Scorer"] == scorer and data["nframes"] == 24 and data["fps"] == 25.0
    assert data["frame_dimensions"] == (H, W) and data["batch_size"] == 8  # config batch_size
    assert data["cropping"] is False and data["cropping_parameters"] == [0, W, 0, H]
    assert data["iteration (active-learning)"] == 0 and data["training set fraction"] == 0.95
    assert data["DLC-model-config file"]["init_weights"].endswith("snapshot-200")
    assert data["run_duration"] == pytest.approx(data["stop"] - data["start"])
    assert not list(video.parent.glob(".*"))  # no temp files left


def test_batches_partial_last_batch_and_snapshot_choice(setup) -> None:
    project, video = setup
    factory = Factory()
    set_config(project, snapshotindex=0)
    scorer = analyze_videos(project.config_path, video, batchsize=5, engine=factory)
    assert scorer.endswith("_100") and factory.calls[0].name == "snapshot-100"
    assert [s[0] for s in factory.engine.shapes] == [5, 5, 5, 5, 4]
    assert all(d == np.float32 for d in factory.engine.dtypes)
    df = pd.read_hdf(video.parent / f"vid{scorer}.h5")
    np.testing.assert_allclose(xy_of(df), expected(24), atol=0.5)
    other = analyze_videos(project.config_path, video, snapshot_index=1, engine=factory)
    assert other.endswith("_200")
    set_config(project, snapshotindex="all")
    assert analyze_videos(project.config_path, video, engine=factory, force=True).endswith("_200")


def test_an_earlier_iterations_model_analyzes_again(setup) -> None:
    """After the config moved on to iteration 1 (merge), iteration 0's snapshot analyzes
    with ``iteration=0`` and its snapshot index (what the workflow's rule passes)."""
    project, video = setup
    set_config(project, iteration=1)
    with pytest.raises(FileNotFoundError, match="iteration 1"):  # nothing trained for it yet
        analyze_videos(project.config_path, video, engine=Factory())
    factory = Factory()
    scorer = analyze_videos(
        project.config_path, video, engine=factory, iteration=0, snapshot_index=0
    )
    assert scorer.endswith("_100") and factory.calls[0].name == "snapshot-100"
    assert "iteration-0" in factory.calls[0].parts
    assert Project(project.config_path).iteration == 1  # the config is not changed


def test_the_rule_script_takes_the_declared_snapshot(setup) -> None:
    project, _ = setup
    train = Project(project.config_path).train_folder(project.training_fractions[0], 1)
    assert declared_snapshot(train / "snapshot-200.index") == (0, 1)
    assert declared_snapshot(train / "snapshot-100.index") == (0, 0)
    with pytest.raises(FileNotFoundError, match="snapshot-300.index: snapshot not found"):
        declared_snapshot(train / "snapshot-300.index")


def test_next_batch_is_submitted_before_the_current_one_is_waited_for(setup) -> None:
    project, video = setup
    engine = SubmitEngine()
    scorer = analyze_videos(project.config_path, video, batchsize=5, engine=Factory(engine))
    assert engine.events == [
        ("submit", 0),
        ("submit", 1),
        ("wait", 0),
        ("submit", 2),
        ("wait", 1),
        ("submit", 3),
        ("wait", 2),
        ("submit", 4),
        ("wait", 3),
        ("wait", 4),
    ]
    df = pd.read_hdf(video.parent / f"vid{scorer}.h5")
    np.testing.assert_allclose(xy_of(df), expected(24), atol=0.5)  # no buffer reused early


def test_already_analyzed_is_skipped_unless_force(setup, capsys) -> None:
    project, video = setup
    factory = Factory()
    scorer = analyze_videos(project.config_path, [video], engine=factory)
    h5 = Project.analysis_output(video, scorer)
    before = h5.stat().st_mtime_ns
    capsys.readouterr()
    analyze_videos(project.config_path, [video], engine=factory)
    assert "already analyzed" in capsys.readouterr().err
    assert len(factory.calls) == 1 and h5.stat().st_mtime_ns == before  # no model loaded
    analyze_videos(project.config_path, [video], engine=factory, force=True)
    assert len(factory.calls) == 2 and h5.stat().st_mtime_ns != before


def test_folder_of_videos_with_videotype_and_destfolder(setup, tmp_path: Path) -> None:
    project, _ = setup
    folder = tmp_path / "many"
    folder.mkdir()
    make_video(folder / "one.avi", 6)
    make_video(folder / "two.mp4", 6)
    make_video(folder / "one_labeled.avi", 3)  # a labeled video is never analyzed
    (folder / "notes.txt").write_text("x")
    assert [p.name for p in list_videos(folder, "avi")] == ["one.avi"]
    assert [p.name for p in list_videos([folder], "")] == ["one.avi", "two.mp4"]
    out = tmp_path / "out"
    scorer = analyze_videos(
        project.config_path, [folder], videotype=".avi", destfolder=out, engine=Factory()
    )
    assert sorted(p.name for p in out.iterdir()) == [f"one{scorer}.h5", f"one{scorer}_meta.pickle"]
    analyze_videos(project.config_path, [folder], destfolder=out, engine=Factory())
    assert (out / f"two{scorer}.h5").is_file()
    assert not (folder / f"one{scorer}.h5").exists()


def test_undecodable_middle_frame_is_a_nan_row(setup, tmp_path: Path) -> None:
    project, _ = setup
    video = make_video(tmp_path / "bad.avi", 30)
    corrupt_frame(video, 13)
    with pytest.warns(UserWarning, match=r"bad\.avi: frame\(s\) 13 cannot be decoded"):
        scorer = analyze_videos(project.config_path, video, batchsize=4, engine=Factory())
    df = pd.read_hdf(Project.analysis_output(video, scorer))
    assert len(df) == 30
    assert df.iloc[13].isna().all()
    good = [i for i in range(30) if i != 13]
    assert not df.iloc[good].isna().any().any()
    np.testing.assert_allclose(xy_of(df)[good], expected(30)[good], atol=0.5)


def test_cropping_gives_coordinates_relative_to_the_crop(setup) -> None:
    project, video = setup
    factory = Factory()
    crop = [10, 130, 20, 110]
    scorer = analyze_videos(project.config_path, video, cropping=crop, engine=factory)
    assert {s[1:3] for s in factory.engine.shapes} == {(90, 120)}
    h5 = Project.analysis_output(video, scorer)
    np.testing.assert_allclose(xy_of(pd.read_hdf(h5)), expected(24) - [10, 20], atol=0.5)
    with open(Project.analysis_output(video, scorer, suffix="_meta.pickle"), "rb") as fh:
        meta = pickle.load(fh)["data"]
    assert meta["cropping"] is True and meta["cropping_parameters"] == crop
    assert meta["frame_dimensions"] == (H, W)
    # the config's crop, when cropping is on
    set_config(project, cropping=True, x1=0, x2=150, y1=5, y2=115)
    analyze_videos(project.config_path, video, engine=factory, force=True)
    np.testing.assert_allclose(xy_of(pd.read_hdf(h5)), expected(24) - [0, 5], atol=0.5)


def test_dynamic_cropping_returns_full_frame_coordinates(setup, tmp_path: Path) -> None:
    project, _ = setup
    video = make_video(tmp_path / "dyn.avi", 24, hidden=(10, 11))
    factory = Factory()
    scorer = analyze_videos(project.config_path, video, dynamic=(True, 0.5, 12), engine=factory)
    shapes = factory.engine.shapes
    assert all(s[0] == 1 for s in shapes)  # batch size 1
    full = [k for k, s in enumerate(shapes) if s[1:3] == (H, W)]
    # frame 0: no detection yet; frame 10: lost in the box, looked for again in the whole
    # frame (a 2nd call); 11: nothing; 12: found in the whole frame; else a box
    assert len(shapes) == 25 and full == [0, 11, 12, 13]
    df = pd.read_hdf(Project.analysis_output(video, scorer))
    seen = [i for i in range(24) if i not in (10, 11)]
    np.testing.assert_allclose(xy_of(df)[seen], expected(24)[seen], atol=0.5)
    like = df.xs("likelihood", level="coords", axis=1).to_numpy()
    assert (like[[10, 11]] < 0.5).all() and (like[seen] > 0.5).all()
    with open(Project.analysis_output(video, scorer, suffix="_meta.pickle"), "rb") as fh:
        assert pickle.load(fh)["data"]["batch_size"] == 1


def test_dynamic_box_is_dlcs_box_at_least_32_px() -> None:
    from dlcflow.inference.analyze import _bounding_box

    pts = np.array([[40.0, 50.0], [90.7, 60.2]])
    assert _bounding_box(pts, W, H, 12) == (28, 102, 38, 72)  # int(min) - m, int(max) + m
    assert _bounding_box(pts, W, H, 0) == (40, 90, 39, 71)  # widened to 32 rows, centred
    assert _bounding_box(np.array([[2.0, 118.0]]), W, H, 5) == (0, 32, 88, 120)  # clipped


def test_count_frames_and_errors(setup, tmp_path: Path) -> None:
    project, video = setup
    assert count_frames(video) == 24
    with pytest.raises(FileNotFoundError, match="video not found"):
        analyze_videos(project.config_path, tmp_path / "missing.avi", engine=Factory())
    with pytest.raises(ValueError, match="trainingsetindex 3"):
        analyze_videos(project.config_path, video, trainingsetindex=3, engine=Factory())
    with pytest.raises(FileNotFoundError, match="no model for iteration 0, shuffle 2"):
        analyze_videos(project.config_path, video, shuffle=2, engine=Factory())
    with pytest.raises(ValueError, match="cropping"):
        analyze_videos(project.config_path, video, cropping=[50, 10, 0, 10], engine=Factory())
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        scorer = analyze_videos(project.config_path, video, robust_nframes=True, engine=Factory())
    assert len(pd.read_hdf(Project.analysis_output(video, scorer))) == 24


def test_tensorflow_engine_on_a_real_snapshot(setup) -> None:
    """The default engine: a snapshot of an untrained network, dynamic shapes, one trace."""
    from dlcflow.inference.engines import TensorFlowEngine
    from dlcflow.project.posecfg import load_pose_cfg
    from dlcflow.training import nets  # noqa: PLC0415

    project, video = setup
    cfg = load_pose_cfg(project.pose_cfg(0.95, 1, "test"))
    model = nets.build_model(cfg)
    prefix = nets.save_snapshot(project.snapshot_prefix(0.95, 1, 300), model, iteration=300)
    engine = TensorFlowEngine(cfg, prefix)
    batch = np.random.default_rng(0).uniform(0, 255, (3, H, W, 3)).astype(np.float32)
    prob, locref = engine(batch)
    reference = nets.inference_model(model)(batch)
    np.testing.assert_allclose(prob, reference["prob"].numpy(), atol=1e-5)
    np.testing.assert_allclose(locref, reference["locref"].numpy(), atol=1e-5)
    assert prob.shape == (3, 16, 20, 2) and locref.shape == (3, 16, 20, 4)
    small, _ = engine(batch[:1, :64, :100])
    assert small.shape == (1, 8, 14, 2)
    assert engine._run.experimental_get_tracing_count() == 1  # no retrace per size
    scorer = analyze_videos(project.config_path, video, batchsize=5)  # the "tensorflow" engine
    assert scorer.endswith("_300")
    df = pd.read_hdf(Project.analysis_output(video, scorer))
    assert df.shape == (24, 6) and not df.isna().any().any()
    like = df.xs("likelihood", level="coords", axis=1).to_numpy()
    assert ((like >= 0) & (like <= 1)).all()
    poses = predict_images(engine, [draw_frame(0), draw_frame(1)], cfg)
    assert poses.shape == (2, 2, 3) and np.isfinite(poses).all()
