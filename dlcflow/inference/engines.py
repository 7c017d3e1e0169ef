"""Engines that run a trained network, and the batches they run.

An *engine* turns a batch of images into the network's two outputs::

    engine(batch: float32 (B, H, W, 3), RGB, 0..255) -> (prob (B, h, w, J), locref (B, h, w, 2J))

with ``(h, w)`` the output size of stride 8 (see ``docs/network-contract.md``); an ONNX
export (format 2) gives ``locref`` at each part's maximum only, ``(B, J, 2)``, which
decoding takes as well. An engine may also have ``submit(batch)``, which starts the batch
and returns a function that waits for the outputs (:func:`submit`), so that a caller can
keep it busy with the next batch.
:class:`TensorFlowEngine` runs a snapshot with TensorFlow,
:class:`~dlcflow.inference.onnxengine.OnnxEngine` runs its ONNX export (``snapshot-<n>.onnx``
beside it) with ONNX Runtime;
both are registered in :data:`ENGINES`, and :func:`make_engine` also takes ``"auto"``
(:func:`choose_engine`: ONNX Runtime when a current export exists, TensorFlow when there
is none or when TensorFlow has a GPU to run on; :mod:`dlcflow.inference.devices`). Every
engine's output goes through the same decoding, :func:`dlcflow.inference.decode.decode`
(argmax + location refinement), in :func:`decode_outputs`.

Threads: an engine uses at most :func:`dlcflow.core.threads.thread_budget` CPU threads, so
that parallel jobs on one node do not oversubscribe it.

TensorFlow is imported only when a TensorFlow engine is made (or, for ``"auto"``, when an
NVIDIA GPU is present and TensorFlow is asked whether it can use it); ONNX Runtime only
when an ONNX engine is made.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np

from dlcflow.core.log import log
from dlcflow.core.threads import configure_threads, thread_budget
from dlcflow.inference.decode import LOCREF_STDEV, STRIDE, decode
from dlcflow.inference.devices import onnx_providers, tensorflow_sees_gpu
from dlcflow.inference.onnxengine import OnnxEngine, StaleExportError
from dlcflow.project.paths import onnx_export_of
from dlcflow.project.posecfg import load_pose_cfg

__all__ = [
    "ENGINES",
    "ENGINE_NAMES",
    "Engine",
    "EngineFactory",
    "TensorFlowEngine",
    "choose_engine",
    "decode_outputs",
    "describe_engine",
    "make_engine",
    "predict_batch",
    "runs_on_cpu",
    "submit",
]


# -- engines ---------------------------------------------------------------------------------
@runtime_checkable
class Engine(Protocol):
    """Runs the network: float32 RGB (B, H, W, 3) in 0..255 -> (prob, locref) NumPy arrays."""

    def __call__(self, batch: np.ndarray) -> tuple[np.ndarray, np.ndarray]: ...


#: Makes an engine for a pose_cfg (dict) and a snapshot prefix (``.../train/snapshot-N``).
EngineFactory = Callable[[Mapping[str, Any], Path], Engine]


class TensorFlowEngine:
    """A snapshot run by TensorFlow: ``nets.inference_model`` in a ``tf.function`` whose
    input has dynamic batch, height and width (one trace serves every frame size).

    ``pose_cfg`` is a pose_cfg dict or the path of a pose_cfg.yaml; ``snapshot_prefix``
    the checkpoint prefix (``.../train/snapshot-<n>``); ``threads`` limits TensorFlow's
    thread pools (with ``OMP_NUM_THREADS``: :func:`~dlcflow.core.threads.thread_budget`).
    """

    name = "tensorflow"
    #: The inference model's outputs a run returns, in this order.
    outputs: tuple[str, ...] = ("prob", "locref")

    def __init__(
        self,
        pose_cfg: Mapping[str, Any] | str | os.PathLike[str],
        snapshot_prefix: str | os.PathLike[str],
        threads: int | None = None,
    ) -> None:
        configure_threads(thread_budget(threads))
        import tensorflow as tf  # noqa: PLC0415 (TensorFlow only when its engine is made)

        cfg = dict(pose_cfg) if isinstance(pose_cfg, Mapping) else load_pose_cfg(pose_cfg)
        self.cfg = cfg
        self.snapshot_prefix = Path(snapshot_prefix)
        self.model = self._inference_model(cfg, self.snapshot_prefix)
        model, names = self.model, self.outputs
        spec = tf.TensorSpec([None, None, None, 3], tf.float32, name="image")

        @tf.function(input_signature=[spec])
        def run(batch: Any) -> tuple[Any, ...]:
            out = model(batch, training=False)
            return tuple(out[name] for name in names)

        self._run = run
        #: No GPU for TensorFlow here: the network runs on the CPU.
        self.on_cpu = not tf.config.list_logical_devices("GPU")

    def _inference_model(self, cfg: Mapping[str, Any], snapshot_prefix: Path) -> Any:
        """The Keras inference model of a snapshot (outputs :attr:`outputs`)."""
        from dlcflow.training import nets  # noqa: PLC0415 (pulls in TensorFlow / Keras)

        return nets.inference_model(nets.load_trained_model(cfg, snapshot_prefix))

    def __call__(self, batch: np.ndarray) -> tuple[np.ndarray, ...]:
        return tuple(t.numpy() for t in self._run(np.asarray(batch, dtype=np.float32)))

    def __repr__(self) -> str:
        return f"TensorFlowEngine({str(self.snapshot_prefix)!r})"


# -- choosing and making engines -------------------------------------------------------------
def _tensorflow_factory(
    pose_cfg: Mapping[str, Any], snapshot_prefix: Path, threads: int | None = None
) -> Engine:
    return TensorFlowEngine(pose_cfg, snapshot_prefix, threads=threads)


def _onnx_factory(
    pose_cfg: Mapping[str, Any], snapshot_prefix: Path, threads: int | None = None
) -> Engine:
    path = onnx_export_of(snapshot_prefix)
    if not path.is_file():
        raise FileNotFoundError(
            f"{path}: no ONNX export of {snapshot_prefix.name}; make it with `dlcflow export "
            "CONFIG --shuffle N` (the workflow does with analyze.engine: onnx or auto), or "
            "use engine 'auto' or 'tensorflow'"
        )
    engine = OnnxEngine(path, threads=threads)
    try:
        engine.check(pose_cfg, snapshot_prefix)
    except StaleExportError as err:
        raise StaleExportError(f"{err}; export it again (`dlcflow export CONFIG`)") from None
    return engine


#: Engines by name: ``factory(pose_cfg, snapshot_prefix, threads=None) -> Engine``.
ENGINES: dict[str, Callable[..., Engine]] = {
    "tensorflow": _tensorflow_factory,
    "onnx": _onnx_factory,
}
#: What ``engine`` arguments and the workflow's ``analyze.engine`` accept.
ENGINE_NAMES = ("auto", "tensorflow", "onnx")


def choose_engine(snapshot_prefix: str | os.PathLike[str]) -> tuple[str, str]:
    """What ``"auto"`` runs a snapshot with, and why: ``"onnx"`` when its export
    (``snapshot-<n>.onnx``) exists, unless TensorFlow has a GPU and ONNX Runtime has not
    (onnxruntime-gpu installed); ``"tensorflow"`` otherwise."""
    path = onnx_export_of(snapshot_prefix)
    if not path.is_file():
        return "tensorflow", f"no ONNX export {path.name}"
    if onnx_providers()[0] == "CUDAExecutionProvider":
        return "onnx", "ONNX export, GPU"
    if tensorflow_sees_gpu():
        return "tensorflow", "TensorFlow has a GPU"
    return "onnx", "ONNX export, CPU"


def runs_on_cpu(engine: Engine) -> bool:
    """Whether an engine computes on the CPU (its ``on_cpu``; True for engines without)."""
    return bool(getattr(engine, "on_cpu", True))


def describe_engine(engine: Engine) -> str:
    """One line naming an engine's runtime (for logs)."""
    if getattr(engine, "name", "") == "onnx":
        path, threads = getattr(engine, "path", None), getattr(engine, "threads", None)
        providers = getattr(engine, "providers", None) or ["?"]
        name = path.name if isinstance(path, Path) else "?"
        streams = getattr(engine, "streams", 1)
        sessions = f" in {streams} sessions" if streams > 1 else ""
        return f"ONNX Runtime ({name}, {providers[0]}, {threads} threads{sessions})"
    if getattr(engine, "name", "") == "tensorflow":
        return "TensorFlow"
    return repr(engine)


