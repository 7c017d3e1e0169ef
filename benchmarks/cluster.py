"""Many videos analyzed as separate SLURM jobs: the cost of going through SLURM.

Makes a small trained project (synthetic demo videos, oracle labels, a few training
iterations: the model's quality does not matter here) and ``--videos`` short synthetic
videos, then times ``snakemake analyze`` for all of them three ways, starting from no
analysis output each time:

- local: ``--cores 2``, two jobs at a time;
- SLURM, one job per video (profile workflow/profiles/slurm on a one-node local SLURM,
  dlcflow.devtools.localslurm; jobs sized so that two run at a time, as locally);
- SLURM, grouped: ``--groups analyze_video=videos --group-components videos=<k>``, one
  job per ``k`` videos.

Prints the wall times, the SLURM overhead per job, and ends with
``cluster ratio=<SLURM one-job-per-video wall time / local wall time>``.

Needs root and Debian's slurmctld slurmd slurm-client munge (as the tests).

    python benchmarks/cluster.py [--videos 50] [--frames 60] [--group 10]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

from dlcflow.devtools.demo import make_demo_project, make_video, oracle_label_project
from dlcflow.devtools.localslurm import LocalSlurm
from dlcflow.labeling.frames import extract_frames
from dlcflow.project.paths import Project

REPO = Path(__file__).resolve().parents[1]
PROFILE = REPO / "workflow" / "profiles" / "slurm"
MAXITERS = 5
# two analyses at a time on the 8-CPU local node, one thread each, as --cores 2 locally
SLURM_SIZE = [
    "--set-resources",
    "analyze_video:gpu=0",
    "analyze_video:cpus_per_task=4",
    "analyze_video:mem_mb=4000",
    "--slurm-init-seconds-before-status-checks",
    "2",
]
# a group job runs its videos two at a time on 2 CPUs: Snakemake stacks the jobs of a
# group in series as far as the (per group job) resource limits require
SLURM_GROUPED = [
    "--set-resources",
    "analyze_video:gpu=0",
    "analyze_video:cpus_per_task=1",
    "analyze_video:mem_mb=2000",
    "--resources",
    "cpus_per_task=2",
    "mem_mb=4000",
    "--set-resource-scopes",
    "cpus_per_task=local",
    "mem_mb=local",
    "--slurm-init-seconds-before-status-checks",
    "2",
]


def snakemake(workdir: Path, config: Path, *args: str) -> float:
    """Run one snakemake command in ``workdir``; returns its wall time in seconds."""
    cmd = [sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), *args]
    cmd += ["--configfile", str(config)]
    began = time.perf_counter()
    done = subprocess.run(cmd, cwd=workdir, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - began
    if done.returncode != 0:
        sys.exit(f"snakemake {' '.join(args)} failed:\n{done.stderr[-3000:]}")
    return seconds


def make_project(root: Path, n_videos: int, nframes: int) -> tuple[Path, Path]:
    """A labeled demo project and a workflow config analyzing ``n_videos`` new videos."""
    config = make_demo_project(root / "project", n_videos=2, nframes=60, numframes2pick=8)
    extract_frames(config, mode="automatic", algo="uniform", userfeedback=False)
    oracle_label_project(config)
    videos = root / "videos"
    for k in range(n_videos):
        make_video(videos / f"clip{k:03d}.mp4", nframes=nframes, seed=1000 + k)
    workflow_config = root / "workflow.yaml"
    settings = {
        "project": str(config),
        "videos": [str(videos / "*.mp4")],
        "net_type": "mobilenet_v2_0.35",
        "init_weights": "none",
        "train": {"maxiters": MAXITERS, "saveiters": MAXITERS},
        "analyze": {"engine": "onnx", "save_as_csv": False},
    }
    workflow_config.write_text(yaml.safe_dump(settings))
    return config, workflow_config


def clear_analyses(root: Path) -> int:
    """Delete the analysis outputs, so the next run makes them all."""
    removed = 0
    for path in (root / "videos").iterdir():
        if path.name.startswith("clip") and "DLC_" in path.name:
            path.unlink()
            removed += 1
    return removed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--videos", type=int, default=50)
    parser.add_argument("--frames", type=int, default=60, help="frames per video")
    parser.add_argument("--group", type=int, default=10, help="videos per grouped job")
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="dlcflow-cluster-"))
    cluster = LocalSlurm(root / "slurm")
    try:
        config, settings = make_project(root, args.videos, args.frames)
        project = Project(config)
        setup = snakemake(root, settings, "--cores", "2", "train")
        onnx = snakemake(root, settings, "--cores", "2", "analyze", "--until", "export_onnx")
        print(
            f"setup: project {project.root.name}, model trained {MAXITERS} iterations "
            f"({setup:.0f} s), ONNX export ({onnx:.0f} s); {args.videos} videos x "
            f"{args.frames} frames (320x240)"
        )
        cluster.start()
        times = {}
        runs = {
            "local (--cores 2)": ["--cores", "2", "--set-threads", "analyze_video=1"],
            "SLURM, one job per video": [
                "--profile",
                str(PROFILE),
                "--set-threads",
                "analyze_video=1",
                *SLURM_SIZE,
            ],
            f"SLURM, {args.group} videos per job": [
                "--profile",
                str(PROFILE),
                "--set-threads",
                "analyze_video=1",
                *SLURM_GROUPED,
                "--groups",
                "analyze_video=videos",
                "--group-components",
                f"videos={args.group}",
            ],
        }
        for name, extra in runs.items():
            clear_analyses(root)
            times[name] = snakemake(root, settings, "analyze", *extra)
            made = len(list((root / "videos").glob("clip*DLC_*.h5")))
            if made != args.videos:
                sys.exit(f"{name}: {made} analyses written, expected {args.videos}")
            print(f"{name:32s} {times[name]:7.1f} s  ({args.videos / times[name]:.2f} videos/s)")
        local, per_video = times["local (--cores 2)"], times["SLURM, one job per video"]
        grouped = times[f"SLURM, {args.group} videos per job"]
        jobs_grouped = -(-args.videos // args.group)
        print(
            f"SLURM overhead: {(per_video - local) / args.videos * 2:.1f} s per job "
            f"(one job per video, two at a time); grouped ({jobs_grouped} jobs): "
            f"{grouped / local:.3f} x the local time"
        )
        print(f"cluster ratio={per_video / local:.3f}")
    finally:
        cluster.stop()
        if os.environ.get("KEEP") != "1":
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
