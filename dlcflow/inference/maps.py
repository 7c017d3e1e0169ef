"""The raw outputs of a trained network on the labeled frames (DLC's ``extract_maps``).

For each selected snapshot (config ``snapshotindex``) the network runs on the images of
the merged annotations (``training-datasets/.../CollectedData_<scorer>.h5``, DLC's row
order), or on the rows ``Indices`` of them, and :class:`FrameMaps` keeps, per image, the
score maps (the sigmoid probabilities of each body part), the location-refinement field
in pixels (``locref × locref_stdev``) and, for a multi-animal network, the part affinity
fields of ``partaffinityfield_graph``, at the network's output resolution (stride 8);
:func:`to_image` brings them onto the image's pixels. The Documentation pickle says
which rows trained.

The maps need the dense location refinement, so the snapshot runs in TensorFlow (an ONNX
export may keep locref at each part's maximum only). With ``rescale`` the images are
resized by the test pose_cfg's ``global_scale`` first, as DLC does.

Where DLC differs, on purpose: with ``Indices`` DLC labels frames train/test by their
position in ``Indices`` instead of their row (so a chosen test frame may be called
``train``), and uses ``Indices`` for its first snapshot only; here each frame keeps its
row and every snapshot gets the same frames.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from tqdm import tqdm

from dlcflow.core.log import log
from dlcflow.inference.decode import LOCREF_STDEV, STRIDE
from dlcflow.inference.engines import make_engine
from dlcflow.inference.images import read_image_rgb, rescaled
from dlcflow.inference.maengines import make_multi_engine
from dlcflow.inference.onnxengine import is_multianimal_cfg
from dlcflow.io.labels import read_annotations
from dlcflow.project.models import model_snapshots, training_set_indices
from dlcflow.project.paths import Project
from dlcflow.training.dataset import read_documentation

__all__ = ["FrameMaps", "Maps", "extract_maps", "frame_maps", "to_image"]


@dataclass(frozen=True)
class FrameMaps:
    """The network's maps of one labeled frame (DLC's per-image list, by name).

    ``image``: the RGB frame as it went in (resized with ``rescale``); ``scmap``
    ``(h, w, J)`` probabilities; ``locref`` ``(h, w, J, 2)`` offsets (x, y) in pixels, or
    None without location refinement; ``paf`` ``(h, w, L, 2)`` (x, y) per limb of
    ``paf_graph``, or None (single animal); ``imagename`` the annotation row
    (``labeled-data``, video, image); ``training`` whether the row trained the model.
    """

    image: np.ndarray
    scmap: np.ndarray
    locref: np.ndarray | None
    paf: np.ndarray | None
    bodyparts: list[str]
    paf_graph: list[tuple[int, int]]
    imagename: tuple[str, ...]
    training: bool
    stride: float = STRIDE


#: ``maps[training fraction][snapshot name][row index]`` (DLC's ``extract_maps`` nesting).
Maps = dict[float, dict[str, dict[int, FrameMaps]]]


def to_image(array: np.ndarray, shape: tuple[int, int], stride: float = STRIDE) -> np.ndarray:
    """A map ``(h, w, ...)`` at the network's output resolution resampled (bilinear) onto
    an image of ``shape`` (H, W): output cell ``(r, c)`` lies at pixel
    ``(r * stride + stride / 2, c * stride + stride / 2)``, the position decoding gives it,
    so a map's maximum stays where the network puts the body part."""
    arr = np.asarray(array, dtype=np.float32)
    h, w = arr.shape[:2]
    rest = arr.shape[2:]
    flat = arr.reshape(h, w, -1)
    height, width = int(shape[0]), int(shape[1])
    # inverse map: image pixel p <- cell p / stride - 1/2
    matrix = np.array([[1 / stride, 0, -0.5], [0, 1 / stride, -0.5]], dtype=np.float64)
    flags = cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP
    out = np.empty((height, width, flat.shape[2]), np.float32)
    for k in range(flat.shape[2]):
        out[..., k] = cv2.warpAffine(
            np.ascontiguousarray(flat[..., k]),
            matrix,
            (width, height),
            flags=flags,
            borderMode=cv2.BORDER_REPLICATE,
        )
    return out.reshape(height, width, *rest)


