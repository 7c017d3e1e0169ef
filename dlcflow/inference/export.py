"""ONNX export of trained snapshots.

A snapshot ``train/snapshot-<n>`` exports to ``train/snapshot-<n>.onnx`` beside it
(:meth:`dlcflow.project.paths.Project.onnx_export`): the inference network
(:func:`dlcflow.training.nets.inference_model`, outputs ``prob`` and ``locref``) converted by
Keras' own ``model.export(..., format="onnx")`` (tf2onnx), with dynamic batch, height and
width. The file is written under a temporary name and renamed when complete and checked:
ONNX Runtime and TensorFlow must agree on a test image within :data:`VERIFY_PROB_TOL` in
probability and :data:`VERIFY_PX_TOL` px of location refinement.

The export describes itself in its ONNX metadata (``metadata_props``, key ``dlcflow``, a
JSON object; :func:`dlcflow.inference.onnxengine.read_export_metadata`):

- ``input``: the input policy -- ``image``, float32 NHWC RGB in 0..255, dynamic
  ``batch``, ``height``, ``width`` (at least 32 px; padded inside the network), and the
  score-map size ``(2*ceil(H/16), 2*ceil(W/16))``;
- ``outputs``: ``prob`` (B, h, w, J) sigmoid part probabilities, ``locref`` (B, J, 2) the
  location refinement of each part at its maximum in ``prob`` (the only place decoding
  reads it; :func:`dlcflow.inference.onnxlocref.locref_at_maxima`);
- ``pose_cfg``: what decoding and the result tables need -- ``net_type``, ``num_joints``,
  ``all_joints_names``, ``stride``, ``locref_stdev``, ``location_refinement``;
- ``snapshot``, ``snapshot_iteration`` and ``snapshot_fingerprint`` (a hash of the
  snapshot's ``.index`` file, so that a retrained snapshot of the same name is noticed);
- ``graph_rewrites``: the exact rewrites applied for speed (:mod:`dlcflow.inference.onnxgraph`,
  :mod:`dlcflow.inference.onnxlocref`);
- ``verified``: the largest differences to TensorFlow measured at export; versions.

A multi-animal snapshot (:func:`dlcflow.inference.onnxengine.is_multianimal_cfg`) exports
:func:`dlcflow.training.manets.multi_inference_model`: the outputs
:data:`~dlcflow.inference.onnxengine.MULTI_OUTPUTS` as full maps (``prob`` with the identity
channels last, ``locref``, ``pairwise_pred``; no rewrite to the maxima, since detection
reads every peak), the same metadata with ``num_idchannel`` and ``partaffinityfield_graph``
among the ``pose_cfg`` facts, and the same check (PAFs within :data:`VERIFY_PAF_TOL`).

The exports are run by :class:`dlcflow.inference.onnxengine.OnnxEngine`. TensorFlow, Keras,
onnx and tf2onnx are imported only when a snapshot is exported.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import os
import time
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from dlcflow import __version__
from dlcflow.core.fileio import atomic_path
from dlcflow.core.log import log
from dlcflow.core.threads import configure_threads, thread_budget
from dlcflow.inference.decode import locref_at
from dlcflow.inference.onnxengine import (
    EXPORT_FORMAT,
    EXPORT_METADATA_KEY,
    INPUT_POLICY,
    MULTI_OUTPUTS,
    OUTPUTS,
    OnnxEngine,
    export_facts,
    is_multianimal_cfg,
    read_export_metadata,
    snapshot_fingerprint,
)
from dlcflow.project.models import model_snapshots
from dlcflow.project.paths import Project, onnx_export_of, snapshot_iteration
from dlcflow.project.posecfg import load_pose_cfg

__all__ = [
    "VERIFY_PAF_TOL",
    "VERIFY_PROB_TOL",
    "VERIFY_PX_TOL",
    "export_model",
    "export_snapshot",
]

#: Largest |prob(ONNX) - prob(TensorFlow)| accepted when an export is checked.
VERIFY_PROB_TOL = 1e-3
#: Largest location-refinement difference accepted, in pixels (``locref * locref_stdev``).
VERIFY_PX_TOL = 0.02
#: Largest part-affinity-field difference accepted (multi-animal exports).
VERIFY_PAF_TOL = 1e-3
#: Size (H, W) of the random test image an export is checked on (odd, not a multiple of 16).
VERIFY_SIZE = (67, 93)
_DIM_NAMES = {"image": ("batch", "height", "width", None)}
_OUT_DIMS = ("batch", "out_height", "out_width", None)


# -- export ----------------------------------------------------------------------------------
def _is_current(dest: Path, cfg: Mapping[str, Any], prefix: Path) -> bool:
    """``dest`` exists and was exported from this snapshot with these pose_cfg facts."""
    if not dest.is_file():
        return False
    try:
        meta = read_export_metadata(dest)
    except Exception:  # noqa: BLE001 (an unreadable file is simply not current)
        return False
    return (
        meta.get("snapshot_fingerprint") == snapshot_fingerprint(prefix)
        and meta.get("pose_cfg") == export_facts(cfg)
        and meta.get("format") == EXPORT_FORMAT
    )


def _name_dims(model: Any) -> None:
    """Readable names for the dynamic dimensions (tf2onnx leaves ``unk__<n>``)."""
    for value in model.graph.input:
        names = _DIM_NAMES.get(value.name)
        for dim, name in zip(value.type.tensor_type.shape.dim, names or (), strict=False):
            if name and dim.dim_param:
                dim.dim_param = name
    for value in model.graph.output:
        for dim, name in zip(value.type.tensor_type.shape.dim, _OUT_DIMS, strict=False):
            if name and dim.dim_param:
                dim.dim_param = name


def _verify(
    keras_model: Any, path: Path, cfg: Mapping[str, Any], threads: int | None
) -> dict[str, Any]:
    """Largest differences between ONNX Runtime and TensorFlow on a random image;
    ValueError when they exceed the tolerances."""
    rng = np.random.default_rng(0)
    image = rng.uniform(0, 255, (1, *VERIFY_SIZE, 3)).astype(np.float32)
    expected = keras_model(image, training=False)
    prob, locref, *pafs = OnnxEngine(path, threads=threads, providers=["CPUExecutionProvider"])(
        image
    )
    stdev = float(cfg.get("locref_stdev", 7.2801))
    prob_diff = float(np.abs(prob - expected["prob"].numpy()).max())
    dense = expected["locref"].numpy()
    if locref.ndim == 3:  # at ONNX's maxima: TensorFlow's map read there
        dense = locref_at(prob, dense)
    px_diff = float(np.abs(locref - dense).max()) * stdev
    paf_diff = float(np.abs(pafs[0] - expected["pairwise_pred"].numpy()).max()) if pafs else 0.0
    if not (prob_diff <= VERIFY_PROB_TOL and px_diff <= VERIFY_PX_TOL) or paf_diff > (
        VERIFY_PAF_TOL
    ):
        raise ValueError(
            f"ONNX export differs from TensorFlow: max probability difference {prob_diff:.2e} "
            f"(limit {VERIFY_PROB_TOL}), max location refinement difference {px_diff:.3f} px "
            f"(limit {VERIFY_PX_TOL}), max PAF difference {paf_diff:.2e} (limit "
            f"{VERIFY_PAF_TOL}); the export was not written"
        )
    found = {"input": [1, *VERIFY_SIZE, 3], "max_prob_diff": prob_diff, "max_px_diff": px_diff}
    return {**found, "max_paf_diff": paf_diff} if pafs else found


def export_snapshot(
    pose_cfg: Mapping[str, Any] | str | os.PathLike[str],
    snapshot: str | os.PathLike[str],
    dest: str | os.PathLike[str] | None = None,
    *,
    force: bool = False,
    verify: bool = True,
    fold: bool = True,
    threads: int | None = None,
) -> Path:
    """Export one snapshot (prefix ``.../snapshot-<n>`` or its ``.index`` file) with its
    (test) pose_cfg to ``dest`` (default ``snapshot-<n>.onnx`` beside it); see the module
    docstring for the file. An export that is already current (same snapshot fingerprint
    and pose_cfg facts) is kept unless ``force``. ``fold`` applies exact simplifications
    of the graph (:mod:`dlcflow.inference.onnxgraph`, :mod:`dlcflow.inference.onnxlocref`);
    ``verify`` compares ONNX Runtime with TensorFlow before the file gets its final name.
    Returns the export's path."""
    cfg = dict(pose_cfg) if isinstance(pose_cfg, Mapping) else load_pose_cfg(pose_cfg)
    path = Path(snapshot)
    prefix = path.with_name(path.name[: -len(".index")]) if path.suffix == ".index" else path
    index = prefix.with_name(prefix.name + ".index")
    if not index.is_file():
        raise FileNotFoundError(f"{index}: snapshot not found (train the network first)")
    target = Path(dest) if dest is not None else onnx_export_of(prefix)
    if not force and _is_current(target, cfg, prefix):
        log(f"{target}: already exported from {prefix.name}; kept")
        return target
    configure_threads(thread_budget(threads))
    import keras  # noqa: PLC0415 (TensorFlow, Keras, onnx and tf2onnx only to export)
    import onnx  # noqa: PLC0415
    import tensorflow as tf  # noqa: PLC0415
    import tf2onnx  # noqa: PLC0415

    from dlcflow.inference import onnxgraph, onnxlocref  # noqa: PLC0415 (they import onnx)
    from dlcflow.training import manets, nets  # noqa: PLC0415 (imports TensorFlow / Keras)

    multi = is_multianimal_cfg(cfg)
    log(f"Exporting {prefix.name} ({cfg.get('net_type')}) to {target}")
    start = time.time()
    fingerprint = snapshot_fingerprint(prefix)
    if multi:
        model = manets.multi_inference_model(manets.load_trained_multi_model(cfg, prefix))
    else:
        model = nets.inference_model(nets.load_trained_model(cfg, prefix))
    spec = tf.TensorSpec([None, None, None, 3], tf.float32, name="image")
    target.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(target) as tmp:
        logging.getLogger("tf2onnx").setLevel(logging.ERROR)
        with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # Keras' tf2onnx patch for NumPy 2 (np.object)
            model.export(str(tmp), format="onnx", input_signature=[spec], verbose=False)
        proto = onnx.load(str(tmp))
        _name_dims(proto)
        rewrites = []
        if fold and onnxgraph.fold_input_scaling(proto):
            rewrites.append("input scaling folded into the first convolution")
        if fold and not multi and onnxlocref.locref_at_maxima(proto):
            rewrites.append("location refinement computed at each part's maximum only")
        if fold and (heads := onnxgraph.deconv_heads_as_convs(proto)):
            rewrites.append(f"{heads} stride-2 transposed convolutions as convolutions")
        if fold and (merged := onnxgraph.merge_narrow_pointwise(proto)):
            rewrites.append(f"{merged} narrow 1x1 convolutions merged into the next")
        if fold and (shapes := onnxgraph.shapes_without_reorder(proto)):
            rewrites.append(f"{shapes} shapes taken from smaller tensors")
        opsets = {o.domain or "ai.onnx": o.version for o in proto.opset_import}
        meta = {
            "format": EXPORT_FORMAT,
            "input": INPUT_POLICY,
            "outputs": MULTI_OUTPUTS if multi else OUTPUTS,
            "pose_cfg": export_facts(cfg),
            "snapshot": prefix.name,
            "snapshot_iteration": snapshot_iteration(prefix),
            "snapshot_fingerprint": fingerprint,
            "graph_rewrites": rewrites,
            "exported": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "versions": {
                "dlcflow": __version__,
                "tensorflow": tf.__version__,
                "keras": keras.__version__,
                "tf2onnx": tf2onnx.__version__,
                "opset": opsets.get("ai.onnx"),
            },
        }
        kind = "multi-animal pose network" if multi else "pose network"
        proto.doc_string = f"dlcflow {kind} {cfg.get('net_type')}, {prefix.name}"
        _set_metadata(proto, meta)
        onnx.save(proto, str(tmp))
        if verify:
            meta["verified"] = _verify(model, tmp, cfg, threads)
            _set_metadata(proto, meta)
            onnx.save(proto, str(tmp))
    size = target.stat().st_size / 1e6
    log(f"Saved {target} ({size:.1f} MB, {time.time() - start:.1f} s)")
    return target


