"""Engines that run trained multi-animal networks, and detections from images.

A multi-animal engine (:func:`make_multi_engine`) maps an image batch to the four inputs of
detection (:func:`dlcflow.inference.madetect.detect_batch`)::

    engine(batch: float32 (B, H, W, 3), RGB, 0..255)
        -> (prob (B, h, w, J), locref (B, h, w, 2J), pafs (B, h, w, 2L),
            identity (B, h, w, n_id) or None)

``prob`` and ``identity`` are probabilities (the sigmoid of ``part_pred``'s body-part and
identity channels), ``locref`` in ``locref_stdev`` units, ``pafs`` the part affinity fields
of ``partaffinityfield_graph``; ``(h, w)`` the stride-8 output size of the network, which
pads its input to a multiple of 16 itself (bottom/right, as single animal), so that
positions are in the input's pixels.

The engines are those of single animal with the multi-animal network: the TensorFlow
engine (:class:`MultiTensorFlowEngine`, :func:`dlcflow.training.manets.multi_inference_model`
of the snapshot) and the ONNX Runtime engine of a multi-animal export (``snapshot-<n>.onnx``,
:func:`dlcflow.inference.export.export_snapshot`), chosen, threaded and checked for
staleness by :func:`dlcflow.inference.engines.make_engine` (``"auto"``: the export when it is
current, TensorFlow with a GPU). :class:`MultiAnimalEngine` splits their raw outputs.
:func:`detect_images` runs images through an engine, batched by size, and detects.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from dlcflow.inference.engines import ENGINES, Engine, TensorFlowEngine, make_engine, submit
from dlcflow.inference.images import _as_rgb, _image_hw, read_image_rgb
from dlcflow.inference.madetect import DetectionParams, detect_batch
from dlcflow.inference.onnxengine import is_multianimal_cfg
from dlcflow.project.posecfg import load_pose_cfg

__all__ = [
    "MULTI_ENGINES",
    "MultiAnimalEngine",
    "MultiOutputs",
    "MultiTensorFlowEngine",
    "detect_images",
    "make_multi_engine",
]

#: ``(prob, locref, pafs, identity or None)`` of a batch (module docstring).
MultiOutputs = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray | None]


class MultiTensorFlowEngine(TensorFlowEngine):
    """A multi-animal snapshot run by TensorFlow (as :class:`TensorFlowEngine`): returns
    the raw ``(prob, locref, pairwise_pred)``, ``prob`` with the identity channels last."""

    outputs = ("prob", "locref", "pairwise_pred")

    def _inference_model(self, cfg: Mapping[str, Any], snapshot_prefix: Path) -> Any:
        from dlcflow.training import manets  # noqa: PLC0415 (pulls in TensorFlow / Keras)

        return manets.multi_inference_model(manets.load_trained_multi_model(cfg, snapshot_prefix))

    def __repr__(self) -> str:
        return f"MultiTensorFlowEngine({str(self.snapshot_prefix)!r})"


def _tensorflow_factory(
    pose_cfg: Mapping[str, Any], snapshot_prefix: Path, threads: int | None = None
) -> Engine:
    return MultiTensorFlowEngine(pose_cfg, snapshot_prefix, threads=threads)


#: The multi-animal engines by name, for :func:`~dlcflow.inference.engines.make_engine`:
#: the ONNX Runtime engine is single animal's (it returns every output an export has).
MULTI_ENGINES: dict[str, Callable[..., Engine]] = {
    "tensorflow": _tensorflow_factory,
    "onnx": ENGINES["onnx"],
}


class MultiAnimalEngine:
    """The outputs of a raw engine (``prob`` with the identity channels last, ``locref``,
    ``pairwise_pred``) as ``(prob, locref, pafs, identity or None)`` (module docstring).

    ``runner`` is the raw engine (:data:`MULTI_ENGINES`), ``num_joints`` and
    ``num_idchannel`` say how ``prob``'s channels split. ``name``, ``on_cpu`` and what
    :func:`~dlcflow.inference.engines.describe_engine` reads are the runner's.
    """

    def __init__(self, runner: Engine, num_joints: int, num_idchannel: int = 0) -> None:
        self.runner = runner
        self.num_joints = int(num_joints)
        self.num_idchannel = int(num_idchannel)

    def __getattr__(self, name: str) -> Any:
        if name == "runner":  # not set yet (unpickling): no recursion
            raise AttributeError(name)
        return getattr(self.runner, name)

    def split(self, outputs: Sequence[np.ndarray]) -> MultiOutputs:
        """The raw outputs of a batch as ``(prob, locref, pafs, identity or None)``."""
        if len(outputs) != 3:
            raise ValueError(
                f"{self.runner!r} returned {len(outputs)} outputs, not a multi-animal "
                "network's 3 (prob, locref, pairwise_pred); export the multi-animal snapshot"
            )
        prob, locref, pafs = (np.asarray(o) for o in outputs)
        want = self.num_joints + self.num_idchannel
        if prob.ndim != 4 or prob.shape[-1] != want:
            raise ValueError(
                f"{self.runner!r}: part probabilities {prob.shape} do not have num_joints + "
                f"num_idchannel = {want} channels"
            )
        identity = prob[..., self.num_joints :] if self.num_idchannel else None
        return prob[..., : self.num_joints], locref, pafs, identity

    def __call__(self, batch: np.ndarray) -> MultiOutputs:
        return self.split(self.runner(np.asarray(batch, dtype=np.float32)))

    def submit(self, batch: np.ndarray) -> Callable[[], MultiOutputs]:
        """Start a batch and return a function that waits for its outputs (as the runner's
        :func:`~dlcflow.inference.engines.submit`)."""
        wait = submit(self.runner, np.asarray(batch, dtype=np.float32))
        return lambda: self.split(wait())

    def close(self) -> None:
        """Stop the runner's threads, where it has any."""
        close = getattr(self.runner, "close", None)
        if callable(close):
            close()

    def __repr__(self) -> str:
        return f"MultiAnimalEngine({self.runner!r})"