def frame_maps(
    outputs: Sequence[np.ndarray | None],
    cfg: dict[str, Any],
    image: np.ndarray,
    imagename: tuple[str, ...],
    training: bool,
) -> FrameMaps:
    """One image's :class:`FrameMaps` from its network outputs ``(prob, locref[, pafs])``
    (batch of one; ``locref`` in ``locref_stdev`` units, ``(1, h, w, 2J)``)."""
    prob = np.asarray(outputs[0])[0]
    joints = [str(b) for b in cfg["all_joints_names"]]
    scmap = prob[..., : len(joints)]
    locref = None
    if bool(cfg.get("location_refinement", True)) and outputs[1] is not None:
        dense = np.asarray(outputs[1])[0]
        stdev = float(cfg.get("locref_stdev", LOCREF_STDEV))
        locref = dense.reshape(dense.shape[0], dense.shape[1], -1, 2) * stdev
    paf = None
    graph = [(int(a), int(b)) for a, b in cfg.get("partaffinityfield_graph") or []]
    if len(outputs) > 2 and outputs[2] is not None and graph:
        raw = np.asarray(outputs[2])[0]
        paf = raw.reshape(raw.shape[0], raw.shape[1], -1, 2)
    return FrameMaps(
        image=image,
        scmap=scmap,
        locref=locref,
        paf=paf,
        bodyparts=joints,
        paf_graph=graph,
        imagename=imagename,
        training=training,
        stride=float(cfg.get("stride", STRIDE)),
    )


def _rows(count: int, indices: Sequence[int] | None, where: Path) -> list[int]:
    if indices is None:
        return list(range(count))
    chosen = [int(i) for i in indices]
    bad = [i for i in chosen if not -count <= i < count]
    if bad:
        raise ValueError(f"{where}: Indices {bad} are not rows of its {count} labeled images")
    return list(dict.fromkeys(i % count for i in chosen))


def _runner(cfg: dict[str, Any], snapshot: Path, threads: int | None) -> Any:
    """A function: float32 batch -> (prob, locref, pafs or None), in TensorFlow."""
    if is_multianimal_cfg(cfg):
        engine = make_multi_engine(snapshot, cfg, "tensorflow", threads=threads)

        def run(batch: np.ndarray) -> tuple[np.ndarray | None, ...]:
            prob, locref, pafs, _ = engine(batch)
            return prob, locref, pafs

        return run
    single = make_engine("tensorflow", cfg, snapshot, threads=threads)
    return lambda batch: (*single(batch), None)


def extract_maps(
    config: str | os.PathLike[str],
    shuffle: int = 0,
    trainingsetindex: int | str = 0,
    gputouse: int | None = None,
    rescale: bool = False,
    Indices: Sequence[int] | None = None,  # noqa: N803 (DLC's argument name)
    modelprefix: str = "",
    *,
    threads: int | None = None,
    iteration: int | None = None,
) -> Maps:
    """The maps of the labeled frames (module docstring), DLC's ``extract_maps``:
    ``maps[fraction][snapshot name][row]`` is a :class:`FrameMaps`.

    ``trainingsetindex``: an index into ``TrainingFraction`` or ``"all"``; ``Indices``:
    rows of the merged annotations (None: every row); ``rescale``: feed the images
    resized by ``global_scale``. ``threads`` limits TensorFlow's CPU threads;
    ``iteration`` picks an earlier iteration's model (default: the config's).
    """
    project = Project(config, iteration=iteration)
    if gputouse is not None:
        os.environ["CUDA_VISIBLE_DEVICES"] = str(gputouse)
    fractions = training_set_indices(project, trainingsetindex)
    collected = project.training_collected_data()
    if not collected.is_file():
        raise FileNotFoundError(f"{collected}: no merged annotations (create_training_dataset)")
    data = read_annotations(collected)
    rows = _rows(len(data), Indices, collected)
    maps: Maps = {}
    for index in fractions:
        setup, models = model_snapshots(project, shuffle, index, modelprefix=modelprefix)
        cfg = dict(setup.cfg)
        _, train_idx, _, _ = read_documentation(project.documentation_file(setup.fraction, shuffle))
        trained = {int(i) for i in train_idx}
        scale = float(cfg.get("global_scale", 1.0)) if rescale else 1.0
        maps[setup.fraction] = {}
        for model in models:
            log(f"Extracting maps of {model.snapshot.name} ({model.scorer}) on {len(rows)} images")
            run = _runner(cfg, model.snapshot, threads)
            frames: dict[int, FrameMaps] = {}
            for row in tqdm(rows, unit="image", leave=False):
                name = tuple(str(part) for part in data.index[row])
                image = rescaled(read_image_rgb(project.root.joinpath(*name)), scale)
                outputs = run(image[None].astype(np.float32))
                frames[row] = frame_maps(outputs, cfg, image, name, row in trained)
            maps[setup.fraction][model.snapshot.name] = frames
    return maps
