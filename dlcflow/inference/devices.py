"""GPU probing: whether TensorFlow or ONNX Runtime has a GPU to run on here.

Cheap first (device files, ``CUDA_VISIBLE_DEVICES``); TensorFlow is imported only when an
NVIDIA GPU is present and it is asked whether it can use it, ONNX Runtime only when its
providers are asked for.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["onnx_providers", "tensorflow_sees_gpu"]


def _nvidia_gpu_present() -> bool:
    """An NVIDIA GPU visible to this process (device files, ``CUDA_VISIBLE_DEVICES``)."""
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None and visible.strip() in ("", "-1"):
        return False
    return any(Path("/dev").glob("nvidia[0-9]*"))


def tensorflow_sees_gpu() -> bool:
    """TensorFlow can run on a GPU here (TensorFlow is imported only if one is present)."""
    if not _nvidia_gpu_present():
        return False
    import tensorflow as tf  # noqa: PLC0415 (TensorFlow only when a GPU is there to ask about)

    return bool(tf.config.list_physical_devices("GPU"))


def onnx_providers() -> list[str]:
    """ONNX Runtime execution providers to use: CUDA first when onnxruntime-gpu is
    installed and a GPU is present, then the CPU."""
    import onnxruntime as ort  # noqa: PLC0415 (ONNX Runtime only when it is to run)

    if "CUDAExecutionProvider" in ort.get_available_providers() and _nvidia_gpu_present():
        return ["CUDAExecutionProvider", "CPUExecutionProvider"]
    return ["CPUExecutionProvider"]