def make_engine(
    engine: str | EngineFactory,
    pose_cfg: Mapping[str, Any],
    snapshot_prefix: str | os.PathLike[str],
    threads: int | None = None,
    registry: Mapping[str, Callable[..., Engine]] | None = None,
) -> Engine:
    """An engine by name (:data:`ENGINES`, or ``"auto"``: :func:`choose_engine`, falling
    back to TensorFlow when the export is stale) or from a factory ``(pose_cfg, prefix)
    -> Engine``. Named engines log which runtime they use. ``registry`` replaces
    :data:`ENGINES` (the multi-animal engines: :mod:`dlcflow.inference.maengines`)."""
    engines = ENGINES if registry is None else registry
    if callable(engine):
        return engine(pose_cfg, Path(snapshot_prefix))
    prefix = Path(snapshot_prefix)
    name, label = str(engine), "Engine"
    if name == "auto":
        name, why = choose_engine(prefix)
        label = f"Engine auto ({why})"
        if name == "onnx":
            try:
                made = engines["onnx"](pose_cfg, prefix, threads=threads)
            except StaleExportError as err:
                name, label = "tensorflow", f"Engine auto ({err}; not used)"
            else:
                log(f"{label}: {describe_engine(made)}")
                return made
    factory = engines.get(name)
    if factory is None:
        known = ", ".join(sorted({*engines, "auto"}))
        raise ValueError(f"unknown engine {engine!r} (known: {known})")
    made = factory(pose_cfg, prefix, threads=threads)
    log(f"{label}: {describe_engine(made)}")
    return made


