"""Re-identification: keypoint features, triplets, the Keras transformer embedding and the
appearance term of stitching, on a tiny rendered scene with known identities."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest
from test_matrain import ma_project  # noqa: F401 (a tiny trained multi-animal project)

from dlcflow.data.pose import make_poses
from dlcflow.inference.reid import collect_tokens, train_embedding
from dlcflow.post.idmetrics import identity_scores
from dlcflow.tracking.appearance import appearance_weight, keypoint_features, mine_triplets
from dlcflow.tracking.stitch import StitchParams, stitch, tracks_dataset
from dlcflow.tracking.tracklet import Tracklet, parse_tracklets
from dlcflow.training.reidnet import embed

NFRAMES, WIDTH, HEIGHT = 120, 96, 32
GAP = (55, 64)  # both animals undetected while they cross
PARTS = ["nose", "mid", "tail"]
OFFSETS = np.array([[0.0, 0.0], [-4.0, 2.0], [-8.0, 0.0]])
COLOURS = [(220, 60, 40), (40, 80, 220)]


def _scene() -> tuple[np.ndarray, np.ndarray]:
    """(frames (n, h, w, 3) uint8, truth (n, 2 animals, 3 parts, 2)): two animals that
    cross the image in opposite directions at frame 60, each in its own colour."""
    t = np.arange(NFRAMES, dtype=float)
    centres = np.stack(
        [np.stack([8 + 0.67 * t, 15 + 0 * t], -1), np.stack([88 - 0.67 * t, 17 + 0 * t], -1)], 1
    )
    truth = centres[:, :, None, :] + OFFSETS[None, None]
    rng = np.random.default_rng(0)
    frames = rng.integers(90, 160, (NFRAMES, HEIGHT, WIDTH, 3)).astype(np.uint8)
    for f in range(NFRAMES):
        for a, colour in enumerate(COLOURS):
            for x, y in truth[f, a]:
                cv2.circle(frames[f], (round(x), round(y)), 2, colour, -1)
    return frames, truth


def _tracklet_dict(truth: np.ndarray) -> dict:
    """Four tracklets (each animal before and after the gap), keys that say nothing."""
    out: dict = {}
    runs = [(0, 0, GAP[0] - 1), (1, 0, GAP[0] - 1), (0, GAP[1] + 1, NFRAMES - 1)]
    runs.append((1, GAP[1] + 1, NFRAMES - 1))
    for key, (animal, first, last) in zip((7, 3, 5, 1), runs, strict=True):
        frames = {}
        for f in range(first, last + 1):
            arr = np.full((len(PARTS), 4), -1.0)
            arr[:, :2] = truth[f, animal]
            arr[:, 2] = 0.9
            frames[f"frame{f:04d}"] = arr
        out[key] = frames
    return out


def _truth_dataset(truth: np.ndarray):  # noqa: ANN202
    return make_poses(
        truth.transpose(0, 3, 2, 1), keypoints=PARTS, individuals=["a", "b"], scorer="truth"
    )


def test_keypoint_features_are_bilinear() -> None:
    fmap = np.arange(4 * 6 * 2, dtype=np.float32).reshape(4, 6, 2)
    got = keypoint_features(fmap, np.array([[1.5, 2.0], [0.0, 0.0], [np.nan, 1.0]]))
    np.testing.assert_allclose(got[0], (fmap[2, 1] + fmap[2, 2]) / 2)
    np.testing.assert_allclose(got[1], fmap[0, 0])
    np.testing.assert_allclose(got[2], 0.0)
    # stride 8: the centre of cell (1, 2) is at pixel (2 * 8 + 3.5, 1 * 8 + 3.5)
    np.testing.assert_allclose(keypoint_features(fmap, np.array([[19.5, 11.5]]), 8)[0], fmap[1, 2])


def test_triplets_take_negatives_from_overlapping_tracklets() -> None:
    _, truth = _scene()
    tracklets = parse_tracklets(_tracklet_dict(truth)).tracklets
    triplets = mine_triplets(tracklets, 300, seed=1)
    assert len(triplets) == 300
    for (ia, fa), (ip, fp), (ineg, fn) in triplets:
        assert ia == ip != ineg
        assert fa != fp and {fa, fp} <= set(tracklets[ia].inds.tolist())
        assert fn in set(tracklets[ineg].inds.tolist())
        assert set(tracklets[ia].inds.tolist()) & set(tracklets[ineg].inds.tolist())
    lone = [Tracklet(np.ones((3, 1, 3)), [0, 1, 2]), Tracklet(np.ones((3, 1, 3)), [5, 6, 7])]
    assert mine_triplets(lone, 10) == []


def test_reid_keeps_identities_where_distance_stitching_swaps() -> None:
    frames, truth = _scene()
    images = frames.astype(np.float32) / 255.0
    raw = _tracklet_dict(truth)
    tracklets = parse_tracklets(raw).tracklets
    assert sum(len(t) for t in tracklets) == 2 * (NFRAMES - 10)

    table = collect_tokens(tracklets, enumerate(images), lambda image: image, 1.0)
    encoder, accuracy = train_embedding(
        table, tracklets, 256, 0.75, 4, 32, seed=0, dim=16, embedding_dim=8
    )
    assert accuracy > 0.9  # held-out triplets: the anchor nearer its own animal

    def embedder(frame_inds: np.ndarray, xy: np.ndarray) -> np.ndarray:
        return embed(encoder, table.tokens(frame_inds, xy))

    truth_ds = _truth_dataset(truth)
    scores = {}
    for name, params in (
        ("distance", StitchParams()),
        ("off", StitchParams(embedder=embedder)),
        ("reid", StitchParams(embedder=embedder, appearance=50.0)),
        ("weight", StitchParams(weight_func=appearance_weight(embedder, 50.0))),
    ):
        result = stitch(raw, 2, params, nframes=NFRAMES)
        ds = tracks_dataset(result, "DLC_test", ["a", "b"], PARTS)
        scores[name] = identity_scores(ds, truth_ds)
    # the animals swap places during the gap: the centroid distance links them wrongly
    assert scores["distance"].switches == 2 and scores["distance"].idf1 == pytest.approx(
        0.5, abs=0.05
    )
    assert scores["off"] == scores["distance"]  # strength 0 is stitching without re-ID
    reid = scores["reid"]  # every tracked frame on its animal; only the gap is missed
    assert reid.switches == 0 and reid.idfp == 0 and reid.idtp == reid.track_presences
    assert reid.idf1 == pytest.approx(2 * 220 / (2 * 220 + 20))
    assert reid.idf1 > scores["distance"].idf1
    assert scores["weight"] == reid
    with pytest.raises(ValueError, match="appearance must be at least 0"):
        StitchParams(embedder=embedder, appearance=-1.0)


def test_transformer_reid_on_a_trained_project(ma_project: Path, capsys) -> None:  # noqa: F811
    """DLC's call on a tiny trained project: the backbone's features at the tracklets'
    keypoints, the encoder saved in the train folder (a progress line per epoch report),
    the tracks in ``_el_tr.h5``; tracklets that share no frame are stitched without it."""
    from dlcflow.inference.reid import transformer_reID
    from dlcflow.io.tracklets import write_tracklets
    from dlcflow.project.models import model_snapshots
    from dlcflow.project.paths import Project
    from dlcflow.training.train import train_network

    train_network(ma_project, maxiters=2, saveiters=2, displayiters=1, seed=0)
    project = Project(ma_project)
    _, (model,) = model_snapshots(project, 1, 0, None, "", allow_all=False)
    video = project.root / "videos" / "arena.avi"
    rng = np.random.default_rng(0)
    tracklets: dict = {}
    for k in range(3):  # three animals seen in all five frames, kept apart
        start = np.array([15.0 + 25 * k, 20.0])
        tracklets[k] = {}
        for f in range(5):
            arr = np.full((3, 4), -1.0)
            arr[:, :2] = start + [[0, 0], [6, 3], [12, 6]] + rng.normal(0, 0.3, (3, 2))
            arr[:, 2] = 0.9
            tracklets[k][f"frame{f:04d}"] = arr
    write_tracklets(tracklets, Project.tracklets_output(video, model.scorer, "ellipse"))
    (out,) = transformer_reID(
        ma_project, [video], n_triplets=20, train_epochs=1, train_batch_size=8
    )
    assert out == Project.reid_tracks_output(video, model.scorer, "ellipse")
    assert out.name.endswith(model.scorer + "_el_tr.h5")
    df = pd.read_hdf(out)
    assert df.shape == (5, 3 * 3 * 3)
    assert list(df.columns.unique("individuals")) == ["m1", "m2", "m3"]
    firsts = np.sort(df.xs("nose", level="bodyparts", axis=1).xs("x", level="coords", axis=1))
    np.testing.assert_allclose(firsts[0], [15.0, 40.0, 65.0], atol=1.5)  # no track lost
    assert Project.reid_checkpoint(model.snapshot.parent, 1).is_file()
    assert "epoch 1/1  loss " in capsys.readouterr().err
    # one animal, tracked in two pieces that share no frame: nothing to learn from
    alone = {0: {k: v for k, v in tracklets[0].items() if k < "frame0002"}}
    alone[1] = {k: v for k, v in tracklets[0].items() if k > "frame0002"}
    write_tracklets(alone, Project.tracklets_output(video, model.scorer, "ellipse"))
    (out,) = transformer_reID(ma_project, [video], n_triplets=20, train_epochs=1)
    assert "no two tracklets share a frame" in capsys.readouterr().err
    df = pd.read_hdf(out)
    present = df.xs("likelihood", level="coords", axis=1).notna().any(axis=1)
    assert present.tolist() == [True, True, False, True, True]
