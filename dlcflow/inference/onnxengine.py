"""The engine that runs ONNX exports (ONNX Runtime), and what an export says of itself.

An export ``train/snapshot-<n>.onnx`` (written by :mod:`dlcflow.inference.export`)
describes itself in its ONNX metadata (``metadata_props``, key :data:`EXPORT_METADATA_KEY`,
a JSON object; :func:`read_export_metadata`): the input policy :data:`INPUT_POLICY`, the
outputs :data:`OUTPUTS`, the pose_cfg facts decoding needs (:func:`export_facts`), the
snapshot and its fingerprint (:func:`snapshot_fingerprint`), the graph rewrites and the
differences to TensorFlow measured at export.

:class:`OnnxEngine` runs an export (registered as ``"onnx"`` in
:data:`dlcflow.inference.engines.ENGINES`) and checks that it belongs to the snapshot and
pose_cfg it serves (:class:`StaleExportError` otherwise). An export of a multi-animal
network (:func:`is_multianimal_cfg`) has the outputs :data:`MULTI_OUTPUTS` (dense maps, one
more: the part affinity fields), records the facts :data:`MULTI_EXPORT_CFG_KEYS` as well,
and its engine returns the three outputs (:mod:`dlcflow.inference.maengines` splits them).
ONNX Runtime is imported when an engine is made, ``onnx`` only to read metadata or to pad
channels; TensorFlow never.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import threading
import weakref
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from dlcflow.core.threads import available_cpus, thread_budget
from dlcflow.inference.decode import LOCREF_STDEV, STRIDE
from dlcflow.inference.devices import onnx_providers

__all__ = [
    "EXPORT_CFG_KEYS",
    "EXPORT_FORMAT",
    "EXPORT_METADATA_KEY",
    "INPUT_POLICY",
    "MULTI_EXPORT_CFG_KEYS",
    "MULTI_OUTPUTS",
    "OUTPUTS",
    "OnnxEngine",
    "StaleExportError",
    "export_facts",
    "is_multianimal_cfg",
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
_CFG_DEFAULTS = {"stride": STRIDE, "locref_stdev": LOCREF_STDEV, "location_refinement": True}
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
#: The outputs of a multi-animal export (dense maps; ``prob`` holds the identity channels last).
MULTI_OUTPUTS = {
    "prob": "(batch, h, w, num_joints + num_idchannel) sigmoid part (then identity) probabilities",
    "locref": "(batch, h, w, 2 * num_joints) dx, dy per part, in locref_stdev units",
    "pairwise_pred": "(batch, h, w, 2 * num_limbs) part affinity fields (x, y per limb of "
    "partaffinityfield_graph)",
}
#: The further pose_cfg keys a multi-animal export records (how its channels split).
MULTI_EXPORT_CFG_KEYS = ("num_idchannel", "partaffinityfield_graph")
#: Most ONNX Runtime sessions one engine runs side by side on the CPU.
MAX_STREAMS = 8


# -- metadata --------------------------------------------------------------------------------
class StaleExportError(ValueError):
    """An ONNX export that does not belong to the snapshot or pose_cfg it should serve."""


def snapshot_fingerprint(snapshot_prefix: str | os.PathLike[str]) -> str:
    """``sha256:<hex>`` of a snapshot's ``.index`` file (which holds a checksum of every
    tensor in its data file): identifies the weights without reading them."""
    index = Path(snapshot_prefix)
    if not index.name.endswith(".index"):
        index = index.with_name(index.name + ".index")
    return "sha256:" + hashlib.sha256(index.read_bytes()).hexdigest()


def is_multianimal_cfg(cfg: Mapping[str, Any]) -> bool:
    """A multi-animal (maDLC) pose_cfg: the multi-animal loader, or a PAF graph / limb count."""
    return (
        cfg.get("dataset_type") == "multi-animal-imgaug"
        or "partaffinityfield_graph" in cfg
        or "num_limbs" in cfg
    )


def export_facts(cfg: Mapping[str, Any]) -> dict[str, Any]:
    """The pose_cfg facts an export records, JSON-ready (DLC's defaults where absent;
    :data:`MULTI_EXPORT_CFG_KEYS` too for a multi-animal pose_cfg)."""
    facts = {k: cfg.get(k, _CFG_DEFAULTS.get(k)) for k in EXPORT_CFG_KEYS}
    if is_multianimal_cfg(cfg):
        facts["num_idchannel"] = int(cfg.get("num_idchannel", 0) or 0)
        graph = cfg.get("partaffinityfield_graph") or []
        facts["partaffinityfield_graph"] = [[int(s), int(t)] for s, t in graph]
    facts["num_joints"] = int(facts["num_joints"])
    facts["all_joints_names"] = [str(n) for n in facts["all_joints_names"] or []]
    facts["stride"] = float(facts["stride"])
    facts["locref_stdev"] = float(facts["locref_stdev"])
    facts["location_refinement"] = bool(facts["location_refinement"])
    facts["net_type"] = str(facts["net_type"])
    return facts


def read_export_metadata(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The ``dlcflow`` metadata of an export (empty dict when it has none)."""
    import onnx  # noqa: PLC0415 (onnx only to read metadata)

    model = onnx.load(str(path), load_external_data=False)
    for prop in model.metadata_props:
        if prop.key == EXPORT_METADATA_KEY:
            return dict(json.loads(prop.value))
    return {}


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
    ``providers`` defaults to :func:`dlcflow.inference.devices.onnx_providers`. :attr:`metadata`
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
        self.providers: list[str] = list(self.session.get_providers())  # what it got
        self.on_cpu = self.providers[0] == "CPUExecutionProvider"
        names = {o.name for o in self.session.get_outputs()}
        inputs = [i.name for i in self.session.get_inputs()]
        if inputs != ["image"] or not {"prob", "locref"} <= names:
            raise ValueError(
                f"{self.path}: not a dlcflow export (input {inputs}, outputs {sorted(names)}; "
                "expected image -> prob, locref)"
            )
        #: What a run returns, in order: ``prob, locref`` (and ``pairwise_pred`` when the
        #: export has it: a multi-animal network, :data:`MULTI_OUTPUTS`).
        self.output_names = [n for n in MULTI_OUTPUTS if n in names]
        if self.streams > 1:
            self._pool, self._run_one = _session_pool(self.sessions, self.output_names)
            weakref.finalize(self, self._pool.shutdown, wait=False)
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
        for key in (*EXPORT_CFG_KEYS, *MULTI_EXPORT_CFG_KEYS):
            if have.get(key) != want.get(key):
                raise StaleExportError(
                    f"{self.path}: {key} {have.get(key)!r} differs from the pose_cfg's "
                    f"{want.get(key)!r}"
                )

    def _model(self, cpu: bool) -> tuple[str | bytes, int]:
        """The export for ONNX Runtime and how many tensors were padded: on a CPU whose
        blocked kernels take more channels than some tensors have, with those padded
        (:func:`dlcflow.inference.onnxpad.pad_channels`, exact; ~2.5% for MobileNetV2-0.35 with
        AVX-512), else the file as it is."""
        block = nchwc_block() if cpu else 0
        if not block:
            return str(self.path), 0
        import onnx  # noqa: PLC0415 (onnx only to pad channels)

        from dlcflow.inference.onnxpad import pad_channels  # noqa: PLC0415 (imports onnx)

        try:
            model = onnx.load(str(self.path))
        except Exception as err:  # noqa: BLE001 (protobuf's errors are untyped)
            raise ValueError(f"{self.path}: not a loadable ONNX model ({err})") from None
        padded = pad_channels(model, block)
        return (model.SerializeToString() if padded else str(self.path)), padded

    def _session(self, model: str | bytes, threads: int, providers: list[str]) -> Any:
        import onnxruntime as ort  # noqa: PLC0415 (ONNX Runtime only when an ONNX engine is made)

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

    def __call__(self, batch: np.ndarray) -> tuple[np.ndarray, ...]:
        return self.submit(batch)()

    def submit(self, batch: np.ndarray) -> Callable[[], tuple[np.ndarray, ...]]:
        """Start running ``batch`` on the sessions' threads and return a function that
        waits for its outputs. A caller that submits the next batch before it waits
        keeps every session busy: otherwise a session that finishes its share of a
        batch first waits for the others (~4% on 2 cores). ``batch`` must not change
        until the outputs are in. With one session it runs at once, on the caller."""
        feed = np.ascontiguousarray(batch, dtype=np.float32)
        if self._pool is None or len(feed) == 1:
            outputs = tuple(self.session.run(self.output_names, {"image": feed}))
            return lambda: outputs
        runs = [self._pool.submit(self._run_one, feed[i : i + 1]) for i in range(len(feed))]

        def wait() -> tuple[np.ndarray, ...]:
            outs = [run.result() for run in runs]
            return tuple(np.concatenate(parts) for parts in zip(*outs, strict=True))

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
    sessions: Sequence[Any], output_names: Sequence[str] = OUTPUT_NAMES
) -> tuple[ThreadPoolExecutor, Callable[[np.ndarray], list[np.ndarray]]]:
    """A thread per session, and the function that runs frames on the calling thread's
    session. (Nothing here refers to the engine, so that it can be collected.)"""
    local = threading.local()
    order = itertools.count()

    def bind() -> None:
        local.session = sessions[next(order)]

    def run(frames: np.ndarray) -> list[np.ndarray]:
        return list(local.session.run(list(output_names), {"image": frames}))

    pool = ThreadPoolExecutor(len(sessions), thread_name_prefix="dlcflow-onnx", initializer=bind)
    return pool, run