# -- decoding --------------------------------------------------------------------------------
def decode_outputs(prob: np.ndarray, locref: np.ndarray, cfg: Mapping[str, Any]) -> np.ndarray:
    """(B, J, 3) x, y, likelihood from the network outputs, with the pose_cfg's ``stride``,
    ``locref_stdev`` and ``location_refinement`` (:func:`dlcflow.inference.decode.decode`)."""
    return decode(
        np.asarray(prob),
        np.asarray(locref),
        stride=float(cfg.get("stride", STRIDE)),
        locref_stdev=float(cfg.get("locref_stdev", LOCREF_STDEV)),
        location_refinement=bool(cfg.get("location_refinement", True)),
    )


def submit(engine: Engine, batch: np.ndarray) -> Callable[[], tuple[np.ndarray, np.ndarray]]:
    """Start running a float32 batch and return a function that waits for its outputs:
    ``engine.submit`` where the engine runs batches on its own threads (so that the caller
    can submit the next one first), otherwise the engine runs it now."""
    start = getattr(engine, "submit", None)
    if callable(start):
        return start(batch)  # type: ignore[no-any-return]
    outputs = engine(batch)
    return lambda: outputs


def predict_batch(engine: Engine, frames: np.ndarray, cfg: Mapping[str, Any]) -> np.ndarray:
    """Poses (B, J, 3) (x, y, likelihood in the frames' pixels) of a batch of RGB frames
    ``(B, H, W, 3)`` (uint8 or float in 0..255)."""
    batch = np.asarray(frames)
    if batch.ndim != 4 or batch.shape[-1] != 3:
        raise ValueError(f"frames must be a (B, H, W, 3) RGB batch, not {batch.shape}")
    prob, locref = engine(batch.astype(np.float32, copy=False))
    return decode_outputs(prob, locref, cfg)