def make_multi_engine(
    snapshot_prefix: str | os.PathLike[str],
    pose_cfg: Mapping[str, Any] | str | os.PathLike[str],
    engine: str | Callable[..., Engine] = "auto",
    threads: int | None = None,
) -> MultiAnimalEngine:
    """The engine of a multi-animal snapshot (prefix ``.../train/snapshot-<n>``) and its
    (test) pose_cfg (mapping or path): ``"tensorflow"``, ``"onnx"`` (its current export
    ``snapshot-<n>.onnx``; FileNotFoundError without one, StaleExportError when it is of
    another snapshot or pose_cfg), ``"auto"``
    (:func:`~dlcflow.inference.engines.choose_engine`) or a factory ``(pose_cfg, prefix) ->``
    raw engine; ``threads`` as for single animal."""
    cfg = dict(pose_cfg) if isinstance(pose_cfg, Mapping) else load_pose_cfg(pose_cfg)
    if not is_multianimal_cfg(cfg):
        where = "" if isinstance(pose_cfg, Mapping) else f"{pose_cfg}: "
        raise ValueError(
            f"{where}not a multi-animal pose_cfg (no partaffinityfield_graph / num_limbs); "
            "use dlcflow.inference.engines.make_engine"
        )
    runner = make_engine(engine, cfg, snapshot_prefix, threads=threads, registry=MULTI_ENGINES)
    return MultiAnimalEngine(runner, int(cfg["num_joints"]), int(cfg.get("num_idchannel", 0) or 0))


def _load(item: str | os.PathLike[str] | np.ndarray, index: int) -> np.ndarray:
    if isinstance(item, np.ndarray):
        return _as_rgb(item, f"image {index}")
    return read_image_rgb(item)


def detect_images(
    engine: Callable[[np.ndarray], MultiOutputs],
    images: Sequence[str | os.PathLike[str] | np.ndarray],
    params: DetectionParams,
    batch_size: int = 1,
    progress: bool = False,
) -> list[dict[str, Any]]:
    """DLC's ``_full.pickle`` frame dict (:func:`~dlcflow.inference.madetect.detect_batch`)
    of each image (paths or RGB arrays), in the input order, positions in the images'
    pixels. Images of one size are batched together (``batch_size`` at most; files are
    read a batch at a time); the next batch runs while the last one is decoded, where the
    engine runs batches on its own threads."""
    batch_size = max(1, int(batch_size))
    groups: dict[tuple[int, int], list[int]] = {}
    for i, item in enumerate(images):
        groups.setdefault(_image_hw(item), []).append(i)
    chunks = [
        indices[start : start + batch_size]
        for indices in groups.values()
        for start in range(0, len(indices), batch_size)
    ]
    found: list[dict[str, Any] | None] = [None] * len(images)
    start_batch = getattr(engine, "submit", None)

    def launch(chunk: list[int]) -> Callable[[], MultiOutputs]:
        batch = np.stack([_load(images[i], i) for i in chunk]).astype(np.float32)
        if callable(start_batch):
            return start_batch(batch)  # type: ignore[no-any-return]
        outputs = engine(batch)
        return lambda: outputs

    bar = tqdm(total=len(images), unit="image", disable=not progress, leave=False)
    try:
        pending = launch(chunks[0]) if chunks else None
        for k, chunk in enumerate(chunks):
            wait = pending
            pending = launch(chunks[k + 1]) if k + 1 < len(chunks) else None
            assert wait is not None
            prob, locref, pafs, identity = wait()
            for i, frame in zip(
                chunk, detect_batch(prob, locref, pafs, identity, params), strict=True
            ):
                found[i] = frame
            bar.update(len(chunk))
    finally:
        bar.close()
    return [frame for frame in found if frame is not None]
