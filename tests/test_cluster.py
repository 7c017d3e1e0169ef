"""The workflow on a real one-node SLURM (dlcflow.devtools.localslurm): the demo as SLURM jobs with
the same outputs as a local run, a killed training job, Ctrl-C and the workflow lock.

Needs Debian's slurmctld/slurmd/slurm-client/munge and root (`.ci/run` installs them);
without them these tests fail with the reason, they are never skipped.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
import scipy.io
import yaml
from conftest import SMALL_DEMO

from dlcflow.devtools.localslurm import LocalSlurm, SlurmError
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


def start(*args: str, cwd: Path) -> subprocess.Popen[str]:
    """Start Snakemake in the background, its output going to ``cwd/snakemake.out``."""
    with (cwd / "snakemake.out").open("w") as log:  # the child keeps its own handle
        return subprocess.Popen(
            command(*args), cwd=cwd, stdout=log, stderr=subprocess.STDOUT, text=True, env=ENV
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


def test_demo_as_slurm_jobs_equals_local_run(slurm: LocalSlurm, tmp_path: Path) -> None:
    """Every rule of the demo runs as a SLURM job; the outputs equal a local run's."""
    on_slurm, local = tmp_path / "slurm", tmp_path / "local"
    cluster_run = run("demo", "--configfile", str(demo_config(on_slurm)), cwd=on_slurm)
    assert cluster_run.returncode == 0, cluster_run.stderr[-3000:]
    local_run = run("demo", "--configfile", str(demo_config(local)), cwd=local, profile=False)
    assert local_run.returncode == 0, local_run.stderr[-3000:]

    # every job of the local run ran as a SLURM job, with its log; only the `demo`
    # target itself (no outputs, nothing to run) stays in the Snakemake process
    jobs = sorted(ran_rules(local_run.stderr))
    assert len(jobs) > 30 and "train_network" in jobs and "analyze_video" in jobs
    assert ran_rules(cluster_run.stderr) == ["demo"]
    submitted = sorted(ran_rules(cluster_run.stderr, local=False))
    assert submitted == [rule for rule in jobs if rule != "demo"]
    logs = sorted((on_slurm / ".snakemake" / "slurm_logs").rglob("*.log"))
    assert sorted(p.relative_to(on_slurm / ".snakemake" / "slurm_logs").parts[0] for p in logs) == (
        [f"rule_{rule}" for rule in submitted]
    )
    assert cluster_run.stderr.count("has been submitted with SLURM jobid") == len(submitted)

    # the same files, and the same content; h5 compared as tables (their metadata differs)
    a, b = demo_project(on_slurm), demo_project(local)
    fa, fb = files(a.root), files(b.root)
    assert sorted(fa) == sorted(fb)
    for name, path in fa.items():
        other = fb[name]
        if path.suffix == ".h5":
            pd.testing.assert_frame_equal(pd.read_hdf(path), pd.read_hdf(other))
        elif path.suffix == ".mat":  # its header holds the time it was written
            assert repr(scipy.io.loadmat(path)["dataset"]) == repr(
                scipy.io.loadmat(other)["dataset"]
            )
        elif name.endswith("learning_stats.csv"):  # seconds per iteration differ
            sa, sb = (pd.read_csv(p, header=None) for p in (path, other))
            pd.testing.assert_frame_equal(sa.iloc[:, :2], sb.iloc[:, :2])
        elif path.suffix in (".png", ".csv", ".mp4", ".index") or ".data-" in path.name:
            assert path.read_bytes() == other.read_bytes(), name  # the .onnx records paths
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
    maxiters = before + 60
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
