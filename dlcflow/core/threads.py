"""CPU threads: how many a job may use, and TensorFlow's thread pools set to that.

:func:`thread_budget` is the one limit of training, export and inference: the ``threads``
asked for (Snakemake's ``threads``), ``OMP_NUM_THREADS`` and the CPUs the process may run
on (its affinity, e.g. a SLURM allocation), the smallest of them -- so that parallel jobs
on one node do not oversubscribe it. :func:`configure_threads` gives TensorFlow's intra-
and inter-op pools that many threads (TensorFlow is imported only when it is called with
a number).
"""

from __future__ import annotations

import os
import warnings

__all__ = ["THREAD_ENV", "available_cpus", "configure_threads", "thread_budget"]

#: Environment variables read as a limit on CPU threads (OpenMP's convention).
THREAD_ENV = ("OMP_NUM_THREADS",)


def available_cpus() -> int:
    """CPUs this process may run on (its affinity: a cgroup/SLURM allocation, ``taskset``)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # not on Linux
        return max(1, os.cpu_count() or 1)


def thread_budget(threads: int | None = None) -> int | None:
    """CPU threads a job may use: the smallest of ``threads`` (Snakemake's), the
    ``OMP_NUM_THREADS`` environment variable and :func:`available_cpus`; None when neither
    ``threads`` nor the variable is set (the runtime's own default then applies)."""
    limits = []
    if threads is not None:
        if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
            raise ValueError(f"threads must be a positive integer, not {threads!r}")
        limits.append(threads)
    for name in THREAD_ENV:
        value = os.environ.get(name, "").split(",")[0].strip()
        if value.isdigit() and int(value) > 0:
            limits.append(int(value))
    return min([*limits, available_cpus()]) if limits else None


def configure_threads(threads: int | None) -> None:
    """Give TensorFlow's intra-op and inter-op thread pools ``threads`` threads each
    (None: TensorFlow's defaults).

    Both pools get the same number: the inter-op pool runs the input pipeline's parallel
    ``map`` calls in training, and in inference a pose network has at most two branches
    running at once, so a larger inter-op pool than two costs nothing there. Only possible
    before TensorFlow has run anything; later it warns and changes nothing.
    """
    if threads is None:
        return
    if isinstance(threads, bool) or int(threads) < 1:
        raise ValueError(f"threads must be a positive integer, not {threads!r}")
    import tensorflow as tf  # noqa: PLC0415 (TensorFlow only when a network runs)

    count = int(threads)
    threading = tf.config.threading
    if (
        threading.get_intra_op_parallelism_threads() == count
        and threading.get_inter_op_parallelism_threads() == count
    ):
        return
    try:
        threading.set_intra_op_parallelism_threads(count)
        threading.set_inter_op_parallelism_threads(count)
    except RuntimeError:
        warnings.warn(
            f"threads={count} ignored: TensorFlow already runs with its thread pools set",
            stacklevel=2,
        )
