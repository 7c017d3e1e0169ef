"""The workflow on a real one-node SLURM (dlcflow.devtools.localslurm): the demo as SLURM jobs with
the same outputs as a local run, a killed training job, Ctrl-C and the workflow lock.

Needs Debian's slurmctld/slurmd/slurm-client/munge and root (`.ci/run` installs them);
without them these tests fail with the reason, they are never skipped.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import pickle
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import scipy.io
import yaml
from conftest import SMALL_DEMO

from dlcflow.devtools.localslurm import LocalSlurm, SlurmError
from dlcflow.io.nwb import read_nwb
from dlcflow.io.tables import to_frame
from dlcflow.project.paths import Project
from dlcflow.workflow.settings import final_snapshot_index

REPO = Path(__file__).resolve().parents[1]
PROFILE = REPO / "workflow" / "profiles" / "slurm"
pytestmark = [pytest.mark.workflow, pytest.mark.slurm]


@pytest.fixture(scope="module")
def slurm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalSlurm]:
    cluster = LocalSlurm(tmp_path_factory.mktemp("slurm"))
    try:
        cluster.start()
    except SlurmError as err:
        pytest.fail(f"no local SLURM: {err}")
    yield cluster
    cluster.stop()


def test_local_slurm_never_touches_a_foreign_slurm_conf(tmp_path: Path) -> None:
    conf = tmp_path / "etc" / "slurm.conf"
    conf.parent.mkdir()
    conf.write_text("ClusterName=production\n")
    cluster = LocalSlurm(tmp_path / "state", conf=conf)
    with pytest.raises(SlurmError, match="was not written by dlcflow: not touched"):
        cluster.start()
    cluster.stop()
    assert conf.read_text() == "ClusterName=production\n"
    assert not (tmp_path / "state").exists()


def command(*args: str, profile: bool = True) -> list[str]:
    cmd = [sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile")]
    if profile:  # polled every 2 s instead of 40 s: the tests' jobs are short
        cmd += ["--profile", str(PROFILE), "--slurm-init-seconds-before-status-checks", "2"]
    else:
        cmd += ["--cores", "2"]
    return cmd + list(args)


ENV = {**os.environ, "PYTHONWARNINGS": "ignore"}


def run(*args: str, cwd: Path, profile: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        command(*args, profile=profile),
        cwd=cwd,
        capture_output=True,
        text=True,
        env=ENV,
        timeout=1200,
    )


def _ctrl_c_reaches_child() -> None:
    """In the child before Snakemake starts: SIGINT back to its default. A test run started
    in the background of a shell (``nohup ... &``) ignores SIGINT, and a child inherits
    that: Snakemake would never see the test's Ctrl-C."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def start(*args: str, cwd: Path) -> subprocess.Popen[str]:
    """Start Snakemake in the background, its output going to ``cwd/snakemake.out``."""
    with (cwd / "snakemake.out").open("w") as log:  # the child keeps its own handle
        return subprocess.Popen(
            command(*args),
            cwd=cwd,
            stdout=log,
            stderr=subprocess.STDOUT,
            text=True,
            env=ENV,
            preexec_fn=_ctrl_c_reaches_child,
        )


def demo_config(folder: Path, **changes: object) -> Path:
    """The small demo (tests/conftest.py) writing into ``folder/demo``."""
    folder.mkdir(parents=True, exist_ok=True)
    cfg = folder / "demo.yaml"
    demo = {**SMALL_DEMO, "outdir": str(folder / "demo"), **changes}
    cfg.write_text(yaml.safe_dump({"demo": demo}))
    return cfg


def demo_project(folder: Path) -> Project:
    return Project(Path((folder / "demo" / "project.txt").read_text().strip()))


def files(root: Path) -> dict[str, Path]:
    return {
        str(p.relative_to(root)): p
        for p in root.rglob("*")
        if p.is_file() and "logs" not in p.relative_to(root).parts
    }


def ran_rules(output: str, local: bool = True) -> list[str]:
    """The rules of the jobs a Snakemake run executed in its own process (``local``:
    `localrule x:`) or submitted (`rule x:`), one entry per job."""
    prefix = "local" if local else ""
    return re.findall(rf"^{prefix}(?:rule|checkpoint) (\w+):$", output, re.MULTILINE)


