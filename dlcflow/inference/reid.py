"""Unsupervised re-identification (DeepLabCut's ``transformer_reID``, Lauer et al. 2022).

From the tracklets of a video (``<stem><scorer>_el.pickle``, ``_bx``, ``_sk``):

1. :func:`collect_tokens`: each tracklet detection's *tokens*, a feature map of its frame
   sampled bilinearly at its keypoints (:func:`dlcflow.tracking.appearance.keypoint_features`);
   for :func:`transformer_reID` the feature map is the trained pose network's backbone
   (:func:`dlcflow.training.reidnet.backbone_feature_model`);
2. :func:`train_embedding`: triplets (:func:`~dlcflow.tracking.appearance.mine_triplets`:
   anchor and positive from one tracklet, negative from a tracklet that shares frames
   with it), split ``train_frac`` / rest, a Keras transformer encoder trained on the first
   part with a triplet loss (:func:`~dlcflow.training.reidnet.train_reid`); the held-out
   triplets give its accuracy (anchor closer to the positive than to the negative);
3. :func:`reid_stitch_file`: stitching (:func:`dlcflow.tracking.pipeline.stitch_file`)
   with the appearance term of :class:`~dlcflow.tracking.stitch.StitchParams`, into
   DLC's ``<stem><scorer>_el_tr.h5``. Tracklets without a triplet (no two share a frame,
   e.g. an empty video; DLC stops there) leave nothing to learn: they are stitched
   without the appearance term, with a line that says so.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from dlcflow.core.fileio import atomic_path
from dlcflow.core.log import log
from dlcflow.core.video import VideoReader
from dlcflow.core.videofiles import list_videos
from dlcflow.io.tracklets import read_tracklets
from dlcflow.project.models import model_snapshots
from dlcflow.project.paths import Project
from dlcflow.project.posecfg import load_pose_cfg
from dlcflow.tracking.appearance import Triplet, keypoint_features, mine_triplets
from dlcflow.tracking.pipeline import stitch_file
from dlcflow.tracking.tracklet import Tracklet, TrackletError, parse_tracklets

__all__ = [
    "REID_STRENGTH",
    "TokenTable",
    "collect_tokens",
    "reid_stitch_file",
    "train_embedding",
    "transformer_reID",
]

#: The default weight of the appearance term, in pixels of centroid distance per unit of
#: cosine dissimilarity (0..2).
REID_STRENGTH = 50.0
#: ``features(frame)``: an RGB frame ``(H, W, 3)`` uint8 → a feature map ``(h, w, C)``.
FeatureFunc = Callable[[np.ndarray], np.ndarray]


@dataclass
class TokenTable:
    """The tokens of every tracklet detection: ``frame → (xy (k, parts, 2), tokens (k,
    parts, C))``."""

    frames: dict[int, tuple[np.ndarray, np.ndarray]]

    def lookup(self, frame: int, xy: np.ndarray) -> np.ndarray:
        """The tokens of the detection at ``frame`` nearest to ``xy`` ``(parts, 2)``."""
        stored, tokens = self.frames[int(frame)]
        gap = np.nansum(np.abs(stored - np.asarray(xy)[None]), axis=(1, 2))
        return tokens[int(np.argmin(gap))]

    def tokens(self, frames: Sequence[int] | np.ndarray, xy: np.ndarray) -> np.ndarray:
        """Tokens ``(n, parts, C)`` of detections ``xy`` ``(n, parts, 2)`` at ``frames``."""
        return np.stack([self.lookup(f, p) for f, p in zip(frames, xy, strict=True)])


def collect_tokens(
    tracklets: Sequence[Tracklet],
    frames: Iterable[tuple[int, np.ndarray]],
    features: FeatureFunc,
    stride: float,
) -> TokenTable:
    """The tokens of ``tracklets``' detections from ``(index, RGB frame)`` pairs (the
    frames they need), ``features`` run once per frame at ``stride`` pixels per cell."""
    where: dict[int, list[np.ndarray]] = {}
    for t in tracklets:
        for frame, xy in zip(t.inds.tolist(), t.xy, strict=True):
            where.setdefault(frame, []).append(xy)
    table: dict[int, tuple[np.ndarray, np.ndarray]] = {}
    for index, image in frames:
        if index not in where:
            continue
        fmap = np.asarray(features(image))
        xys = np.stack(where[index])
        table[index] = (xys, np.stack([keypoint_features(fmap, xy, stride) for xy in xys]))
    return TokenTable(table)


def _triplet_tokens(
    table: TokenTable, tracklets: Sequence[Tracklet], triplets: Sequence[Triplet]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    def one(ref: tuple[int, int]) -> np.ndarray:
        t = tracklets[ref[0]]
        return table.lookup(ref[1], t.xy[int(np.searchsorted(t.inds, ref[1]))])

    a, p, n = (np.stack([one(t[k]) for t in triplets]) for k in range(3))
    return a, p, n


class NoTripletsError(ValueError):
    """No two tracklets share a frame: there is nothing to tell the animals apart by."""


def train_embedding(
    table: TokenTable,
    tracklets: Sequence[Tracklet],
    n_triplets: int = 1000,
    train_frac: float = 0.8,
    train_epochs: int = 100,
    train_batch_size: int = 64,
    seed: int = 0,
    **encoder_args: int,
) -> tuple[Any, float]:
    """The trained encoder and its accuracy on the held-out triplets (NaN without any)."""
    from dlcflow.training import reidnet  # noqa: PLC0415 (pulls in TensorFlow / Keras)

    available = [t for t in tracklets if all(int(f) in table.frames for f in t.inds)]
    triplets = mine_triplets(available, n_triplets, seed)
    if not triplets:
        raise NoTripletsError(
            "no triplets: no two tracklets share a frame, so there is nothing to tell the "
            "animals apart by"
        )
    a, p, n = _triplet_tokens(table, available, triplets)
    cut = max(1, min(len(triplets), round(float(train_frac) * len(triplets))))
    encoder = reidnet.train_reid(
        a[:cut], p[:cut], n[:cut], train_epochs, train_batch_size, seed, **encoder_args
    )
    if cut == len(triplets):
        return encoder, float("nan")
    ea, ep, en = (reidnet.embed(encoder, x[cut:]) for x in (a, p, n))
    closer = np.sum((ea - ep) ** 2, axis=1) < np.sum((ea - en) ** 2, axis=1)
    return encoder, float(np.mean(closer))


def reid_stitch_file(
    project: Project,
    tracklets_pickle: Path,
    frames: Iterable[tuple[int, np.ndarray]],
    features: FeatureFunc,
    stride: float,
    out: Path,
    *,
    n_tracks: int | None = None,
    strength: float = REID_STRENGTH,
    checkpoint: Path | None = None,
    **train_args: Any,
) -> tuple[Path, float]:
    """Tokens, embedding and stitching of one tracklet file into ``out``; the encoder
    saved to ``checkpoint`` when given. Returns ``out`` and the held-out accuracy."""
    from dlcflow.training import reidnet  # noqa: PLC0415 (pulls in TensorFlow / Keras)

    try:
        tracklets = [
            v
            for t in parse_tracklets(read_tracklets(tracklets_pickle)).tracklets
            if (v := t.valid()) is not None
        ]
    except TrackletError as err:
        raise ValueError(f"{tracklets_pickle}: {err}") from None
    table = collect_tokens(tracklets, frames, features, stride)
    try:
        encoder, accuracy = train_embedding(table, tracklets, **train_args)
    except NoTripletsError as err:
        log(f"{tracklets_pickle.name}: {err}; stitched without re-identification")
        return stitch_file(project, tracklets_pickle, n_tracks, out), float("nan")
    log(f"{tracklets_pickle.name}: re-identification triplet accuracy {accuracy:.3f} (held out)")
    if checkpoint is not None:
        with atomic_path(checkpoint) as tmp:
            encoder.save(tmp)

    def embedder(inds: np.ndarray, xy: np.ndarray) -> np.ndarray:
        return reidnet.embed(encoder, table.tokens(inds, xy))

    dest = stitch_file(
        project, tracklets_pickle, n_tracks, out, embedder=embedder, appearance=strength
    )
    return dest, accuracy


def transformer_reID(  # noqa: N802 (DeepLabCut's name)
    config: str | os.PathLike[str],
    videos: str | os.PathLike[str] | Sequence[str | os.PathLike[str]],
    videotype: str = "",
    shuffle: int = 1,
    trainingsetindex: int = 0,
    track_method: str = "ellipse",
    n_tracks: int | None = None,
    n_triplets: int = 1000,
    train_frac: float = 0.8,
    modelprefix: str = "",
    train_epochs: int = 100,
    train_batch_size: int = 64,
    ckpt_folder: str | os.PathLike[str] = "",
    destfolder: str | os.PathLike[str] | None = None,
    *,
    snapshotindex: int | None = None,
    strength: float = REID_STRENGTH,
) -> list[Path]:
    """DeepLabCut's ``transformer_reID``: for each video's tracklets, an appearance
    embedding from the backbone of the project's network at the keypoints, trained on the
    video's triplets (saved as ``dlc_transreid_<train_epochs>.keras`` in ``ckpt_folder``,
    default the model's train folder), used in stitching: ``<stem><scorer>_el_tr.h5``
    (``_bx``, ``_sk``). Returns the tracks files. Beyond DLC's arguments:
    ``snapshotindex`` (default: the config's) and ``strength``, the weight of the
    appearance term (:data:`REID_STRENGTH`)."""
    from dlcflow.training import reidnet  # noqa: PLC0415 (pulls in TensorFlow / Keras)

    project = Project(config)
    if not project.multianimal:
        raise ValueError(f"{project.config_path}: not a multi-animal project (multianimalproject)")
    setup, (model,) = model_snapshots(
        project, shuffle, trainingsetindex, snapshotindex, modelprefix, allow_all=False
    )
    backbone, stride = reidnet.backbone_feature_model(
        load_pose_cfg(setup.test_cfg_path), model.snapshot
    )

    def features(image: np.ndarray) -> np.ndarray:
        batch = np.asarray(image, dtype=np.float32)[None]
        return np.asarray(backbone.predict(batch, verbose=0))[0]

    written = []
    for video in list_videos(videos, videotype):
        pickle = Project.tracklets_output(video, model.scorer, track_method, destfolder)
        if not pickle.is_file():
            raise FileNotFoundError(f"{pickle}: no tracklets; run convert_detections2tracklets")
        out = Project.reid_tracks_output(video, model.scorer, track_method, destfolder)
        folder = Path(ckpt_folder) if ckpt_folder else model.snapshot.parent
        with VideoReader(video, rgb=True) as reader:
            dest, _ = reid_stitch_file(
                project,
                pickle,
                reader.frames(progress=f"{Path(video).name} features"),
                features,
                stride,
                out,
                n_tracks=n_tracks,
                strength=strength,
                checkpoint=Project.reid_checkpoint(folder, train_epochs),
                n_triplets=n_triplets,
                train_frac=train_frac,
                train_epochs=train_epochs,
                train_batch_size=train_batch_size,
            )
        written.append(dest)
    return written