def _set_metadata(proto: Any, meta: Mapping[str, Any]) -> None:
    for prop in list(proto.metadata_props):
        if prop.key == EXPORT_METADATA_KEY:
            proto.metadata_props.remove(prop)
    entry = proto.metadata_props.add()
    entry.key, entry.value = EXPORT_METADATA_KEY, json.dumps(meta, sort_keys=True)


def export_model(
    config: str | os.PathLike[str],
    shuffle: int = 1,
    trainingsetindex: int = 0,
    snapshot_index: int | str | None = None,
    *,
    modelprefix: str = "",
    force: bool = False,
    verify: bool = True,
    threads: int | None = None,
) -> Path:
    """Export the snapshot that analysis uses to ONNX: the config's ``snapshotindex``
    (``snapshot_index`` overrides it; ``"all"`` means the last) of
    ``TrainingFraction[trainingsetindex]`` and ``shuffle``, with its test pose_cfg.
    Writes ``train/snapshot-<n>.onnx`` beside the snapshot and returns its path (see
    :func:`export_snapshot` for ``force``, ``verify`` and ``threads``)."""
    project = Project(config)
    setup, (model,) = model_snapshots(
        project, shuffle, trainingsetindex, snapshot_index, modelprefix, allow_all=False
    )
    return export_snapshot(setup.cfg, model.snapshot, force=force, verify=verify, threads=threads)
