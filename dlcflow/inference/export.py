"""ONNX export of trained snapshots, and the engine that runs exports (ONNX Runtime).

A snapshot ``train/snapshot-<n>`` exports to ``train/snapshot-<n>.onnx`` beside it
(:meth:`dlcflow.project.paths.Project.onnx_export`): the inference network
(:func:`dlcflow.training.nets.inference_model`, outputs ``prob`` and ``locref``) converted by Keras'
own ``model.export(..., format="onnx")`` (tf2onnx), with dynamic batch, height and width.
The file is written under a temporary name and renamed when complete and checked: ONNX
Runtime and TensorFlow must agree on a test image within :data:`VERIFY_PROB_TOL` in
probability and :data:`VERIFY_PX_TOL` px of location refinement.

The export describes itself in its ONNX metadata (``metadata_props``, key ``dlcflow``, a
JSON object; :func:`read_export_metadata`):

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

:class:`OnnxEngine` runs an export (registered as ``"onnx"`` in
:data:`dlcflow.inference.predict.ENGINES`); it imports ONNX Runtime only, never TensorFlow.
Decoding is :func:`dlcflow.inference.predict.decode_outputs`, the same as for TensorFlow.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import itertools
import json
import logging
import os
import threading
import time
import warnings
import weakref
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from dlcflow.core.fileio import atomic_path
from dlcflow.core.log import log
from dlcflow.core.threads import available_cpus, configure_threads, thread_budget
from dlcflow.inference.decode import locref_at
from dlcflow.inference.predict import StaleExportError, onnx_providers
from dlcflow.project.models import model_snapshots
from dlcflow.project.paths import Project, onnx_export_of, snapshot_iteration
from dlcflow.project.posecfg import load_pose_cfg

__all__ = [
    "EXPORT_CFG_KEYS",
    "EXPORT_METADATA_KEY",
    "OnnxEngine",
    "StaleExportError",
    "export_facts",
    "export_model",
    "export_snapshot",
    "nchwc_block",
    "read_export_metadata",
    "snapshot_fingerprint",
]

#: Key of the export's ONNX metadata (``metadata_props``): a JSON object (module docstring).
EXPORT_METADATA_KEY = "dlcflow"
#: Format version of the export (2: ``locref`` at the maxima; 1: dense ``locref`` maps,
#: still run by :class:`OnnxEngine`, re-exported by ``dlcflow export``).
EXPORT_FORMAT = 2
#: pose_cfg keys an export records (what decoding and the body-part table need).
EXPORT_CFG_KEYS = (
    "net_type",
    "num_joints",
    "all_joints_names",
    "stride",
    "locref_stdev",
    "location_refinement",
)
_CFG_DEFAULTS = {"stride": 8.0, "locref_stdev": 7.2801, "location_refinement": True}
#: Largest |prob(ONNX) - prob(TensorFlow)| accepted when an export is checked.
VERIFY_PROB_TOL = 1e-3
#: Largest location-refinement difference accepted, in pixels (``locref * locref_stdev``).
VERIFY_PX_TOL = 0.02
#: Size (H, W) of the random test image an export is checked on (odd, not a multiple of 16).
VERIFY_SIZE = (67, 93)
INPUT_POLICY = {
    "name": "image",
    "dtype": "float32",
    "layout": "NHWC",
    "channels": "RGB",
    "range": [0, 255],
    "dynamic": ["batch", "height", "width"],
    "min_size": 32,
    "padding": "bottom/right to a multiple of 16, inside the network",
    "output_size": "(2*ceil(H/16), 2*ceil(W/16))",
}
OUTPUTS = {
    "prob": "(batch, h, w, num_joints) sigmoid part probabilities",
    "locref": "(batch, num_joints, 2) dx, dy of each part at its first maximum in prob, "
    "in locref_stdev units",
}
OUTPUT_NAMES = list(OUTPUTS)  # the order of session.run's results
#: Most ONNX Runtime sessions one engine runs side by side on the CPU.
MAX_STREAMS = 8
_DIM_NAMES = {"image": ("batch", "height", "width", None)}
_OUT_DIMS = ("batch", "out_height", "out_width", None)


# -- metadata --------------------------------------------------------------------------------
def snapshot_fingerprint(snapshot_prefix: str | os.PathLike[str]) -> str:
    """``sha256:<hex>`` of a snapshot's ``.index`` file (which holds a checksum of every
    tensor in its data file): identifies the weights without reading them."""
    index = Path(snapshot_prefix)
    if not index.name.endswith(".index"):
        index = index.with_name(index.name + ".index")
    return "sha256:" + hashlib.sha256(index.read_bytes()).hexdigest()


def export_facts(cfg: Mapping[str, Any]) -> dict[str, Any]:
    """The pose_cfg facts an export records, JSON-ready (DLC's defaults where absent)."""
    facts = {k: cfg.get(k, _CFG_DEFAULTS.get(k)) for k in EXPORT_CFG_KEYS}
    facts["num_joints"] = int(facts["num_joints"])
    facts["all_joints_names"] = [str(n) for n in facts["all_joints_names"] or []]
    facts["stride"] = float(facts["stride"])
    facts["locref_stdev"] = float(facts["locref_stdev"])
    facts["location_refinement"] = bool(facts["location_refinement"])
    facts["net_type"] = str(facts["net_type"])
    return facts


# -- engine ----------------------------------------------------------------------------------
class OnnxEngine:
    """An exported snapshot (``snapshot-<n>.onnx``) run by ONNX Runtime.

    ``threads`` (with ``OMP_NUM_THREADS``: :func:`~dlcflow.core.threads.thread_budget`;
    default: the CPUs available) is how many CPU threads it runs on. On the CPU they are
    ``streams`` sessions (default: one per thread, at most :data:`MAX_STREAMS`) of ``threads //
    streams`` intra-op threads each, and the frames of a batch are spread over them, one
    frame per run: on 2 cores this is ~1.3x faster than one session with 2 threads
    (no synchronisation inside each layer, and one frame's activations stay in the
    caches; ``benchmarks/analyze_onnx.py``). With a GPU provider there is one session.
    Sessions run sequentially, with one inter-op thread and no spin-waiting, so that the
    threads which decode video and outputs get the CPU while the network waits. On the
    CPU, tensors narrower than the blocks of ONNX Runtime's kernels on this CPU
    (:func:`nchwc_block`) are padded with zero channels as the model is loaded
    (:func:`dlcflow.inference.onnxpad.pad_channels`; :attr:`padded_tensors` says how many).
    ``providers`` defaults to :func:`dlcflow.inference.predict.onnx_providers`. :attr:`metadata`
    is the export's record (see :func:`export_facts`); :meth:`check` compares it with a
    pose_cfg and snapshot. TensorFlow is not imported.
    """

    name = "onnx"

    def __init__(
        self,
        path: str | os.PathLike[str],
        threads: int | None = None,
        providers: Sequence[str] | None = None,
        streams: int | None = None,
    ) -> None:
        self.path = Path(path)
        if not self.path.is_file():
            raise FileNotFoundError(f"{self.path}: ONNX export not found")
        self.threads = thread_budget(threads) or available_cpus()
        wanted = list(providers) if providers else onnx_providers()
        if streams is not None and (isinstance(streams, bool) or int(streams) < 1):
            raise ValueError(f"streams must be a positive integer, not {streams!r}")
        if wanted[0] != "CPUExecutionProvider":
            self.streams = 1
        else:
            self.streams = min(int(streams or MAX_STREAMS), self.threads)
        per_session = self.threads // self.streams
        model, self.padded_tensors = self._model(wanted[0] == "CPUExecutionProvider")
        self.sessions = [self._session(model, per_session, wanted) for _ in range(self.streams)]
        self.session = self.sessions[0]
        self._pool: ThreadPoolExecutor | None = None
        if self.streams > 1:
            self._pool, self._run_one = _session_pool(self.sessions)
            weakref.finalize(self, self._pool.shutdown, wait=False)
        self.providers: list[str] = list(self.session.get_providers())  # what it got
        self.on_cpu = self.providers[0] == "CPUExecutionProvider"
        names = {o.name for o in self.session.get_outputs()}
        inputs = [i.name for i in self.session.get_inputs()]
        if inputs != ["image"] or not {"prob", "locref"} <= names:
            raise ValueError(
                f"{self.path}: not a dlcflow export (input {inputs}, outputs {sorted(names)}; "
                "expected image -> prob, locref)"
            )
        raw = self.session.get_modelmeta().custom_metadata_map.get(EXPORT_METADATA_KEY, "{}")
        self.metadata: dict[str, Any] = json.loads(raw)

    def check(
        self, cfg: Mapping[str, Any], snapshot_prefix: str | os.PathLike[str] | None = None
    ) -> None:
        """StaleExportError unless the export was made from ``snapshot_prefix`` (its
        fingerprint) with the facts of ``cfg`` (:func:`export_facts`)."""
        meta = self.metadata
        if not meta:
            raise StaleExportError(f"{self.path}: no dlcflow metadata (not made by dlcflow export)")
        if snapshot_prefix is not None and meta.get("snapshot_fingerprint") != (
            snapshot_fingerprint(snapshot_prefix)
        ):
            raise StaleExportError(
                f"{self.path} was not exported from the current {Path(snapshot_prefix).name} "
                "(the snapshot changed since)"
            )
        want = export_facts(cfg)
        have = meta.get("pose_cfg", {})
        for key in EXPORT_CFG_KEYS:
            if have.get(key) != want[key]:
                raise StaleExportError(
                    f"{self.path}: {key} {have.get(key)!r} differs from the pose_cfg's "
                    f"{want[key]!r}"
                )

    def _model(self, cpu: bool) -> tuple[str | bytes, int]:
        """The export for ONNX Runtime and how many tensors were padded: on a CPU whose
        blocked kernels take more channels than some tensors have, with those padded
        (:func:`dlcflow.inference.onnxpad.pad_channels`, exact; ~2.5% for MobileNetV2-0.35 with
        AVX-512), else the file as it is."""
        block = nchwc_block() if cpu else 0
        if not block:
            return str(self.path), 0
        import onnx  # noqa: PLC0415

        from dlcflow.inference.onnxpad import pad_channels  # noqa: PLC0415

        try:
            model = onnx.load(str(self.path))
        except Exception as err:  # noqa: BLE001 (protobuf's errors are untyped)
            raise ValueError(f"{self.path}: not a loadable ONNX model ({err})") from None
        padded = pad_channels(model, block)
        return (model.SerializeToString() if padded else str(self.path)), padded

    def _session(self, model: str | bytes, threads: int, providers: list[str]) -> Any:
        import onnxruntime as ort  # noqa: PLC0415 (only when an ONNX engine is made)

        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        options.log_severity_level = 3
        try:
            return ort.InferenceSession(model, options, providers=providers)
        except Exception as err:  # noqa: BLE001 (ORT raises its own, untyped errors)
            raise ValueError(f"{self.path}: not a loadable ONNX model ({err})") from None

    def __call__(self, batch: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return self.submit(batch)()

    def submit(self, batch: np.ndarray) -> Callable[[], tuple[np.ndarray, np.ndarray]]:
        """Start running ``batch`` on the sessions' threads and return a function that
        waits for its outputs. A caller that submits the next batch before it waits
        keeps every session busy: otherwise a session that finishes its share of a
        batch first waits for the others (~4% on 2 cores). ``batch`` must not change
        until the outputs are in. With one session it runs at once, on the caller."""
        feed = np.ascontiguousarray(batch, dtype=np.float32)
        if self._pool is None or len(feed) == 1:
            prob, locref = self.session.run(OUTPUT_NAMES, {"image": feed})
            return lambda: (prob, locref)
        runs = [self._pool.submit(self._run_one, feed[i : i + 1]) for i in range(len(feed))]

        def wait() -> tuple[np.ndarray, np.ndarray]:
            outs = [run.result() for run in runs]
            return np.concatenate([o[0] for o in outs]), np.concatenate([o[1] for o in outs])

        return wait

    def close(self) -> None:
        """Stop the threads of the sessions (the engine cannot run afterwards)."""
        if self._pool is not None:
            self._pool.shutdown(wait=True)

    def __repr__(self) -> str:
        return f"OnnxEngine({str(self.path)!r}, threads={self.threads}, streams={self.streams})"


def nchwc_block(cpuinfo: str | os.PathLike[str] = "/proc/cpuinfo") -> int:
    """Channels (float32) per block of ONNX Runtime's blocked convolution kernels on this
    CPU: 16 with AVX-512, 8 with AVX2; 0 where unknown (not Linux on x86-64)."""
    try:
        text = Path(cpuinfo).read_text(errors="replace")
    except OSError:
        return 0
    line = next((x for x in text.splitlines() if x.startswith("flags")), "")
    flags = set(line.partition(":")[2].split())
    return 16 if "avx512f" in flags else 8 if "avx2" in flags else 0


def _session_pool(
    sessions: Sequence[Any],
) -> tuple[ThreadPoolExecutor, Callable[[np.ndarray], list[np.ndarray]]]:
    """A thread per session, and the function that runs frames on the calling thread's
    session. (Nothing here refers to the engine, so that it can be collected.)"""
    local = threading.local()
    order = itertools.count()

    def bind() -> None:
        local.session = sessions[next(order)]

    def run(frames: np.ndarray) -> list[np.ndarray]:
        return list(local.session.run(OUTPUT_NAMES, {"image": frames}))

    pool = ThreadPoolExecutor(len(sessions), thread_name_prefix="dlcflow-onnx", initializer=bind)
    return pool, run


# -- export ----------------------------------------------------------------------------------
def read_export_metadata(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The ``dlcflow`` metadata of an export (empty dict when it has none)."""
    import onnx  # noqa: PLC0415

    model = onnx.load(str(path), load_external_data=False)
    for prop in model.metadata_props:
        if prop.key == EXPORT_METADATA_KEY:
            return dict(json.loads(prop.value))
    return {}


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
    prob, locref = OnnxEngine(path, threads=threads, providers=["CPUExecutionProvider"])(image)
    stdev = float(cfg.get("locref_stdev", 7.2801))
    prob_diff = float(np.abs(prob - expected["prob"].numpy()).max())
    dense = expected["locref"].numpy()
    if locref.ndim == 3:  # at ONNX's maxima: TensorFlow's map read there
        dense = locref_at(prob, dense)
    px_diff = float(np.abs(locref - dense).max()) * stdev
    if not (prob_diff <= VERIFY_PROB_TOL and px_diff <= VERIFY_PX_TOL):
        raise ValueError(
            f"ONNX export differs from TensorFlow: max probability difference {prob_diff:.2e} "
            f"(limit {VERIFY_PROB_TOL}), max location refinement difference {px_diff:.3f} px "
            f"(limit {VERIFY_PX_TOL}); the export was not written"
        )
    return {"input": [1, *VERIFY_SIZE, 3], "max_prob_diff": prob_diff, "max_px_diff": px_diff}


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
    of the graph (:mod:`dlcflow.inference.onnxgraph`); ``verify`` compares ONNX Runtime with
    TensorFlow before the file gets its final name. Returns the export's path."""
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
    import keras  # noqa: PLC0415 (TensorFlow only to export)
    import onnx  # noqa: PLC0415
    import tensorflow as tf  # noqa: PLC0415
    import tf2onnx  # noqa: PLC0415

    from dlcflow.inference import onnxgraph, onnxlocref  # noqa: PLC0415
    from dlcflow.training import nets  # noqa: PLC0415

    log(f"Exporting {prefix.name} ({cfg.get('net_type')}) to {target}")
    start = time.time()
    fingerprint = snapshot_fingerprint(prefix)
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
        if fold and onnxlocref.locref_at_maxima(proto):
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
            "outputs": OUTPUTS,
            "pose_cfg": export_facts(cfg),
            "snapshot": prefix.name,
            "snapshot_iteration": snapshot_iteration(prefix),
            "snapshot_fingerprint": fingerprint,
            "graph_rewrites": rewrites,
            "exported": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "versions": {
                "dlcflow": _dlcflow_version(),
                "tensorflow": tf.__version__,
                "keras": keras.__version__,
                "tf2onnx": tf2onnx.__version__,
                "opset": opsets.get("ai.onnx"),
            },
        }
        proto.doc_string = f"dlcflow pose network {cfg.get('net_type')}, {prefix.name}"
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


def _dlcflow_version() -> str:
    from dlcflow import __version__  # noqa: PLC0415

    return __version__


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