RUN = "<run folder>"


def without_folder(value: Any, folder: Path) -> Any:
    """``value`` with the run's folder in its strings replaced by one placeholder: the two
    runs write into different folders, and config.yaml (project_path, video_sets),
    pose_cfg.yaml (project_path, init_weights), the frames and outlier records, the
    analysis metadata (its pose_cfg's init_weights) and the training log name files by
    absolute path. Nothing else is changed."""
    if isinstance(value, str):
        for prefix in {str(folder.resolve()), str(folder)}:
            value = value.replace(prefix, RUN)
        return value
    if isinstance(value, dict):
        return {without_folder(k, folder): without_folder(v, folder) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(without_folder(v, folder) for v in value)
    return value


def assert_same(a: Any, b: Any, where: str) -> None:
    """Equal nested values: dicts, lists, tuples, NumPy arrays (dtype too), scalars."""
    assert type(a) is type(b), (where, type(a), type(b))
    if isinstance(a, dict):
        assert list(a) == list(b), where
        for key in a:
            assert_same(a[key], b[key], f"{where}[{key!r}]")
    elif isinstance(a, list | tuple):
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            assert_same(x, y, f"{where}[{i}]")
    elif isinstance(a, np.ndarray | np.generic | float):
        assert np.asarray(a).dtype == np.asarray(b).dtype, where
        np.testing.assert_array_equal(a, b, err_msg=where)
    else:
        assert a == b, where


def load_pickle(path: Path, folder: Path) -> Any:
    with path.open("rb") as f:
        data = pickle.load(f)
    if path.name.endswith("_meta.pickle"):  # analyze_videos' metadata
        for key in ("start", "stop", "run_duration"):  # wall-clock times of the analysis
            data["data"].pop(key)
    return without_folder(data, folder)


def load_log(path: Path, folder: Path) -> list[str]:
    """train/log.txt without what a clock gives: each line's time and the it/s rates."""
    lines = path.read_text().splitlines()
    lines = [re.sub(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d ", "", line) for line in lines]
    return [without_folder(re.sub(r"\([\d.]+ it/s\)", "(- it/s)", line), folder) for line in lines]


def load_onnx(path: Path, _folder: Path) -> tuple[Any, ...]:
    """An export for comparing: its model fields, graph inputs and outputs, its dlcflow
    metadata but the export time, and its graph as structure. tf2onnx numbers the
    tensors and nodes it makes from a process-wide counter (``const_ends__19`` in one
    run is ``const_ends__622`` in another), so the graph is compared by what computes
    each tensor: a digest of the op, its attributes and its inputs' digests (weights:
    dtype, shape and bytes), whatever the names and the order of the nodes."""
    import onnx
    from onnx import helper, numpy_helper

    model = onnx.load(str(path))
    graph = model.graph
    meta = {prop.key: prop.value for prop in model.metadata_props}
    meta = {**meta, "dlcflow": json.loads(meta["dlcflow"])}
    meta["dlcflow"].pop("exported")  # the time it was exported
    weights = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
    assert weights and not graph.sparse_initializer and not model.functions, path
    made = {out: (node, i) for node in graph.node for i, out in enumerate(node.output)}
    inputs = [i.name for i in graph.input]
    digests: dict[str, str] = {}

    def value(v: Any) -> Any:
        if isinstance(v, onnx.TensorProto):
            v = numpy_helper.to_array(v)
        if isinstance(v, np.ndarray):
            return ("array", v.dtype.str, v.shape, hashlib.sha256(v.tobytes()).hexdigest())
        if isinstance(v, list):
            return [value(x) for x in v]
        assert isinstance(v, int | float | str | bytes), (path, type(v))  # no subgraphs
        return v

    def digest(name: str) -> str:
        if name not in digests:
            if name in weights:
                what: Any = value(weights[name])
            elif name in made:
                node, i = made[name]
                attrs = sorted(
                    (a.name, value(helper.get_attribute_value(a))) for a in node.attribute
                )
                what = (node.op_type, node.domain, attrs, [digest(x) for x in node.input], i)
            else:
                what = ("input", inputs.index(name)) if name else "absent"
            digests[name] = hashlib.sha256(repr(what).encode()).hexdigest()
        return digests[name]

    outputs = [digest(o.name) for o in graph.output]
    nodes = sorted(digest(out) for node in graph.node for out in node.output)
    io = [x.SerializeToString(deterministic=True) for x in (*graph.input, *graph.output)]
    fields = onnx.ModelProto()
    fields.CopyFrom(model)
    fields.ClearField("graph")
    fields.ClearField("metadata_props")
    assert not graph.value_info, path  # (named by the counter too; none here)
    return (
        fields.SerializeToString(deterministic=True),
        graph.name,
        graph.doc_string,
        io,
        meta,
        outputs,
        nodes,
        sorted(str(value(w)) for w in weights.values()),  # every weight, as a multiset
    )


def read_mat(path: Path, _folder: Path) -> Any:
    data = scipy.io.loadmat(path)  # its header holds the time it was written
    assert set(data) == {"__header__", "__version__", "__globals__", "dataset"}, path
    return repr(data["dataset"])  # (object arrays of structs: compared as their repr)


#: How each kind of file of a project is read for comparing, and what each may
#: legitimately differ in (the other kinds: byte for byte, the training deterministic).
LOADERS = {
    ".h5": lambda path, _: pd.read_hdf(path),  # as tables: HDF5 metadata holds times
    ".mat": read_mat,
    ".yaml": lambda path, folder: without_folder(yaml.safe_load(path.read_text()), folder),
    ".json": lambda path, folder: without_folder(json.loads(path.read_text()), folder),
    ".pickle": load_pickle,
    ".onnx": load_onnx,
    "log.txt": load_log,
    # the poses, as a table: the session's identifier and start time differ by design
    ".nwb": lambda path, _: to_frame(read_nwb(path)),
}
BYTES = {".png", ".csv", ".mp4", ".index", ".data", ".lock", ".snakemake_timestamp"}


def file_kind(name: str) -> str:
    path = Path(name)
    if ".data-" in path.name:
        return ".data"
    if path.name in ("log.txt", ".snakemake_timestamp"):
        return path.name
    return path.suffix


def same_content(name: str, a: tuple[Path, Path], b: tuple[Path, Path]) -> None:
    """Files ``name`` of two runs, each ``(file, run folder)``, have the same content."""
    kind = file_kind(name)
    if kind in BYTES:
        assert a[0].read_bytes() == b[0].read_bytes(), name
        return
    if kind not in LOADERS:
        raise AssertionError(f"{name}: no comparison for {kind or 'its'} files; add one")
    va, vb = (LOADERS[kind](path, folder) for path, folder in (a, b))
    if isinstance(va, pd.DataFrame):
        pd.testing.assert_frame_equal(va, vb, check_exact=True, obj=name)
    else:
        assert_same(va, vb, name)


@pytest.mark.timeout(1800)  # the small demo twice at once, once as ~30 SLURM jobs
def test_demo_as_slurm_jobs_equals_local_run(slurm: LocalSlurm, tmp_path: Path) -> None:
    """Every rule of the demo (one labeled video, one held out) runs as a SLURM job; the
    outputs equal a local run's. The two runs go at the same time: the cluster run mostly
    waits for SLURM, and deterministic training makes the numbers independent of timing."""
    on_slurm, local = tmp_path / "slurm", tmp_path / "local"
    cluster_cfg = demo_config(on_slurm, n_videos=1)
    cluster = start("demo", "--configfile", str(cluster_cfg), cwd=on_slurm)
    try:
        local_run = run(
            "demo", "--configfile", str(demo_config(local, n_videos=1)), cwd=local, profile=False
        )
        code = cluster.wait(timeout=1500)
    finally:
        cluster.kill()
    cluster_out = (on_slurm / "snakemake.out").read_text()
    assert code == 0, cluster_out[-3000:]
    assert local_run.returncode == 0, local_run.stderr[-3000:]

    # every job of the local run ran as a SLURM job, with its log; only the `demo`
    # target itself (no outputs, nothing to run) stays in the Snakemake process
    jobs = sorted(ran_rules(local_run.stderr))
    assert len(jobs) > 20 and "train_network" in jobs and "analyze_video" in jobs
    assert ran_rules(cluster_out) == ["demo"]
    submitted = sorted(ran_rules(cluster_out, local=False))
    assert submitted == [rule for rule in jobs if rule != "demo"]
    logs = sorted((on_slurm / ".snakemake" / "slurm_logs").rglob("*.log"))
    assert sorted(p.relative_to(on_slurm / ".snakemake" / "slurm_logs").parts[0] for p in logs) == (
        [f"rule_{rule}" for rule in submitted]
    )
    assert cluster_out.count("has been submitted with SLURM jobid") == len(submitted)

    # the same files, and the same content (same_content: every kind of file compared)
    a, b = demo_project(on_slurm), demo_project(local)
    fa, fb = files(a.root), files(b.root)
    assert sorted(fa) == sorted(fb)
    for name, path in fa.items():
        same_content(name, (path, on_slurm), (fb[name], local))
    report = (on_slurm / "demo" / "report.txt").read_text()
    assert report.replace(str(on_slurm), "") == (
        (local / "demo" / "report.txt").read_text().replace(str(local), "")
    )


def train_target(folder: Path, maxiters: int) -> Path:
    project = demo_project(folder)
    return final_snapshot_index(project, 0.95, 1, maxiters, 0)


def wait_for(what: str, ready, timeout: float = 600) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if ready():
            return
        time.sleep(0.5)
    raise AssertionError(f"timed out waiting for {what}")


def slurm_jobs(rule: str) -> list[str]:
    """Job ids of queued or running SLURM jobs of ``rule`` (the plugin names the rule in
    the job comment)."""
    out = subprocess.run(
        ["squeue", "-h", "-t", "PD,R", "-o", "%i %k"], capture_output=True, text=True, check=True
    ).stdout
    return [line.split()[0] for line in out.splitlines() if f"rule_{rule}" in line]


def newest_snapshot(folder: Path) -> int:
    project = demo_project(folder)
    found = [int(p.name.split("-")[1]) for p in project.snapshots(0.95, 1, 0)]
    return max(found, default=0)


def leftovers(root: Path) -> list[Path]:
    """Temporary files a writer leaves when killed mid-write."""
    return [p for p in root.rglob("*") if p.name.startswith(".tmp") or p.suffix == ".tmp"]


def resumed_from(folder: Path, maxiters: int) -> list[int]:
    """The snapshots the training of snapshot-<maxiters> resumed from (its rule log)."""
    project = demo_project(folder)
    model = project.model_name(0.95, 1)
    log = project.root / "logs" / "train" / f"iteration-0-{model}-{maxiters}.log"
    return [int(n) for n in re.findall(r"resuming from snapshot-(\d+)", log.read_text())]


@pytest.fixture(scope="module")
def labeled_demo(slurm: LocalSlurm, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A demo project with its training dataset made (as SLURM jobs), nothing trained.
    Each test trains the one model further (its own maxiters), saving every 10."""
    folder = tmp_path_factory.mktemp("faults")
    cfg = demo_config(folder, saveiters=10)
    made = run(str(folder / "demo" / "project.txt"), "--configfile", str(cfg), cwd=folder)
    assert made.returncode == 0, made.stderr[-3000:]
    pose_cfg = demo_project(folder).pose_cfg(0.95, 1, "train", iteration=0)
    made = run(str(pose_cfg), "--configfile", str(cfg), cwd=folder)
    assert made.returncode == 0, made.stderr[-3000:]
    return folder


def interrupted(folder: Path, maxiters: int, stop, *args: str) -> tuple[int, int, str]:
    """Start training to ``maxiters`` on SLURM, call ``stop(process)`` once a snapshot
    newer than the ones before exists; returns (exit code, newest snapshot right after
    the stop, output)."""
    before = newest_snapshot(folder)
    target = train_target(folder, maxiters)
    cfg = str(folder / "demo.yaml")
    process = start(str(target), "--configfile", cfg, *args, cwd=folder)
    try:
        wait_for("a new snapshot", lambda: newest_snapshot(folder) >= before + 20)
        stop(process)
        stopped_at = newest_snapshot(folder)
        code = process.wait(timeout=600)
    finally:
        process.kill()
    return code, stopped_at, (folder / "snakemake.out").read_text()


def rerun(folder: Path, maxiters: int, *args: str) -> None:
    target = train_target(folder, maxiters)
    again = run(str(target), "--configfile", str(folder / "demo.yaml"), *args, cwd=folder)
    assert again.returncode == 0, again.stderr[-3000:]
    assert target.exists()


def test_scancel_of_training_is_reported_and_rerun_resumes(labeled_demo: Path) -> None:
    """scancel of the training job mid-way (no retries): the run fails naming the rule,
    no final snapshot; the rerun resumes from the last snapshot, not from zero."""

    def cancel(_: subprocess.Popen[str]) -> None:
        jobs = slurm_jobs("train_network")
        assert len(jobs) == 1
        subprocess.run(["scancel", jobs[0]], check=True)

    code, killed_at, out = interrupted(labeled_demo, 100, cancel, "--retries", "0")
    assert code != 0 and "Error in rule train_network" in out
    assert not train_target(labeled_demo, 100).exists() and killed_at < 100
    rerun(labeled_demo, 100)
    assert resumed_from(labeled_demo, 100)[-1] >= killed_at
    stats = pd.read_csv(demo_project(labeled_demo).learning_stats(0.95, 1, 0), header=None)
    assert stats[0].iloc[-1] == 100 and stats[0].is_monotonic_increasing
    assert leftovers(demo_project(labeled_demo).root) == []


def test_killed_training_process_is_retried(labeled_demo: Path) -> None:
    """The training process killed (SIGKILL) inside its job: the profile's retry submits
    the job again, which resumes from the last snapshot, and the run succeeds."""

    def kill_trainer(_: subprocess.Popen[str]) -> None:
        """SIGKILL this run's training script (Snakemake writes it into the run's
        .snakemake/scripts/), never another run's on the machine."""
        found = subprocess.run(
            ["pgrep", "-f", "train_network.py"], capture_output=True, text=True, check=True
        ).stdout.split()
        folders = {
            f"{folder}/.snakemake/scripts/" for folder in (labeled_demo, labeled_demo.resolve())
        }

        def ours(pid: str) -> bool:
            with contextlib.suppress(OSError):  # (the process may have ended since)
                command = Path(f"/proc/{pid}/cmdline").read_text()
                return any(folder in command for folder in folders)
            return False

        mine = [pid for pid in found if ours(pid)]
        assert mine, f"no training script of this run among {found}"
        for pid in mine:
            os.kill(int(pid), signal.SIGKILL)

    before = newest_snapshot(labeled_demo)
    code, killed_at, out = interrupted(labeled_demo, before + 60, kill_trainer)
    assert code == 0, out[-3000:]
    assert "Trying to restart job" in out
    assert train_target(labeled_demo, before + 60).exists()
    assert resumed_from(labeled_demo, before + 60)[-1] >= killed_at
    assert leftovers(demo_project(labeled_demo).root) == []


def test_lock_refuses_second_run_then_ctrl_c_and_rerun_incomplete(labeled_demo: Path) -> None:
    """While a run trains, a second run on the same outputs is refused by Snakemake's
    lock; Ctrl-C stops the first (its SLURM job cancelled); --rerun-incomplete finishes."""
    before = newest_snapshot(labeled_demo)
    # far enough that the training is still running when the refused second run (a
    # Snakemake start, tens of seconds on a busy machine) returns and Ctrl-C is sent
    maxiters = before + 160
    target = train_target(labeled_demo, maxiters)

    def second_run_then_ctrl_c(first: subprocess.Popen[str]) -> None:
        second = run(str(target), "--configfile", str(labeled_demo / "demo.yaml"), cwd=labeled_demo)
        assert second.returncode != 0
        assert "Directory cannot be locked" in second.stderr
        assert first.poll() is None  # the first run goes on
        first.send_signal(signal.SIGINT)

    code, stopped_at, _ = interrupted(labeled_demo, maxiters, second_run_then_ctrl_c)
    assert code != 0
    wait_for("the training job to end", lambda: not slurm_jobs("train_network"), 120)
    assert not target.exists()
    rerun(labeled_demo, maxiters, "--rerun-incomplete")
    assert resumed_from(labeled_demo, maxiters)[-1] >= stopped_at
    assert leftovers(demo_project(labeled_demo).root) == []
